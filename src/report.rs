//! `--report FILE`: what a login used, as a dotenv file for GitLab's
//! `artifacts:reports:dotenv`, so later jobs (and steps, and the GitHub action) can read
//! it. Only the facts the plan prints are written, never a secret:
//!
//! ```text
//! CI_REGISTRY_LOGIN_REGISTRY=registry.example.com
//! CI_REGISTRY_LOGIN_REPOSITORY=group/app
//! CI_REGISTRY_LOGIN_KIND=registry-user
//! CI_REGISTRY_LOGIN_GRANTED=pull,push
//! CI_REGISTRY_LOGIN_EXPIRES_AT=2026-11-24T21:53:57Z
//! CI_REGISTRY_LOGIN_TOKEN_LIFETIME=300
//! ```
//!
//! `GRANTED`, `EXPIRES_AT` (when the registry token the live check received expires)
//! and `TOKEN_LIFETIME` (its lifetime in seconds) are left out when the login was not
//! verified; `REPOSITORY` when none is known. With several registries, the first is
//! written under these names and the n-th (in command-line order) with `_n` appended,
//! e.g. `CI_REGISTRY_LOGIN_KIND_2`; a registry whose login failed writes nothing.

use crate::safe_fs;
use crate::selection::Plan;
use crate::text::rfc3339;
use std::path::{Path, PathBuf};

const PREFIX: &str = "CI_REGISTRY_LOGIN_";

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("--report '{path}' {problem}")]
    Unusable { path: String, problem: String },
    #[error("--report '{path}' cannot be written: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// The facts of one login, in the order they are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts(Vec<(&'static str, String)>);

impl Facts {
    /// What the plan's chosen credential was and was granted; `None` when nothing was chosen.
    pub fn of(plan: &Plan) -> Option<Facts> {
        let chosen = plan.chosen()?;
        let live = chosen.live.as_ref();
        let mut facts = vec![("REGISTRY", plan.target.registry.host_port())];
        if let Some(repository) = &plan.target.repository {
            facts.push(("REPOSITORY", repository.as_str().to_string()));
        }
        facts.push(("KIND", chosen.candidate.kind.as_str().to_string()));
        if let Some(granted) = live.and_then(|l| l.granted.as_ref())
            && !granted.is_empty()
        {
            let names: Vec<&str> = granted.iter().map(|a| a.as_str()).collect();
            facts.push(("GRANTED", names.join(",")));
        }
        if let Some(expires) = live.and_then(|l| l.expires_at) {
            facts.push(("EXPIRES_AT", rfc3339(expires)));
        }
        if let Some(secs) = live.and_then(|l| l.lifetime_seconds) {
            facts.push(("TOKEN_LIFETIME", secs.to_string()));
        }
        if let Some(at) = chosen.candidate.expires_at() {
            facts.push(("JOB_TOKEN_EXPIRES_AT", rfc3339(at)));
        }
        // An access token's own expiry day, per GitLab's API (issue 13).
        if let Some(date) = live
            .and_then(|l| l.token_expires.as_ref())
            .filter(|d| crate::text::date_to_unix(d).is_some())
        {
            facts.push(("CREDENTIAL_EXPIRES_ON", date.clone()));
        }
        Some(Facts(facts))
    }
}

/// The logins of one run, by the position of their registry on the command line.
#[derive(Debug, Default)]
pub struct Report {
    logins: Vec<Option<Facts>>,
    /// Issue 14: `CI_REGISTRY_LOGIN_IMAGES=N` and `CI_REGISTRY_LOGIN_IMAGE_n=NEED IMAGE
    /// VERDICT`, and the hosts logged in to as `CI_REGISTRY_LOGIN_HOSTS=a,b`.
    images: Vec<(String, String)>,
}

impl Report {
    /// Records the next registry's outcome: its facts when it was logged in to.
    pub fn record(&mut self, plan: &Plan, logged_in: bool) {
        self.logins
            .push(logged_in.then(|| Facts::of(plan)).flatten());
    }

