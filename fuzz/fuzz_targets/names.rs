//! Fuzz target: fuzz/properties/names.rs says what it checks.
#![no_main]

#[path = "../properties/names.rs"]
mod property;

libfuzzer_sys::fuzz_target!(|data: &[u8]| property::check(data));
