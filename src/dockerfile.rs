//! The images a Dockerfile (or Containerfile) pulls: every stage's `FROM` and every
//! `COPY --from=IMAGE`, with `ARG` defaults substituted and `--build-arg` overrides,
//! stage names and `scratch` skipped, `--platform` ignored. A reference that needs a
//! variable with no value is reported with that variable, never guessed.

/// One image the build pulls, or one it cannot name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// The line its instruction starts on, from 1.
    pub line: usize,
    /// `FROM` or `COPY --from`.
    pub instruction: &'static str,
    /// As written, before substitution.
    pub written: String,
    /// The reference after substitution, or the variable that has no value.
    pub image: Result<String, Unresolved>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    pub variable: String,
    /// Declared with `ARG` (without a default) rather than not at all.
    pub declared: bool,
}

/// Arguments in scope: name -> value (`None`: declared without a value).
type Args = Vec<(String, Option<String>)>;

fn lookup<'a>(args: &'a Args, name: &str) -> Option<&'a Option<String>> {
    args.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v)
}

/// Every base image of `text`, in order. `build_args` are `--build-arg NAME=VALUE`.
pub fn base_images(text: &str, build_args: &[(String, String)]) -> Vec<Base> {
    let escape = escape_directive(text);
    let mut global: Args = Vec::new();
    let mut stage: Args = Vec::new();
    let mut stages: Vec<String> = Vec::new();
    let mut in_stage = false;
    let mut out = Vec::new();
    for (line, instruction) in instructions(text, escape) {
        let (keyword, rest) = split_word(&instruction);
        match keyword.to_ascii_uppercase().as_str() {
            "ARG" => {
                for (name, default) in arg_declarations(rest) {
                    let overridden = build_args
                        .iter()
                        .rev()
                        .find(|(n, _)| *n == name)
                        .map(|(_, v)| v.clone());
                    // In a stage, `ARG NAME` brings the global value in.
                    let inherited = (in_stage && default.is_none())
                        .then(|| lookup(&global, &name).cloned().flatten())
                        .flatten();
                    let value = overridden.or(default).or(inherited);
                    let scope = if in_stage { &mut stage } else { &mut global };
                    scope.push((name, value));
                }
            }
            "FROM" => {
                in_stage = true;
                stage.clear();
                let words = flag_free_words(rest);
                let Some(written) = words.first() else {
                    continue;
                };
                let image = expand(written, &global, escape);
                // Earlier stages only: a stage named like its own image is no stage yet.
                let stage_or_scratch = image
                    .as_ref()
                    .is_ok_and(|image| is_stage_or_scratch(image, &stages));
                if let Some(name) = words
                    .get(2)
                    .filter(|_| words.get(1).is_some_and(|w| w.eq_ignore_ascii_case("as")))
                {
                    stages.push(name.to_ascii_lowercase());
                }
                if stage_or_scratch {
                    // `FROM builder AS next` is built here, pulled from nowhere.
                    continue;
                }
                out.push(Base {
                    line,
                    instruction: "FROM",
                    written: written.clone(),
                    image,
                });
            }
            "COPY" => {
                let Some(written) = flag_value(rest, "from") else {
                    continue;
                };
                let scope: Args = global.iter().chain(&stage).cloned().collect();
                let image = expand(&written, &scope, escape);
                if let Ok(image) = &image
                    && (is_stage_or_scratch(image, &stages) || image.parse::<usize>().is_ok())
                {
                    continue;
                }
                out.push(Base {
                    line,
                    instruction: "COPY --from",
                    written,
                    image,
                });
            }
            _ => {}
        }
    }
    out
}

fn is_stage_or_scratch(image: &str, stages: &[String]) -> bool {
    let lower = image.to_ascii_lowercase();
    lower == "scratch" || stages.contains(&lower)
}

