//! All YAML reading lives here, so that replacing the archived `serde_yaml` with a
//! maintained fork is one line: the `serde_yaml` entry in Cargo.toml, e.g.
//! `serde_yaml = { package = "serde_norway", version = "0.9" }` (same API).

use crate::secret::Secret;
use secrecy::zeroize::Zeroize;
use serde_yaml::{Mapping, Value};

/// Where a YAML document is broken, or why its shape is not what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    pub message: String,
}

/// One variable from a gitlab-ci-local variables file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileVariable {
    Value(String),
    /// An object form with no `"*"` entry: only environment-scoped values, which a
    /// login outside any environment cannot pick between.
    OnlyScoped,
}

/// Parses the YAML form of gitlab-ci-local's variables file: a map of plain values, or
/// of `{type: variable|file, values: {"*": VALUE, ENV: VALUE}}` objects.
/// Returns `Ok(None)` when the text is not a YAML map at all (it may be dotenv).
pub fn variables_map(text: &str) -> Result<Option<Vec<(String, FileVariable)>>, YamlError> {
    let doc: Value = match load(text) {
        Ok(doc) => doc,
        // A dotenv line such as `URL=http://x:1/` can fail as YAML; only report a YAML
        // error when the first meaningful line is written as a YAML map entry.
        Err(_) if !looks_like_yaml_map(text) => return Ok(None),
        Err(e) => return Err(e),
    };
    match doc {
        Value::Mapping(map) => entries(map).map(Some),
        Value::Null => Ok(Some(Vec::new())),
        _ => Ok(None),
    }
}

/// A map of variable names to plain or `{values: ...}` entries.
fn entries(map: Mapping) -> Result<Vec<(String, FileVariable)>, YamlError> {
    let mut out = Vec::with_capacity(map.len());
    for (key, value) in map {
        let key = match key {
            Value::String(k) => k,
            other => {
                return Err(YamlError {
                    message: format!("a key is not a variable name: {}", scalar_text(&other)),
                });
            }
        };
        let value = variable_value(&key, value)?;
        out.push((key, value));
    }
    Ok(out)
}

/// gitlab-ci-local's `$HOME/.gitlab-ci-local/variables.yml`: variables for every
/// project (`global`), for remotes containing a group key, and for remotes containing a
/// project key. Keys are kept as written; matching them is the caller's business.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HomeVariables {
    pub global: Vec<(String, FileVariable)>,
    pub group: Vec<(String, Vec<(String, FileVariable)>)>,
    pub project: Vec<(String, Vec<(String, FileVariable)>)>,
}

pub fn home_variables(text: &str) -> Result<HomeVariables, YamlError> {
    let doc = load(text)?;
    let mut out = HomeVariables::default();
    let map = match doc {
        Value::Mapping(map) => map,
        Value::Null => return Ok(out),
        _ => {
            return Err(YamlError {
                message: "expected a map with project, group and global sections".into(),
            });
        }
    };
    for (section, body) in map {
        match (section.as_str(), body) {
            (_, Value::Null) => {}
            (Some("global"), Value::Mapping(vars)) => out.global = entries(vars)?,
            (Some(name @ ("group" | "project")), Value::Mapping(keys)) => {
                let mut scoped = Vec::with_capacity(keys.len());
                for (key, vars) in keys {
                    let key = key.as_str().map(str::to_string).ok_or_else(|| YamlError {
                        message: format!("{name}: a key is not text: {}", scalar_text(&key)),
                    })?;
                    match vars {
                        Value::Mapping(vars) => scoped.push((key, entries(vars)?)),
                        Value::Null => {}
                        _ => {
                            return Err(YamlError {
                                message: format!("{name}.{key}: expected a map of variables"),
                            });
                        }
                    }
                }
                if name == "group" {
                    out.group = scoped;
                } else {
                    out.project = scoped;
                }
            }
            (Some(name @ ("global" | "group" | "project")), _) => {
                return Err(YamlError {
                    message: format!("{name}: expected a map"),
                });
            }
            // Other sections are gitlab-ci-local's business, not ours.
            _ => {}
        }
    }
    Ok(out)
}

