//! The deterministic half of fuzzing (issue 10): every committed input under
//! `fuzz/corpus/TARGET/` (seeds, and `regression-*` cases that fuzzing once found) is
//! fed through the same property the fuzz target asserts, on the stable toolchain. A
//! finding, once committed, is checked by the gate forever; exploring for new ones is
//! `fuzz/run.sh`, outside the gate.

#[path = "../../fuzz/properties/challenge.rs"]
mod challenge;
#[path = "../../fuzz/properties/docker_config_merge.rs"]
mod docker_config_merge;
#[path = "../../fuzz/properties/image_refs.rs"]
mod image_refs;
#[path = "../../fuzz/properties/jwt.rs"]
mod jwt;
#[path = "../../fuzz/properties/names.rs"]
mod names;
#[path = "../../fuzz/properties/variables_file.rs"]
mod variables_file;

use std::path::{Path, PathBuf};

/// A fuzz target's property: panics on an input that breaks it.
type Property = fn(&[u8]);

/// One row per fuzz target: its name (as in fuzz/Cargo.toml) and its property.
const TARGETS: [(&str, Property); 6] = [
    ("challenge", challenge::check),
    ("docker_config_merge", docker_config_merge::check),
    ("image_refs", image_refs::check),
    ("jwt", jwt::check),
    ("names", names::check),
    ("variables_file", variables_file::check),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Every file of the target's corpus, sorted, so a failure names the same file each run.
fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join("corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// The committed inputs of one target on which its property panics, each named with
/// its file and its text escaped.
fn failures(target: &str, property: Property) -> Vec<String> {
    let files = inputs(target);
    assert!(!files.is_empty(), "fuzz/corpus/{target} has no inputs");
    files
        .iter()
        .filter_map(|file| {
            let data = std::fs::read(file).unwrap();
            std::panic::catch_unwind(|| property(&data))
                .is_err()
                .then(|| {
                    format!(
                        "{} ({})",
                        file.display(),
                        String::from_utf8_lossy(&data).escape_debug()
                    )
                })
        })
        .collect()
}

#[test]
fn every_committed_input_holds() {
    let failed: Vec<String> = TARGETS
        .iter()
        .flat_map(|(target, property)| failures(target, *property))
        .collect();
    assert!(
        failed.is_empty(),
        "properties fail on:\n{}",
        failed.join("\n")
    );
}

/// A target added to fuzz/Cargo.toml without a row here would never be replayed.
#[test]
fn every_fuzz_target_is_replayed() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    let mut declared: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("path = \"fuzz_targets/"))
        .filter_map(|l| l.strip_suffix(".rs\""))
        .collect();
    declared.sort();
    let mut replayed: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
    replayed.sort();
    assert_eq!(declared, replayed);
}

/// The replay can fail: a property that rejects everything is caught on the corpus.
#[test]
fn a_failing_property_is_reported() {
    fn rejects_all(_: &[u8]) {
        panic!("planted");
    }
    assert_eq!(failures("names", rejects_all).len(), inputs("names").len());
}
