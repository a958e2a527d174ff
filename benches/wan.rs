//! The WAN benchmark of issue 15: the release binary and `docker login --password-stdin`
//! against the test bed behind a user-space delay proxy with TLS (the kernel here has no
//! netem), at one-way delays D = 0, 10 and 25 ms. One hyperfine run per D times every
//! command side by side; one extra run per command and D counts, from the proxies' logs,
//! the connections and requests it made and the round trips on its critical path. It
//! prints a Markdown table of medians, ratios and counts, then the budgets of issue 15,
//! pass or fail per line (no budget makes it fail).
//!
//! Run after the README's test setup: `bash benches/wan.sh` (that is, `cargo bench --bench
//! wan`). `CI_REGISTRY_LOGIN_RELEASE_BIN` names another binary to measure.

#[path = "../tests/suite/support/mod.rs"]
#[allow(
    dead_code,
    unused_imports,
    reason = "the bench uses a few parts of the test bed"
)]
mod support;

#[path = "common/machine.rs"]
mod machine;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::delay_proxy::{DelayProxy, Traffic};
use support::world::{
    DEPLOY_RO_TOKEN, DEPLOY_RO_USER, DEPLOY_RW_TOKEN, DEPLOY_RW_USER, Date, JOB_APP_FINISHED_TOKEN,
    JOB_APP_TOKEN, World,
};
use support::{GitLab, Registry, fixture};

const PROJECT: &str = "group/app";
/// One-way delays, in milliseconds.
const DELAYS: [u64; 3] = [0, 10, 25];
/// The delay the budgets are judged at.
const JUDGED: u64 = 25;
const RUNS: u32 = 30;
const WARMUP: u32 = 3;

/// One command line, run through `sh` (docker and curl read a file on stdin or by name).
struct Cmd {
    label: &'static str,
    line: String,
}

fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

fn ours(label: &'static str, binary: &Path, args: &str) -> Cmd {
    Cmd {
        label,
        line: format!("{} {args}", quote(&binary.display().to_string())),
    }
}

/// What was measured for one command at one delay.
#[derive(Clone, Copy)]
struct Measured {
    median: f64,
    traffic: Traffic,
}

struct Bench {
    env: Vec<(String, String)>,
    dir: tempfile::TempDir,
    fronts: [DelayProxy; 2],
}

impl Bench {
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path());
        command
    }

    fn set_delay(&self, ms: u64) {
        for front in &self.fronts {
            front.set_delay(Duration::from_millis(ms));
        }
    }

    /// One run of `cmd`, and what it cost on the wire.
    fn count(&self, cmd: &Cmd) -> Traffic {
        for front in &self.fronts {
            front.clear();
        }
        let status = self
            .command("sh")
            .args(["-c", &cmd.line])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "{} failed: {}", cmd.label, cmd.line);
        // The last answer may still be in the relay; the proxy logs it when handed over.
        let mut events: Vec<_> = self.fronts.iter().flat_map(|f| f.events()).collect();
        events.sort_by_key(|e| e.at);
        Traffic::of(&events)
    }

    /// Medians of `RUNS` hyperfine runs per command, in seconds.
    fn hyperfine(&self, commands: &[Cmd]) -> Vec<f64> {
        let json = self.dir.path().join("hyperfine.json");
        let mut hf = self.command("hyperfine");
        hf.args(["--style", "none", "--shell", "sh"])
            .args(["--warmup", &WARMUP.to_string()])
            .args(["--runs", &RUNS.to_string()])
            .arg("--export-json")
            .arg(&json);
        for cmd in commands {
            hf.args(["--command-name", cmd.label]).arg(&cmd.line);
        }
        let status = hf
            .stderr(Stdio::null())
            .status()
            .expect("run hyperfine (Debian package hyperfine; tests/run-all.sh installs it)");
        assert!(status.success(), "hyperfine failed: {status}");
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        report["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["median"].as_f64().unwrap())
            .collect()
    }
}

