//! The variables a run sees: the process environment, over a variables file (local CI
//! emulation). Read once at start-up; everything else asks this snapshot.

mod home;

pub use home::with_home_variables;

use crate::yaml::{self, FileVariable};
use secrecy::zeroize::{Zeroize, Zeroizing};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Env,
    File(PathBuf),
}

#[derive(Clone)]
struct Var {
    value: Result<String, Bad>,
    origin: Origin,
}

/// Values are secrets as often as not; a variables file's exist nowhere else in memory.
impl Drop for Var {
    fn drop(&mut self) {
        if let Ok(value) = &mut self.value {
            value.zeroize();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bad {
    NotUnicode,
    Nul,
}

/// A variable that exists but cannot be used, named so the user can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VarError {
    #[error("{0} is not valid UTF-8")]
    NotUnicode(String),
    #[error("{0} contains a NUL character")]
    Nul(String),
    /// A variable naming a file or folder whose value no one means as a path.
    #[error("{name} {problem}")]
    Path { name: String, problem: &'static str },
}

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("--variables-file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("--variables-file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("--variables-file '{path}' {problem}")]
    Path { path: String, problem: &'static str },
}

/// Variables by name. Secrets pass through here, so it has no `Debug`.
#[derive(Clone, Default)]
pub struct Vars {
    map: BTreeMap<String, Var>,
    /// Notes for the user about the file (scoped-only values, ...).
    pub notes: Vec<String>,
}

impl Vars {
    /// Builds the snapshot: file variables first, then the environment over them.
    pub fn load(
        env: impl IntoIterator<Item = (OsString, OsString)>,
        file: Option<&Path>,
    ) -> Result<Vars, FileError> {
        let mut vars = Vars::default();
        if let Some(path) = file {
            vars.add_file(path)?;
        }
        for (name, value) in env {
            let Ok(name) = name.into_string() else {
                continue; // a name we could never ask for
            };
            let value = value.into_string().map_err(|_| Bad::NotUnicode);
            vars.map.insert(
                name,
                Var {
                    value,
                    origin: Origin::Env,
                },
            );
        }
        Ok(vars)
    }

    fn add_file(&mut self, path: &Path) -> Result<(), FileError> {
        if let Some(problem) = crate::user_path::problem(path) {
            return Err(FileError::Path {
                path: crate::text::sanitize(&path.to_string_lossy(), 80),
                problem,
            });
        }
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| FileError::Read {
            path: shown.clone(),
            source,
        })?;
        let text = Zeroizing::new(String::from_utf8(bytes).map_err(|e| FileError::Parse {
            path: shown.clone(),
            message: format!("not valid UTF-8 (byte {})", e.utf8_error().valid_up_to()),
        })?);
        let parsed = parse_variables_file(&text).map_err(|message| FileError::Parse {
            path: shown.clone(),
            message,
        })?;
        for (name, value) in parsed {
            match value {
                FileVariable::Value(v) => {
                    let value = if v.contains('\0') { Err(Bad::Nul) } else { Ok(v) };
                    self.map.insert(
                        name,
                        Var {
                            value,
                            origin: Origin::File(path.to_path_buf()),
                        },
                    );
                }
                FileVariable::OnlyScoped => self.notes.push(format!(
                    "{name} in {shown} has only environment-scoped values and no \"*\" entry; it is not used"
                )),
            }
        }
        Ok(())
    }

    /// Adds variables from a source ranked below everything already loaded (gitlab-ci-local's
    /// home variables file): a name already set keeps its value. Later entries override
    /// earlier ones of the same source; names that are not variable names are skipped.
    pub fn add_fallback(&mut self, entries: Vec<(String, FileVariable)>, origin: &Origin) {
        let shown = match origin {
            Origin::File(path) => path.display().to_string(),
            Origin::Env => "the environment".into(),
        };
        let mut fallback = BTreeMap::new();
        for (name, value) in entries {
            match value {
                FileVariable::Value(v) if is_variable_name(&name) => {
                    let value = if v.contains('\0') { Err(Bad::Nul) } else { Ok(v) };
                    fallback.insert(
                        name,
                        Var {
                            value,
                            origin: origin.clone(),
                        },
                    );
                }
                FileVariable::Value(_) => {}
                FileVariable::OnlyScoped => self.notes.push(format!(
                    "{name} in {shown} has only environment-scoped values and no \"*\" entry; it is not used"
                )),
            }
        }
        for (name, var) in fallback {
            self.map.entry(name).or_insert(var);
        }
    }

    /// Builds a snapshot from pairs, for tests and for the credential helper.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vars {
        let env = pairs
            .into_iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        Vars::load(env, None).expect("no file to read")
    }

    /// The value of a variable, `None` when unset. Set-but-empty is `Some("")`: an empty
    /// protected variable means something different from a missing one.
    pub fn get(&self, name: &str) -> Result<Option<&str>, VarError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Var { value: Ok(v), .. }) => Ok(Some(v)),
            Some(Var {
                value: Err(Bad::NotUnicode),
                ..
            }) => Err(VarError::NotUnicode(name.into())),
            Some(Var {
                value: Err(Bad::Nul),
                ..
            }) => Err(VarError::Nul(name.into())),
        }
    }

    /// Like [`Vars::get`], treating an empty value as unset: for settings, not secrets.
    pub fn setting(&self, name: &str) -> Result<Option<&str>, VarError> {
        Ok(self.get(name)?.filter(|v| !v.is_empty()))
    }

    /// Like [`Vars::setting`], for a variable naming a file or folder: refuses values
    /// that cannot be a path anyone meant ([`crate::user_path::problem`]).
    pub fn path_setting(&self, name: &str) -> Result<Option<&str>, VarError> {
        let value = self.setting(name)?;
        match value.and_then(|v| crate::user_path::problem(Path::new(v))) {
            Some(problem) => Err(VarError::Path {
                name: self.describe(name),
                problem,
            }),
            None => Ok(value),
        }
    }

    /// Like [`Vars::path_setting`], for a variable naming a file: a folder is refused.
    pub fn file_setting(&self, name: &str) -> Result<Option<&str>, VarError> {
        let value = self.path_setting(name)?;
        match value.filter(|v| Path::new(v).is_dir()) {
            Some(_) => Err(VarError::Path {
                name: self.describe(name),
                problem: "is a folder; give a file name",
            }),
            None => Ok(value),
        }
    }

    pub fn is_true(&self, name: &str) -> bool {
        matches!(self.get(name), Ok(Some(v)) if v.eq_ignore_ascii_case("true") || v == "1")
    }

    pub fn origin(&self, name: &str) -> Option<&Origin> {
        self.map.get(name).map(|v| &v.origin)
    }

    /// A variable's name with where it came from, for messages: `CI_REGISTRY (from vars.yml)`.
    pub fn describe(&self, name: &str) -> String {
        match self.origin(name) {
            Some(Origin::File(path)) => format!("{name} (from {})", path.display()),
            _ => name.to_string(),
        }
    }
}

