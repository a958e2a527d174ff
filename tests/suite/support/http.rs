//! A tiny HTTP/1.1 server and client on `std::net`, one request per connection.
//!
//! Hand-rolled on purpose: the emulator must be able to misbehave in ways a real
//! framework would not allow (never answer, answer late, send garbage). Every
//! response carries `Connection: close`, which reqwest, Go (docker, skopeo) and
//! this module's own client all handle, and which keeps the server free of
//! keep-alive bookkeeping.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Largest request head the server reads before giving up with 400.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body the server accepts: room for a release binary (issue 16).
const MAX_BODY: usize = 32 * 1024 * 1024;
/// An idle connection is dropped after this, so a silent client cannot pin a
/// thread for the rest of the test run. It bounds resources; nothing asserts on it.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The client's default read timeout: long enough never to fire on a healthy
/// loopback exchange, short enough that a broken test fails instead of hanging.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// A parsed request as the server's handler sees it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// The query string as sent, still percent-encoded.
    pub raw_query: String,
    /// Decoded query parameters in order, repeated keys kept.
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    /// The body as sent (`Content-Length` bytes): a package upload's file.
    pub body: Vec<u8>,
    pub peer: SocketAddr,
}

impl Request {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        query_param(&self.query, name)
    }

    pub fn params(&self, name: &str) -> Vec<&str> {
        query_params(&self.query, name)
    }

    pub fn without_header(mut self, name: &str) -> Request {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self
    }
}

/// A response the server sends; `Content-Length` and `Connection` are added on write.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A response with no body and no `Content-Type`, like Rails' `head :not_found`.
    pub fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A JSON response with the content type Rails and Grape send.
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response::empty(status)
            .with_header("Content-Type", "application/json; charset=utf-8")
            .with_body(body)
    }

    pub fn text(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response::empty(status)
            .with_header("Content-Type", content_type)
            .with_body(body)
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn with_body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }
}

/// What the server does with a request once the handler has decided.
pub enum Reply {
    Now(Response),
    /// Answer after a delay; dropping the server cuts the wait short.
    After(Duration, Response),
    /// Keep the connection open and never answer, until the server is dropped.
    Never,
}

/// A flag the connection threads wait on, so dropping the server releases them.
#[derive(Default)]
struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    fn trigger(&self) {
        *self.stopped.lock().unwrap() = true;
        self.wake.notify_all();
    }

    fn is_set(&self) -> bool {
        *self.stopped.lock().unwrap()
    }

    /// Waits until stopped or, with a limit, until it passes. True when stopped.
    fn wait(&self, limit: Option<Duration>) -> bool {
        let guard = self.stopped.lock().unwrap();
        match limit {
            Some(limit) => {
                *self
                    .wake
                    .wait_timeout_while(guard, limit, |s| !*s)
                    .unwrap()
                    .0
            }
            None => *self.wake.wait_while(guard, |s| !*s).unwrap(),
        }
    }
}

