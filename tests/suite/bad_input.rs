//! Bad input, as a table: every variable and flag the binary reads gets each hostile
//! value (empty, blank, a line break inside, NUL, very long, not UTF-8, a URL with user
//! information, a bad port, `..`, a look-alike character, a host with a path), and the
//! outcome this table documents. The run must never hang (small timeouts are passed;
//! elapsed time is not asserted), and what the user reads stays short: a 128 KiB value
//! is never echoed back whole.
//!
//! How the values travel: the environment carries everything but NUL, which no
//! environment or argv can hold, so NUL goes through `--variables-file`; "very long" is
//! 128 KiB through the environment or argv (Linux's limit for one string) and 1 MiB
//! through `--variables-file`.
//!
//! What each kind of input gets, and why:
//! - Any argument that is not UTF-8, holds a control character or is longer than 4 KiB
//!   is refused before clap sees it (exit 2, the flag named): clap would not say which
//!   argument, or would quote it back whole, line breaks included.
//! - Names of places (registries, repositories, project paths, URLs) and flags with a
//!   fixed grammar (kinds, engines, durations, numbers): hostile values are bad input,
//!   exit 2, the message names the variable or flag, and no file changes. A few values
//!   are legal in a position and say so in their row: `host:99999` after a registry is a
//!   repository `host` with tag `99999`; `registry.example.com/group` is a legal GitLab
//!   project path (groups may have dots); a URL may have a path (GitLab under a relative
//!   URL root).
//! - Secrets: a garbage secret is not bad input, it is a credential GitLab refuses
//!   (exit 4, the credential's variable named); an empty one is a protected variable on
//!   an unprotected branch (exit 3); one that is not UTF-8 or holds NUL cannot even be
//!   read (exit 2); one longer than any credential (8 KiB) is not sent (exit 3).
//! - User names: as secrets, except that a `:`, a control character or more than 255
//!   bytes can never travel in Basic authentication, so they are not sent (exit 3).
//! - Paths (`--auth-file`, `DOCKER_CONFIG`, ...): where a file goes is the user's
//!   choice, relative paths included, as with docker; values no one means as a path
//!   (empty, blank, a line break, a URL, longer than PATH_MAX, not UTF-8) are exit 2. A
//!   file flag naming a folder is exit 2. Legal relative paths are written where asked.
//! - Switches (`GITLAB_CI`, `CI_DEBUG_TRACE`, ...) are on only when they say `true`; any
//!   other value is off, and the login goes on (exit 0). Variables read only to look
//!   for something (glab's config on a laptop, `DOCKER_AUTH_CONFIG` for a warning,
//!   `RUST_LOG`) find nothing in garbage and the login goes on.
//! - `CI_SERVER_TLS_CA_FILE` is warned about and ignored: since runner 16.6 a service
//!   container may see a path that is not there yet, and a job must not fail for it.
//!
//! Empty settings are unset (`CI_PROJECT_PATH=` is no project path), as GitLab leaves
//! unset variables empty in some executors.

use crate::support::TestBed;
use crate::support::run::{Outcome, ci_registry_login};
use crate::support::world::{
    ALICE_PASSWORD, ALICE_PAT_RW, DEPLOY_RW_TOKEN, DEPLOY_RW_USER, JOB_APP_TOKEN,
};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hostile {
    Empty,
    Blank,
    LineBreakInside,
    Nul,
    VeryLong,
    NotUtf8,
    UrlWithUserInfo,
    BadPort,
    DotDot,
    LookAlike,
    HostWithPath,
}

use Hostile::*;

const HOSTILE: [Hostile; 11] = [
    Empty,
    Blank,
    LineBreakInside,
    Nul,
    VeryLong,
    NotUtf8,
    UrlWithUserInfo,
    BadPort,
    DotDot,
    LookAlike,
    HostWithPath,
];

/// Linux's limit for one argv or environment string, its NUL included (MAX_ARG_STRLEN).
const MAX_ARG_STRLEN: usize = 128 * 1024;
/// What `--variables-file` carries for "very long".
const FILE_LONG: usize = 1024 * 1024;