/// Whether `name` can be an environment variable's name: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses a variables file's text, YAML or dotenv, into names and values; every name
/// is a valid variable name. The error says where the text is broken.
pub fn parse_variables_file(text: &str) -> Result<Vec<(String, FileVariable)>, String> {
    let parsed = match yaml::variables_map(text) {
        Ok(Some(entries)) => entries,
        Ok(None) => dotenv(text)?,
        Err(e) => return Err(e.message),
    };
    if let Some((name, _)) = parsed.iter().find(|(name, _)| !is_variable_name(name)) {
        return Err(format!(
            "'{}' is not a variable name",
            crate::text::sanitize(&name.escape_debug().to_string(), 80)
        ));
    }
    Ok(parsed)
}

/// The dotenv form gitlab-ci-local also reads: `KEY=value` lines, `#` comments, optional
/// `export `, values optionally in single or double quotes.
fn dotenv(text: &str) -> Result<Vec<(String, FileVariable)>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {}: expected KEY=value", n + 1));
        };
        let value = value.trim();
        let value = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
            .unwrap_or(value);
        out.push((
            key.trim().to_string(),
            FileVariable::Value(value.to_string()),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn environment_wins_over_file() {
        let f = file("CI_REGISTRY: from-file\nOTHER: kept\n");
        let env = [(OsString::from("CI_REGISTRY"), OsString::from("from-env"))];
        let vars = Vars::load(env, Some(f.path())).unwrap();
        assert_eq!(vars.get("CI_REGISTRY").unwrap(), Some("from-env"));
        assert_eq!(vars.get("OTHER").unwrap(), Some("kept"));
        assert!(matches!(vars.origin("OTHER"), Some(Origin::File(_))));
    }

    #[test]
    fn reads_dotenv() {
        let f = file("# local\nexport A=1\nB=\"two words\"\nURL=http://h:1/x\n");
        let vars = Vars::load([], Some(f.path())).unwrap();
        assert_eq!(vars.get("A").unwrap(), Some("1"));
        assert_eq!(vars.get("B").unwrap(), Some("two words"));
        assert_eq!(vars.get("URL").unwrap(), Some("http://h:1/x"));
    }

    #[test]
    fn bad_values_are_named() {
        use std::os::unix::ffi::OsStringExt;
        let env = [(
            OsString::from("CI_JOB_TOKEN"),
            OsString::from_vec(vec![0xff, 0xfe]),
        )];
        let vars = Vars::load(env, None).unwrap();
        assert_eq!(
            vars.get("CI_JOB_TOKEN").unwrap_err().to_string(),
            "CI_JOB_TOKEN is not valid UTF-8"
        );
        let f = file("P: \"a\\0b\"\n");
        let vars = Vars::load([], Some(f.path())).unwrap();
        assert_eq!(vars.get("P").unwrap_err(), VarError::Nul("P".into()));
    }

    #[test]
    fn path_variables_refuse_what_no_one_means() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().to_str().unwrap();
        let vars = Vars::from_pairs([
            ("DOCKER_CONFIG", " /tmp/x"),
            ("HOME", folder),
            ("REGISTRY_AUTH_FILE", folder),
        ]);
        assert_eq!(
            vars.path_setting("DOCKER_CONFIG").unwrap_err().to_string(),
            "DOCKER_CONFIG has spaces around it"
        );
        assert_eq!(vars.path_setting("HOME").unwrap(), Some(folder));
        assert_eq!(
            vars.file_setting("REGISTRY_AUTH_FILE")
                .unwrap_err()
                .to_string(),
            "REGISTRY_AUTH_FILE is a folder; give a file name"
        );
        assert_eq!(vars.path_setting("UNSET").unwrap(), None);
    }

    #[test]
    fn bad_file_names_its_flag() {
        let f = file("not a dotenv line\n");
        let err = Vars::load([], Some(f.path())).err().unwrap().to_string();
        assert!(err.starts_with("--variables-file"), "{err}");
        let f = file("1BAD=x\n");
        assert!(Vars::load([], Some(f.path())).is_err());
    }
}
