//! A user-space wide-area network for the WAN benchmark (issue 15) and its gate test: a
//! TLS front end on 127.0.0.1 for one plain-HTTP backend (the emulator, the registry).
//!
//! Each accepted connection goes through a relay that holds every chunk for a one-way
//! delay D in each direction, order kept; the connection's first chunk waits one round
//! trip more, for the TCP handshake the kernel completed at once (the kernel here has no
//! netem). Behind the relay, TLS ends (fixture leaf `registry-tls.crt`, ALPN `http/1.1`)
//! and each HTTP/1.1 request goes to the backend on a fresh loopback connection, while
//! the client's connection stays open when the answer has a length, as GitLab's front
//! end keeps it (the emulator closes after each answer). Every connection and request is
//! logged, to count round trips per command.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// What the proxy saw, in order.
#[derive(Clone, Debug)]
pub struct Event {
    /// Which client connection (unique across the proxies of a process).
    pub connection: u64,
    pub at: Instant,
    pub what: What,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum What {
    /// A client connected (TCP); its TLS handshake follows.
    Connected,
    /// A request arrived, with its method and path (query left off).
    Request { method: String, path: String },
    /// The answer to the connection's last request was handed to the relay.
    Answered { status: u16 },
    /// The proxy's end of the connection closed (a failed TLS handshake, say).
    Closed,
}

/// A running proxy; dropping it stops accepting (open connections end with the process).
pub struct DelayProxy {
    port: u16,
    delay_us: Arc<AtomicU64>,
    log: Arc<Mutex<Vec<Event>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl DelayProxy {
    /// TLS on a free loopback port in front of `backend` (`127.0.0.1:PORT`, plain HTTP),
    /// with no delay until [`DelayProxy::set_delay`].
    pub fn start(backend: SocketAddr) -> DelayProxy {
        let config = Arc::new(tls_config());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind on loopback");
        let port = listener.local_addr().unwrap().port();
        let delay_us = Arc::new(AtomicU64::new(0));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (delay, events, stopped) = (Arc::clone(&delay_us), Arc::clone(&log), Arc::clone(&stop));
        // Connection numbers are unique across proxies, so that logs can be merged.
        static PROXIES: AtomicU64 = AtomicU64::new(0);
        let first = (PROXIES.fetch_add(1, Ordering::SeqCst) + 1) << 32;
        let accept = thread::spawn(move || {
            let mut connection = first;
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = stream else { continue };
                let _ = client.set_nodelay(true);
                connection += 1;
                record(&events, connection, What::Connected);
                let one_way = Duration::from_micros(delay.load(Ordering::SeqCst));
                let (near, far) = UnixStream::pair().expect("a socket pair");
                relay(&client, &near, one_way);
                let (config, events) = (Arc::clone(&config), Arc::clone(&events));
                thread::spawn(move || {
                    serve(connection, far, config, backend, &events);
                    record(&events, connection, What::Closed);
                });
            }
        });
        DelayProxy {
            port,
            delay_us,
            log,
            stop,
            accept: Some(accept),
        }
    }

    /// The one-way delay for connections accepted from now on.
    pub fn set_delay(&self, one_way: Duration) {
        self.delay_us
            .store(one_way.as_micros() as u64, Ordering::SeqCst);
    }

    /// `127.0.0.1:PORT`.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.host_port())
    }