pub type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// A running server; dropping it stops accepting and releases waiting connections.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<Stop>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `listener` with `handler`, a thread per connection. The caller binds
    /// the listener so it can learn the address before the handler is built.
    pub fn start(listener: TcpListener, handler: Arc<Handler>) -> Server {
        let addr = listener.local_addr().expect("listener address");
        let stop = Arc::new(Stop::default());
        let accept_stop = Arc::clone(&stop);
        let accept = thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_stop.is_set() {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let handler = Arc::clone(&handler);
                let stop = Arc::clone(&accept_stop);
                thread::spawn(move || serve_connection(stream, &*handler, &stop));
            }
        });
        Server {
            addr,
            stop,
            accept: Some(accept),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.trigger();
        // Wake the blocking accept() so its thread sees the flag and ends.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn serve_connection(mut stream: TcpStream, handler: &Handler, stop: &Stop) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let request = match read_request(&stream) {
        Ok(Some(request)) => request,
        Ok(None) => return,
        Err(_) => {
            let _ = write_response(
                &mut stream,
                &Response::text(400, "text/plain", "bad request\n"),
            );
            return;
        }
    };
    match handler(&request) {
        Reply::Now(response) => {
            let _ = write_response(&mut stream, &response);
        }
        Reply::After(delay, response) => {
            if !stop.wait(Some(delay)) {
                let _ = write_response(&mut stream, &response);
            }
        }
        Reply::Never => {
            stop.wait(None);
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// Reads one request; `Ok(None)` when the peer closed without sending anything
/// (the accept-loop wake-up connection, for one).
fn read_request(stream: &TcpStream) -> io::Result<Option<Request>> {
    let mut reader = BufReader::new(stream);
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let read = reader
            .by_ref()
            .take((MAX_HEAD - head.len()) as u64)
            .read_until(b'\n', &mut head)?;
        if read == 0 {
            if head.is_empty() {
                return Ok(None);
            }
            return Err(invalid("truncated or oversized request head"));
        }
    }
    let head = String::from_utf8(head).map_err(|_| invalid("request head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(_version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("bad request line"));
    };
    let headers = parse_headers(lines)?;
    let length = match header(&headers, "Content-Length") {
        Some(value) => value
            .trim()
            .parse::<usize>()
            .map_err(|_| invalid("bad length"))?,
        None => 0,
    };
    if length > MAX_BODY {
        return Err(invalid("request body too large"));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let (path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    Ok(Some(Request {
        method: method.to_string(),
        path: path.to_string(),
        raw_query: raw_query.to_string(),
        query: parse_query(raw_query),
        headers,
        body,
        peer: stream.peer_addr()?,
    }))
}

fn parse_headers<'a>(lines: impl Iterator<Item = &'a str>) -> io::Result<Vec<(String, String)>> {
    lines
        .take_while(|line| !line.is_empty())
        .map(|line| {
            let (name, value) = line.split_once(':').ok_or_else(|| invalid("bad header"))?;
            Ok((name.trim().to_string(), value.trim().to_string()))
        })
        .collect()
}

fn write_response(stream: &mut TcpStream, response: &Response) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason(response.status)
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        response.body.len()
    ));
    stream.write_all(head.as_bytes())?;
    stream.write_all(&response.body)?;
    stream.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        _ => "Status",
    }
}

/// Decodes a query string like Rack does: `+` is a space, `%XX` a byte,
/// a key without `=` has an empty value.
/// The last value of a query parameter, as Rails' `params` would pick it.
pub fn query_param<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    query
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Every value of a query parameter, in order.
pub fn query_params<'q>(query: &'q [(String, String)], name: &str) -> Vec<&'q str> {
    query
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (byte, None) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a query component (RFC 3986 unreserved characters stay).
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// A response as the test client received it.
#[derive(Clone, Debug)]
pub struct ClientResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ClientResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }
}

/// `GET url` with extra headers; panics on transport errors.
pub fn get(url: &str, headers: &[(&str, &str)]) -> ClientResponse {
    send("GET", url, headers, CLIENT_TIMEOUT).unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// Sends a body-less request to a plain-HTTP `url` and reads the reply to EOF.
pub fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> io::Result<ClientResponse> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| invalid("only http:// URLs are supported"))?;
    let (authority, target) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, "/"),
    };
    let mut stream = TcpStream::connect(authority)?;
    stream.set_read_timeout(Some(timeout))?;
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: 0\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> io::Result<ClientResponse> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("no response head"))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("bad status line"))?;
    let headers = parse_headers(lines)?;
    let mut body = raw[end + 4..].to_vec();
    if let Some(length) = header(&headers, "Content-Length").and_then(|v| v.parse().ok()) {
        body.truncate(length);
    }
    Ok(ClientResponse {
        status,
        headers,
        body,
    })
}

/// The value of an `Authorization: Basic` header.
pub fn basic(username: &str, password: &str) -> String {
    use base64::Engine;
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {encoded}")
}
