//! Fuzz target: fuzz/properties/challenge.rs says what it checks.
#![no_main]

#[path = "../properties/challenge.rs"]
mod property;

libfuzzer_sys::fuzz_target!(|data: &[u8]| property::check(data));
