//! Issue 3: the release binary is static and runs in an empty root file system (what a
//! scratch, busybox or distroless job image amounts to): no libc, no NSS modules, no
//! `/dev`, no `/etc/passwd`, only the few `/etc` files a job image always has. Names in
//! `/etc/hosts` (where GitLab puts service aliases) resolve without any DNS query.
//!
//! These tests need the release binary (`CI_REGISTRY_LOGIN_RELEASE_BIN`, which
//! tests/run-all.sh builds and sets) and root privileges for `chroot`; without either
//! they print why they were skipped.

use crate::support::assert_contains;

use crate::support::TestBed;
use crate::support::run::Run;
use crate::support::world::JOB_APP_TOKEN;
use base64::Engine as _;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

/// Where the binary sits inside the chroot.
const INSIDE: &str = "/ci-registry-login";
/// The `/etc/hosts` alias the registry is reached by, as a GitLab service would be.
const ALIAS: &str = "registry.test";
/// A name in no hosts file.
const UNLISTED: &str = "nowhere.test";

/// The release binary, or None (with the reason printed) when the run did not build it.
fn release_binary(test: &str) -> Option<PathBuf> {
    match std::env::var_os("CI_REGISTRY_LOGIN_RELEASE_BIN") {
        Some(path) => Some(PathBuf::from(path)),
        None => {
            crate::support::missing_part(
                test,
                "CI_REGISTRY_LOGIN_RELEASE_BIN is not set; tests/run-all.sh (what .ci/run runs) builds the static release binary and sets it",
            );
            None
        }
    }
}

/// An empty root file system holding the binary and the given `/etc` files, inside
/// a leak-scanned run. None (with the reason printed) when the kernel refuses chroot.
fn chrooted(test: &str, etc: &[(&str, &str)]) -> Option<Run> {
    let binary = release_binary(test)?;
    let run = Run::new(PathBuf::from(INSIDE));
    let root = run.path("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    // A link, not a copy: a file just written can still be open for writing in a
    // child another test thread forked, and exec refuses it ("Text file busy").
    let inside = root.join(INSIDE.trim_start_matches('/'));
    if std::fs::hard_link(&binary, &inside).is_err() {
        std::fs::copy(&binary, &inside)
            .unwrap_or_else(|e| panic!("copy {}: {e}", binary.display()));
    }
    for (name, text) in etc {
        std::fs::write(root.join("etc").join(name), text).unwrap();
    }
    let probe = Command::new("chroot")
        .arg(&root)
        .arg(INSIDE)
        .arg("--version")
        .output()
        .expect("run chroot (coreutils)");
    let stderr = String::from_utf8_lossy(&probe.stderr);
    if !probe.status.success() && stderr.contains("Operation not permitted") {
        crate::support::skipped(
            test,
            &format!("the kernel refuses chroot here: {}", stderr.trim()),
        );
        return None;
    }
    assert!(probe.status.success(), "chroot --version failed: {stderr}");
    // Inside, HOME is /home (created by the login), and nothing else is set up.
    Some(run.chroot(root).env("HOME", "/home").env("TMPDIR", "/tmp"))
}

fn hosts_file() -> String {
    format!("127.0.0.1 localhost\n127.0.0.1 {ALIAS}\n")
}

/// A nameserver on a loopback address of its own that records every query's name and
/// either never answers or answers NXDOMAIN at once.
struct Nameserver {
    address: Ipv4Addr,
    queries: Arc<Mutex<Vec<String>>>,
}

impl Nameserver {
    fn start(answers: bool) -> Nameserver {
        let (socket, address) = bind_unique_port_53();
        let queries = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&queries);
        // The thread ends with the test process; a blocked recv holds nothing else.
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let Some((name, question_end)) = question(&buf[..n]) else {
                    continue;
                };
                seen.lock().unwrap().push(name);
                if answers {
                    let _ = socket.send_to(&nxdomain(&buf[..question_end]), from);
                }
            }
        });
        Nameserver { address, queries }
    }

    fn resolv_conf(&self) -> String {
        format!("nameserver {}\n", self.address)
    }

    fn queries(&self) -> Vec<String> {
        self.queries.lock().unwrap().clone()
    }
}

