//! Fuzz target: fuzz/properties/variables_file.rs says what it checks.
#![no_main]

#[path = "../properties/variables_file.rs"]
mod property;

libfuzzer_sys::fuzz_target!(|data: &[u8]| property::check(data));
