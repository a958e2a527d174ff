//! The GitLab and GitHub integration files: every pipeline YAML under `ci-templates/`
//! (and the README's include snippet) validates against GitLab's CI schema, `action.yml`
//! against SchemaStore's action schema, `step.yml` has the shape GitLab CI Steps expect,
//! and every command line they build parses with this binary's own CLI.
//!
//! The schemas stay outside the repository: `$CI_REGISTRY_LOGIN_SCHEMAS` (a folder), else
//! `../shared/schemas/`. Without them the schema checks are skipped, saying where they looked;
//! under `CI=true` they fail instead.

use crate::support::https::{Answer, FileServer, sha256_hex};
use crate::support::stderr;
use ci_registry_login::cli;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The folder holding `gitlab-ci.json` and `github-action.json`: the one named by
/// `$CI_REGISTRY_LOGIN_SCHEMAS`, else `../shared/schemas/`; why there is none otherwise.
fn schemas_dir() -> Result<PathBuf, String> {
    let named = std::env::var_os("CI_REGISTRY_LOGIN_SCHEMAS").map(PathBuf::from);
    let shared = repo().join("../shared/schemas");
    named
        .iter()
        .chain([&shared])
        .find(|dir| dir.is_dir())
        .cloned()
        .ok_or_else(|| match &named {
            Some(dir) => format!(
                "neither CI_REGISTRY_LOGIN_SCHEMAS ({}) nor {} is a folder",
                dir.display(),
                shared.display()
            ),
            None => format!(
                "CI_REGISTRY_LOGIN_SCHEMAS is not set and {} does not exist",
                shared.display()
            ),
        })
}

/// A compiled schema, or `None` after recording why the test is skipped (a failure
/// under `CI=true`: CI always has the schemas).
fn schema(file: &str, test: &str) -> Option<(Value, jsonschema::Validator)> {
    let dir = match schemas_dir() {
        Ok(dir) => dir,
        Err(why) => {
            crate::support::missing_part(test, &format!("no JSON schemas: {why}"));
            return None;
        }
    };
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    Some((schema, validator))
}

