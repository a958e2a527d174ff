//! `buildah login`: GitLab's rootless build tutorial uses buildah; its `bud` and
//! `push` read the same auth.json.

use super::containers::containers_tool;
use super::{CommandEngine, EngineError, Paths, RunPolicy};

pub fn buildah(paths: &Paths, policy: &RunPolicy) -> Result<CommandEngine, EngineError> {
    containers_tool("buildah", paths, policy)
}