    /// What happened since the last [`DelayProxy::clear`].
    pub fn events(&self) -> Vec<Event> {
        self.log.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.log.lock().unwrap().clear();
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn record(log: &Mutex<Vec<Event>>, connection: u64, what: What) {
    log.lock().unwrap().push(Event {
        connection,
        at: Instant::now(),
        what,
    });
}

fn tls_config() -> rustls::ServerConfig {
    let mut config = super::https::fixture_server_config();
    // The backends speak HTTP/1.1 only, and so does this front end.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// Joins `client` and `near` through two delayed one-way pipes. The client's first
/// chunk (its TLS hello) waits an extra round trip: on a network it leaves only after
/// the TCP handshake.
fn relay(client: &TcpStream, near: &UnixStream, one_way: Duration) {
    let (c_read, c_write) = (client.try_clone().unwrap(), client.try_clone().unwrap());
    let (n_read, n_write) = (near.try_clone().unwrap(), near.try_clone().unwrap());
    delayed(
        c_read,
        n_write,
        Box::new(|s: &UnixStream| s.shutdown(Shutdown::Write)),
        one_way,
        2 * one_way,
    );
    delayed(
        n_read,
        c_write,
        Box::new(|s: &TcpStream| s.shutdown(Shutdown::Write)),
        one_way,
        Duration::ZERO,
    );
}

type Close<W> = Box<dyn FnOnce(&W) -> std::io::Result<()> + Send>;

/// Copies `from` to `to`, each chunk written `one_way` after it was read (the first one
/// `first_extra` later still), in order; the end of `from` closes `to`'s write side.
fn delayed<R, W>(mut from: R, mut to: W, close: Close<W>, one_way: Duration, first_extra: Duration)
where
    R: Read + Send + 'static,
    W: Write + Send + 'static,
{
    let (chunks, queue) = mpsc::channel::<(Instant, Option<Vec<u8>>)>();
    thread::spawn(move || {
        let mut extra = first_extra;
        let mut buf = vec![0; 64 * 1024];
        loop {
            let n = from.read(&mut buf).unwrap_or(0);
            let due = Instant::now() + one_way + std::mem::take(&mut extra);
            let chunk = (n > 0).then(|| buf[..n].to_vec());
            let end = chunk.is_none();
            if chunks.send((due, chunk)).is_err() || end {
                return;
            }
        }
    });
    thread::spawn(move || {
        for (due, chunk) in queue {
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            match chunk {
                Some(bytes) if to.write_all(&bytes).is_ok() => {}
                _ => {
                    let _ = close(&to);
                    return;
                }
            }
        }
    });
}

/// One client connection behind the relay: TLS, then requests one after another.
fn serve(
    connection: u64,
    stream: UnixStream,
    config: Arc<rustls::ServerConfig>,
    backend: SocketAddr,
    log: &Mutex<Vec<Event>>,
) {
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut reader = BufReader::new(rustls::StreamOwned::new(conn, stream));
    while let Some(request) = read_request(&mut reader) {
        let path = request.target.split('?').next().unwrap_or("").to_string();
        record(
            log,
            connection,
            What::Request {
                method: request.method.clone(),
                path,
            },
        );
        let Some(answer) = forward(&request, backend) else {
            return;
        };
        let tls = reader.get_mut();
        let written = tls.write_all(&answer.bytes).and_then(|()| tls.flush());
        record(
            log,
            connection,
            What::Answered {
                status: answer.status,
            },
        );
        if written.is_err() || !answer.keep_alive || request.close {
            tls.conn.send_close_notify();
            let _ = tls.flush();
            return;
        }
    }
}

struct Request {
    method: String,
    target: String,
    /// The head without its request line and without `Connection`.
    headers: Vec<String>,
    body: Vec<u8>,
    /// The client asked to close after this one.
    close: bool,
}

fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).ok().filter(|&n| n > 0)?;
    let mut words = line.split_whitespace();
    let (method, target) = (words.next()?.to_string(), words.next()?.to_string());
    let mut headers = Vec::new();
    let (mut length, mut close) = (0, false);
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok().filter(|&n| n > 0)?;
        let line = line.trim_end().to_string();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
            continue;
        }
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().ok()?;
        }
        headers.push(line);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        target,
        headers,
        body,
        close,
    })
}

struct Answer {
    status: u16,
    bytes: Vec<u8>,
    keep_alive: bool,
}

