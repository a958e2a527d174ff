//! Rendering: the plan as text or JSON, one-line summaries, warnings. Never a secret:
//! only candidates' kinds, sources, user names and verdicts are ever printed.

use crate::access::join_actions;
use crate::error::Failure;
use crate::selection::{Assessed, Plan};
use crate::text::{duration, one_line, rfc3339, sanitize};
use serde_json::{Value, json};
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    pub const ALL: [Format; 2] = [Format::Text, Format::Json];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
        }
    }
}

/// Where messages go: reports to stdout (so `--format json` and `export` lines can be
/// captured), everything said to the person to stderr.
#[derive(Debug, Clone)]
pub struct Printer {
    pub format: Format,
    pub quiet: bool,
}

impl Printer {
    pub fn summary(&self, line: &str) {
        if !self.quiet {
            say(&format!("ci-registry-login: {}", one_line(line)));
        }
    }

    pub fn warn(&self, line: &str) {
        if !self.quiet {
            say(&format!("ci-registry-login: warning: {}", one_line(line)));
        }
    }

    pub fn error(&self, failure: &Failure) {
        print_failure(failure);
    }

    /// Writes a report to stdout; a closed stdout (`| head`) is not an error worth a panic.
    pub fn report(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    pub fn json(&self, value: &Value) {
        print_json(value);
    }
}

/// One JSON document on stdout; a closed stdout is no reason to panic.
pub fn print_json(value: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

/// A failure for `--format json`: `{"error": {"exit", "message", "hint"}}`.
pub fn failure_json(failure: &Failure) -> Value {
    json!({"error": {
        "exit": failure.exit.code(),
        "message": failure.message,
        "hint": failure.hint,
    }})
}

/// An error as the user sees it, with what to do about it. Errors are printed even
/// with `-q`.
pub fn print_failure(failure: &Failure) {
    say(&format!(
        "ci-registry-login: error: {}",
        one_line(&failure.message)
    ));
    if let Some(hint) = &failure.hint {
        say(&format!("  hint: {}", one_line(hint)));
    }
}

/// Writes one line to stderr. A closed or full stderr (`2>&-`, a reader that went away)
/// is no reason to panic: the run goes on quietly and ends with its own exit code.
pub fn say(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// The plan object shared by `plan`, `check` and `login --format json`.
pub fn plan_json(plan: &Plan) -> Value {
    // The same facts `--report` writes: what was chosen, granted, and until when.
    let chosen = plan.chosen().map(|a| {
        let live = a.live.as_ref();
        json!({
            "kind": a.candidate.kind.as_str(),
            "source": a.candidate.origin.as_str(),
            "username": a.candidate.username,
            "granted": live
                .and_then(|l| l.granted.as_ref())
                .map(|g| g.iter().map(|x| x.as_str()).collect::<Vec<_>>()),
            "token_expires_at": live.and_then(|l| l.expires_at).map(rfc3339),
            "token_lifetime_seconds": live.and_then(|l| l.lifetime_seconds),
            "job_token_expires_at": a.candidate.expires_at().map(rfc3339),
            "credential_expires_on": live.and_then(|l| l.token_expires.clone()),
        })
    });
    json!({
        "registry": plan.target.registry.host_port(),
        "repository": plan.target.repository.as_ref().map(|r| r.as_str()),
        "intent": plan.intent.as_str(),
        "mode": plan.mode.describe(),
        "chosen": chosen,
        "explanation": plan.explain(),
        "candidates": plan.candidates.iter().map(candidate_json).collect::<Vec<_>>(),
        "warnings": plan.warnings,
    })
}

fn candidate_json(a: &Assessed) -> Value {
    let c = &a.candidate;
    let mut v = json!({
        "kind": c.kind.as_str(),
        "source": c.origin.as_str(),
        "username": c.username,
        "scopes": c.scopes.as_ref().map(|s| s.iter().map(|x| x.as_str()).collect::<Vec<_>>()),
        "usable": a.usable,
        "reason": a.reason(),
        "notes": c.notes,
    });
    if let Some(at) = c.expires_at() {
        v["job_token_expires_at"] = json!(rfc3339(at));
    }
    if let Some(live) = &a.live {
        let obj = v.as_object_mut().expect("built as an object");
        obj.insert(
            "granted".into(),
            json!(
                live.granted
                    .as_ref()
                    .map(|g| g.iter().map(|x| x.as_str()).collect::<Vec<_>>())
            ),
        );
        if let Some(secs) = live.lifetime_seconds {
            obj.insert("token_lifetime_seconds".into(), json!(secs));
        }
        if let Some(exp) = live.expires_at {
            obj.insert("token_expires_at".into(), json!(rfc3339(exp)));
        }
        if let Some(t) = &live.auth_type {
            obj.insert("auth_type".into(), json!(t));
        }
        if let Some(scopes) = &live.token_scopes {
            obj.insert("token_scopes".into(), json!(scopes));
        }
        if let Some(date) = &live.token_expires {
            obj.insert("token_expires_on".into(), json!(date));
        }
    }
    v
}

/// The plan as a table; `live` adds the granted actions and token lifetime.
pub fn plan_text(plan: &Plan, live: bool) -> String {
    let mut out = String::new();
    let repository = plan
        .target
        .repository
        .as_ref()
        .map_or("(unknown)".to_string(), |r| r.to_string());
    out.push_str(&format!("registry:   {}\n", plan.target.registry));
    out.push_str(&format!("repository: {repository}\n"));
    out.push_str(&format!("intent:     {}\n", plan.intent.as_str()));
    out.push_str(&format!("mode:       {}\n", plan.mode.describe()));
    out.push_str(&format!("decision:   {}\n", plan.explain()));
    if plan.candidates.is_empty() {
        out.push_str("\nno credentials found\n");
        return out;
    }
    let mut rows = vec![if live {
        vec!["KIND", "SOURCE", "USER", "GRANTED", "LIFETIME", "VERDICT"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    } else {
        vec!["KIND", "SOURCE", "USER", "SCOPES", "VERDICT"]
            .into_iter()
            .map(String::from)
            .collect()
    }];
    for (i, a) in plan.candidates.iter().enumerate() {
        let c = &a.candidate;
        let verdict = if plan.chosen == Some(i) {
            format!("chosen: {}", a.reason())
        } else if a.usable {
            a.reason()
        } else {
            format!("not used: {}", a.reason())
        };
        let mut row = vec![c.kind.to_string(), c.origin.to_string(), c.username.clone()];
        if live {
            let l = a.live.as_ref();
            row.push(
                l.and_then(|l| l.granted.as_deref())
                    .map_or("-".into(), join_actions),
            );
            row.push(
                l.and_then(|l| l.lifetime_seconds)
                    .map_or("-".into(), duration),
            );
        } else {
            row.push(c.scopes.as_ref().map_or("unknown".into(), |s| {
                s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(",")
            }));
        }
        row.push(verdict);
        rows.push(row);
    }
    out.push('\n');
    out.push_str(&table(&rows));
    let notes: Vec<String> = plan
        .candidates
        .iter()
        .flat_map(|a| {
            a.candidate
                .notes
                .iter()
                .map(move |n| format!("  {}: {n}", a.candidate.origin))
        })
        .collect();
    if !notes.is_empty() {
        out.push_str("\nnotes:\n");
        for n in notes {
            out.push_str(&n);
            out.push('\n');
        }
    }
    out
}

fn table(rows: &[Vec<String>]) -> String {
    let columns = rows[0].len();
    // Cells but the last (the verdict) hold values from variables, a 128 KiB user name
    // among them: one line each, cut short.
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(c, cell)| {
                    if c + 1 == columns {
                        one_line(cell).into_owned()
                    } else {
                        sanitize(cell, 64)
                    }
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            cells
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &cells {
        for (c, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if c + 1 < columns {
                out.push_str(&" ".repeat(widths[c] - cell.chars().count() + 2));
            }
        }
        out.push('\n');
    }
    out
}

/// The preflight's table (issue 14): one row per image, columns padded; the detail of
/// every row that is not plainly ok follows the table, one line each.
pub fn preflight_text(rows: &[crate::images::Row]) -> String {
    let header = [
        "IMAGE",
        "REGISTRY",
        "NEED",
        "CREDENTIAL",
        "GRANTED",
        "VERDICT",
    ];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                sanitize(&r.image, 120),
                r.registry.clone(),
                r.need.to_string(),
                if r.credential.is_empty() {
                    "-".into()
                } else {
                    r.credential.clone()
                },
                if r.granted.is_empty() {
                    "-".into()
                } else {
                    r.granted.clone()
                },
                r.verdict.as_str().to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(&header.map(String::from));
    for row in &cells {
        out.push_str(&line(row));
    }
    for r in rows.iter().filter(|r| !r.detail.is_empty()) {
        out.push_str(&format!(
            "  {} ({}): {}\n",
            sanitize(&r.image, 120),
            r.from,
            one_line(&r.detail)
        ));
    }
    out
}

/// The preflight as JSON: `images`, one object per row, and the summary.
pub fn preflight_json(rows: &[crate::images::Row], summary: &str) -> Value {
    let images: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "image": r.image,
                "registry": r.registry,
                "need": r.need,
                "from": r.from,
                "credential": r.credential,
                "granted": r.granted,
                "verdict": r.verdict.as_str(),
                "detail": r.detail,
            })
        })
        .collect();
    json!({"images": images, "summary": summary})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_cell_is_cut_not_a_panic() {
        // Found by the bad-input table: a 128 KiB user name overflowed `{:<width$}`.
        let rows = vec![
            vec!["USER".to_string(), "VERDICT".to_string()],
            vec![format!("{}\n", "a".repeat(131_000)), "not used".to_string()],
        ];
        let text = table(&rows);
        assert_eq!(text.lines().count(), 2);
        assert!(text.lines().all(|l| l.chars().count() < 100), "{text}");
    }
}