/// `# escape=`` ` among the parser directives at the top; `\` otherwise.
fn escape_directive(text: &str) -> char {
    for line in text.lines() {
        let Some(comment) = line.trim().strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = comment.split_once('=') else {
            break;
        };
        if key.trim().eq_ignore_ascii_case("escape") && value.trim() == "`" {
            return '`';
        }
    }
    '\\'
}

/// Logical instructions with the line each starts on: continuation lines joined,
/// comment lines (also inside a continuation) and blank lines dropped.
fn instructions(text: &str, escape: char) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        let (body, continues) = match trimmed.strip_suffix(escape) {
            Some(body) => (body, true),
            None => (trimmed, false),
        };
        let (start, mut joined) = current.take().unwrap_or((i + 1, String::new()));
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(body.trim());
        if continues {
            current = Some((start, joined));
        } else if !joined.trim().is_empty() {
            out.push((start, joined));
        }
    }
    if let Some(last) = current.filter(|(_, t)| !t.trim().is_empty()) {
        out.push(last);
    }
    out
}

fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.find(char::is_whitespace) {
        Some(i) => (&text[..i], text[i..].trim_start()),
        None => (text, ""),
    }
}

/// The words after any `--flag[=value]`.
fn flag_free_words(rest: &str) -> Vec<String> {
    rest.split_whitespace()
        .skip_while(|w| w.starts_with("--"))
        .map(str::to_string)
        .collect()
}

/// `--NAME=VALUE` among the leading flags.
fn flag_value(rest: &str, name: &str) -> Option<String> {
    rest.split_whitespace()
        .take_while(|w| w.starts_with("--"))
        .find_map(|w| {
            let (flag, value) = w[2..].split_once('=')?;
            flag.eq_ignore_ascii_case(name).then(|| unquote(value))
        })
}

fn unquote(value: &str) -> String {
    let quoted = |q: char| value.len() >= 2 && value.starts_with(q) && value.ends_with(q);
    if quoted('"') || quoted('\'') {
        value[1..value.len() - 1].to_string()
    } else {
        value.to_string()
    }
}

/// `ARG A=1 B C="x"`: names with their defaults.
fn arg_declarations(rest: &str) -> Vec<(String, Option<String>)> {
    rest.split_whitespace()
        .map(|word| match word.split_once('=') {
            Some((name, value)) => (name.to_string(), Some(unquote(value))),
            None => (word.to_string(), None),
        })
        .filter(|(name, _)| !name.is_empty())
        .collect()
}

