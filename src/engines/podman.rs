//! `podman login`: a daemonless docker replacement, common on shell runners and in
//! rootless builds.

use super::containers::containers_tool;
use super::{CommandEngine, EngineError, Paths, RunPolicy};

pub fn podman(paths: &Paths, policy: &RunPolicy) -> Result<CommandEngine, EngineError> {
    containers_tool("podman", paths, policy)
}