impl Hostile {
    /// The value, `room` bytes when it is the very long one.
    fn bytes(self, room: usize) -> Vec<u8> {
        match self {
            Empty => Vec::new(),
            Blank => b"   ".to_vec(),
            LineBreakInside => b"registry.example.com\nX-Injected: yes".to_vec(),
            Nul => b"registry.example.com\0evil".to_vec(),
            VeryLong => vec![b'a'; room],
            NotUtf8 => b"registry.\xff\xfe.example.com".to_vec(),
            UrlWithUserInfo => b"https://user:pass@host/path".to_vec(),
            BadPort => b"host:99999".to_vec(),
            DotDot => b"..".to_vec(),
            // The second letter is CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I.
            LookAlike => "regіstry.example.com".as_bytes().to_vec(),
            HostWithPath => b"registry.example.com/group".to_vec(),
        }
    }
}

/// How a value reaches the binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Channel {
    Env,
    VariablesFile,
    Arg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Exit 2, the input named, nothing written.
    Refused,
    /// Exit 3: nothing usable; the input named, nothing written.
    NoCredential,
    /// Exit 4: a credential GitLab refuses; the credential named, nothing written.
    Rejected,
    /// The login goes on and ends with this code.
    Goes(i32),
    /// The login goes on (exit 0) with a warning naming the input.
    Warned,
}

use Expect::*;

/// The environment a row starts from.
#[derive(Clone, Copy)]
enum Base {
    /// A GitLab job on group/app, with the job's own credentials.
    Job,
    /// A developer's machine: `--registry`, `REGISTRY_USER` and an access token.
    Laptop,
}

struct Row {
    /// The variable or flag (`--...`) under test.
    input: &'static str,
    base: Base,
    /// Variables removed from the base, to isolate one credential.
    without: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    /// Arguments before the common ones (a subcommand) and after them.
    command: &'static [&'static str],
    args: &'static [&'static str],
    /// The value as written, `{}` the hostile part and `{registry}` the bed's registry.
    template: &'static str,
    /// What the message must name (any of); the input itself when empty.
    names: &'static [&'static str],
    /// The file a run that goes on writes the credential to, relative to the working
    /// directory, `{}` the value; for the leak scan.
    writes: Option<&'static str>,
    expect: fn(Hostile) -> Expect,
}

impl Row {
    const fn new(input: &'static str, expect: fn(Hostile) -> Expect) -> Row {
        Row {
            input,
            base: Base::Job,
            without: &[],
            env: &[],
            command: &[],
            args: &[],
            template: "{}",
            names: &[],
            writes: None,
            expect,
        }
    }

    /// On the command line (a flag, or `helper ACTION`), not a variable.
    fn is_flag(&self) -> bool {
        !self
            .input
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    }

    fn channels(&self, hostile: Hostile) -> Vec<Channel> {
        match (self.is_flag(), hostile) {
            // No argv string can hold a NUL, and none is longer than 128 KiB.
            (true, Nul) => vec![],
            (true, _) => vec![Channel::Arg],
            (false, Nul) => vec![Channel::VariablesFile],
            (false, VeryLong) => vec![Channel::Env, Channel::VariablesFile],
            (false, _) => vec![Channel::Env],
        }
    }
}

// ---------------------------------------------------------------------------
// The table.

