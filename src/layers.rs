//! The module layers, checked: a module may use modules of its own layer or below,
//! never above, and no two modules may import each other (directly or round a loop).
//! Every file under `src/` must belong to a module in [`LAYERS`]. README.md's "Module
//! map" describes the same table.

/// Module -> layer, bottom (0) to top. A file `src/a/b.rs` belongs to module `a`.
pub const LAYERS: &[(&str, usize)] = &[
    // 0 core: pure text and parsers, no I/O of their own.
    ("text", 0),
    ("secret", 0),
    ("error", 0),
    ("names", 0),
    ("access", 0),
    ("challenge", 0),
    ("jwt", 0),
    ("yaml", 0),
    ("git_remote", 0),
    ("user_path", 0),
    ("image_ref", 0),
    ("dockerfile", 0),
    ("tag_rules", 0),
    // 1 inputs: variables and what they say about the run.
    ("vars", 1),
    ("mode", 1),
    // 2 domain: the resolved job, credentials on offer, verdicts, ranking.
    ("job", 2),
    ("credentials", 2),
    ("verdict", 2),
    ("images", 2),
    ("selection", 2),
    // 3 effects: network, registry, verification, files, engines, the machine's
    // credential stores.
    ("dns", 3),
    ("tls", 3),
    ("http", 3),
    ("handshake", 3),
    ("gitlab_api", 3),
    ("known_realm", 3),
    ("verify", 3),
    ("proof", 3),
    ("proxy_probe", 3),
    ("diagnose", 3),
    ("safe_fs", 3),
    ("auth_file", 3),
    ("isolation", 3),
    ("locations", 3),
    ("engines", 3),
    ("local", 3),
    // 4 render.
    ("output", 4),
    ("report", 4),
    ("gitlab_log", 4),
    // 5 config.
    ("cli", 5),
    ("config", 5),
    // 6 app.
    ("pipeline", 6),
    ("commands", 6),
    ("preflight", 6),
    ("helper", 6),
    ("layers", 6),
];

pub const LAYER_NAMES: &[&str] = &[
    "core", "inputs", "domain", "effects", "render", "config", "app",
];

/// The crate root and the binary sit above every layer.
const ROOTS: &[&str] = &["lib", "main"];

/// The module a file under `src/` belongs to: `engines/docker.rs` -> `engines`.
pub fn module_of(relative: &str) -> String {
    let first = relative.split('/').next().unwrap_or(relative);
    first.trim_end_matches(".rs").to_string()
}

/// The line without the insides of its string literals (`"crate::x"` is no import).
fn code_of(line: &str) -> String {
    let (mut out, mut quoted, mut escaped) = (String::new(), false, false);
    for c in line.chars() {
        if quoted {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
                out.push(c);
            }
        } else {
            quoted = c == '"';
            out.push(c);
        }
    }
    out
}

