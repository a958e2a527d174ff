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
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(fixture("registry-tls.crt"))
                .expect("the fixture leaf")
                .collect::<Result<_, _>>()
                .expect("the fixture leaf is PEM");
        let key = PrivateKeyDer::from_pem_file(fixture("registry-tls.key")).expect("its key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("the fixture leaf and key match");
        let config = Arc::new(config);
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