/// Names of places: the registry, the repository, GitLab's URL, the dependency proxy.
fn place_rows() -> Vec<Row> {
    vec![
        Row::new("CI_REGISTRY", |_| Refused),
        Row::new("--registry", |_| Refused),
        Row::new("--password-for", |_| Refused),
        Row {
            // Only a value naming the registry applies; the hostile part is the path.
            template: "{registry}/{}",
            // A refusal of a legal reference names the repository.
            names: &["CI_REGISTRY_IMAGE", "/host", "/registry.example.com/group"],
            // A tag after a repository, and a nested path: legal references to
            // repositories the job's token may not pull.
            ..Row::new("CI_REGISTRY_IMAGE", |h| match h {
                BadPort | HostWithPath => Rejected,
                _ => Refused,
            })
        },
        Row {
            without: &["CI_REGISTRY_IMAGE"],
            names: &["CI_PROJECT_PATH", "/registry.example.com/group"],
            ..Row::new("CI_PROJECT_PATH", |h| match h {
                // Unset: the credential is checked without a repository.
                Empty => Goes(0),
                // A dotted group is legal; the job's token cannot pull that project.
                HostWithPath => Rejected,
                _ => Refused,
            })
        },
        Row {
            names: &["--repository", "/host"],
            ..Row::new("--repository", |h| match h {
                // Repository `host`, tag 99999: legal, not the job's project.
                BadPort => Rejected,
                _ => Refused,
            })
        },
        Row {
            args: &["--dependency-proxy"],
            ..Row::new("CI_DEPENDENCY_PROXY_SERVER", |_| Refused)
        },
        Row {
            args: &["--dependency-proxy"],
            ..Row::new("--proxy-probe", |h| match h {
                // Image `host`, tag 99999: legal, and not upstream; the pull is unproven.
                BadPort => Warned,
                _ => Refused,
            })
        },
        // Read only to find the default probe: garbage finds none, the login goes on.
        Row {
            args: &["--dependency-proxy"],
            ..Row::new("CI_JOB_IMAGE", |_| Goes(0))
        },
        Row {
            args: &["--dependency-proxy"],
            ..Row::new("CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX", |_| Goes(0))
        },
        Row {
            args: &["--dependency-proxy"],
            ..Row::new("CI_DEPENDENCY_PROXY_DIRECT_GROUP_IMAGE_PREFIX", |_| Goes(0))
        },
        Row::new("CI_API_V4_URL", |h| match h {
            Empty => Goes(0),
            _ => Refused,
        }),
        Row {
            template: "https://{}/api/v4",
            ..Row::new("CI_API_V4_URL", |h| match h {
                // GitLab under a relative URL root.
                HostWithPath => Goes(0),
                _ => Refused,
            })
        },
        Row::new("--gitlab-url", |_| Refused),
        Row {
            template: "https://{}",
            ..Row::new("--gitlab-url", |h| match h {
                HostWithPath => Goes(0),
                _ => Refused,
            })
        },
        Row::new("--ca-file", |_| Refused),
        Row::new("CI_SERVER_TLS_CA_FILE", |h| match h {
            Empty => Goes(0),
            NotUtf8 | Nul => Refused,
            _ => Warned,
        }),
    ]
}

/// One credential at a time, the others removed, against the live emulator.
fn credential_rows() -> Vec<Row> {
    const OTHERS: &[&str] = &[
        "CI_REGISTRY_USER",
        "CI_REGISTRY_PASSWORD",
        "CI_JOB_TOKEN",
        "CI_DEPLOY_USER",
        "CI_DEPLOY_PASSWORD",
    ];
    fn secret(h: Hostile) -> Expect {
        match h {
            Empty | VeryLong => NoCredential,
            NotUtf8 | Nul => Refused,
            _ => Rejected,
        }
    }
    fn user(h: Hostile) -> Expect {
        match h {
            Empty | LineBreakInside | VeryLong | UrlWithUserInfo | BadPort => NoCredential,
            NotUtf8 | Nul => Refused,
            _ => Rejected,
        }
    }
    vec![
        Row {
            without: OTHERS,
            env: &[("CI_REGISTRY_USER", "gitlab-ci-token")],
            names: &["CI_REGISTRY_PASSWORD", "CI_REGISTRY_USER"],
            ..Row::new("CI_REGISTRY_PASSWORD", secret)
        },
        Row {
            without: OTHERS,
            ..Row::new("CI_JOB_TOKEN", secret)
        },
        Row {
            without: OTHERS,
            env: &[("CI_DEPLOY_USER", DEPLOY_RW_USER)],
            names: &["CI_DEPLOY_PASSWORD", "CI_DEPLOY_USER"],
            ..Row::new("CI_DEPLOY_PASSWORD", secret)
        },
        Row {
            without: OTHERS,
            env: &[("REGISTRY_USER", "alice")],
            ..Row::new("REGISTRY_PASSWORD", secret)
        },
        Row {
            without: OTHERS,
            env: &[("REGISTRY_USER", "alice")],
            args: &["--password-env", "MY_REGISTRY_SECRET"],
            ..Row::new("MY_REGISTRY_SECRET", secret)
        },
        Row {
            without: OTHERS,
            env: &[("CI_REGISTRY_PASSWORD", JOB_APP_TOKEN)],
            ..Row::new("CI_REGISTRY_USER", user)
        },
        Row {
            without: OTHERS,
            env: &[("CI_DEPLOY_PASSWORD", DEPLOY_RW_TOKEN)],
            ..Row::new("CI_DEPLOY_USER", user)
        },
        Row {
            without: OTHERS,
            // A password needs its own user name (an access token takes any).
            env: &[("REGISTRY_PASSWORD", ALICE_PASSWORD)],
            names: &["REGISTRY_USER", "REGISTRY_PASSWORD"],
            ..Row::new("REGISTRY_USER", user)
        },
        Row {
            without: OTHERS,
            env: &[("REGISTRY_PASSWORD", ALICE_PASSWORD)],
            names: &["--username", "REGISTRY_PASSWORD"],
            // No argument may hold a control character or 128 KiB.
            ..Row::new("--username", |h| match h {
                LineBreakInside | VeryLong => Refused,
                h => user(h),
            })
        },
        Row::new("--password-env", |_| Refused),
    ]
}

