//! Fuzz target: fuzz/properties/jwt.rs says what it checks.
#![no_main]

#[path = "../properties/jwt.rs"]
mod property;

libfuzzer_sys::fuzz_target!(|data: &[u8]| property::check(data));
