//! Registry and repository names come from variables and flags a person typed. Parsing
//! must never panic nor hang (a byte outside the path grammar once looped forever), and
//! normalising is stable: a registry's key parses back to the same registry, a
//! repository written under its registry parses back to itself, and a project path is
//! idempotent. Input: `REGISTRY` or `REGISTRY\nREPOSITORY`.
//!
//! The property itself: the fuzz target runs it on random input (fuzz/run.sh), and
//! tests/suite/fuzz_corpus.rs replays every committed input through it in the gate.
use ci_registry_login::names::{Registry, Repository};

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (registry_text, repository_text) = text.split_once('\n').unwrap_or((text, text));
    if let Ok(registry) = Registry::parse(registry_text) {
        let key = registry.host_port();
        assert!(key.is_ascii() && key == key.to_ascii_lowercase(), "{key:?}");
        let again = Registry::parse(&key).unwrap_or_else(|e| panic!("{key:?}: {e}"));
        assert!(
            again.same_as(&registry),
            "{registry_text:?} -> {key:?} -> {again:?}"
        );
        assert_eq!(again.is_loopback(), registry.is_loopback());
        if let Ok(repository) = Repository::parse(repository_text, Some(&registry)) {
            check_path(repository.as_str());
            let qualified = format!("{key}/{}", repository.as_str());
            let again = Repository::parse(&qualified, Some(&registry))
                .unwrap_or_else(|e| panic!("{repository_text:?} -> {qualified:?}: {e}"));
            assert_eq!(again, repository, "{repository_text:?} -> {qualified:?}");
        }
    }
    if let Ok(project) = Repository::project_path(repository_text) {
        check_path(project.as_str());
        let again = Repository::project_path(project.as_str())
            .unwrap_or_else(|e| panic!("{repository_text:?} -> {project}: {e}"));
        assert_eq!(again, project);
    }
}

fn check_path(path: &str) {
    assert!(!path.is_empty() && path.len() <= 255, "{path:?}");
    assert_eq!(path, path.to_ascii_lowercase());
}