/// Flags with a fixed grammar.
fn grammar_rows() -> Vec<Row> {
    [
        "--use",
        "--engine",
        "--auth-format",
        "--format",
        "--retries",
        "--retry-timeout",
        "--timeout",
        "--min-token-lifetime",
        "--warn-expiry",
    ]
    .into_iter()
    .map(|flag| Row::new(flag, |_| Refused))
    .chain([Row {
        command: &["helper"],
        names: &["ACTION", "helper"],
        ..Row::new("helper ACTION", |_| Refused)
    }])
    .collect()
}

/// Files and folders.
fn path_rows() -> Vec<Row> {
    /// Values no one means as a path, and those that are legal relative paths.
    fn path(h: Hostile) -> Expect {
        match h {
            BadPort | DotDot | LookAlike | HostWithPath => Goes(0),
            _ => Refused,
        }
    }
    fn file(h: Hostile) -> Expect {
        match h {
            DotDot => Refused,
            _ => path(h),
        }
    }
    vec![
        Row {
            writes: Some("{}"),
            ..Row::new("--auth-file", file)
        },
        Row::new("--report", |h| match h {
            // Its folder must exist: `registry.example.com/` does not.
            HostWithPath => Refused,
            h => file(h),
        }),
        Row {
            args: &["--isolate"],
            ..Row::new("--env-file-out", |h| match h {
                HostWithPath => Refused,
                h => file(h),
            })
        },
        Row {
            command: &["helper", "install"],
            ..Row::new("--bin-dir", |h| match h {
                // The only existing folder among the values.
                DotDot => Goes(0),
                _ => Refused,
            })
        },
        Row::new("--variables-file", |_| Refused),
        Row {
            writes: Some("{}/config.json"),
            ..Row::new("DOCKER_CONFIG", |h| match h {
                Empty => Goes(0),
                h => path(h),
            })
        },
        Row {
            writes: Some("{}/.docker/config.json"),
            ..Row::new("HOME", |h| match h {
                // Neither HOME nor DOCKER_CONFIG: nowhere to write.
                Empty => Refused,
                h => path(h),
            })
        },
        Row {
            args: &["--auth-format", "containers"],
            names: &["REGISTRY_AUTH_FILE"],
            writes: Some("{}"),
            ..Row::new("REGISTRY_AUTH_FILE", file)
        },
        Row {
            args: &["--auth-format", "containers"],
            names: &["XDG_RUNTIME_DIR"],
            writes: Some("{}/containers/auth.json"),
            ..Row::new("XDG_RUNTIME_DIR", |h| match h {
                Empty => Refused,
                h => path(h),
            })
        },
        Row {
            args: &["--isolate"],
            ..Row::new("CI_BUILDS_DIR", |h| match h {
                Empty => Goes(0),
                _ => Refused,
            })
        },
        Row {
            args: &["--isolate"],
            ..Row::new("CI_JOB_ID", |_| Refused)
        },
    ]
}

/// What the job pulls and pushes (issue 14). Image values carry the hostile part as
/// the tag of the job's own image, so that no run ever leaves loopback.
fn image_rows() -> Vec<Row> {
    let image = |input| Row {
        template: "{registry}/group/app:{}",
        ..Row::new(input, |_| Refused)
    };
    vec![
        image("--push-image"),
        image("--pull-image"),
        Row {
            args: &["--tag", "v1"],
            ..image("CI_JOB_IMAGE")
        },
        Row::new("--tag", |_| Refused),
        Row::new("--dockerfile", |_| Refused),
        // Without --dockerfile there is no ARG to fill: refused whatever the value.
        Row::new("--build-arg", |_| Refused),
        Row::new("--credential", |_| Refused),
    ]
}

