//! Every integration test, in one test binary (`cargo test --test suite`): each former
//! `tests/NAME.rs` is the module `NAME` here, and `support` is the test bed they share,
//! compiled once. Run one file's tests with `cargo test --test suite NAME::`.

mod support;

mod auth_files;
mod bad_input;
mod binding;
mod ci_templates;
mod dependency_proxy;
mod emulator_conformance;
mod engine_start;
mod engines;
mod faults;
mod fuzz_corpus;
mod github_action;
mod gitlab_2026;
mod gitlab_ci_local;
mod gitlab_conventions;
mod helper_mode;
mod hostile;
mod hostile_files;
mod isolation;
mod known_realm;
mod leak_scan;
mod local_emulation;
mod login;
mod messages;
mod preflight;
mod process_safety;
mod registries;
mod release_pipeline;
mod static_binary;
mod testbed;
mod verify;
