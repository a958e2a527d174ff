//! Issue 16, end to end: the project's own `.gitlab-ci.yml` releases it under the real
//! gitlab-ci-local against the test bed (the GitLab emulator behind HTTPS, the real
//! registry), then a consumer's pipeline, written as the README says, installs that
//! release with only a version set.
//!
//! - The release (`build:x86_64`, `oci-image`, `publish` on tag v0.1.0): the build's
//!   binary goes to dist/ with its SHA256SUMS line; `oci-image` checks it against the
//!   checksum pinned in the templates, logs in with that very binary (`--push`,
//!   verified) and pushes a FROM-scratch image built by buildah; `publish` uploads the
//!   binary and SHA256SUMS to the emulated generic package registry with the job token.
//!   `test` is not run here (it is this suite), nor `build:aarch64` (no arm64 runner),
//!   `reproducible` (two full builds: scripts/reproducible-build.sh, outside the gate) or
//!   `release` (its `release:` keyword is run by GitLab's release-cli, which
//!   gitlab-ci-local does not have).
//! - The image, pulled back from the registry and unpacked with skopeo and tar, holds
//!   the binary and nothing else, no shell; it runs `--version` and a verified
//!   `login --engine auth-file` in a chroot of its root file system. podman cannot start
//!   containers on the machine this was written on (crun's setrlimit is refused), so
//!   the chroot is the route here.
//! - The consumer downloads the published binary from the emulated registry over
//!   HTTPS, checks its SHA-256 against the template's pinned one, logs in and pushes;
//!   once the stored package is tampered with, the same pipeline refuses it with one
//!   line and runs nothing.
//!
//! One substitution, said here and in the code: the `build` job's first line
//! (`bin="$(bash scripts/release-build.sh ...)"`, a full LTO build, minutes) is replaced
//! by the static release binary the gate already built (`CI_REGISTRY_LOGIN_RELEASE_BIN`).
//! That command is the one scripts/reproducible-build.sh checks; everything after it
//! (dist, checksums, pin check, image, login, upload, download) runs as written.

use crate::gitlab_ci_local::{assert_ok, assert_pushed, gcl_run, git, gitlab_ci_local, glab_login};
use crate::support::https::{TlsFront, sha256_hex};
use crate::support::run::{Outcome, Run};
use crate::support::world::*;
use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const TOOL_PROJECT: &str = "tools/ci-registry-login";
/// gitlab-ci-local's fixed `CI_PROJECT_ID` (reference §7): the tool's project has it.
const TOOL_PROJECT_ID: u64 = 1217;
const TOOL_JOB_TOKEN: &str = "glcbt-64_tools-release-Pw3Jd8Lk2Vr6Hs9Qm4Tn";
const VERSION: &str = env!("CARGO_PKG_VERSION");
const BINARY_FILE: &str = "ci-registry-login-x86_64-linux";
/// The line of the `build` jobs that the gate's own release build stands in for.
const BUILD_LINE: &str = "bin=\"$(bash scripts/release-build.sh \"$RUST_TARGET\")\"";