/// Switches and variables read only to look for something.
fn lenient_rows() -> Vec<Row> {
    let job = [
        "GITLAB_CI",
        "CI",
        "CI_DEBUG_TRACE",
        "CI_SHARED_ENVIRONMENT",
        "NO_COLOR",
        "RUST_LOG",
        "DOCKER_AUTH_CONFIG",
        "PATH",
        // Only ever names where the job's own registry's tokens are asked early: a value
        // that is no usable URL means no early request (issue 15).
        "CI_SERVER_URL",
        // GitLab's Harbor integration (issue 14): read only for the Harbor host, which
        // the base job does not touch.
        "HARBOR_HOST",
        "HARBOR_URL",
        "HARBOR_PROJECT",
        "HARBOR_USERNAME",
    ];
    let laptop = [
        "GLAB_CONFIG_DIR",
        "XDG_CONFIG_HOME",
        "CI_SERVER_FQDN",
        "CI_SERVER_HOST",
    ];
    let mut rows: Vec<Row> = job
        .into_iter()
        .map(|name| Row::new(name, |_| Goes(0)))
        .collect();
    // A secret variable: one that cannot be meant is refused, as every secret is.
    rows.push(Row::new("HARBOR_PASSWORD", |h| match h {
        Nul | NotUtf8 => Refused,
        _ => Goes(0),
    }));
    rows.push(Row::new("CI_REGISTRY_LOGIN_SECTIONS", |h| match h {
        Empty => Goes(0),
        _ => Warned,
    }));
    rows.extend(laptop.into_iter().map(|name| Row {
        base: Base::Laptop,
        ..Row::new(name, |_| Goes(0))
    }));
    rows
}

// ---------------------------------------------------------------------------
// Running a row.

/// Arguments every run but the helper's gets: write the auth file, small timeouts, few
/// attempts.
const COMMON: [&str; 8] = [
    "--engine",
    "auth-file",
    "--retries",
    "2",
    "--timeout",
    "5s",
    "--retry-timeout",
    "10s",
];

/// What was in the auth file before each run: other registries, helpers, unknown keys.
const EXISTING_CONFIG: &str = r#"{"auths":{"other.example.com":{"auth":"b3RoZXI6c2VjcmV0"}},"credHelpers":{"gcr.io":"gcloud"},"future":[1,2]}"#;

fn base_env(bed: &TestBed, base: Base) -> Vec<(String, String)> {
    match base {
        Base::Job => bed.ci_job_env("group/app"),
        Base::Laptop => vec![
            ("REGISTRY_USER".into(), "alice".into()),
            ("REGISTRY_PASSWORD".into(), ALICE_PAT_RW.into()),
        ],
    }
}

/// The value with its template applied; `None` when no room is left for it.
fn value(row: &Row, hostile: Hostile, channel: Channel, registry: &str) -> Vec<u8> {
    let template = row.template.replace("{registry}", registry);
    let (before, after) = template.split_once("{}").expect("a template has {}");
    let overhead = before.len() + after.len();
    let room = match channel {
        Channel::Env => MAX_ARG_STRLEN - row.input.len() - 2 - overhead,
        Channel::Arg => MAX_ARG_STRLEN - 1 - overhead,
        Channel::VariablesFile => FILE_LONG,
    };
    let mut bytes = before.as_bytes().to_vec();
    bytes.extend(hostile.bytes(room));
    bytes.extend_from_slice(after.as_bytes());
    bytes
}

/// Every file under `dir` with its content, but the runner's own bookkeeping.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if d == dir && ["shims", "children", "trace"].iter().any(|b| name == *b) {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.insert(path, bytes);
            }
        }
    }
    out
}