/// The modules a line names as `crate::X`; comment lines (doc links) and string
/// literals are no imports.
fn references(line: &str) -> Vec<String> {
    if line.trim_start().starts_with("//") {
        return Vec::new();
    }
    let line = &code_of(line);
    line.match_indices("crate::")
        .filter(|(i, _)| {
            // `ci_registry_login::` or `my_crate::` is not `crate::`.
            !line[..*i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
        .map(|(i, m)| {
            line[i + m.len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// Every rule broken by `files` (path relative to `src/`, contents), one line each.
pub fn violations(files: &[(String, String)], layers: &[(&str, usize)]) -> Vec<String> {
    let layer = |m: &str| layers.iter().find(|(n, _)| *n == m).map(|(_, l)| *l);
    let mut out = Vec::new();
    let mut edges: Vec<(String, String, String)> = Vec::new();
    for (path, text) in files {
        let from = module_of(path);
        if ROOTS.contains(&from.as_str()) {
            continue;
        }
        let Some(from_layer) = layer(&from) else {
            out.push(format!(
                "src/{path}: module {from} is in no layer (add it to LAYERS)"
            ));
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            for to in references(line) {
                if to == from {
                    continue;
                }
                let Some(to_layer) = layer(&to) else {
                    out.push(format!(
                        "src/{path}:{}: {from} uses {to}, which is in no layer",
                        n + 1
                    ));
                    continue;
                };
                if to_layer > from_layer {
                    out.push(format!(
                        "src/{path}:{}: {from} (layer {from_layer} {}) uses {to} (layer {to_layer} {})",
                        n + 1,
                        LAYER_NAMES.get(from_layer).unwrap_or(&"?"),
                        LAYER_NAMES.get(to_layer).unwrap_or(&"?"),
                    ));
                }
                if !edges.iter().any(|(f, t, _)| *f == from && *t == to) {
                    edges.push((from.clone(), to, format!("src/{path}:{}", n + 1)));
                }
            }
        }
    }
    out.extend(cycles(&edges));
    out
}

/// Import loops among modules, each reported once (as found from its smallest module).
fn cycles(edges: &[(String, String, String)]) -> Vec<String> {
    let mut modules: Vec<&str> = edges.iter().map(|(f, _, _)| f.as_str()).collect();
    modules.sort_unstable();
    modules.dedup();
    let mut out = Vec::new();
    for start in &modules {
        // Depth-first search for a path back to `start` through larger modules only.
        let mut stack: Vec<(Vec<&str>, Vec<&str>)> = vec![(vec![start], vec![])];
        while let Some((path, sites)) = stack.pop() {
            let last = *path.last().unwrap();
            for (f, t, site) in edges.iter().filter(|(f, _, _)| f == last) {
                let _ = f;
                if t == start {
                    let mut ring = path.clone();
                    ring.push(start);
                    let mut at = sites.clone();
                    at.push(site.as_str());
                    out.push(format!(
                        "import cycle: {} ({})",
                        ring.join(" -> "),
                        at.join(", ")
                    ));
                } else if t.as_str() > *start && !path.contains(&t.as_str()) {
                    let mut next = path.clone();
                    next.push(t.as_str());
                    let mut at = sites.clone();
                    at.push(site.as_str());
                    stack.push((next, at));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn read_tree(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                read_tree(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(root).unwrap().to_string_lossy();
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((relative.replace('\\', "/"), text));
            }
        }
    }

    #[test]
    fn every_module_uses_only_its_layer_and_below_without_cycles() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        read_tree(&root, &root, &mut files);
        files.sort();
        assert!(files.len() > 30, "read only {} files", files.len());
        let found = violations(&files, LAYERS);
        assert!(found.is_empty(), "\n{}", found.join("\n"));
    }

    #[test]
    fn the_table_names_each_module_once() {
        let mut names: Vec<&str> = LAYERS.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count);
        assert!(LAYERS.iter().all(|(_, l)| *l < LAYER_NAMES.len()));
    }

    fn file(path: &str, text: &str) -> (String, String) {
        (path.to_string(), text.to_string())
    }

    #[test]
    fn a_reverse_import_is_reported() {
        let layers = &[("low", 0), ("high", 1)];
        let files = vec![
            file(
                "low.rs",
                "//! [`crate::high`] in a doc link is fine\nuse crate::high::Thing;\n",
            ),
            file("high.rs", "use crate::low;\nfn f() { crate::low::g() }\n"),
        ];
        let found = violations(&files, layers);
        assert!(
            found.contains(
                &"src/low.rs:2: low (layer 0 core) uses high (layer 1 inputs)".to_string()
            ),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|v| v.starts_with("import cycle: high -> low -> high")),
            "{found:?}"
        );
        assert_eq!(found.len(), 2, "{found:?}");
    }

    #[test]
    fn an_unlisted_module_and_a_loop_within_a_layer_are_reported() {
        let layers = &[("a", 0), ("b", 0)];
        let files = vec![
            file("a.rs", "use crate::b;\n"),
            file("b/mod.rs", "mod c;\n"),
            file(
                "b/c.rs",
                "pub fn f() { crate::a::g(); ci_registry_login::zzz::h(); }\n",
            ),
            file("new.rs", "use crate::a;\n"),
            file("lib.rs", "pub mod a;\n"),
        ];
        let found = violations(&files, layers);
        assert!(
            found.contains(&"src/new.rs: module new is in no layer (add it to LAYERS)".to_string()),
            "{found:?}"
        );
        assert!(
            found.contains(&"import cycle: a -> b -> a (src/a.rs:1, src/b/c.rs:1)".to_string()),
            "{found:?}"
        );
        assert_eq!(found.len(), 2, "{found:?}");
    }
}
