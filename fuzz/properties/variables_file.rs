//! `--variables-file` is whatever a person (or gitlab-ci-local) wrote: YAML in any
//! shape, or dotenv. Parsing must never panic, and every name it returns is one a
//! variable can have.
//!
//! The property itself: the fuzz target runs it on random input (fuzz/run.sh), and
//! tests/suite/fuzz_corpus.rs replays every committed input through it in the gate.
use ci_registry_login::vars::parse_variables_file;

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(entries) = parse_variables_file(text) else {
        return;
    };
    for (name, _) in entries {
        let mut chars = name.chars();
        let first = chars.next().expect("names are not empty");
        assert!(first.is_ascii_alphabetic() || first == '_', "{name:?}");
        assert!(
            chars.all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{name:?}"
        );
    }
}
