//! The login benchmark of issue 3: the release binary against the test bed, side by
//! side with `docker login --password-stdin`, timed by hyperfine and measured for peak
//! memory by `/usr/bin/time -v`. It prints a Markdown table of medians, CPU times,
//! ratios and budgets (the README quotes it).
//!
//! Run after the README's test setup: `cargo bench --bench login`. It measures the
//! binary named by `CI_REGISTRY_LOGIN_RELEASE_BIN` when set (to compare builds), else
//! the one cargo built for it with the release settings. No budget makes it fail: the
//! table says pass or fail per line.

// The integration suite's test bed, of which this uses a few parts: what the suite leaves
// unused is caught there (tests/suite/), not here.
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
use support::world::{DEPLOY_RO_TOKEN, DEPLOY_RO_USER, DEPLOY_RW_TOKEN, DEPLOY_RW_USER, Date};
use support::{Fault, TestBed, Times};

const PROJECT: &str = "group/app";
/// hyperfine runs per command, in rounds that take turns between the commands compared,
/// so that a change in the machine's other load hits them alike.
const ROUNDS: u32 = 4;
const RUNS_PER_ROUND: u32 = 10;
/// Warm-up runs per command, in each round.
const WARMUP: u32 = 2;
/// `/usr/bin/time -v` runs per command; the largest peak counts.
const RSS_RUNS: u32 = 5;
/// How late the token service answers in the latency-bound check comparison, as a
/// GitLab across a network would.
const TOKEN_DELAY: Duration = Duration::from_millis(50);

/// One command line, runnable by hyperfine and by `/usr/bin/time`.
struct Cmd {
    label: &'static str,
    argv: Vec<String>,
    /// A file fed to stdin (docker's `--password-stdin`).
    stdin: Option<PathBuf>,
}

impl Cmd {
    fn new(label: &'static str, program: &Path, args: &[&str]) -> Cmd {
        let mut argv = vec![program.display().to_string()];
        argv.extend(args.iter().map(|a| a.to_string()));
        Cmd {
            label,
            argv,
            stdin: None,
        }
    }

    fn shell(&self) -> String {
        let mut line: Vec<String> = self.argv.iter().map(|a| quote(a)).collect();
        if let Some(file) = &self.stdin {
            line.push(format!("< {}", quote(&file.display().to_string())));
        }
        line.join(" ")
    }
}

fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// hyperfine's verdict on one command, in seconds.
#[derive(Clone, Copy)]
struct Timing {
    median: f64,
    /// Mean user plus system time, children (docker under our docker engine) included.
    cpu: f64,
}

/// Everything the measured commands run with: a job's variables and private paths.
struct Setup {
    env: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

impl Setup {
    /// Without a shell unless a command needs one for its stdin; then all of them go
    /// through `sh`, whose start-up hyperfine subtracts, so that the commands compared
    /// are measured alike.
    fn hyperfine(&self, commands: &[&Cmd]) -> Vec<Timing> {
        let json = self.dir.path().join("hyperfine.json");
        let shell = if commands.iter().any(|c| c.stdin.is_some()) {
            "sh"
        } else {
            "none"
        };
        let mut times = vec![Vec::new(); commands.len()];
        let mut cpu = vec![0.0; commands.len()];
        for _ in 0..ROUNDS {
            let mut hf = Command::new("hyperfine");
            hf.args(["--style", "none", "--shell", shell])
                .args(["--warmup", &WARMUP.to_string()])
                .args(["--runs", &RUNS_PER_ROUND.to_string()])
                .arg("--export-json")
                .arg(&json);
            for cmd in commands {
                hf.args(["--command-name", cmd.label]).arg(cmd.shell());
            }
            let status =
                self.command(hf).stderr(Stdio::null()).status().expect(
                    "run hyperfine (Debian package hyperfine; tests/run-all.sh installs it)",
                );
            assert!(status.success(), "hyperfine failed: {status}");
            let report: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
            for (i, result) in report["results"].as_array().unwrap().iter().enumerate() {
                let number = |key: &str| result[key].as_f64().unwrap();
                times[i].extend(
                    result["times"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| t.as_f64().unwrap()),
                );
                cpu[i] += (number("user") + number("system")) / f64::from(ROUNDS);
            }
        }
        times
            .into_iter()
            .zip(cpu)
            .map(|(mut runs, cpu)| {
                runs.sort_by(f64::total_cmp);
                let mid = runs.len() / 2;
                let median = if runs.len() % 2 == 0 {
                    (runs[mid - 1] + runs[mid]) / 2.0
                } else {
                    runs[mid]
                };
                Timing { median, cpu }
            })
            .collect()
    }

