//! `skopeo login`: for jobs that copy or inspect images without building them. Not in
//! `auto`, which looks for builders.

use super::containers::containers_tool;
use super::{CommandEngine, EngineError, Paths, RunPolicy};

pub fn skopeo(paths: &Paths, policy: &RunPolicy) -> Result<CommandEngine, EngineError> {
    containers_tool("skopeo", paths, policy)
}