/// The standard world plus the tool's own public project, where alice is a maintainer
/// and a release job runs.
fn release_world() -> World {
    let mut world = World::standard();
    world.projects.push(Project::new(
        TOOL_PROJECT,
        TOOL_PROJECT_ID,
        4,
        Visibility::Public,
    ));
    world
        .user_mut("alice")
        .memberships
        .insert(TOOL_PROJECT.to_string(), Role::Maintainer);
    world.jobs.push(Job {
        id: 9100,
        token: TOOL_JOB_TOKEN.to_string(),
        project: TOOL_PROJECT.to_string(),
        user: Some("alice".to_string()),
        running: true,
        name: "publish".to_string(),
    });
    world
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The release binary, or None after saying why (a failure under CI=true).
fn release_binary(test: &str) -> Option<PathBuf> {
    let path = std::env::var_os("CI_REGISTRY_LOGIN_RELEASE_BIN").map(PathBuf::from);
    if path.is_none() {
        missing_part(
            test,
            "CI_REGISTRY_LOGIN_RELEASE_BIN is not set; tests/run-all.sh builds the static release binary and sets it",
        );
    }
    path
}

/// Writes `vars` as gitlab-ci-local's project variables file.
fn variables_file(dir: &Path, vars: &[(&str, String)]) -> PathBuf {
    let file = dir.join(".gitlab-ci-local-variables.yml");
    let text: String = vars
        .iter()
        .map(|(k, v)| format!("{k}: {}\n", serde_json::to_string(v).unwrap()))
        .collect();
    std::fs::write(&file, text).unwrap();
    file
}

/// The tool's repository as released: the files the pipeline uses, the build line
/// replaced (see the module's comment), `scripts/release-pin.sh write` run on the
/// binary (RELEASING.md), committed and tagged v<version>, its remote the emulated
/// GitLab behind HTTPS.
fn tool_checkout(run: &Run, front: &TlsFront, binary: &Path) -> PathBuf {
    let dir = run.path("tool");
    for file in [
        ".gitlab-ci.yml",
        "Cargo.toml",
        "action.yml",
        "ci-templates/registry-login.gitlab-ci.yml",
        "templates/registry-login.yml",
        "scripts/release-pin.sh",
    ] {
        let to = dir.join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(repo().join(file), &to).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    let pipeline = std::fs::read_to_string(dir.join(".gitlab-ci.yml")).unwrap();
    assert_eq!(
        pipeline.matches(BUILD_LINE).count(),
        1,
        "the build job runs {BUILD_LINE}"
    );
    std::fs::write(
        dir.join(".gitlab-ci.yml"),
        pipeline.replace(BUILD_LINE, "bin=\"$GATE_RELEASE_BIN\""),
    )
    .unwrap();
    let pin = Command::new("bash")
        .arg(dir.join("scripts/release-pin.sh"))
        .args(["write", &binary.display().to_string(), TOOL_PROJECT])
        .output()
        .unwrap();
    assert!(pin.status.success(), "{}", stderr(&pin));
    git(&dir, &["init", "-q", "-b", "main"]);
    let remote = format!("{}/{TOOL_PROJECT}.git", front.url());
    git(&dir, &["remote", "add", "origin", &remote]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "release"]);
    git(&dir, &["tag", &format!("v{VERSION}")]);
    dir
}

/// A consumer's project `group/app`: the template as released (what `include: project:
/// tools/ci-registry-login, ref: v<version>` fetches; gitlab-ci-local cannot clone from
/// the emulator, so it is a local copy of the released file), an OCI image in `image/`,
/// and a `.gitlab-ci.yml` that sets only the version.
fn consumer_project(run: &Run, name: &str, front: &TlsFront, released_template: &Path) -> PathBuf {
    let dir = run.path(name);
    std::fs::create_dir_all(dir.join("ci-templates")).unwrap();
    std::fs::copy(
        released_template,
        dir.join("ci-templates/registry-login.gitlab-ci.yml"),
    )
    .unwrap();
    std::fs::rename(oci_image(&dir), dir.join("image")).unwrap();
    let ci = format!(
        "include:\n  - local: ci-templates/registry-login.gitlab-ci.yml\n\nvariables:\n  REGISTRY_LOGIN_VERSION: \"{VERSION}\"\n\npublish:\n  extends: .registry-login:push\n  script:\n    - skopeo copy oci:image:latest \"docker://$CI_REGISTRY_IMAGE:consumer\"\n"
    );
    std::fs::write(dir.join(".gitlab-ci.yml"), ci).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    git(
        &dir,
        &[
            "remote",
            "add",
            "origin",
            &format!("{}/group/app.git", front.url()),
        ],
    );
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "init"]);
    dir
}