/// UDP port 53 on 127.53.P.N: P from the process id, N from a counter, so parallel
/// tests and test processes do not share a server.
fn bind_unique_port_53() -> (UdpSocket, Ipv4Addr) {
    static NEXT: AtomicU8 = AtomicU8::new(1);
    let process = (std::process::id() % 250) as u8;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < 250, "no free 127.53.{process}.N:53 address");
        let address = Ipv4Addr::new(127, 53, process, n);
        if let Ok(socket) = UdpSocket::bind(SocketAddr::from((address, 53))) {
            return (socket, address);
        }
    }
}

/// The query's name and where its question section ends (header, name, type, class).
fn question(packet: &[u8]) -> Option<(String, usize)> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = *packet.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(packet.get(at..at + len)?).into_owned());
        at += len;
    }
    let end = at + 4;
    (end <= packet.len()).then(|| (labels.join("."), end))
}

/// The answer "no such name" to a query cut after its question: same id, opcode and
/// RD bit; QR, RA and RCODE 3 set; one question, no records.
fn nxdomain(query: &[u8]) -> Vec<u8> {
    let mut reply = query.to_vec();
    reply[2] = 0x80 | (query[2] & 0x79);
    reply[3] = 0x80 | 3;
    reply[6..12].fill(0);
    reply
}

/// A GitLab job on group/app whose registry is the bed's, named `host`.
fn job_on(bed: &TestBed, host: &str) -> (Vec<(String, String)>, String) {
    let port = bed
        .registry()
        .host_port()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let registry = format!("{host}:{port}");
    let env = bed
        .ci_job_env("group/app")
        .into_iter()
        .map(|(k, v)| match k.as_str() {
            "CI_REGISTRY" => (k, registry.clone()),
            "CI_REGISTRY_IMAGE" => (k, format!("{registry}/group/app")),
            _ => (k, v),
        })
        .collect();
    (env, registry)
}

fn auth_of(config: &Path, registry: &str) -> String {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(config).expect("the auth file was written")).unwrap();
    let auth = json["auths"][registry]["auth"]
        .as_str()
        .unwrap_or_else(|| panic!("no auths entry for {registry}: {json}"));
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(auth)
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn file_and_ldd_call_the_release_binary_static() {
    let Some(binary) = release_binary("file_and_ldd_call_the_release_binary_static") else {
        return;
    };
    let run = |program: &str| {
        let out = Command::new(program)
            .arg(&binary)
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let file = run("file");
    assert!(
        file.contains("static-pie linked") || file.contains("statically linked"),
        "file: {file}"
    );
    assert!(!file.contains("interpreter"), "file: {file}");
    let ldd = run("ldd");
    assert!(
        ldd.contains("statically linked") && !ldd.contains("=>"),
        "ldd: {ldd}"
    );
}

#[test]
fn in_an_empty_root_it_prints_its_version_and_plans_offline() {
    let test = "in_an_empty_root_it_prints_its_version_and_plans_offline";
    let Some(run) = chrooted(test, &[]) else {
        return;
    };
    let out = run.arg("--version").run().expect_code(0);
    assert_eq!(
        out.stdout.trim(),
        concat!("ci-registry-login ", env!("CARGO_PKG_VERSION"))
    );

    let bed = TestBed::start();
    let (env, registry) = job_on(&bed, ALIAS);
    let out = chrooted(test, &[])
        .unwrap()
        .envs(env)
        .args(["plan", "--push"])
        .run()
        .expect_code(0);
    assert!(
        out.stdout.contains(&format!(
            "using registry-user from CI_REGISTRY_USER (user gitlab-ci-token) to push {registry}/group/app"
        )),
        "{}",
        out.stdout
    );
    assert!(
        bed.gitlab().requests().is_empty(),
        "plan is offline: {:?}",
        bed.gitlab().requests()
    );
}

#[test]
fn in_an_empty_root_it_logs_in_through_an_etc_hosts_alias_without_asking_dns() {
    let test = "in_an_empty_root_it_logs_in_through_an_etc_hosts_alias_without_asking_dns";
    let silent = Nameserver::start(false);
    let hosts = hosts_file();
    let resolv = silent.resolv_conf();
    let Some(run) = chrooted(test, &[("hosts", &hosts), ("resolv.conf", &resolv)]) else {
        return;
    };
    let bed = TestBed::start();
    let (env, registry) = job_on(&bed, ALIAS);
    let config = run.path("root/home/.docker/config.json");
    let out = run
        .envs(env)
        // A service alias is not a loopback name: plain HTTP needs --insecure.
        .args(["login", "--engine", "auth-file", "--registry", &registry])
        .arg("--insecure")
        .allow_secret_in(&config)
        .run()
        .expect_code(0);
    assert_contains(out.said(), format!("logged in to {registry}"));
    assert_eq!(
        auth_of(&config, &registry),
        format!("gitlab-ci-token:{JOB_APP_TOKEN}")
    );
    // Verified live: the token service was asked for exactly the job's repository.
    let asked = bed.gitlab().requests_to("/jwt/auth");
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].param("scope"), Some("repository:group/app:pull"));
    assert_eq!(asked[0].status, Some(200));
    assert_eq!(
        silent.queries(),
        Vec::<String>::new(),
        "a name in /etc/hosts must not reach the nameserver"
    );
}