    /// The largest "Maximum resident set size" of a few runs, in KiB. For a command that
    /// spawns another, the kernel reports the larger of the two.
    fn peak_rss_kib(&self, cmd: &Cmd) -> u64 {
        let report = self.dir.path().join("time.txt");
        (0..RSS_RUNS)
            .map(|_| {
                let mut time = Command::new("/usr/bin/time");
                time.arg("-v").arg("-o").arg(&report).args(&cmd.argv);
                let stdin = match &cmd.stdin {
                    Some(file) => Stdio::from(std::fs::File::open(file).unwrap()),
                    None => Stdio::null(),
                };
                let status = self
                    .command(time)
                    .stdin(stdin)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .expect("run /usr/bin/time (Debian package time)");
                assert!(status.success(), "{} failed under time -v", cmd.label);
                let text = std::fs::read_to_string(&report).unwrap();
                text.lines()
                    .find_map(|l| {
                        l.trim()
                            .strip_prefix("Maximum resident set size (kbytes): ")
                    })
                    .and_then(|v| v.parse().ok())
                    .expect("time -v reports the maximum resident set size")
            })
            .max()
            .unwrap()
    }

    /// One run, to count what it asked of the token service.
    fn token_requests(&self, bed: &TestBed, cmd: &Cmd) -> usize {
        bed.gitlab().clear_requests();
        let mut sh = Command::new("sh");
        sh.arg("-c").arg(cmd.shell());
        let status = self
            .command(sh)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "{} failed", cmd.label);
        bed.gitlab().requests_to("/jwt/auth").len()
    }

    fn command(&self, mut command: Command) -> Command {
        command
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path());
        command
    }
}

/// CPU time of this process (the emulator's threads), in seconds.
fn own_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the parenthesised command name; utime and stime are the 12th and
    // 13th of those, in clock ticks (100 per second on Linux).
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// A table line: what was measured, against what, and the verdict when it has a budget.
struct Line {
    what: String,
    ours: String,
    theirs: String,
    ratio: Option<f64>,
    budget: String,
    pass: Option<bool>,
}

impl Line {
    fn ratio(what: &str, ours: Timing, theirs: Timing, budget: Option<f64>) -> Line {
        let ratio = ours.median / theirs.median;
        Line {
            what: what.into(),
            ours: timing(ours),
            theirs: timing(theirs),
            ratio: Some(ratio),
            budget: budget.map(|b| format!("≤ {b}×")).unwrap_or_default(),
            pass: budget.map(|b| ratio <= b),
        }
    }

    fn absolute(what: &str, ours: String, budget: &str, pass: Option<bool>) -> Line {
        Line {
            what: what.into(),
            ours,
            theirs: String::new(),
            ratio: None,
            budget: budget.into(),
            pass,
        }
    }
}

