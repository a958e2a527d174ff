//! A tiny HTTPS file server on 127.0.0.1 for the templates' download steps: the fixture
//! leaf `registry-tls.crt` (signed by `test-ca.crt`, which curl is told to trust through
//! `CURL_CA_BUNDLE`), fixed answers per path, and a count of the requests it was sent.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::fixture;

/// What the server answers on one path.
#[derive(Clone, Debug)]
pub enum Answer {
    /// 200 with this body.
    File(Vec<u8>),
    /// 302 to this location.
    Redirect(String),
}

/// A running server; dropping it stops it.
pub struct FileServer {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl FileServer {
    /// Serves `answers` (path -> answer; anything else is 404) over HTTPS.
    pub fn start(answers: BTreeMap<String, Answer>) -> FileServer {
        let config = server_config();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind on loopback");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, stopped) = (Arc::clone(&requests), Arc::clone(&stop));
        let answers = Arc::new(answers);
        let accept = thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(tcp) = stream else { continue };
                let (config, log, answers) =
                    (Arc::clone(&config), Arc::clone(&log), Arc::clone(&answers));
                thread::spawn(move || {
                    let _ = tcp.set_read_timeout(Some(std::time::Duration::from_secs(30)));
                    let Ok(conn) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    let mut tls = rustls::StreamOwned::new(conn, tcp);
                    let mut reader = BufReader::new(&mut tls);
                    let mut first = String::new();
                    if reader.read_line(&mut first).is_err() || first.is_empty() {
                        return;
                    }
                    loop {
                        let mut line = String::new();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) if line == "\r\n" || line == "\n" => break,
                            Ok(_) => {}
                        }
                    }
                    drop(reader);
                    let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
                    log.lock().unwrap().push(path.clone());
                    let (head, body) = match answers.get(&path) {
                        Some(Answer::File(body)) => ("200 OK".to_string(), body.clone()),
                        Some(Answer::Redirect(to)) => {
                            (format!("302 Found\r\nLocation: {to}"), Vec::new())
                        }
                        None => ("404 Not Found".to_string(), Vec::new()),
                    };
                    let head = format!(
                        "HTTP/1.1 {head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = tls.write_all(head.as_bytes());
                    let _ = tls.write_all(&body);
                    let _ = tls.flush();
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                });
            }
        });
        FileServer {
            port,
            requests,
            stop,
            accept: Some(accept),
        }
    }

    /// `https://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// The paths asked for so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// The fixture leaf `registry-tls.crt` and its key, as a TLS server's configuration.
fn server_config() -> Arc<rustls::ServerConfig> {
    Arc::new(fixture_server_config())
}

/// The fixture leaf `registry-tls.crt` and its key, as a TLS server's configuration to
/// adjust (the delay proxy offers HTTP/1.1 only).
pub fn fixture_server_config() -> rustls::ServerConfig {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(fixture("registry-tls.crt"))
            .expect("the fixture leaf")
            .collect::<Result<_, _>>()
            .expect("the fixture leaf is PEM");
    let key = PrivateKeyDer::from_pem_file(fixture("registry-tls.key")).expect("its key");
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("the fixture leaf and key match")
}

/// HTTPS on 127.0.0.1 in front of a plain-HTTP server (the GitLab emulator), as a TLS
/// terminating proxy in front of GitLab is: each request is read whole (answering
/// `Expect: 100-continue` itself, as curl sends for uploads), passed on, and the
/// answer passed back. The templates download over HTTPS only.
pub struct TlsFront {
    port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl TlsFront {
    pub fn start(backend: std::net::SocketAddr) -> TlsFront {
        let config = server_config();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind on loopback");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let accept = thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(tcp) = stream else { continue };
                let config = Arc::clone(&config);
                thread::spawn(move || {
                    let _ = tcp.set_read_timeout(Some(std::time::Duration::from_secs(30)));
                    let Ok(conn) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    let _ = pass_one_request(rustls::StreamOwned::new(conn, tcp), backend);
                });
            }
        });
        TlsFront {
            port,
            stop,
            accept: Some(accept),
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
}

fn pass_one_request(
    mut tls: rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>,
    backend: std::net::SocketAddr,
) -> std::io::Result<()> {
    use std::io::Read;
    let mut reader = BufReader::new(&mut tls);
    let mut head = String::new();
    let (mut length, mut expect) = (0usize, false);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("expect:") {
            expect = lower.contains("100-continue");
            continue;
        }
        head.push_str(&line);
    }
    if expect {
        reader
            .get_mut()
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        reader.get_mut().flush()?;
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    drop(reader);
    let mut upstream = std::net::TcpStream::connect(backend)?;
    upstream.write_all(head.as_bytes())?;
    upstream.write_all(b"\r\n")?;
    upstream.write_all(&body)?;
    let mut answer = Vec::new();
    upstream.read_to_end(&mut answer)?;
    tls.write_all(&answer)?;
    tls.flush()?;
    tls.conn.send_close_notify();
    tls.flush()
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// The SHA-256 of `bytes`, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