/// One GitLab host from the GitLab CLI's `config.yml` (`hosts:` section). The token is
/// a secret: this type has no `Debug`.
pub struct GlabHost {
    /// The key under `hosts:`, e.g. `gitlab.example.com`.
    pub name: String,
    pub token: Option<Secret>,
    pub user: Option<String>,
    /// Registries glab's docker credential helper serves for this host.
    pub container_registry_domains: Vec<String>,
    pub is_oauth2: bool,
}

/// The hosts of glab's `config.yml`. Values glab keeps elsewhere (a keyring) are absent.
pub fn glab_hosts(text: &str) -> Result<Vec<GlabHost>, YamlError> {
    let mut doc = load(text)?;
    let hosts = hosts_of(&doc);
    scrub(&mut doc);
    hosts
}

fn hosts_of(doc: &Value) -> Result<Vec<GlabHost>, YamlError> {
    let hosts = match doc.get("hosts") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Mapping(hosts)) => hosts,
        Some(_) => {
            return Err(YamlError {
                message: "hosts: expected a map of GitLab hosts".into(),
            });
        }
    };
    let text = |host: &Value, key: &str| -> Option<String> {
        match host.get(key)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    };
    let mut out = Vec::with_capacity(hosts.len());
    for (name, host) in hosts {
        let Some(name) = name.as_str() else { continue };
        out.push(GlabHost {
            name: name.to_string(),
            token: text(host, "token").map(Secret::new),
            user: text(host, "user"),
            container_registry_domains: text(host, "container_registry_domains")
                .map(|d| {
                    d.split(',')
                        .map(str::trim)
                        .filter(|d| !d.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            is_oauth2: text(host, "is_oauth2").is_some_and(|v| v == "true"),
        });
    }
    Ok(out)
}

/// Wipes every string of a parsed document that held secrets.
fn scrub(value: &mut Value) {
    match value {
        Value::String(s) => s.zeroize(),
        Value::Sequence(items) => items.iter_mut().for_each(scrub),
        Value::Mapping(map) => map.values_mut().for_each(scrub),
        Value::Tagged(tagged) => scrub(&mut tagged.value),
        _ => {}
    }
}

fn variable_value(key: &str, value: Value) -> Result<FileVariable, YamlError> {
    match value {
        Value::Mapping(mut obj) => {
            let Some(values) = obj.remove("values") else {
                return Err(YamlError {
                    message: format!("{key}: an object needs a 'values' map"),
                });
            };
            let Value::Mapping(mut values) = values else {
                return Err(YamlError {
                    message: format!("{key}: 'values' must be a map of environment to value"),
                });
            };
            match values.remove("*") {
                Some(v) => scalar(key, v).map(FileVariable::Value),
                None => Ok(FileVariable::OnlyScoped),
            }
        }
        other => scalar(key, other).map(FileVariable::Value),
    }
}

fn scalar(key: &str, value: Value) -> Result<String, YamlError> {
    match value {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok(String::new()),
        _ => Err(YamlError {
            message: format!("{key}: the value must be a string, number or boolean"),
        }),
    }
}

fn scalar_text(v: &Value) -> String {
    serde_yaml::to_string(v).map_or_else(|_| "?".into(), |s| s.trim().to_string())
}

fn looks_like_yaml_map(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| {
            let colon = l.find(':');
            let equals = l.find('=');
            match (colon, equals) {
                (Some(c), Some(e)) => c < e,
                (Some(_), None) => true,
                _ => false,
            }
        })
}

/// libyaml's scanner slows down with the square of the flow nesting (a megabyte of `{`
/// takes most of a minute); no variables or config file nests anywhere near this.
const MAX_FLOW_DEPTH: usize = 64;

/// Parses a YAML document, refusing pathological nesting before libyaml sees it.
fn load(text: &str) -> Result<Value, YamlError> {
    let mut depth = 0usize;
    for b in text.bytes() {
        match b {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_FLOW_DEPTH {
            return Err(YamlError {
                message: format!("nests [ and {{ more than {MAX_FLOW_DEPTH} levels deep"),
            });
        }
    }
    serde_yaml::from_str(text).map_err(located)
}

fn located(e: serde_yaml::Error) -> YamlError {
    let message = match e.location() {
        Some(loc) => format!("line {} column {}: {e}", loc.line(), loc.column()),
        None => e.to_string(),
    };
    YamlError { message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<(String, FileVariable)> {
        variables_map(text).unwrap().unwrap()
    }

    #[test]
    fn plain_and_object_values() {
        let vars = parse(
            "A: plain\nB: 5050\nC: true\nD:\n  type: variable\n  values:\n    '*': star\n    staging: s\nE:\n  values: {production: p}\n",
        );
        assert_eq!(
            vars,
            vec![
                ("A".into(), FileVariable::Value("plain".into())),
                ("B".into(), FileVariable::Value("5050".into())),
                ("C".into(), FileVariable::Value("true".into())),
                ("D".into(), FileVariable::Value("star".into())),
                ("E".into(), FileVariable::OnlyScoped),
            ]
        );
    }

    #[test]
    fn dotenv_is_not_yaml() {
        assert_eq!(variables_map("A=1\nB=two\n").unwrap(), None);
        assert_eq!(variables_map("# c\nURL=http://x:1/\n").unwrap(), None);
    }

    #[test]
    fn broken_yaml_says_where() {
        let err = variables_map("A: ok\nB: [unclosed\n").unwrap_err();
        assert!(err.message.contains("line"), "{}", err.message);
    }

    #[test]
    fn home_variables_sections() {
        let home = home_variables(
            "project:\n  gitlab.example.com/group/app.git:\n    A: project\ngroup:\n  gitlab.example.com/group/:\n    B: {values: {'*': group}}\n  empty:\nglobal:\n  C: 1\nother: ignored\n",
        )
        .unwrap();
        assert_eq!(
            home.project,
            vec![(
                "gitlab.example.com/group/app.git".into(),
                vec![("A".into(), FileVariable::Value("project".into()))]
            )]
        );
        assert_eq!(
            home.group,
            vec![(
                "gitlab.example.com/group/".into(),
                vec![("B".into(), FileVariable::Value("group".into()))]
            )]
        );
        assert_eq!(
            home.global,
            vec![("C".into(), FileVariable::Value("1".into()))]
        );
        assert_eq!(home_variables("").unwrap(), HomeVariables::default());
        let err = home_variables("project:\n  key: [1]\n").unwrap_err();
        assert!(err.message.starts_with("project.key"), "{}", err.message);
        assert!(home_variables("- a\n").is_err());
    }

    #[test]
    fn glab_hosts_read_token_user_and_registry_domains() {
        let hosts = glab_hosts(
            "git_protocol: ssh\nhosts:\n  gitlab.example.com:\n    token: glpat-abc\n    user: alice\n    container_registry_domains: gitlab.example.com, registry.gitlab.example.com\n  other.example.com:\n    token:\n    is_oauth2: \"true\"\n",
        )
        .unwrap();
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts[0].name, "gitlab.example.com");
        assert_eq!(hosts[0].token.as_ref().unwrap().expose(), "glpat-abc");
        assert_eq!(hosts[0].user.as_deref(), Some("alice"));
        assert_eq!(
            hosts[0].container_registry_domains,
            ["gitlab.example.com", "registry.gitlab.example.com"]
        );
        assert!(!hosts[0].is_oauth2);
        assert!(hosts[1].token.is_none());
        assert!(hosts[1].is_oauth2);
        assert!(glab_hosts("editor: vim\n").unwrap().is_empty());
        assert!(glab_hosts("hosts: [a]\n").is_err());
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let deep = "A: ".to_string() + &"[".repeat(1 << 20);
        let err = variables_map(&deep).unwrap_err();
        assert!(err.message.contains("levels deep"), "{}", err.message);
        // Not a YAML map at all: left to the dotenv reader.
        assert_eq!(variables_map(&"{".repeat(1 << 20)).unwrap(), None);
    }

    #[test]
    fn lists_are_refused_with_the_name() {
        let err = variables_map("LIST: [1, 2]\n").unwrap_err();
        assert!(err.message.starts_with("LIST:"), "{}", err.message);
    }
}
