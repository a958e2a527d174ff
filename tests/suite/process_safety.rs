//! Issue 11: what a server says never becomes structure (finding 1), the process never
//! panics on a closed stderr and never dumps core or lends its memory (finding 6), and
//! a secret passed where a name is expected is never echoed (finding 10).

use crate::support::assert_contains;
use crate::support::http::{Reply, Request, Response, Server};
use crate::support::run::{binary, ci_registry_login};
use crate::support::world::ALICE_PAT_RW;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A registry and token service in one: grants pull and push, plus an "action" that is
/// a line break and a variable assignment, the attack of finding 1.
fn hostile_token_service() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let realm = format!("http://{}/jwt/auth", listener.local_addr().unwrap());
    Server::start(
        listener,
        Arc::new(move |r: &Request| {
            if r.path == "/v2/" {
                let challenge = format!(r#"Bearer realm="{realm}",service="registry""#);
                return Reply::Now(
                    Response::json(401, "{}").with_header("WWW-Authenticate", &challenge),
                );
            }
            let claims = serde_json::json!({
                "access": [{"type": "repository", "name": "group/app",
                            "actions": ["pull", "push", "pull\nCI_REGISTRY=127.0.0.1:6001",
                                        "\u{1b}[0Ksection_end:1:x\r"]}],
                "iat": 1_000, "exp": 1_300,
            });
            use base64::Engine as _;
            let payload =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
            let token = format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln");
            Reply::Now(Response::json(
                200,
                serde_json::json!({ "token": token }).to_string(),
            ))
        }),
    )
}

/// Finding 1: the dotenv report (which later jobs read as variables) and the log carry
/// only the closed set of actions; the rest is dropped and reported, escaped.
#[test]
fn a_token_service_cannot_inject_variables_or_log_lines() {
    let server = hostile_token_service();
    let run = ci_registry_login();
    let report = run.path("registry-login.env");
    let config = run.home().join(".docker/config.json");
    let out = run
        .envs([
            ("REGISTRY_USER", "alice"),
            ("REGISTRY_PASSWORD", ALICE_PAT_RW),
        ])
        .args([
            "--push",
            "--engine",
            "auth-file",
            "--repository",
            "group/app",
        ])
        .args(["--registry", &server.addr().to_string()])
        .arg("--report")
        .arg(&report)
        .allow_secret_in(&config)
        .run()
        .expect_code(0);
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(
        text.lines().all(|l| l.starts_with("CI_REGISTRY_LOGIN_")),
        "{text}"
    );
    assert_contains(&text, "CI_REGISTRY_LOGIN_GRANTED=pull,push\n");
    for line in out.stderr.lines() {
        assert!(
            !line.starts_with("CI_REGISTRY=") && !line.contains('\u{1b}') && !line.contains('\r'),
            "a forged line reached stderr: {line:?}"
        );
    }
    assert_contains(out.said(), "no registry actions");
    assert_contains(out.said(), "pull\\nCI_REGISTRY=127.0.0.1:6001");
}

/// Finding 6: a closed stderr once made `eprintln!` panic (and, with `panic = "abort"`,
/// dump core). The run now ends with its own exit code.
#[test]
fn a_closed_stderr_ends_the_run_with_its_own_exit_code() {
    for args in [
        &["plan", "--registry", "bad host"][..],
        &["plan", "--push", "--registry", "registry.example.com"][..],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let status = Command::new(binary())
            .args(args)
            .env_clear()
            .env("HOME", "/nonexistent")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(writer)
            .status()
            .unwrap();
        let expected = if args[2] == "bad host" { 2 } else { 3 };
        assert_eq!(status.code(), Some(expected), "{args:?}: {status:?}");
    }
}

/// Finding 6: a core file held eight copies of the job token. The process sets its
/// core limit to 0 and is not dumpable, which the kernel shows: its limits say 0 and
/// /proc/PID/status belongs to root, not to the user running it. Seen while `helper get`
/// waits for its request on stdin, run as another user (nobody).
#[test]
fn the_process_is_not_dumpable_and_writes_no_core() {
    if Command::new("setpriv").arg("--version").output().is_err() {
        crate::support::missing_part("process_safety", "setpriv (util-linux) is not installed");
        return;
    }
    // A core limit above 0 to start with (machines often default to 0), so that 0
    // below is the process's own doing.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -S -c 1024 && exec setpriv --reuid 65534 --regid 65534 --clear-groups \"$0\" helper get")
        .arg(binary())
        .env_clear()
        .env("CI_JOB_TOKEN", "glcbt-64_core-test-Wd2Kx7")
        .env("CI_REGISTRY", "registry.example.com")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let proc_dir = format!("/proc/{}", child.id());
    // Bounded wait for the exec and the first lines of main; no timing is asserted.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut owner = None;
    while Instant::now() < deadline {
        let exe = std::fs::read_link(format!("{proc_dir}/exe")).ok();
        let limits = std::fs::read_to_string(format!("{proc_dir}/limits")).unwrap_or_default();
        let core_zero = limits.lines().any(|l| {
            l.starts_with("Max core file size") && l.split_whitespace().nth(4) == Some("0")
        });
        if exe.is_some_and(|e| e.ends_with("ci-registry-login")) && core_zero {
            owner = std::fs::metadata(format!("{proc_dir}/status"))
                .ok()
                .map(|m| m.uid());
            break;
        }
        std::thread::yield_now();
    }
    drop(child.stdin.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    child.wait().unwrap();
    assert_eq!(
        owner,
        Some(0),
        "the core limit never became 0, or /proc/PID stayed the user's (dumpable): {stderr}"
    );
}

/// Finding 10: `--password-env "$TOKEN"` printed the token in its error.
#[test]
fn a_secret_given_as_a_variable_name_is_not_echoed() {
    let out = ci_registry_login()
        .args(["plan", "--registry", "registry.example.com"])
        .args(["--password-env", ALICE_PAT_RW])
        .run()
        .expect_code(2);
    assert_contains(out.said(), "looks like a secret, not a variable name");
    assert!(!out.stderr.contains("glpat"), "{}", out.stderr);
}

/// Finding 10: a user name equal to the secret appeared in the summary.
#[test]
fn a_user_name_that_is_the_secret_is_never_shown() {
    let out = ci_registry_login()
        .envs([
            ("REGISTRY_USER", ALICE_PAT_RW),
            ("REGISTRY_PASSWORD", ALICE_PAT_RW),
        ])
        .args(["plan", "--push", "--registry", "registry.example.com"])
        .run()
        .expect_code(3);
    assert_contains(&out.stdout, "is a secret");
    assert!(!out.stdout.contains("glpat") && !out.stderr.contains("glpat"));
}
