//! Image references and Dockerfiles come from flags, `$CI_JOB_IMAGE` and files a person
//! wrote. Parsing must never panic, and a reference is stable: its full form
//! (`docker.io/library/alpine:latest`) parses back to the same reference. Every line of
//! the input is tried as a reference, and the whole input as a Dockerfile, whose
//! resolved bases are references or refused ones, never a panic.
//!
//! The property itself: the fuzz target runs it on random input (fuzz/run.sh), and
//! tests/suite/fuzz_corpus.rs replays every committed input through it in the gate.
use ci_registry_login::dockerfile;
use ci_registry_login::image_ref::ImageRef;

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.lines() {
        round_trip(line);
    }
    let args = [("TAG".to_string(), "1".to_string())];
    for base in dockerfile::base_images(text, &args) {
        assert!(
            base.line >= 1 && base.line <= text.lines().count().max(1),
            "{base:?}"
        );
        if let Ok(image) = &base.image {
            round_trip(image);
        }
    }
}

fn round_trip(input: &str) {
    let Ok(reference) = ImageRef::parse(input) else {
        return;
    };
    let full = reference.to_string();
    let again = ImageRef::parse(&full).unwrap_or_else(|e| panic!("{input:?} -> {full:?}: {e}"));
    if reference.tag.is_none() && reference.digest.is_none() {
        // The full form spells out the default tag.
        assert_eq!(again.tag.as_deref(), Some("latest"), "{input:?}");
        assert_eq!(again.repository, reference.repository);
    } else {
        assert_eq!(again, reference, "{input:?} -> {full:?}");
    }
    assert_eq!(again.reference(), reference.reference());
}
