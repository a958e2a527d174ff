//! All YAML reading lives here, so that replacing the archived `serde_yaml` with a
//! maintained fork is one line: the `serde_yaml` entry in Cargo.toml, e.g.
//! `serde_yaml = { package = "serde_norway", version = "0.9" }` (same API).

use serde_yaml::Value;

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
    let doc: Value = match serde_yaml::from_str(text) {
        Ok(doc) => doc,
        // A dotenv line such as `URL=http://x:1/` can fail as YAML; only report a YAML
        // error when the first meaningful line is written as a YAML map entry.
        Err(_) if !looks_like_yaml_map(text) => return Ok(None),
        Err(e) => return Err(located(e)),
    };
    let map = match doc {
        Value::Mapping(map) => map,
        Value::Null => return Ok(Some(Vec::new())),
        _ => return Ok(None),
    };
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
    Ok(Some(out))
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
    fn lists_are_refused_with_the_name() {
        let err = variables_map("LIST: [1, 2]\n").unwrap_err();
        assert!(err.message.starts_with("LIST:"), "{}", err.message);
    }
}
