//! `WWW-Authenticate` comes from whatever answers `GET /v2/`. Parsing must never panic,
//! and what it reads must survive being written back out in canonical form: scheme,
//! then `name="value"` pairs with `"` and `\` escaped.
//!
//! The property itself: the fuzz target runs it on random input (fuzz/run.sh), and
//! tests/suite/fuzz_corpus.rs replays every committed input through it in the gate.
use ci_registry_login::challenge::{self, Challenge};

pub fn check(data: &[u8]) {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(challenges) = challenge::parse(header) else {
        return;
    };
    for c in &challenges {
        assert!(!c.scheme.is_empty());
        assert_eq!(c.scheme, c.scheme.to_ascii_lowercase());
        for (name, _) in &c.params {
            assert_eq!(*name, name.to_ascii_lowercase());
        }
    }
    // token68 credentials (a nameless parameter) have no canonical quoted form.
    if challenges
        .iter()
        .any(|c| c.params.iter().any(|(n, _)| n.is_empty()))
    {
        return;
    }
    let rendered = render(&challenges);
    let reparsed = challenge::parse(&rendered)
        .unwrap_or_else(|e| panic!("{rendered:?} does not parse back: {e}"));
    assert_eq!(reparsed, challenges, "through {rendered:?}");
}

fn render(challenges: &[Challenge]) -> String {
    let rendered: Vec<String> = challenges
        .iter()
        .map(|c| {
            let params: Vec<String> = c
                .params
                .iter()
                .map(|(name, value)| {
                    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
                    format!("{name}=\"{escaped}\"")
                })
                .collect();
            if params.is_empty() {
                c.scheme.clone()
            } else {
                format!("{} {}", c.scheme, params.join(", "))
            }
        })
        .collect();
    rendered.join(", ")
}