/// A private containers storage for buildah (vfs, under the run's folder).
fn private_storage(run: Run) -> Run {
    let conf = run.path("storage.conf");
    std::fs::write(
        &conf,
        format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
            run.path("storage/graph").display(),
            run.path("storage/run").display()
        ),
    )
    .unwrap();
    run.env("CONTAINERS_STORAGE_CONF", conf)
}

fn log(outcome: &Outcome) -> String {
    format!("{}\n{}", outcome.stdout, outcome.stderr)
}

/// The image `tools/ci-registry-login:tag`, copied anonymously (the project is public)
/// into an OCI layout and its layers unpacked into `root`; returns the image config.
fn unpack_image(bed: &TestBed, tag: &str, work: &Path, root: &Path) -> serde_json::Value {
    let layout = work.join("layout");
    let copy = Command::new("skopeo")
        .args(["copy", "--src-no-creds", "--src-tls-verify=false"])
        .arg(format!(
            "docker://{}/{TOOL_PROJECT}:{tag}",
            bed.registry().host_port()
        ))
        .arg(format!("oci:{}:{tag}", layout.display()))
        .output()
        .expect("skopeo runs");
    assert!(
        copy.status.success(),
        "{TOOL_PROJECT}:{tag}: {}",
        stderr(&copy)
    );
    let blob = |digest: &str| {
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let index = read_json(&layout.join("index.json"));
    let manifest = read_json(&blob(index["manifests"][0]["digest"].as_str().unwrap()));
    std::fs::create_dir_all(root).unwrap();
    for layer in manifest["layers"].as_array().unwrap() {
        let untar = Command::new("tar")
            .arg("-xf")
            .arg(blob(layer["digest"].as_str().unwrap()))
            .arg("-C")
            .arg(root)
            .output()
            .unwrap();
        assert!(untar.status.success(), "{}", stderr(&untar));
    }
    read_json(&blob(manifest["config"]["digest"].as_str().unwrap()))
}

/// Every path under `root`, relative, sorted.
fn tree(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            found.push(path.strip_prefix(root).unwrap().display().to_string());
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The `release` job's `release:` section as release-cli sends it: its variables
/// expanded as in the tag's pipeline (`PACKAGE_URL` from the pipeline's variables,
/// `VERSION` from publish's dotenv report).
fn release_request(tool: &Path, api: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(tool.join(".gitlab-ci.yml")).unwrap();
    // YAML, not JSON: the pipeline has `!reference` tags elsewhere.
    let pipeline: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let package_url = pipeline["variables"]["PACKAGE_URL"]
        .as_str()
        .unwrap()
        .replace("${CI_API_V4_URL}", api)
        .replace("${CI_PROJECT_ID}", &TOOL_PROJECT_ID.to_string());
    let release = serde_json::to_string(&pipeline["release"]["release"]).unwrap();
    let expanded = release
        .replace("$PACKAGE_URL", &package_url)
        .replace("$VERSION", VERSION)
        .replace("$CI_REGISTRY_IMAGE", "registry/tools/ci-registry-login")
        .replace("$CI_COMMIT_TAG", &format!("v{VERSION}"));
    assert!(!expanded.contains('$'), "unexpanded variable in {expanded}");
    serde_json::from_str(&expanded).unwrap()
}

/// curl through the HTTPS front with the release job's token on stdin (never argv);
/// returns the status and the body.
fn curl_with_job_token(ca: &str, args: &[&str], body: &str, url: &str) -> (String, Vec<u8>) {
    use std::io::Write;
    let data = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(data.path(), body).unwrap();
    let out_file = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--header",
            "@-",
            "--write-out",
            "%{http_code}",
        ])
        .args(["--output", &out_file.path().display().to_string()])
        .args(args)
        .args(if body.is_empty() {
            vec![]
        } else {
            vec![
                "--data-binary".to_string(),
                format!("@{}", data.path().display()),
            ]
        })
        .arg(url)
        .env("CURL_CA_BUNDLE", ca)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("JOB-TOKEN: {TOOL_JOB_TOKEN}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let status = String::from_utf8_lossy(&out.stdout).to_string();
    (status, std::fs::read(out_file.path()).unwrap_or_default())
}

#[test]
fn the_release_pipeline_publishes_and_a_consumer_installs_it_with_only_a_version() {
    let test = "release pipeline end to end";
    let Some(gcl) = gitlab_ci_local(test) else {
        return;
    };
    let Some(binary) = release_binary(test) else {
        return;
    };
    let bed = TestBed::with_world(release_world());
    let backend = bed
        .gitlab()
        .url()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let front = TlsFront::start(backend);
    let registry = bed.registry().host_port();
    let fqdn = front.url().trim_start_matches("https://").to_string();
    let ca = fixture("test-ca.crt").display().to_string();
    let released = std::fs::read(&binary).unwrap();
    let released_sha256 = sha256_hex(&released);

    // --- The release: build, image, publish, as on a tag.
    // buildah's login goes to the run's own runtime folder, not the machine's.
    let (run, _) = private_storage(gcl_run(&gcl, &bed, false)).with_runtime_dir();
    let tool = tool_checkout(&run, &front, &binary);
    let vars = variables_file(
        &tool,
        &[
            ("CI_COMMIT_TAG", format!("v{VERSION}")),
            ("CI_REGISTRY", registry.clone()),
            ("CI_JOB_TOKEN", TOOL_JOB_TOKEN.to_string()),
            ("GATE_RELEASE_BIN", binary.display().to_string()),
            ("CURL_CA_BUNDLE", ca.clone()),
        ],
    );
    // CI_JOB_TOKEN is in every process of a job by GitLab's design (buildah's, curl's):
    // environments are not scanned; argv, output and files are.
    let outcome = glab_login(run, &fqdn, "")
        .secret(TOOL_JOB_TOKEN)
        .in_job_environment()
        .allow_secret_in(&vars)
        .args(["--cwd", "tool", "--force-shell-executor"])
        .args([
            "--ignore-predefined-vars",
            "CI_REGISTRY,CI_JOB_TOKEN,CI_COMMIT_TAG",
        ])
        .args(["build:x86_64", "oci-image", "publish"])
        .run();
    assert_ok(&outcome);
    let said = log(&outcome);
    assert_contains(&said, format!("{BINARY_FILE}\n"));
    assert_contains(
        &said,
        format!("release pins match: ci-registry-login {VERSION}, sha256 {released_sha256}"),
    );
    // The image job logged in with the binary it ships, checked live for push.
    assert_contains(&said, format!("logged in to {registry}"));
    let asked = bed.gitlab().requests_to("/jwt/auth");
    assert!(
        asked
            .iter()
            .any(|r| r.params("scope") == [format!("repository:{TOOL_PROJECT}:pull,push")]),
        "{asked:?}"
    );
    // Published: the very bytes, and the SHA256SUMS line naming them.
    let stored = |file: &str| {
        bed.gitlab()
            .package_file(TOOL_PROJECT_ID, "ci-registry-login", VERSION, file)
    };
    assert!(
        stored(BINARY_FILE) == Some(released.clone()),
        "the binary is published as built"
    );
    let sums = String::from_utf8(stored("SHA256SUMS").expect("SHA256SUMS is published")).unwrap();
    assert_eq!(sums, format!("{released_sha256}  {BINARY_FILE}\n"));

    // --- The release: what the `release` job's `release:` keyword asks of GitLab
    // (release-cli, which gitlab-ci-local does not run), made through the release API
    // from the pipeline's own text; each package link then serves what was published.
    let dotenv = std::fs::read_to_string(tool.join("release.env")).unwrap();
    assert_eq!(
        dotenv,
        format!("VERSION={VERSION}\n"),
        "publish reports the version"
    );
    let api = format!("{}/api/v4", front.url());
    let release_json = release_request(&tool, &api);
    let created = curl_with_job_token(
        &ca,
        &[
            "--request",
            "POST",
            "--header",
            "Content-Type: application/json",
        ],
        &release_json.to_string(),
        &format!("{api}/projects/{TOOL_PROJECT_ID}/releases"),
    );
    assert_eq!(created.0, "201", "{}", String::from_utf8_lossy(&created.1));
    let releases = bed.gitlab().releases();
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[0].1["tag_name"], format!("v{VERSION}"));
    for link in release_json["assets"]["links"].as_array().unwrap() {
        let (name, url) = (
            link["name"].as_str().unwrap(),
            link["url"].as_str().unwrap(),
        );
        let (status, body) = curl_with_job_token(&ca, &[], "", url);
        match name {
            "ci-registry-login-aarch64-linux" => assert_eq!(status, "404", "not built here"),
            _ => {
                assert_eq!(status, "200", "{name}: {url}");
                let published = stored(name).unwrap_or_default();
                assert!(
                    body == published,
                    "{name} links {url}, which serves sha256 {}, not the published {}",
                    sha256_hex(&body),
                    sha256_hex(&published)
                );
            }
        }
    }

    // --- The image: FROM scratch, the binary alone, runnable in a chroot of its root.
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    let minor = VERSION.rsplit_once('.').unwrap().0;
    unpack_image(&bed, minor, work.path(), &work.path().join("minor-root"));
    let config = unpack_image(&bed, VERSION, work.path(), &root);
    assert_eq!(
        tree(&root),
        ["ci-registry-login"],
        "the image holds the binary and nothing else"
    );
    assert!(!root.join("bin/sh").exists(), "no shell");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/ci-registry-login"])
    );
    assert_eq!(
        std::fs::read(root.join("ci-registry-login")).unwrap(),
        released
    );
    let in_image = || Run::new(PathBuf::from("/ci-registry-login")).chroot(&root);
    let probe = Command::new("chroot")
        .arg(&root)
        .arg("/ci-registry-login")
        .arg("--version")
        .output()
        .unwrap();
    if !probe.status.success() && stderr(&probe).contains("Operation not permitted") {
        skipped(
            test,
            &format!(
                "the image's run in a chroot: the kernel refuses chroot here: {}",
                stderr(&probe).trim()
            ),
        );
    } else {
        let version = in_image().arg("--version").run().expect_code(0);
        assert_eq!(
            version.stdout.trim(),
            format!("ci-registry-login {VERSION}")
        );
        let auth = root.join("home/.docker/config.json");
        let login = in_image()
            .env("HOME", "/home")
            .env("TMPDIR", "/")
            .envs(bed.ci_job_env("group/app"))
            .args(["login", "--engine", "auth-file", "--registry", &registry])
            .allow_secret_in(&auth)
            .run()
            .expect_code(0);
        assert_contains(login.said(), format!("logged in to {registry}"));
        assert_contains(login.said(), "granted pull");
    }

    // --- A consumer installs the release with only a version: downloaded from the
    // generic package registry, checked against the pinned SHA-256, logged in, pushed.
    let consume = |name: &str| {
        let run = gcl_run(&gcl, &bed, false);
        let template = tool.join("ci-templates/registry-login.gitlab-ci.yml");
        let project = consumer_project(&run, name, &front, &template);
        let vars = variables_file(
            &project,
            &[
                ("CI_REGISTRY", registry.clone()),
                ("CURL_CA_BUNDLE", ca.clone()),
            ],
        );
        glab_login(run, &fqdn, "")
            .allow_secret_in(vars)
            .args([
                "--cwd",
                name,
                "--ignore-predefined-vars",
                "CI_REGISTRY",
                "publish",
            ])
            .run()
    };
    bed.gitlab().clear_requests();
    let installed = consume("consumer");
    assert_ok(&installed);
    assert_contains(&installed.stderr, format!("logged in to {registry}"));
    assert_pushed(&bed, "consumer");
    let download = format!(
        "/api/v4/projects/tools%2Fci-registry-login/packages/generic/ci-registry-login/{VERSION}/{BINARY_FILE}"
    );
    assert_eq!(
        bed.gitlab().requests_to(&download).len(),
        1,
        "downloaded from the package registry"
    );

    // --- Tampered: the stored binary is changed; the same pipeline refuses it.
    let mut tampered = released.clone();
    tampered.extend_from_slice(b"\necho stolen\n");
    bed.gitlab().tamper_package(
        TOOL_PROJECT_ID,
        "ci-registry-login",
        VERSION,
        BINARY_FILE,
        tampered.clone(),
    );
    bed.gitlab().clear_requests();
    let refused = consume("consumer-again");
    assert!(
        !refused.status.success(),
        "a tampered download must fail the job"
    );
    assert_contains(
        log(&refused),
        format!(
            "ci-registry-login download refused: expected sha256 {released_sha256}, got sha256 {} from REGISTRY_LOGIN_DOWNLOAD_URL; nothing was run",
            sha256_hex(&tampered)
        ),
    );
    assert!(
        bed.gitlab().requests_to("/jwt/auth").is_empty(),
        "nothing logged in after the refusal"
    );
}