/// The backend's answer to `request` (asked on a connection of its own, which the
/// backend closes), its `Connection` header rewritten for the client's connection.
fn forward(request: &Request, backend: SocketAddr) -> Option<Answer> {
    let mut upstream = TcpStream::connect(backend).ok()?;
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.target);
    for h in &request.headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    upstream.write_all(head.as_bytes()).ok()?;
    upstream.write_all(&request.body).ok()?;
    let mut raw = Vec::new();
    upstream.read_to_end(&mut raw).ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let (head, body) = (String::from_utf8_lossy(&raw[..split]), &raw[split + 4..]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?.to_string();
    let status = status_line.split_whitespace().nth(1)?.parse().ok()?;
    let mut kept = vec![status_line];
    let mut length = None;
    for line in lines {
        let name = line.split(':').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("connection") {
            continue;
        }
        if name.eq_ignore_ascii_case("content-length") {
            length = line
                .split_once(':')
                .and_then(|(_, v)| v.trim().parse().ok());
        }
        kept.push(line.to_string());
    }
    let bodyless = request.method == "HEAD" || status == 204 || status == 304;
    let keep_alive = bodyless || length == Some(body.len());
    kept.push(format!(
        "Connection: {}",
        if keep_alive { "keep-alive" } else { "close" }
    ));
    let mut bytes = kept.join("\r\n").into_bytes();
    bytes.extend_from_slice(b"\r\n\r\n");
    bytes.extend_from_slice(body);
    Some(Answer {
        status,
        bytes,
        keep_alive,
    })
}

/// What one command cost on the wire, read from a proxy's log (or several merged).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    pub connections: usize,
    pub requests: usize,
    /// Round trips on the critical path: a connection costs one for TCP, one for TLS
    /// 1.3 and one per request on it; connections whose lifetimes overlap ran side by
    /// side and count as their longest. A connection lives from its accept to its last
    /// answer, or to its close when it carried no request (a plain-HTTP probe of the
    /// TLS port costs its TCP handshake and one exchange). Meaningful at a delay large
    /// against the machine's own latency.
    pub round_trips: usize,
}

impl Traffic {
    pub fn of(events: &[Event]) -> Traffic {
        struct Span {
            connection: u64,
            start: Instant,
            answered: Option<Instant>,
            closed: Option<Instant>,
            requests: usize,
        }
        let mut spans: Vec<Span> = Vec::new();
        // Connections opened before the log was cleared (an earlier command's, closing)
        // are not this command's.
        let opened: Vec<u64> = events
            .iter()
            .filter(|e| e.what == What::Connected)
            .map(|e| e.connection)
            .collect();
        for e in events.iter().filter(|e| opened.contains(&e.connection)) {
            let i = match spans.iter().position(|s| s.connection == e.connection) {
                Some(i) => i,
                None => {
                    spans.push(Span {
                        connection: e.connection,
                        start: e.at,
                        answered: None,
                        closed: None,
                        requests: 0,
                    });
                    spans.len() - 1
                }
            };
            let span = &mut spans[i];
            match e.what {
                What::Connected => span.start = span.start.min(e.at),
                What::Request { .. } => span.requests += 1,
                What::Answered { .. } => span.answered = Some(e.at),
                What::Closed => span.closed = Some(e.at),
            }
        }
        let mut lives: Vec<(Instant, Instant, usize)> = spans
            .iter()
            .map(|s| {
                let end = s.answered.or(s.closed).unwrap_or(s.start);
                (s.start, end, 2 + s.requests)
            })
            .collect();
        lives.sort_by_key(|l| l.0);
        let mut round_trips = 0;
        let mut wave: Option<(Instant, usize)> = None;
        for (start, end, trips) in lives {
            wave = match wave {
                Some((until, most)) if start <= until => Some((until.max(end), most.max(trips))),
                Some((_, most)) => {
                    round_trips += most;
                    Some((end, trips))
                }
                None => Some((end, trips)),
            };
        }
        round_trips += wave.map_or(0, |w| w.1);
        Traffic {
            connections: spans.len(),
            requests: spans.iter().map(|s| s.requests).sum(),
            round_trips,
        }
    }
}