fn timing(t: Timing) -> String {
    format!("{:.1} ms (CPU {:.1} ms)", t.median * 1000.0, t.cpu * 1000.0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn main() {
    // cargo bench passes --bench; nothing else is accepted.
    if std::env::args().skip(1).any(|a| a != "--bench") {
        eprintln!("usage: cargo bench --bench login");
        std::process::exit(2);
    }
    for (tool, package) in [
        ("hyperfine", "hyperfine"),
        ("/usr/bin/time", "time"),
        ("docker", "the docker CLI"),
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            eprintln!("{tool} is missing: install {package} (bash tests/run-all.sh does)");
            std::process::exit(1);
        }
    }
    let machine = machine::describe();
    let binary = std::env::var_os("CI_REGISTRY_LOGIN_RELEASE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ci-registry-login")));
    let size = std::fs::metadata(&binary)
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()))
        .len();

    eprintln!("starting the test bed");
    let bed = TestBed::start();
    let registry = bed.registry().host_port();
    let dir = tempfile::tempdir().unwrap();
    for sub in ["home", "ours", "docker"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
    }
    let job = bed.ci_job_env(PROJECT);
    let secret_file = dir.path().join("password");
    let job_token = &job
        .iter()
        .find(|(k, _)| k == "CI_REGISTRY_PASSWORD")
        .unwrap()
        .1;
    std::fs::write(&secret_file, job_token).unwrap();
    let path = |sub: &str| dir.path().join(sub).display().to_string();
    let mut env = job.clone();
    env.extend([
        ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
        ("HOME".into(), path("home")),
        ("DOCKER_CONFIG".into(), path("ours")),
        ("DOCKER_HOST".into(), support::docker::NO_DAEMON.into()),
        ("NO_COLOR".into(), "1".into()),
    ]);
    let docker_config = path("docker");
    let logins = Setup { env, dir };

    // Two more credentials for `check`: the project's deploy token and an explicit one.
    let mut env = logins.env.clone();
    env.extend(
        [
            ("CI_DEPLOY_USER", DEPLOY_RO_USER),
            ("CI_DEPLOY_PASSWORD", DEPLOY_RO_TOKEN),
            ("REGISTRY_USER", DEPLOY_RW_USER),
            ("REGISTRY_PASSWORD", DEPLOY_RW_TOKEN),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let checks = Setup {
        env,
        dir: tempfile::tempdir().unwrap(),
    };

    let auth_file = Cmd::new(
        "login --engine auth-file",
        &binary,
        &["login", "--engine", "auth-file", "-q"],
    );
    let docker_engine = Cmd::new(
        "login --engine docker",
        &binary,
        &["login", "--engine", "docker", "-q"],
    );
    let mut docker = Cmd::new(
        "docker login --password-stdin",
        Path::new("docker"),
        &[
            "--config",
            &docker_config,
            "login",
            "--username",
            "gitlab-ci-token",
            "--password-stdin",
            &registry,
        ],
    );
    docker.stdin = Some(secret_file);
    let check_one = Cmd::new(
        "check, 1 candidate",
        &binary,
        &["check", "--use", "registry-user", "-q"],
    );
    let check_three = Cmd::new("check, 3 candidates", &binary, &["check", "-q"]);
    let plan = Cmd::new("plan", &binary, &["plan", "-q"]);

    let requests = [
        (&auth_file, logins.token_requests(&bed, &auth_file)),
        (&docker_engine, logins.token_requests(&bed, &docker_engine)),
        (&docker, logins.token_requests(&bed, &docker)),
        (&check_one, checks.token_requests(&bed, &check_one)),
        (&check_three, checks.token_requests(&bed, &check_three)),
    ];

    eprintln!("timing the logins");
    let [t_auth_file, t_docker_engine, t_docker] =
        logins.hyperfine(&[&auth_file, &docker_engine, &docker])[..]
    else {
        unreachable!()
    };
    eprintln!("timing check and plan");
    bed.gitlab().clear_requests();
    let emulator_before = own_cpu_seconds();
    let [t_one, t_three, t_plan] = checks.hyperfine(&[&check_one, &check_three, &plan])[..] else {
        unreachable!()
    };
    let tokens_signed = bed.gitlab().requests_to("/jwt/auth").len();
    let emulator_per_token = (own_cpu_seconds() - emulator_before) / tokens_signed as f64;
    eprintln!("measuring peak memory");
    let rss: Vec<(&Cmd, u64)> = [&auth_file, &docker_engine, &docker]
        .into_iter()
        .map(|c| (c, logins.peak_rss_kib(c)))
        .chain(
            [&check_three, &plan]
                .into_iter()
                .map(|c| (c, checks.peak_rss_kib(c))),
        )
        .collect();
    eprintln!(
        "timing check with /jwt/auth answering after {} ms",
        TOKEN_DELAY.as_millis()
    );
    bed.gitlab()
        .inject("/jwt/auth", Fault::Delay(TOKEN_DELAY), Times::Always);
    let [d_one, d_three] = checks.hyperfine(&[&check_one, &check_three])[..] else {
        unreachable!()
    };

    let delay = TOKEN_DELAY.as_millis();
    let mut lines = vec![
        Line::ratio(
            "`login --engine auth-file` (verified) vs `docker login`",
            t_auth_file,
            t_docker,
            Some(0.5),
        ),
        Line::ratio(
            "`login --engine docker` (verified, docker alongside) vs `docker login`",
            t_docker_engine,
            t_docker,
            Some(1.15),
        ),
        Line::ratio(
            &format!("`check`, 3 candidates vs 1, `/jwt/auth` answering after {delay} ms"),
            d_three,
            d_one,
            Some(1.3),
        ),
        Line::ratio(
            "`check`, 3 candidates vs 1, on loopback (CPU-bound: see below)",
            t_three,
            t_one,
            None,
        ),
        Line::absolute(
            "`plan` (offline)",
            timing(t_plan),
            "< 5 ms",
            Some(t_plan.median < 0.005),
        ),
    ];
    let docker_rss = rss.iter().find(|(c, _)| c.label == docker.label).unwrap().1;
    for (cmd, kib) in &rss {
        if cmd.label == docker.label {
            continue;
        }
        let with_docker = cmd.label == docker_engine.label;
        let mut line = Line::absolute(
            &format!("peak RSS, `{}`", cmd.label),
            mib(*kib),
            "< 12 MiB",
            Some(*kib < 12 * 1024),
        );
        if with_docker {
            // The kernel reports the larger process, which is docker.
            line.what.push_str(" (the larger of ours and docker's)");
            line.budget.clear();
            line.pass = None;
        }
        if cmd.label.starts_with("login") {
            line.theirs = mib(docker_rss);
        }
        lines.push(line);
    }
    lines.push(Line::absolute(
        "binary size",
        format!("{:.2} MiB", size as f64 / (1024.0 * 1024.0)),
        "< 6 MiB",
        Some(size < 6 * 1024 * 1024),
    ));

    let runs = ROUNDS * RUNS_PER_ROUND;
    println!(
        "ci-registry-login benchmark, {} on {machine}",
        Date::today()
    );
    println!(
        "binary: {} ({size} bytes). Times: medians of {runs} hyperfine runs ({ROUNDS} rounds that take turns between the commands compared), with mean CPU (user + system, children included); the logins run through `sh` (docker needs the secret on stdin) with its start-up subtracted, `check` and `plan` without a shell. Peak RSS: the largest of {RSS_RUNS} runs of `/usr/bin/time -v`.",
        binary.display()
    );
    println!();
    println!("| measurement | ours | docker login / 1 candidate | ratio | budget | result |");
    println!("|---|---|---|---|---|---|");
    for l in &lines {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            l.what,
            l.ours,
            l.theirs,
            l.ratio.map(|r| format!("{r:.2}×")).unwrap_or_default(),
            l.budget,
            match l.pass {
                Some(true) => "pass",
                Some(false) => "**FAIL**",
                None => "",
            }
        );
    }
    println!();
    let counts: Vec<String> = requests
        .iter()
        .map(|(c, n)| format!("{} {n}", c.label))
        .collect();
    println!("Token requests (/jwt/auth) per run: {}.", counts.join("; "));
    println!(
        "The emulator spent {:.1} ms of CPU per token it signed; on loopback it shares the machine's cores with the client, so every extra candidate costs that too (a real GitLab signs elsewhere).",
        emulator_per_token * 1000.0
    );
    let failed = lines.iter().filter(|l| l.pass == Some(false)).count();
    let judged = lines.iter().filter(|l| l.pass.is_some()).count();
    println!("Budgets met: {} of {judged}.", judged - failed);
}
