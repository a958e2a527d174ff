//! The offline part of every command: the credentials on offer for one target, ranked
//! without asking anyone. `commands` (plan, check, login) and `helper` (docker's `get`)
//! both start here, so neither needs the other for it.

use crate::access::Intent;
use crate::candidates::{self, Context};
use crate::config::{Config, Target};
use crate::error::Result;
use crate::selection::Plan;

/// The candidates for one target, ranked for `intent` without asking anyone.
pub fn offline_plan(config: &Config, target: &Target, intent: Intent) -> Result<Plan> {
    let cx = Context {
        vars: &config.vars,
        mode: config.mode,
        target: &target.registry,
        repository: target.repository.as_ref(),
        explicit: &config.explicit,
    };
    let found = candidates::discover(&cx, &[crate::local::candidates])?;
    Ok(Plan::offline(
        found,
        target.registry.clone(),
        target.repository.clone(),
        intent,
        config.mode,
        config.use_kind,
    ))
}