/// Issue 16: the release refuses a binary whose SHA-256 is not the one the templates of
/// its commit pin, and a tag that is not the crate's version; once pinned
/// (`release-pin.sh write`, RELEASING.md step 3) the same binary passes.
#[test]
fn the_release_refuses_a_binary_its_templates_do_not_pin() {
    let dir = tempfile::tempdir().unwrap();
    for file in [
        "Cargo.toml",
        "action.yml",
        "ci-templates/registry-login.gitlab-ci.yml",
        "templates/registry-login.yml",
        "scripts/release-pin.sh",
    ] {
        let to = dir.path().join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(repo().join(file), &to).unwrap();
    }
    let binary = dir.path().join("built");
    std::fs::write(&binary, b"a release binary\n").unwrap();
    let sha = sha256_hex(b"a release binary\n");
    let pin = |args: &[&str], tag: &str| {
        Command::new("bash")
            .arg(dir.path().join("scripts/release-pin.sh"))
            .args(args)
            .env("CI_COMMIT_TAG", tag)
            .env("CI_PROJECT_PATH", TOOL_PROJECT)
            .output()
            .unwrap()
    };
    let bin = binary.display().to_string();
    let tag = format!("v{VERSION}");
    let refused = pin(&["check", &bin], &tag);
    assert_eq!(refused.status.code(), Some(1));
    assert_contains(
        stderr(&refused),
        "release refused: ci-templates/registry-login.gitlab-ci.yml pins registry_login_release_sha256=",
    );
    assert_contains(
        stderr(&refused),
        format!("but this commit's release is {sha}"),
    );

    let written = pin(&["write", &bin, TOOL_PROJECT], &tag);
    assert!(written.status.success(), "{}", stderr(&written));
    let passed = pin(&["check", &bin], &tag);
    assert!(passed.status.success(), "{}", stderr(&passed));
    assert_contains(
        String::from_utf8_lossy(&passed.stdout),
        format!("release pins match: ci-registry-login {VERSION}, sha256 {sha}"),
    );
    // Every pinned file now names it.
    for file in [
        "ci-templates/registry-login.gitlab-ci.yml",
        "templates/registry-login.yml",
        "action.yml",
    ] {
        let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
        assert_contains(&text, format!("registry_login_release_sha256={sha}\n"));
    }

    let wrong_tag = pin(&["check", &bin], "v9.9.9");
    assert_eq!(wrong_tag.status.code(), Some(1));
    assert_contains(
        stderr(&wrong_tag),
        format!("release refused: tag v9.9.9 is not v{VERSION}, the version in Cargo.toml"),
    );
}