/// `$NAME`, `${NAME}`, `${NAME:-word}`, `${NAME-word}`, `${NAME:+word}`, `${NAME+word}`;
/// the escape character makes a `$` literal.
fn expand(word: &str, args: &Args, escape: char) -> Result<String, Unresolved> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == escape && chars.get(i + 1) == Some(&'$') {
            out.push('$');
            i += 2;
            continue;
        }
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        let (name, modifier, next) = if chars.get(i + 1) == Some(&'{') {
            let Some(close) = chars[i + 2..].iter().position(|&c| c == '}') else {
                out.extend(&chars[i..]);
                break;
            };
            let inner: String = chars[i + 2..i + 2 + close].iter().collect();
            let split = inner
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(inner.len());
            let (name, modifier) = inner.split_at(split);
            (name.to_string(), Some(modifier.to_string()), i + 3 + close)
        } else {
            let name: String = chars[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                .collect();
            let next = i + 1 + name.chars().count();
            (name, None, next)
        };
        if name.is_empty() {
            out.push('$');
            i += 1;
            continue;
        }
        let declared = lookup(args, &name);
        let value = declared.cloned().flatten();
        let (colon, op, word) = match modifier.as_deref() {
            Some(m) if m.starts_with(":-") || m.starts_with(":+") => (true, &m[1..2], &m[2..]),
            Some(m) if m.starts_with('-') || m.starts_with('+') => (false, &m[..1], &m[1..]),
            _ => (false, "", ""),
        };
        // With ':', an empty value counts as unset.
        let set = value.as_ref().is_some_and(|v| !colon || !v.is_empty());
        match (op, set) {
            ("-", true) | ("", true) => out.push_str(value.as_deref().unwrap_or_default()),
            ("-", false) => out.push_str(&expand(word, args, escape)?),
            ("+", true) => out.push_str(&expand(word, args, escape)?),
            ("+", false) => {}
            _ => {
                return Err(Unresolved {
                    variable: name,
                    declared: declared.is_some(),
                });
            }
        }
        i = next;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(text: &str, args: &[(&str, &str)]) -> Vec<Result<String, String>> {
        let args: Vec<(String, String)> = args
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        base_images(text, &args)
            .into_iter()
            .map(|b| b.image.map_err(|u| u.variable))
            .collect()
    }

    #[test]
    fn every_stage_and_copy_from_with_args() {
        let text = "\
# syntax=docker/dockerfile:1
ARG BASE=alpine:3.20
ARG GO_VERSION
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION:-1.23} AS build
RUN go build
FROM build AS test
COPY --from=build /out /out
COPY --from=0 /x /x
COPY --from=ghcr.io/acme/tools:1 /bin/t /bin/t
from ${BASE}
COPY --from=Build /out /out
FROM scratch
";
        assert_eq!(
            images(text, &[]),
            vec![
                Ok("golang:1.23".into()),
                Ok("ghcr.io/acme/tools:1".into()),
                Ok("alpine:3.20".into()),
            ]
        );
        assert_eq!(
            images(text, &[("BASE", "debian:12"), ("GO_VERSION", "1.22")]),
            vec![
                Ok("golang:1.22".into()),
                Ok("ghcr.io/acme/tools:1".into()),
                Ok("debian:12".into()),
            ]
        );
        let lines: Vec<usize> = base_images(text, &[]).iter().map(|b| b.line).collect();
        assert_eq!(lines, vec![4, 9, 10]);
    }

    #[test]
    fn an_arg_without_value_is_reported_not_guessed() {
        let b = base_images("ARG REGISTRY\nFROM $REGISTRY/app:1\nFROM $NOPE\n", &[]);
        assert_eq!(
            b[0].image,
            Err(Unresolved {
                variable: "REGISTRY".into(),
                declared: true
            })
        );
        assert_eq!(
            b[1].image,
            Err(Unresolved {
                variable: "NOPE".into(),
                declared: false
            })
        );
        assert_eq!(
            images(
                "ARG REGISTRY\nFROM $REGISTRY/app:1",
                &[("REGISTRY", "r.example.com")]
            ),
            vec![Ok("r.example.com/app:1".into())]
        );
    }

    #[test]
    fn continuations_comments_and_escape_directive() {
        let text = "# escape=`\nFROM `\n  # a comment inside\n  alpine:3 `\n  AS base\nFROM base\n";
        assert_eq!(images(text, &[]), vec![Ok("alpine:3".into())]);
        let text = "FROM \\\n alpine\n\n\nRUN echo \\$HOME\n";
        assert_eq!(images(text, &[]), vec![Ok("alpine".into())]);
    }

    #[test]
    fn stage_args_reach_copy_from_and_inherit_globals() {
        let text = "ARG TOOLS=ghcr.io/a/t:1\nFROM alpine\nARG TOOLS\nARG LOCAL=quay.io/x/y:2\nCOPY --from=$TOOLS /a /a\nCOPY --from=${LOCAL} /b /b\n";
        assert_eq!(
            images(text, &[]),
            vec![
                Ok("alpine".into()),
                Ok("ghcr.io/a/t:1".into()),
                Ok("quay.io/x/y:2".into())
            ]
        );
        // A stage ARG is forgotten by the next FROM.
        let text = "FROM alpine\nARG X=a/b\nFROM $X\n";
        assert_eq!(images(text, &[])[1], Err("X".into()));
        assert_eq!(
            images("FROM ${X:+set}alpine\n", &[]),
            vec![Ok("alpine".into())]
        );
        assert_eq!(images("FROM\n", &[]), vec![]);
    }
}