    /// A preflight's rows and the hosts its login stored credentials for.
    pub fn record_images(&mut self, rows: &[crate::images::Row], hosts: &[String]) {
        self.images.push(("IMAGES".into(), rows.len().to_string()));
        for (i, row) in rows.iter().enumerate() {
            self.images.push((
                format!("IMAGE_{}", i + 1),
                format!("{} {} {}", row.need, row.image, row.verdict.as_str()),
            ));
        }
        if !hosts.is_empty() {
            self.images.push(("HOSTS".into(), hosts.join(",")));
        }
    }

    /// The dotenv text. GitLab reads every line as a variable that overrides all others
    /// in later jobs, so a value that could start a line of its own (a line break, any
    /// control character) is refused, in every build: nothing is written then.
    pub fn render(&self) -> Result<String, ReportError> {
        let mut lines: Vec<(String, &str)> = Vec::new();
        for (i, facts) in self.logins.iter().enumerate() {
            let Some(Facts(facts)) = facts else { continue };
            let suffix = if i == 0 {
                String::new()
            } else {
                format!("_{}", i + 1)
            };
            lines.extend(
                facts
                    .iter()
                    .map(|(name, value)| (format!("{name}{suffix}"), value.as_str())),
            );
        }
        lines.extend(
            self.images
                .iter()
                .map(|(name, value)| (name.clone(), value.as_str())),
        );
        let mut out = String::new();
        for (name, value) in lines {
            // Every value comes from a parsed name, a kind, a closed set of actions or
            // a number: one line, no quotes. Checked all the same.
            if value.contains(|c: char| c.is_control() || c == '"' || c == '\'') {
                return Err(ReportError::Unusable {
                    path: String::new(),
                    problem: format!(
                        "the value of {PREFIX}{name} holds a line break, a control character or a quote; the report was not written"
                    ),
                });
            }
            out.push_str(&format!("{PREFIX}{name}={value}\n"));
        }
        Ok(out)
    }

    /// Writes the report to `path`, replacing it in one rename within its opened folder.
    /// A symbolic link there is refused, never followed (and never written through).
    pub fn write(&self, path: &Path) -> Result<(), ReportError> {
        check_path(path)?;
        let shown = || crate::text::sanitize(&path.to_string_lossy(), 200);
        let write = |source| ReportError::Write {
            path: shown(),
            source,
        };
        let (dir_path, name) =
            safe_fs::split(path).ok_or_else(|| unusable(path, "is a folder; give a file name"))?;
        let dir = safe_fs::open_dir(&dir_path).map_err(|e| write(e.source))?;
        let found = safe_fs::lstat_at(&dir, &name, path).map_err(|e| write(e.source))?;
        if let Some(problem) = found.and_then(|st| not_a_file(st.st_mode)) {
            return Err(unusable(path, &problem.describe()));
        }
        let text = self.render().map_err(|e| match e {
            ReportError::Unusable { problem, .. } => unusable(path, &problem),
            other => other,
        })?;
        safe_fs::write_atomically(&dir, &name, text.as_bytes(), 0o644, path).map_err(|e| match e {
            safe_fs::WriteError::Create(e) => write(e),
            safe_fs::WriteError::Other(e) => write(e.source),
        })
    }
}

/// Why an existing report path is not a file to replace: a link or something special.
/// A regular file of another user may be replaced: its content is never read.
fn not_a_file(mode: u32) -> Option<safe_fs::Problem> {
    safe_fs::type_problem(mode)
}

