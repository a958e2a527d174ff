//! The offline part of every command: the credentials on offer for one target, ranked
//! without asking anyone. `commands` (plan, check, login) and `helper` (docker's `get`)
//! both start here, so neither needs the other for it.

use crate::access::Intent;
use crate::config::Config;
use crate::credentials::{self, Context};
use crate::error::Result;
use crate::job::Target;
use crate::selection::Plan;

/// The candidates for one target, ranked for `intent` without asking anyone.
pub fn offline_plan(config: &Config, target: &Target, intent: Intent) -> Result<Plan> {
    let sources = &config.sources;
    let cx = Context {
        vars: &config.vars,
        job: &config.job,
        target,
        explicit: &config.explicit,
        sources,
    };
    let found = credentials::discover(&cx)?;
    Ok(Plan::offline(
        found,
        target.clone(),
        intent,
        config.job.mode,
        config.use_kind,
    ))
}