/// Every YAML document of a file, as JSON (GitLab's component files have two). A tag
/// (`!reference [.job, before_script]`) is read as its value, as GitLab's schema sees it.
fn documents(text: &str) -> Vec<Value> {
    fn untagged(value: serde_yaml::Value) -> serde_yaml::Value {
        use serde_yaml::Value as Y;
        match value {
            Y::Tagged(tagged) => untagged(tagged.value),
            Y::Sequence(items) => Y::Sequence(items.into_iter().map(untagged).collect()),
            Y::Mapping(map) => Y::Mapping(map.into_iter().map(|(k, v)| (k, untagged(v))).collect()),
            other => other,
        }
    }
    serde_yaml::Deserializer::from_str(text)
        .map(|doc| {
            let yaml = untagged(serde_yaml::Value::deserialize(doc).expect("valid YAML"));
            serde_json::to_value(yaml).expect("YAML that JSON can hold")
        })
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every pipeline YAML file: the project's own `.gitlab-ci.yml`, the component in
/// `templates/` and everything under `ci-templates/` but the Steps file.
fn pipeline_files() -> Vec<PathBuf> {
    let mut files = vec![repo().join(".gitlab-ci.yml")];
    let mut stack = vec![repo().join("ci-templates"), repo().join("templates")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml")
                && path.file_name().is_some_and(|n| n != "step.yml")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// A validator for one of the schema's definitions.
fn schema_definition(schema: &Value, name: &str) -> jsonschema::Validator {
    let wrapper = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "definitions": schema["definitions"],
        "allOf": [{"$ref": format!("#/definitions/{name}")}],
    });
    jsonschema::validator_for(&wrapper).expect("the definition compiles")
}

#[test]
fn pipeline_yaml_validates_against_gitlab_ci_schema() {
    let Some((schema, validator)) = schema("gitlab-ci.json", "pipeline schema validation") else {
        return;
    };
    // The schema lets hidden keys (`.name`) be anything, as they may be YAML anchors;
    // ours are jobs to extend, so they are held to the job schema as well.
    let hidden_job = schema_definition(&schema, "job_template");
    let mut inputs: Vec<(String, String)> = pipeline_files()
        .into_iter()
        .map(|p| (p.display().to_string(), read(&p)))
        .collect();
    assert!(
        inputs.len() >= 7,
        "templates, component and examples: {inputs:?}"
    );
    inputs.push((
        "README.md include snippet".into(),
        crate::support::readme::include_snippet(),
    ));
    let mut failures = Vec::new();
    for (name, text) in &inputs {
        for (i, mut doc) in documents(text).into_iter().enumerate() {
            // `spec: component:` is GitLab 18.6's (reference 9.8), newer than the stored
            // schema, whose `spec` allows `inputs` only: held to 18.6's rule here (a list
            // of name, sha, version, reference), then the rest to the schema.
            if let Some(component) = doc
                .get_mut("spec")
                .and_then(Value::as_object_mut)
                .and_then(|spec| spec.remove("component"))
            {
                let known = ["name", "sha", "version", "reference"];
                let ok = component.as_array().is_some_and(|c| {
                    c.iter()
                        .all(|v| v.as_str().is_some_and(|v| known.contains(&v)))
                });
                if !ok {
                    failures.push(format!(
                        "{name}: spec:component: {component} is not a list of {known:?}"
                    ));
                }
            }
            let doc = &doc;
            for e in errors(&validator, doc) {
                failures.push(format!("{name} (document {}): {e}", i + 1));
            }
            let hidden = doc.as_object().into_iter().flatten();
            for (key, job) in hidden.filter(|(k, _)| k.starts_with('.')) {
                for e in errors(&hidden_job, job) {
                    failures.push(format!("{name} (document {}): {key}: {e}", i + 1));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The check can fail: GitLab's schema refuses an untyped input with a default, and a
    // job keyword that does not exist.
    let untyped = json!({"spec": {"inputs": {"intent": {"default": "pull"}}}});
    assert!(!validator.is_valid(&untyped));
    let typo = json!({"befor_script": ["x"]});
    assert!(!hidden_job.is_valid(&typo));
}

#[test]
fn action_yml_validates_against_github_action_schema() {
    let Some((_, validator)) = schema("github-action.json", "action schema validation") else {
        return;
    };
    let docs = documents(&read(&repo().join("action.yml")));
    assert_eq!(docs.len(), 1);
    let failures = errors(&validator, &docs[0]);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let mut broken = docs[0].clone();
    broken["runs"]["using"] = json!("composite-ish");
    assert!(!validator.is_valid(&broken));
}

#[test]
fn action_yml_mirrors_the_cli_and_keeps_the_secret_off_the_command_line() {
    let action = documents(&read(&repo().join("action.yml"))).remove(0);
    let names = |key: &str| -> BTreeSet<String> {
        action[key].as_object().unwrap().keys().cloned().collect()
    };
    for input in [
        "registry",
        "repository",
        "intent",
        "username",
        "password",
        "engine",
        "verify",
        "logout",
    ] {
        assert!(names("inputs").contains(input), "input {input}");
    }
    assert_eq!(
        names("outputs"),
        ["credential-kind", "granted", "token-lifetime"]
            .map(String::from)
            .into()
    );
    assert_eq!(action["runs"]["using"], "composite");
    let step = &action["runs"]["steps"][0];
    let script = step["run"].as_str().unwrap();
    // No input is pasted into the script's text (no injection, no secret in it); they
    // arrive as variables. The secret is taken out of the environment at once and handed
    // to the login alone, as REGISTRY_PASSWORD in its environment: never in an argument.
    assert!(!script.contains("${{"), "{script}");
    assert_eq!(step["env"]["LOGIN_PASSWORD"], "${{ inputs.password }}");
    let uses: Vec<&str> = script
        .lines()
        .map(str::trim)
        .filter(|l| l.to_ascii_lowercase().contains("password") && !l.starts_with('#'))
        .collect();
    assert_eq!(
        uses,
        [
            "password=\"$LOGIN_PASSWORD\"",
            "unset LOGIN_PASSWORD",
            "if [ -n \"$password\" ]; then",
            "REGISTRY_PASSWORD=\"$password\" ci-registry-login login \"--$LOGIN_INTENT\" \"${args[@]}\"",
        ],
        "every use of the secret"
    );
    for flag in [
        "--registry",
        "--repository",
        "--engine",
        "--no-verify",
        "--report",
    ] {
        assert!(script.contains(flag), "{flag}");
    }
    assert_cli_accepts(&[
        "login",
        "--push",
        "--engine",
        "auto",
        "--registry",
        "r.example.com",
        "--repository",
        "g/a",
        "--no-verify",
        "--report",
        "/tmp/x.env",
    ]);
}

/// The binary's own parser accepts the command line (not whether the values are good),
/// and the command takes every option given, or is told to ignore those it does not.
fn assert_cli_accepts(args: &[&str]) {
    let argv = std::iter::once("ci-registry-login")
        .chain(args.iter().copied())
        .map(std::ffi::OsString::from)
        .collect();
    let cli = match cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => panic!("ci-registry-login {}: {e}", args.join(" ")),
    };
    assert!(
        cli.inapplicable.is_empty() || cli.common.ignore_inapplicable,
        "ci-registry-login {}: {:?}",
        args.join(" "),
        cli.inapplicable
    );
}

/// `before_script`'s login line and `after_script`'s logout line, with the shell's
/// `${VAR:+...}` pieces and variables replaced by sample values.
fn template_command_lines(script: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current: Option<String> = None;
    for line in script.lines().map(str::trim) {
        let line = match ["ci-registry-login login", "ci-registry-login logout"]
            .iter()
            .find_map(|command| line.find(command))
        {
            Some(start) => {
                current = Some(String::new());
                &line[start..]
            }
            None => line,
        };
        if let Some(command) = current.as_mut() {
            command.push_str(line.trim_end_matches('\\'));
            command.push(' ');
            if !line.ends_with('\\') {
                lines.push(current.take().unwrap());
            }
        }
    }
    lines
}

#[test]
fn template_and_component_build_command_lines_the_cli_accepts() {
    let template = documents(&read(
        &repo().join("ci-templates/registry-login.gitlab-ci.yml"),
    ))
    .remove(0);
    let base = &template[".registry-login"];
    for intent in ["pull", "push"] {
        let job = &template[format!(".registry-login:{intent}").as_str()];
        assert_eq!(job["extends"], ".registry-login");
        assert_eq!(job["variables"]["REGISTRY_LOGIN_INTENT"], intent);
    }
    assert_eq!(base["artifacts"]["reports"]["dotenv"], "registry-login.env");
    let script = |key: &str| base[key][0].as_str().unwrap().to_string();
    let lines: Vec<String> = [script("before_script"), script("after_script")]
        .iter()
        .flat_map(|s| template_command_lines(s))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for line in &lines {
        // What the shell makes of the line with every tuning variable set.
        let argv = line
            .replace("\"--${REGISTRY_LOGIN_INTENT:-pull}\"", "--push")
            .replace(
                "${REGISTRY_LOGIN_REGISTRY:+--registry \"$REGISTRY_LOGIN_REGISTRY\"}",
                "--registry registry.example.com",
            )
            .replace(
                "${REGISTRY_LOGIN_REPOSITORY:+--repository \"$REGISTRY_LOGIN_REPOSITORY\"}",
                "--repository group/app",
            )
            .replace("\"${REGISTRY_LOGIN_ENGINE:-auto}\"", "auto")
            .replace(
                "$([ \"$REGISTRY_LOGIN_VERIFY\" = \"false\" ] && echo --no-verify)",
                "--no-verify",
            )
            .replace(
                "${REGISTRY_LOGIN_DOCKERFILE:+--dockerfile \"$REGISTRY_LOGIN_DOCKERFILE\"}",
                "--dockerfile Dockerfile",
            )
            .replace(
                "$([ \"${REGISTRY_LOGIN_INTENT:-pull}\" = push ] && for registry_login_item in $REGISTRY_LOGIN_TAGS; do echo --tag \"$registry_login_item\"; done)",
                "--tag 1a2b3c4d --tag v1.0.0",
            )
            .replace(
                "$(for registry_login_item in $REGISTRY_LOGIN_PULL_IMAGES; do echo --pull-image \"$registry_login_item\"; done)",
                "--pull-image docker.io/library/postgres:16",
            )
            .replace("$REGISTRY_LOGIN_OPTIONS", "--use deploy-token")
            .replace(")\" || exit $?", "")
            .replace("|| true", "");
        let words: Vec<&str> = argv.split_whitespace().skip(1).collect();
        assert!(
            words.iter().all(|w| !w.contains('$') && !w.contains('"')),
            "unreplaced shell in {argv}"
        );
        assert_cli_accepts(&words);
    }

    // The component's hidden job runs the very same scripts, fed by its inputs.
    let component = documents(&read(&repo().join("templates/registry-login.yml")));
    assert_eq!(component.len(), 2, "a spec header and the configuration");
    let job = &component[1][".registry-login"];
    for key in ["before_script", "after_script", "artifacts"] {
        assert_eq!(job[key], base[key], "{key} differs from the template's");
    }
    let inputs = component[0]["spec"]["inputs"].as_object().unwrap();
    for wanted in [
        "intent",
        "registry",
        "repository",
        "engine",
        "verify",
        "version",
    ] {
        assert!(inputs.contains_key(wanted), "component input {wanted}");
    }
    let body = serde_json::to_string(&component[1]).unwrap();
    for (name, input) in inputs {
        assert!(
            input["type"].is_string(),
            "input {name} has an explicit type"
        );
        assert!(
            body.contains(&format!("$[[ inputs.{name} ]]")),
            "input {name} is used"
        );
    }
}

#[test]
fn step_yml_has_the_shape_of_a_gitlab_ci_step() {
    let docs = documents(&read(&repo().join("ci-templates/step.yml")));
    assert_eq!(docs.len(), 2, "a spec document and a definition document");
    let inputs = docs[0]["spec"]["inputs"]
        .as_object()
        .expect("spec.inputs is a map");
    let valid_name = |n: &str| {
        n.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    for (name, input) in inputs {
        assert!(valid_name(name), "input name {name}");
        let kind = input["type"].as_str().unwrap_or_default();
        assert!(
            ["string", "number", "boolean", "array", "struct"].contains(&kind),
            "input {name} has type {kind:?}"
        );
        assert!(
            !name.contains("password") || name == "password_env",
            "a secret never travels as an input"
        );
    }
    let definition = &docs[1];
    let command: Vec<&str> = definition["exec"]["command"]
        .as_array()
        .expect("exec.command is a list")
        .iter()
        .map(|v| v.as_str().expect("each item is text"))
        .collect();
    assert_eq!(&command[..2], ["ci-registry-login", "login"]);
    // Every input is used, and only declared inputs are.
    let text = serde_json::to_string(definition).unwrap();
    let used: BTreeSet<&str> = text
        .split("${{ inputs.")
        .skip(1)
        .map(|rest| rest.split(" }}").next().unwrap())
        .collect();
    let declared: BTreeSet<&str> = inputs.keys().map(String::as_str).collect();
    assert_eq!(used, declared);
    // Steps' expressions see only job variables named CI_*, DOCKER_* or GITLAB_*.
    for (name, value) in definition["env"].as_object().unwrap() {
        let value = value.as_str().unwrap();
        let job_var = value
            .strip_prefix("${{ job.")
            .and_then(|v| v.strip_suffix(" }}"))
            .unwrap_or_else(|| panic!("env {name}: {value}"));
        assert!(
            ["CI_", "DOCKER_", "GITLAB_"]
                .iter()
                .any(|p| job_var.starts_with(p)),
            "env {name} reads job.{job_var}"
        );
    }
    // With inputs filled in, the command is one the binary accepts.
    let filled: Vec<String> = command[1..]
        .iter()
        .map(|arg| {
            arg.replace("${{ inputs.intent }}", "push")
                .replace("${{ inputs.registry }}", "registry.example.com")
                .replace("${{ inputs.repository }}", "group/app")
                .replace("${{ inputs.engine }}", "auto")
                .replace("${{ inputs.password_env }}", "REGISTRY_PASSWORD")
        })
        .collect();
    assert_cli_accepts(&filled.iter().map(String::as_str).collect::<Vec<_>>());

    // The definition is an exec step as GitLab's CI schema defines one for `run:`.
    let Some((schema, _)) = schema("gitlab-ci.json", "step.yml definition check") else {
        return;
    };
    let failures = errors(&schema_definition(&schema, "step"), definition);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The template's `before_script`, run by `sh` as a job would run it, with nothing named
/// ci-registry-login on `PATH`: what it downloads is a stand-in that records that it ran
/// (in `ran`) and prints nothing for the login's `eval`. curl trusts the test CA, and
/// `WGETRC` gives wget the same CA; everything else comes from `vars`.
struct DownloadRun {
    dir: tempfile::TempDir,
}

impl DownloadRun {
    fn new() -> DownloadRun {
        let run = DownloadRun {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(run.dir.path().join("home")).unwrap();
        run
    }

    fn ran(&self) -> PathBuf {
        self.dir.path().join("ran")
    }

    /// The stand-in binary a server publishes.
    fn stand_in(&self) -> Vec<u8> {
        format!(
            "#!/bin/sh\necho \"stand-in ran: $*\" > '{}'\n",
            self.ran().display()
        )
        .into_bytes()
    }

    /// The job's private install folder (`REGISTRY_LOGIN_INSTALL_DIR` unset).
    fn install_dir(&self) -> PathBuf {
        self.dir.path().join("home/.cache/ci-registry-login-job-1")
    }

    /// Every file the step left that anyone could execute.
    fn executables(&self) -> Vec<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let Ok(entries) = std::fs::read_dir(self.install_dir()) else {
            return Vec::new();
        };
        entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.metadata().unwrap().permissions().mode() & 0o111 != 0)
            .collect()
    }

    fn run(&self, path: &str, vars: &[(&str, &str)]) -> std::process::Output {
        let template = documents(&read(
            &repo().join("ci-templates/registry-login.gitlab-ci.yml"),
        ))
        .remove(0);
        let script = template[".registry-login"]["before_script"][0]
            .as_str()
            .unwrap()
            .to_string();
        let wgetrc = self.dir.path().join("wgetrc");
        std::fs::write(
            &wgetrc,
            format!(
                "ca_certificate = {}\n",
                crate::support::fixture("test-ca.crt").display()
            ),
        )
        .unwrap();
        std::process::Command::new("/bin/sh")
            .args(["-c", &script])
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.dir.path().join("home"))
            .env("CI_JOB_ID", "1")
            .env("CURL_CA_BUNDLE", crate::support::fixture("test-ca.crt"))
            .env("WGETRC", wgetrc)
            .envs(vars.iter().copied())
            .current_dir(self.dir.path())
            .output()
            .expect("sh runs")
    }
}

/// The system's tools, without ci-registry-login among them.
const SYSTEM_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

fn assert_not_installed() {
    for dir in std::env::split_paths(SYSTEM_PATH) {
        assert!(
            !dir.join("ci-registry-login").exists(),
            "ci-registry-login is installed in {}: the download tests need it absent",
            dir.display()
        );
    }
}

/// A plain-HTTP server on loopback publishing `body` at every path, and how many
/// requests it was sent: the attacker's copy, which must never be fetched.
fn plain_http_server(body: Vec<u8>) -> (crate::support::http::Server, Arc<AtomicUsize>) {
    use crate::support::http::{Reply, Response, Server};
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server = Server::start(
        listener,
        Arc::new(move |_: &crate::support::http::Request| {
            seen.fetch_add(1, Ordering::SeqCst);
            Reply::Now(Response::text(
                200,
                "application/octet-stream",
                body.clone(),
            ))
        }),
    );
    (server, count)
}

/// Finding 2: the template's download with no REGISTRY_LOGIN_SHA256 is refused before
/// anything is fetched, and nothing runs; REGISTRY_LOGIN_INSECURE_DOWNLOAD=true runs it,
/// with a warning.
#[test]
fn template_download_without_a_pinned_sha256_is_refused() {
    assert_not_installed();
    let run = DownloadRun::new();
    let server = FileServer::start([("/bin".to_string(), Answer::File(run.stand_in()))].into());
    let url = server.url("/bin");
    // A version the template pins no checksum for.
    let unpinned = [
        ("REGISTRY_LOGIN_DOWNLOAD_URL", url.as_str()),
        ("REGISTRY_LOGIN_VERSION", "9.9.9"),
    ];
    let out = run.run(SYSTEM_PATH, &unpinned);
    assert!(!out.status.success(), "{}", stderr(&out));
    crate::support::assert_contains(
        stderr(&out),
        "ci-registry-login download refused: no SHA-256 is pinned for version 9.9.9 (x86_64): set REGISTRY_LOGIN_SHA256",
    );
    assert!(!run.ran().exists(), "the download ran");
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    assert!(run.executables().is_empty(), "{:?}", run.executables());

    // Waived explicitly: it runs, and the log says what was given up.
    let out = run.run(
        SYSTEM_PATH,
        &[
            ("REGISTRY_LOGIN_DOWNLOAD_URL", &url),
            ("REGISTRY_LOGIN_VERSION", "9.9.9"),
            ("REGISTRY_LOGIN_INSECURE_DOWNLOAD", "true"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    crate::support::assert_contains(
        stderr(&out),
        "WARNING: REGISTRY_LOGIN_INSECURE_DOWNLOAD=true: the ci-registry-login download is run without a SHA-256 check",
    );
    let ran = std::fs::read_to_string(run.ran()).unwrap();
    crate::support::assert_contains(ran, "stand-in ran: login --pull");
}

/// The line `registry_login_NAME=VALUE` of the template's download script.
fn template_pin(name: &str) -> String {
    let text = read(&repo().join("ci-templates/registry-login.gitlab-ci.yml"));
    let prefix = format!("registry_login_{name}=");
    text.lines()
        .find_map(|l| l.trim().strip_prefix(prefix.as_str()).map(str::to_string))
        .unwrap_or_else(|| panic!("the template pins {prefix}"))
}

/// Issue 16: with only a version, the template downloads from the generic package
/// registry of the project it names, at the GitLab of the job (`CI_API_V4_URL`), and
/// `REGISTRY_LOGIN_PROJECT` and `_API_URL` move it to a mirror. Without
/// `REGISTRY_LOGIN_SHA256` its own release is held to the checksum pinned in the file.
#[test]
fn template_download_url_comes_from_the_publishing_project() {
    assert_not_installed();
    let run = DownloadRun::new();
    let stand_in = run.stand_in();
    let release = template_pin("release");
    let project = template_pin("project").replace('/', "%2F");
    let own = format!(
        "/api/v4/projects/{project}/packages/generic/ci-registry-login/{release}/ci-registry-login-x86_64-linux"
    );
    let mirror = "/mirror/api/v4/projects/ops%2Ftools%2Fcrl/packages/generic/ci-registry-login/9.9.9/ci-registry-login-x86_64-linux";
    let server = FileServer::start(
        [
            (own.clone(), Answer::File(stand_in.clone())),
            (mirror.to_string(), Answer::File(stand_in.clone())),
        ]
        .into(),
    );
    let api = server.url("/api/v4");

    // The template's own release: the stand-in is not the release, so its checksum,
    // the pinned one (or none yet, before the first release), refuses it.
    let out = run.run(SYSTEM_PATH, &[("CI_API_V4_URL", &api)]);
    assert!(!out.status.success(), "{}", stderr(&out));
    let pinned = template_pin("release_sha256");
    if pinned.is_empty() {
        crate::support::assert_contains(
            stderr(&out),
            format!("no SHA-256 is pinned for version {release}"),
        );
        assert!(server.requests().is_empty(), "{:?}", server.requests());
    } else {
        crate::support::assert_contains(
            stderr(&out),
            format!(
                "download refused: expected sha256 {pinned}, got sha256 {}",
                sha256_hex(&stand_in)
            ),
        );
        assert_eq!(server.requests(), std::slice::from_ref(&own));
    }
    assert!(
        !run.ran().exists(),
        "a download that is not the release ran"
    );

    // A mirror, another version, its checksum given.
    let out = run.run(
        SYSTEM_PATH,
        &[
            ("CI_API_V4_URL", &api),
            ("REGISTRY_LOGIN_API_URL", &server.url("/mirror/api/v4")),
            ("REGISTRY_LOGIN_PROJECT", "ops/tools/crl"),
            ("REGISTRY_LOGIN_VERSION", "v9.9.9"),
            ("REGISTRY_LOGIN_SHA256", &sha256_hex(&stand_in)),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(server.requests().last().map(String::as_str), Some(mirror));
    crate::support::assert_contains(
        std::fs::read_to_string(run.ran()).unwrap(),
        "stand-in ran: login --pull",
    );
}

/// Finding 2: a download whose SHA-256 is not the pinned one (a tampered binary) is
/// refused with one line naming both checksums and the variable, and nothing is left
/// executable; the genuine one, pinned (in any case), is installed and run.
#[test]
fn template_download_runs_only_with_the_pinned_sha256() {
    assert_not_installed();
    let run = DownloadRun::new();
    let genuine = run.stand_in();
    let mut tampered = genuine.clone();
    tampered.extend_from_slice(b"echo stolen\n");
    let server = FileServer::start(
        [
            ("/genuine".to_string(), Answer::File(genuine.clone())),
            ("/tampered".to_string(), Answer::File(tampered.clone())),
        ]
        .into(),
    );
    let pinned = sha256_hex(&genuine);

    let out = run.run(
        SYSTEM_PATH,
        &[
            ("REGISTRY_LOGIN_DOWNLOAD_URL", &server.url("/tampered")),
            ("REGISTRY_LOGIN_SHA256", &pinned),
        ],
    );
    assert!(!out.status.success());
    let said = stderr(&out);
    let refusal: Vec<&str> = said.lines().filter(|l| l.contains("refused")).collect();
    assert_eq!(
        refusal,
        [format!(
            "ci-registry-login download refused: expected sha256 {pinned}, got sha256 {} from REGISTRY_LOGIN_DOWNLOAD_URL; nothing was run (fix REGISTRY_LOGIN_SHA256, the component's sha256 input, or the URL)",
            sha256_hex(&tampered)
        )],
        "{said}"
    );
    assert!(!run.ran().exists(), "the tampered download ran");
    assert!(run.executables().is_empty(), "{:?}", run.executables());
    assert_eq!(
        std::fs::read_dir(run.install_dir()).unwrap().count(),
        0,
        "the download was removed"
    );

    let out = run.run(
        SYSTEM_PATH,
        &[
            ("REGISTRY_LOGIN_DOWNLOAD_URL", &server.url("/genuine")),
            ("REGISTRY_LOGIN_SHA256", &pinned.to_ascii_uppercase()),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("WARNING"), "{}", stderr(&out));
    crate::support::assert_contains(
        std::fs::read_to_string(run.ran()).unwrap(),
        "stand-in ran: login --pull",
    );
    assert_eq!(
        run.executables(),
        [run.install_dir().join("ci-registry-login")]
    );
}

/// Finding 2: plain HTTP is refused, as the URL and as a redirect from HTTPS, even with
/// the checksum waived: the plain-HTTP server is never asked.
#[test]
fn template_download_is_https_only_redirects_included() {
    assert_not_installed();
    let run = DownloadRun::new();
    let (plain, asked) = plain_http_server(run.stand_in());
    let plain_url = format!("http://{}/bin", plain.addr());
    let server =
        FileServer::start([("/moved".to_string(), Answer::Redirect(plain_url.clone()))].into());
    let pinned = sha256_hex(&run.stand_in());

    let out = run.run(
        SYSTEM_PATH,
        &[
            ("REGISTRY_LOGIN_DOWNLOAD_URL", &plain_url),
            ("REGISTRY_LOGIN_SHA256", &pinned),
        ],
    );
    assert!(!out.status.success());
    crate::support::assert_contains(
        stderr(&out),
        "ci-registry-login download refused: REGISTRY_LOGIN_DOWNLOAD_URL must start with https://",
    );

    let redirected = [
        ("REGISTRY_LOGIN_DOWNLOAD_URL", server.url("/moved")),
        ("REGISTRY_LOGIN_INSECURE_DOWNLOAD", "true".to_string()),
    ];
    let redirected: Vec<(&str, &str)> = redirected.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = run.run(SYSTEM_PATH, &redirected);
    assert!(!out.status.success(), "{}", stderr(&out));
    assert_eq!(server.requests(), ["/moved"]);
    assert!(!run.ran().exists(), "the plain-HTTP download ran");
    assert_eq!(asked.load(Ordering::SeqCst), 0, "plain HTTP was used");
    assert!(run.executables().is_empty(), "{:?}", run.executables());
}

/// Finding 2, without curl: GNU wget is held to HTTPS (`--https-only`, and no redirects:
/// it follows one to http:// otherwise) and checked like curl's download; a wget without
/// `--https-only` (busybox's) is refused before anything is fetched.
#[test]
fn template_download_with_wget_is_https_only_or_refused() {
    assert_not_installed();
    let Ok(wget) = which::which("wget") else {
        crate::support::skipped("wget download", "GNU wget is not installed");
        return;
    };
    let run = DownloadRun::new();
    // The tools the step uses, and wget instead of curl.
    let tools = run.dir.path().join("tools");
    std::fs::create_dir_all(&tools).unwrap();
    for tool in [
        "sh",
        "uname",
        "rm",
        "mkdir",
        "tr",
        "grep",
        "sha256sum",
        "cut",
        "chmod",
        "mv",
    ] {
        let found = which::which_in(tool, Some(SYSTEM_PATH), "/").unwrap();
        std::os::unix::fs::symlink(found, tools.join(tool)).unwrap();
    }
    std::os::unix::fs::symlink(&wget, tools.join("wget")).unwrap();
    let (plain, asked) = plain_http_server(run.stand_in());
    let server = FileServer::start(
        [
            ("/bin".to_string(), Answer::File(run.stand_in())),
            (
                "/moved".to_string(),
                Answer::Redirect(format!("http://{}/bin", plain.addr())),
            ),
        ]
        .into(),
    );
    let pinned = sha256_hex(&run.stand_in());
    let path = tools.display().to_string();

    let moved = server.url("/moved");
    let out = run.run(
        &path,
        &[
            ("REGISTRY_LOGIN_DOWNLOAD_URL", &moved),
            ("REGISTRY_LOGIN_SHA256", &pinned),
        ],
    );
    assert!(
        !out.status.success(),
        "{} asked={}",
        stderr(&out),
        asked.load(Ordering::SeqCst)
    );
    assert_eq!(asked.load(Ordering::SeqCst), 0, "plain HTTP was used");
    assert!(!run.ran().exists());

    let url = server.url("/bin");
    let vars = [
        ("REGISTRY_LOGIN_DOWNLOAD_URL", url.as_str()),
        ("REGISTRY_LOGIN_SHA256", pinned.as_str()),
    ];
    let out = run.run(&path, &vars);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(run.ran().exists());
    std::fs::remove_file(run.ran()).unwrap();

    // A wget that knows no --https-only, like busybox's.
    std::fs::remove_file(tools.join("wget")).unwrap();
    std::fs::write(
        tools.join("wget"),
        "#!/bin/sh\necho 'Usage: wget [-cqS] [-O FILE] URL' >&2\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tools.join("wget"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = server.requests().len();
    let out = run.run(&path, &vars);
    assert!(!out.status.success());
    crate::support::assert_contains(
        stderr(&out),
        "ci-registry-login download refused: no curl, and this wget cannot be held to HTTPS",
    );
    assert_eq!(server.requests().len(), before);
    assert!(!run.ran().exists());
}