fn unusable(path: &Path, problem: &str) -> ReportError {
    ReportError::Unusable {
        path: crate::text::sanitize(&path.to_string_lossy(), 200),
        problem: problem.into(),
    }
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Refuses, before anything happens, a report path that cannot be written: its folder
/// is missing, it is a folder itself, a symbolic link or not a regular file.
pub fn check_path(path: &Path) -> Result<(), ReportError> {
    if path.is_dir() {
        return Err(unusable(path, "is a folder; give a file name"));
    }
    if !parent(path).is_dir() {
        return Err(unusable(path, "its folder does not exist"));
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::MetadataExt;
        if let Some(problem) = not_a_file(meta.mode()) {
            return Err(unusable(path, &problem.describe()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{Action, Intent, Kind};
    use crate::credentials::{Binding, Candidate, Origin};
    use crate::job::Target;
    use crate::mode::Mode;
    use crate::names::{Registry, Repository};
    use crate::secret::Secret;
    use crate::verify::{Outcome, Verification};

    const SECRET: &str = "glpat-report-secret-Zx81";

    fn plan(registry: &str, verified: bool) -> Plan {
        let candidate = Candidate {
            kind: Kind::AccessToken,
            origin: Origin::Variable("REGISTRY_PASSWORD".into()),
            username: "alice".into(),
            secret: Secret::new(SECRET),
            binding: Binding::to(
                vec![Registry::parse(registry).unwrap()],
                "the one registry of this call",
            ),
            scopes: None,
            problem: None,
            notes: Vec::new(),
        };
        let registry = Registry::parse(registry).unwrap();
        let repository = Repository::parse("group/app", None).unwrap();
        let target = Target {
            keys: vec![registry.host_port()],
            registry,
            repository: Some(repository),
            dependency_proxy: false,
        };
        let mut plan = Plan::offline(vec![candidate], target, Intent::Push, Mode::GitLabCi, None);
        if verified {
            let mut v = Verification::shared(vec![Action::Pull, Action::Push]);
            v.outcome = Outcome::Granted;
            v.expires_at = Some(1_663_134_492);
            v.lifetime_seconds = Some(300);
            plan.apply_live(vec![(0, v)]);
        }
        plan
    }

    #[test]
    fn one_registry_under_plain_names() {
        let mut report = Report::default();
        report.record(&plan("registry.example.com:5050", true), true);
        assert_eq!(
            report.render().unwrap(),
            "CI_REGISTRY_LOGIN_REGISTRY=registry.example.com:5050\n\
             CI_REGISTRY_LOGIN_REPOSITORY=group/app\n\
             CI_REGISTRY_LOGIN_KIND=access-token\n\
             CI_REGISTRY_LOGIN_GRANTED=pull,push\n\
             CI_REGISTRY_LOGIN_EXPIRES_AT=2022-09-14T05:48:12Z\n\
             CI_REGISTRY_LOGIN_TOKEN_LIFETIME=300\n"
        );
    }

    #[test]
    fn later_registries_are_numbered_and_failures_left_out() {
        let mut report = Report::default();
        report.record(&plan("a.example.com", false), true);
        report.record(&plan("b.example.com", true), false);
        report.record(&plan("c.example.com", false), true);
        let text = report.render().unwrap();
        assert!(
            text.contains("CI_REGISTRY_LOGIN_REGISTRY=a.example.com\n"),
            "{text}"
        );
        assert!(!text.contains("b.example.com"), "{text}");
        assert!(
            text.contains("CI_REGISTRY_LOGIN_REGISTRY_3=c.example.com\n"),
            "{text}"
        );
        // Unverified: nothing granted or expiring is claimed.
        assert!(
            !text.contains("GRANTED") && !text.contains("EXPIRES_AT"),
            "{text}"
        );
    }

    /// Issue 11, finding 1: a value that could start a line of its own is refused in
    /// release builds too (this ran as a `debug_assert` before).
    #[test]
    fn a_value_with_a_line_break_is_never_written() {
        for value in [
            "pull\nCI_REGISTRY=127.0.0.1:6001",
            "pull\rX=1",
            "a\u{1b}b",
            "a\"b",
        ] {
            let report = Report {
                images: Vec::new(),
                logins: vec![Some(Facts(vec![("GRANTED", value.to_string())]))],
            };
            let err = report.render().unwrap_err().to_string();
            assert!(err.contains("CI_REGISTRY_LOGIN_GRANTED"), "{err}");
            assert!(!err.contains("CI_REGISTRY=127"), "{err}");
        }
    }

    #[test]
    fn written_whole_without_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("login.env");
        std::fs::write(&path, "OLD=1\n").unwrap();
        let mut report = Report::default();
        report.record(&plan("registry.example.com", true), true);
        report.write(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("CI_REGISTRY_LOGIN_REGISTRY="), "{text}");
        assert!(!text.contains("OLD") && !text.contains(SECRET), "{text}");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o644);
    }

    #[test]
    fn unusable_paths_name_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_path(dir.path()).unwrap_err().to_string();
        assert!(
            err.starts_with("--report") && err.contains("folder"),
            "{err}"
        );
        let err = check_path(&dir.path().join("missing/x.env"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
        assert!(check_path(&dir.path().join("x.env")).is_ok());
    }
}