/// What a person reads: our own lines and clap's.
fn message(out: &Outcome) -> String {
    out.stderr
        .lines()
        .filter(|l| {
            l.starts_with("ci-registry-login:") || l.starts_with("error:") || l.starts_with("  ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs one hostile value through one row; returns what went against the table.
fn check(bed: &TestBed, row: &Row, hostile: Hostile, channel: Channel) -> Option<String> {
    let registry = bed.registry().host_port();
    let value = value(row, hostile, channel, &registry);
    let expect = (row.expect)(hostile);
    let mut env: Vec<(OsString, OsString)> = base_env(bed, row.base)
        .into_iter()
        .filter(|(k, _)| !row.without.contains(&k.as_str()))
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    env.extend(row.env.iter().map(|(k, v)| (k.into(), v.into())));
    let mut run = ci_registry_login().in_subfolder("work");
    let work = run.path("work");
    let mut args: Vec<OsString> = row.command.iter().map(Into::into).collect();
    // The helper takes neither an engine nor network settings (issue 12: refused).
    if row.command.first() != Some(&"helper") {
        args.extend(COMMON.iter().map(Into::into));
    }
    args.extend(row.args.iter().map(Into::into));
    if let Base::Laptop = row.base {
        args.extend(["--registry".into(), registry.clone().into()]);
    }
    let config = run.home().join(".docker/config.json");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, EXISTING_CONFIG).unwrap();
    match channel {
        Channel::Arg if row.input == "helper ACTION" => {
            args.insert(1, OsString::from_vec(value.clone()));
        }
        Channel::Arg => {
            args.push(row.input.into());
            args.push(OsString::from_vec(value.clone()));
        }
        Channel::Env => {
            env.retain(|(k, _)| k != row.input);
            env.push((row.input.into(), OsString::from_vec(value.clone())));
        }
        Channel::VariablesFile => {
            env.retain(|(k, _)| k != row.input);
            let text = String::from_utf8(value.clone()).expect("file values are UTF-8");
            let file = run.path("variables.yml");
            let yaml = format!("{}: {}\n", row.input, serde_json::to_string(&text).unwrap());
            std::fs::write(&file, yaml).unwrap();
            args.extend(["--variables-file".into(), file.into()]);
            // The environment wins over the file: the runner's own HOME or PATH must go.
            run = run.env_remove(row.input);
        }
    }
    if let (Goes(0), Some(writes), Ok(text)) = (expect, row.writes, std::str::from_utf8(&value)) {
        run = run.allow_secret_in(work.join(writes.replace("{}", text)));
    }
    if row.args.contains(&"--isolate") {
        // The job's private folder, under TMPDIR when CI_BUILDS_DIR is unset.
        let job = env
            .iter()
            .find(|(k, _)| k == "CI_JOB_ID")
            .map(|(_, v)| v.clone());
        if let Some(job) = job.and_then(|j| j.into_string().ok()) {
            let folder = run.path("tmp").join(format!("ci-registry-login-job-{job}"));
            run = run.allow_secret_in(folder.join("config.json"));
        }
    }
    let before = files(&run.path(""));
    let out = run.allow_secret_in(&config).envs(env).args(args).run();
    let said = message(&out);
    let code = out.status.code();
    let what = format!(
        "{} = {hostile:?} via {channel:?}: expected {expect:?}, got exit {code:?}",
        row.input
    );
    let wanted_code = match expect {
        Refused => 2,
        NoCredential => 3,
        Rejected => 4,
        Goes(code) => code,
        Warned => 0,
    };
    if code != Some(wanted_code) {
        return Some(format!("{what}\n{}", tail(&said, 6)));
    }
    if said.len() > 4096 {
        return Some(format!("{what}: a {} byte message", said.len()));
    }
    let names: Vec<&str> = if row.names.is_empty() {
        vec![row.input]
    } else {
        row.names.to_vec()
    };
    let named = names.iter().any(|n| said.contains(n));
    if matches!(expect, Refused | NoCredential | Rejected | Warned) && !named {
        return Some(format!("{what}, but the message does not name it:\n{said}"));
    }
    if matches!(expect, Refused | NoCredential | Rejected) {
        let after = files(&out.path(""));
        if after != before {
            let changed: Vec<_> = after
                .iter()
                .filter(|(p, b)| before.get(*p) != Some(b))
                .map(|(p, _)| p.display().to_string())
                .collect();
            return Some(format!("{what}, but files changed: {changed:?}"));
        }
    }
    None
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn run_table(rows: Vec<Row>) {
    let bed = TestBed::start();
    let mut failures = Vec::new();
    for row in &rows {
        for hostile in HOSTILE {
            for channel in row.channels(hostile) {
                failures.extend(check(&bed, row, hostile, channel));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} outcomes differ from the table:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn names_of_places() {
    run_table(place_rows());
}

#[test]
fn credentials() {
    run_table(credential_rows());
}

#[test]
fn flags_with_a_grammar() {
    run_table(grammar_rows());
}

#[test]
fn files_and_folders() {
    run_table(path_rows());
}

#[test]
fn switches_and_lookups() {
    run_table(lenient_rows());
}

#[test]
fn images_the_job_touches() {
    run_table(image_rows());
}

/// The variables file itself: content that cannot be a variables file is bad input.
#[test]
fn variables_file_contents() {
    let cases: [(&str, Vec<u8>); 5] = [
        ("not UTF-8", b"CI_REGISTRY: reg\xff\n".to_vec()),
        ("NUL in a line", b"CI_REGISTRY=reg\0istry\n".to_vec()),
        ("1 MiB of garbage", vec![b'{'; FILE_LONG]),
        (
            "a list where a value goes",
            b"CI_REGISTRY: [a, b]\n".to_vec(),
        ),
        ("not a variable name", b"1BAD: x\n".to_vec()),
    ];
    for (what, content) in cases {
        let run = ci_registry_login();
        let file = run.path("vars");
        std::fs::write(&file, content).unwrap();
        let out = run.args(COMMON).arg("--variables-file").arg(&file).run();
        assert_eq!(out.status.code(), Some(2), "{what}: {}", message(&out));
        let said = message(&out);
        assert!(
            said.contains("--variables-file") || said.contains("CI_REGISTRY"),
            "{what}: {said}"
        );
    }
}

/// Every variable the source reads and every flag clap knows has a row, so that a new
/// input cannot slip past this table.
#[test]
fn every_input_has_a_row() {
    let mut rows = place_rows();
    rows.extend(credential_rows());
    rows.extend(grammar_rows());
    rows.extend(path_rows());
    rows.extend(lenient_rows());
    rows.extend(image_rows());
    let covered: Vec<&str> = rows.iter().map(|r| r.input).collect();
    use clap::CommandFactory;
    let command = ci_registry_login::cli::Cli::command();
    let missing_flags: Vec<String> = command
        .get_arguments()
        .filter(|a| a.get_action().takes_values() && a.get_long().is_some())
        .map(|a| format!("--{}", a.get_long().unwrap()))
        .filter(|flag| !covered.contains(&flag.as_str()))
        .collect();
    assert!(
        missing_flags.is_empty(),
        "flags without a row: {missing_flags:?}"
    );

    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut missing_vars = Vec::new();
    for name in variables_read(&src) {
        if !covered.contains(&name.as_str()) && !NOT_INPUT.contains(&name.as_str()) {
            missing_vars.push(name);
        }
    }
    assert!(
        missing_vars.is_empty(),
        "variables the binary reads without a row in tests/suite/bad_input.rs: {missing_vars:?}"
    );
}

/// Names that reach a variable read but are not input to test here.
const NOT_INPUT: &[&str] = &[
    // Scrubbed from engines' environments, never read for a value.
    "CI_BUILD_TOKEN",
    "CI_DEPENDENCY_PROXY_PASSWORD",
    "CI_DEPENDENCY_PROXY_USER",
];

/// `"NAME"` literals the source reads as variables outside its tests: the argument of
/// `get(`, `setting(`, `path_setting(`, `file_setting(`, `is_true(`, `var_os(` and
/// `env::var(`, every one on a `secret_from(` line, and the explicit credential's
/// default variable names (`..._var: "NAME"`).
fn variables_read(src: &Path) -> Vec<String> {
    let calls = [
        "get(\"",
        "setting(\"",
        "is_true(\"",
        "var_os(\"",
        "var(\"",
        "_var: \"",
    ];
    let mut names = std::collections::BTreeSet::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for line in code.lines() {
                let starts: Vec<usize> = if line.contains("secret_from(") {
                    line.match_indices('"').map(|(at, _)| at + 1).collect()
                } else {
                    calls
                        .iter()
                        .flat_map(|call| line.match_indices(call).map(|(at, _)| at + call.len()))
                        .collect()
                };
                for start in starts {
                    let rest = &line[start..];
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                        .collect();
                    if name.len() >= 2 && rest[name.len()..].starts_with('"') {
                        names.insert(name);
                    }
                }
            }
        }
    }
    names.into_iter().collect()
}
