//! ci-registry-login: log a CI job into a container registry with the right credential,
//! checked against what the job needs, without exposing the secret.
//!
//! The binary is a thin shell over these modules; they are a library so that unit
//! tests, fuzz targets and benchmarks can reach the parsers directly.

pub mod access;
pub mod auth_file;
pub mod challenge;
pub mod cli;
pub mod commands;
pub mod config;
pub mod credentials;
pub mod diagnose;
pub mod dns;
pub mod dockerfile;
pub mod engines;
pub mod error;
pub mod git_remote;
pub mod gitlab_api;
pub mod gitlab_log;
pub mod handshake;
pub mod helper;
pub mod http;
pub mod image_ref;
pub mod images;
pub mod isolation;
pub mod job;
pub mod jwt;
pub mod known_realm;
#[cfg(test)]
mod layers;
pub mod local;
pub mod locations;
pub mod mode;
pub mod names;
pub mod output;
pub mod pipeline;
pub mod preflight;
pub mod proof;
pub mod proxy_probe;
pub mod report;
pub mod safe_fs;
pub mod secret;
pub mod selection;
pub mod tag_rules;
pub mod text;
pub mod tls;
pub mod user_path;
pub mod vars;
pub mod verdict;
pub mod verify;
pub mod yaml;
