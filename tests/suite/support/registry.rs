//! A real CNCF distribution registry (`docker-registry serve`) with token auth
//! pointing at the emulator's realm and trusting the emulator's signing key.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::json;
use tempfile::TempDir;

use super::fixture;
use super::world::ISSUER;

const BINARY: &str = "docker-registry";
/// Generous: the first start on a cold machine can be slow. A healthy start
/// returns as soon as the `listening on` line appears.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// A registry process; dropping it kills the process and removes its storage.
pub struct Registry {
    child: Child,
    port: u16,
    tls: bool,
    _dir: TempDir,
}

impl Registry {
    /// Plain HTTP on 127.0.0.1, token auth against `realm`.
    pub fn start(realm: &str) -> Registry {
        Registry::spawn(realm, false, &Auth::gitlab())
    }

    /// HTTPS with the fixture leaf `registry-tls.crt` (signed by `test-ca.crt`).
    pub fn start_tls(realm: &str) -> Registry {
        Registry::spawn(realm, true, &Auth::gitlab())
    }

    /// Plain HTTP, trusting another token service (its `service` and `issuer`).
    pub fn start_for(realm: &str, auth: &Auth) -> Registry {
        Registry::spawn(realm, false, auth)
    }

    /// `127.0.0.1:PORT`, what `CI_REGISTRY` holds and image references start with.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.host_port())
    }

    fn spawn(realm: &str, tls: bool, auth: &Auth) -> Registry {
        let dir = tempfile::tempdir().expect("registry temp dir");
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config(realm, tls, dir.path(), auth))
            .expect("write registry config");
        let mut child = Command::new(BINARY)
            .arg("serve")
            .arg(&config_path)
            // REGISTRY_* variables would override the config file.
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run `{BINARY}` ({e}). Run the README's setup, `bash tests/run-all.sh` \
                     (what `.ci/run` runs), which installs the Debian package docker-registry."
                )
            });
        let log = Arc::new(Mutex::new(String::new()));
        let port = drain_and_find_port(&mut child, Arc::clone(&log));
        match port {
            Some(port) => Registry {
                child,
                port,
                tls,
                _dir: dir,
            },
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "docker-registry did not report its port within {START_DEADLINE:?}; log:\n{}",
                    log.lock().unwrap()
                );
            }
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Who the registry takes tokens from: the `service` its challenge names and the
/// `issuer` it checks. Both sign with the fixture key.
pub struct Auth {
    pub service: &'static str,
    pub issuer: &'static str,
}

impl Auth {
    /// GitLab's (reference 3): `container_registry`, issued by the emulator.
    pub fn gitlab() -> Auth {
        Auth {
            service: "container_registry",
            issuer: ISSUER,
        }
    }
}

/// The config as JSON, which YAML parsers read as YAML and which needs no
/// hand-quoting of paths or URLs.
fn config(realm: &str, tls: bool, dir: &std::path::Path, auth: &Auth) -> String {
    let mut http = json!({"addr": "127.0.0.1:0"});
    if tls {
        http["tls"] = json!({
            "certificate": fixture("registry-tls.crt"),
            "key": fixture("registry-tls.key"),
        });
    }
    let config = json!({
        "version": "0.1",
        "log": {"level": "info"},
        "storage": {
            "filesystem": {"rootdirectory": dir.join("storage")},
            "delete": {"enabled": true},
        },
        "http": http,
        "auth": {"token": {
            "realm": realm,
            "service": auth.service,
            "issuer": auth.issuer,
            "rootcertbundle": fixture("jwt-signing.crt"),
        }},
    });
    serde_json::to_string_pretty(&config).unwrap()
}

/// Reads stderr on a thread for the registry's whole life (so the pipe never
/// fills and blocks it), and returns the port from its `listening on
/// 127.0.0.1:PORT` line, or None if that line does not come in time.
fn drain_and_find_port(child: &mut Child, log: Arc<Mutex<String>>) -> Option<u16> {
    let stderr = child.stderr.take().expect("piped stderr");
    let (found, port) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(port) = listening_port(&line) {
                let _ = found.send(port);
            }
            let mut log = log.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    port.recv_timeout(START_DEADLINE).ok()
}

/// `... msg="listening on 127.0.0.1:41215" ...` (`, tls` follows with TLS on).
fn listening_port(line: &str) -> Option<u16> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let address = rest.split([',', '"', ' ']).next()?;
    address.rsplit_once(':')?.1.parse().ok()
}
