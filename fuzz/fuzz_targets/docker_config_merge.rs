//! Fuzz target: fuzz/properties/docker_config_merge.rs says what it checks.
#![no_main]

#[path = "../properties/docker_config_merge.rs"]
mod property;

libfuzzer_sys::fuzz_target!(|data: &[u8]| property::check(data));
