//! GitLab's job-log conventions. In a GitLab job log (`GITLAB_CI=true` and stderr not a
//! terminal) the detail of a login (the candidates, the checks, `-v` logs) goes into a
//! collapsed section, so the log shows one line per login until someone unfolds it.
//! Elsewhere (a laptop's terminal with a job's variables file, say) nothing is added;
//! `CI_REGISTRY_LOGIN_SECTIONS=always|never` overrides. `NO_COLOR` turns off the section title's colour; the markers themselves are
//! how GitLab finds sections, not colour, and stay.

use crate::names::Registry;
use crate::vars::Vars;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Forces sections on or off.
pub const SECTIONS_VARIABLE: &str = "CI_REGISTRY_LOGIN_SECTIONS";

/// `CI_REGISTRY_LOGIN_SECTIONS`: `always`, `never`, or `auto` (also when unset or empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sections {
    Auto,
    Always,
    Never,
}

impl Sections {
    pub fn parse(value: &str) -> Option<Sections> {
        match value {
            "" | "auto" => Some(Sections::Auto),
            "always" => Some(Sections::Always),
            "never" => Some(Sections::Never),
            _ => None,
        }
    }
}

/// Whether to write section markers: in a GitLab job log, which is never a terminal.
pub fn wanted(setting: Sections, gitlab_ci: bool, stderr_is_terminal: bool) -> bool {
    match setting {
        Sections::Always => true,
        Sections::Never => false,
        Sections::Auto => gitlab_ci && !stderr_is_terminal,
    }
}

/// Erases the line so far; GitLab puts it around section markers.
const ERASE_LINE: &str = "\x1b[0K";

/// An open section of the job log; it is closed when dropped, so an early return or an
/// error still closes it.
pub struct Section {
    /// `None` outside a GitLab job: nothing to print.
    name: Option<String>,
}

impl Section {
    /// Opens a collapsed section named `name` (letters, digits, `_`, `.`, `-`) with the
    /// title `title`, when in a GitLab job and `enabled` (not `--quiet`, not JSON).
    pub fn open(vars: &Vars, enabled: bool, name: &str, title: &str) -> Section {
        use std::io::IsTerminal;
        let setting = vars.get(SECTIONS_VARIABLE).ok().flatten();
        let wanted = wanted(
            Sections::parse(setting.unwrap_or_default()).unwrap_or(Sections::Auto),
            vars.is_true("GITLAB_CI"),
            std::io::stderr().is_terminal(),
        );
        if !enabled || !wanted {
            return Section { name: None };
        }
        let colour = vars
            .get("NO_COLOR")
            .ok()
            .flatten()
            .is_none_or(str::is_empty);
        let title = if colour {
            format!("\x1b[36;1m{title}\x1b[0m")
        } else {
            title.to_string()
        };
        emit(&start_marker(name, now(), &title));
        Section {
            name: Some(name.to_string()),
        }
    }

    /// Writes detail into the section (to stderr, like the rest of what is said).
    pub fn detail(&self, text: &str) {
        if self.name.is_some() {
            emit(text);
        }
    }
}

impl Drop for Section {
    fn drop(&mut self) {
        if let Some(name) = self.name.take() {
            emit(&end_marker(&name, now()));
        }
    }
}

/// `prefix_` and the registry, with what GitLab does not allow in a name made `_`.
pub fn section_name(prefix: &str, registry: &Registry) -> String {
    let registry: String = registry
        .host_port()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{prefix}_{registry}")
}

fn start_marker(name: &str, unix: u64, title: &str) -> String {
    format!("{ERASE_LINE}section_start:{unix}:{name}[collapsed=true]\r{ERASE_LINE}{title}\n")
}

fn end_marker(name: &str, unix: u64) -> String {
    format!("{ERASE_LINE}section_end:{unix}:{name}\r{ERASE_LINE}\n")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn emit(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

#[cfg(test)]
mod tests {

    #[test]
    fn sections_only_in_a_job_log_unless_forced() {
        use super::{Sections::*, wanted};
        assert!(wanted(Auto, true, false));
        assert!(!wanted(Auto, true, true), "a terminal is no job log");
        assert!(!wanted(Auto, false, false));
        assert!(wanted(Always, false, true));
        assert!(!wanted(Never, true, false));
        assert_eq!(super::Sections::parse(""), Some(Auto));
        assert_eq!(super::Sections::parse("sometimes"), None);
    }

    use super::*;

    #[test]
    fn markers_follow_gitlab_format() {
        assert_eq!(
            start_marker("ci_registry_login", 1_700_000_000, "title"),
            "\x1b[0Ksection_start:1700000000:ci_registry_login[collapsed=true]\r\x1b[0Ktitle\n"
        );
        assert_eq!(
            end_marker("ci_registry_login", 1_700_000_001),
            "\x1b[0Ksection_end:1700000001:ci_registry_login\r\x1b[0K\n"
        );
    }

    #[test]
    fn names_keep_to_gitlab_characters() {
        let registry = Registry::parse("Registry.example.com:5050").unwrap();
        assert_eq!(
            section_name("login", &registry),
            "login_registry.example.com_5050"
        );
    }

    #[test]
    fn no_section_outside_gitlab() {
        let vars = Vars::from_pairs([("GITLAB_CI", "false")]);
        assert!(Section::open(&vars, true, "x", "t").name.is_none());
        let vars = Vars::from_pairs([("GITLAB_CI", "true")]);
        assert!(Section::open(&vars, false, "x", "t").name.is_none());
    }
}