#[test]
fn in_an_empty_root_an_unlisted_name_asks_the_nameserver_and_fails_clearly() {
    let test = "in_an_empty_root_an_unlisted_name_asks_the_nameserver_and_fails_clearly";
    let nameserver = Nameserver::start(true);
    let hosts = hosts_file();
    let resolv = nameserver.resolv_conf();
    let Some(run) = chrooted(test, &[("hosts", &hosts), ("resolv.conf", &resolv)]) else {
        return;
    };
    let bed = TestBed::start();
    let (env, registry) = job_on(&bed, UNLISTED);
    let out = run
        .envs(env)
        .args(["login", "--engine", "auth-file", "--registry", &registry])
        .run()
        .expect_code(5);
    assert_contains(out.said(), format!("cannot resolve '{UNLISTED}'"));
    // The query went to the configured nameserver (with random ids and ports from the
    // getrandom syscall: there is no /dev in here), and only there.
    assert!(
        nameserver.queries().iter().any(|q| q == UNLISTED),
        "{:?}",
        nameserver.queries()
    );
}

#[test]
fn in_an_empty_root_without_resolv_conf_an_unlisted_name_is_a_clear_dns_error() {
    let test = "in_an_empty_root_without_resolv_conf_an_unlisted_name_is_a_clear_dns_error";
    let hosts = hosts_file();
    let Some(run) = chrooted(test, &[("hosts", &hosts)]) else {
        return;
    };
    let bed = TestBed::start();
    let (env, registry) = job_on(&bed, UNLISTED);
    let out = run
        .envs(env)
        .args(["login", "--engine", "auth-file", "--registry", &registry])
        .run()
        .expect_code(5);
    // Named as missing configuration: no resolver was built, so no public nameserver
    // was tried as a fallback.
    assert!(
        out.said().contains(&format!(
            "cannot resolve '{UNLISTED}': no nameserver configuration (/etc/resolv.conf"
        )),
        "{}",
        out.said()
    );
    assert!(bed.gitlab().requests().is_empty());
}

#[test]
fn without_home_a_tilde_on_path_never_reads_the_password_database() {
    let test = "without_home_a_tilde_on_path_never_reads_the_password_database";
    // Were `~` expanded through getpwuid, it would find this user's home and the
    // executable `docker` in it.
    let passwd = "root:x:0:0:root:/passwd-home:/bin/sh\n";
    let Some(run) = chrooted(test, &[("passwd", passwd)]) else {
        return;
    };
    let fake_docker = run.path("root/passwd-home/bin/docker");
    std::fs::create_dir_all(fake_docker.parent().unwrap()).unwrap();
    std::fs::write(&fake_docker, "#!/bin/sh\nexit 0\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake_docker, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bed = TestBed::start();
    let job: Vec<(String, String)> = bed.ci_job_env("group/app");
    let out = run
        .envs(job)
        .env_remove("HOME")
        .env("PATH", "~/bin")
        .args(["login", "--engine", "docker", "--no-verify"])
        .run()
        .expect_code(6);
    assert!(
        out.said()
            .contains("docker is not installed or not on PATH"),
        "{}",
        out.said()
    );
}