fn main() {
    if std::env::args().skip(1).any(|a| a != "--bench") {
        eprintln!("usage: cargo bench --bench wan");
        std::process::exit(2);
    }
    for tool in ["hyperfine", "docker", "curl"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            eprintln!("{tool} is missing: run the README's test setup (bash tests/run-all.sh)");
            std::process::exit(1);
        }
    }
    let binary = std::env::var_os("CI_REGISTRY_LOGIN_RELEASE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ci-registry-login")));

    eprintln!("starting the test bed behind the delay proxies");
    let gitlab = GitLab::start(World::standard());
    let gitlab_front = DelayProxy::start(backend(gitlab.url()));
    let registry = Registry::start(&format!("{}/jwt/auth", gitlab_front.url()));
    let registry_front = DelayProxy::start(backend(&registry.url()));
    let ca = fixture("test-ca.crt").display().to_string();

    let dir = tempfile::tempdir().unwrap();
    for sub in ["home", "ours", "docker"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
    }
    let path = |sub: &str| dir.path().join(sub).display().to_string();
    let mut env = support::env::gitlab_job(
        &gitlab.world(),
        &gitlab_front.url(),
        &registry_front.host_port(),
        PROJECT,
    );
    // The job's candidates plus a deploy token and an explicit credential: `check` with
    // all of them on offer, against `--use registry-user`.
    env.extend(
        [
            ("CI_SERVER_TLS_CA_FILE", ca.as_str()),
            ("CI_DEPLOY_USER", DEPLOY_RO_USER),
            ("CI_DEPLOY_PASSWORD", DEPLOY_RO_TOKEN),
            ("REGISTRY_USER", DEPLOY_RW_USER),
            ("REGISTRY_PASSWORD", DEPLOY_RW_TOKEN),
            ("HOME", &path("home")),
            ("DOCKER_CONFIG", &path("ours")),
            ("DOCKER_HOST", support::docker::NO_DAEMON),
            ("NO_COLOR", "1"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    env.push(("PATH".into(), std::env::var("PATH").unwrap_or_default()));
    let password = dir.path().join("password");
    std::fs::write(&password, JOB_APP_TOKEN).unwrap();
    // curl reads the credential from a config file: it stays out of argv.
    let curl_config = dir.path().join("curl.conf");
    std::fs::write(
        &curl_config,
        format!("user = \"gitlab-ci-token:{JOB_APP_TOKEN}\"\n"),
    )
    .unwrap();

    // The job's own token replaced by a finished job's (refused): the read-only deploy
    // token is asked next (pull only), then the explicit read-write one. A file sourced
    // by `sh` keeps the token out of argv.
    let refused = dir.path().join("refused.env");
    std::fs::write(
        &refused,
        format!(
            "export CI_REGISTRY_PASSWORD='{JOB_APP_FINISHED_TOKEN}' CI_JOB_TOKEN='{JOB_APP_FINISHED_TOKEN}'\n"
        ),
    )
    .unwrap();
    let registry_host = registry_front.host_port();
    let commands = vec![
        Cmd {
            label: "docker login --password-stdin",
            line: format!(
                "docker --config {} login --username gitlab-ci-token --password-stdin {} < {}",
                quote(&path("docker")),
                quote(&registry_host),
                quote(&password.display().to_string())
            ),
        },
        ours(
            "login --engine auth-file",
            &binary,
            "login --push --use registry-user --engine auth-file -q",
        ),
        ours(
            "login --engine docker",
            &binary,
            "login --push --use registry-user --engine docker -q",
        ),
        ours(
            "check --push",
            &binary,
            "check --push --use registry-user -q",
        ),
        ours(
            "check --push, 3 candidates, the first usable",
            &binary,
            "check --push -q",
        ),
        Cmd {
            label: "check --push, 3 candidates, the first two not",
            line: format!(
                ". {} && exec {} check --push -q",
                quote(&refused.display().to_string()),
                quote(&binary.display().to_string())
            ),
        },
        Cmd {
            label: "one token request with curl (the floor)",
            line: format!(
                "curl -sf -o /dev/null --cacert {} -K {} {}",
                quote(&ca),
                quote(&curl_config.display().to_string()),
                quote(&format!(
                    "{}/jwt/auth?service=container_registry&scope=repository:{PROJECT}:pull,push",
                    gitlab_front.url()
                ))
            ),
        },
    ];
    let bench = Bench {
        env,
        dir,
        fronts: [gitlab_front, registry_front],
    };

    let started_at = Date::today();
    let machine = machine::describe();
    // measured[d][c]
    let mut measured: Vec<Vec<Measured>> = Vec::new();
    for d in DELAYS {
        eprintln!("D = {d} ms: counting");
        bench.set_delay(d);
        let traffic: Vec<Traffic> = commands.iter().map(|c| bench.count(c)).collect();
        eprintln!("D = {d} ms: timing");
        let medians = bench.hyperfine(&commands);
        measured.push(
            medians
                .into_iter()
                .zip(traffic)
                .map(|(median, traffic)| Measured { median, traffic })
                .collect(),
        );
    }
    drop(registry);

    println!("ci-registry-login WAN benchmark, {started_at} on {machine}");
    println!(
        "binary: {}. TLS 1.3 delay proxies (user-space, one-way delay D per chunk each way, one round trip more before a connection's first chunk) in front of the emulated GitLab and the registry; medians of {RUNS} hyperfine runs per command and D, all commands in one hyperfine run per D (through `sh`, its start-up subtracted); ratio to `docker login` in the same run. Connections, requests and round trips counted from the proxies' logs in one run at D = {JUDGED} ms; a round trip is one TCP handshake, one TLS handshake or one request, and connections that overlap count as their longest.",
        binary.display()
    );
    println!();
    let mut head = "| command | connections / requests | round trips |".to_string();
    for d in DELAYS {
        head.push_str(&format!(" D = {d} ms |"));
    }
    println!("{head}");
    println!("|---|---|---|{}", "---|".repeat(DELAYS.len()));
    let judged = DELAYS.iter().position(|&d| d == JUDGED).unwrap();
    for (c, cmd) in commands.iter().enumerate() {
        let t = measured[judged][c].traffic;
        let mut line = format!(
            "| `{}` | {} / {} | {} |",
            cmd.label, t.connections, t.requests, t.round_trips
        );
        for row in &measured {
            line.push_str(&format!(
                " {:.1} ms ({:.2}×) |",
                row[c].median * 1000.0,
                row[c].median / row[0].median
            ));
        }
        println!("{line}");
    }
    println!();

    let at = &measured[judged];
    let ratio = |a: usize, b: usize| at[a].median / at[b].median;
    // Indices into `commands`.
    let (docker, auth_file, docker_engine, check, first_usable, first_two_not) = (0, 1, 2, 3, 4, 5);
    let budgets = [
        (
            "verified `login --engine auth-file` ≤ 0.40× `docker login`",
            ratio(auth_file, docker),
            0.40,
        ),
        (
            "`check --push` ≤ 0.40× `docker login`",
            ratio(check, docker),
            0.40,
        ),
        (
            "`login --engine docker` ≤ 1.10× `docker login`",
            ratio(docker_engine, docker),
            1.10,
        ),
        (
            "3 candidates, the first usable, ≤ 1.10× one",
            ratio(first_usable, check),
            1.10,
        ),
        (
            "3 candidates, the first two not, ≤ 1.10× one",
            ratio(first_two_not, check),
            1.10,
        ),
    ];
    let trips = [
        (
            "`login --engine auth-file`: ≤ 4 round trips",
            at[auth_file].traffic.round_trips,
        ),
        (
            "`check --push`: ≤ 4 round trips",
            at[check].traffic.round_trips,
        ),
    ];
    println!("| budget at D = {JUDGED} ms | measured | result |");
    println!("|---|---|---|");
    let mut met = 0;
    for (what, measured, budget) in budgets {
        let pass = measured <= budget;
        met += usize::from(pass);
        println!("| {what} | {measured:.2}× | {} |", verdict(pass));
    }
    for (what, trips) in trips {
        let pass = trips <= 4;
        met += usize::from(pass);
        println!("| {what} | {trips} | {} |", verdict(pass));
    }
    println!();
    println!("Budgets met: {met} of {}.", budgets.len() + trips.len());
}

fn verdict(pass: bool) -> &'static str {
    if pass { "pass" } else { "**FAIL**" }
}

/// `127.0.0.1:PORT` of an `http://127.0.0.1:PORT` URL.
fn backend(url: &str) -> std::net::SocketAddr {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|_| panic!("a plain-HTTP loopback backend, not {url}"))
}
