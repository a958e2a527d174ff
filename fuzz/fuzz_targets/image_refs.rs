//! Fuzz target: fuzz/properties/image_refs.rs says what it checks.
#![no_main]

#[path = "../properties/image_refs.rs"]
mod property;

libfuzzer_sys::fuzz_target!(|data: &[u8]| property::check(data));
