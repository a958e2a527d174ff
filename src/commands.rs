//! The commands: each turns the configuration into a plan, maybe verifies it, maybe
//! logs in, and reports. Everything here is orchestration; the work is in the modules.

use crate::access::Intent;
use crate::candidates::{self, Context};
use crate::cli::Command;
use crate::config::{Config, Target};
use crate::engines::{self, Engine, EngineError, LoginRequest, Stored};
use crate::error::{Exit, Failure, Result};
use crate::http::Http;
use crate::names::{Registry, Scheme};
use crate::output::{self, Format};
use crate::selection::Plan;
use crate::verify::{self, Outcome, Verification};
use std::sync::Arc;

pub fn run(config: &Config) -> Result<Exit> {
    for w in &config.warnings {
        config.printer.warn(w);
    }
    match config.command {
        Command::Plan => plan(config),
        Command::Check => check(config),
        Command::Login => login(config),
        Command::Logout => logout(config),
    }
}

/// The offline plan for one target.
fn build_plan(config: &Config, target: &Target) -> Result<Plan> {
    let cx = Context {
        vars: &config.vars,
        mode: config.mode,
        target: &target.registry,
        repository: target.repository.as_ref(),
        explicit: &config.explicit,
    };
    let found = candidates::discover(&cx)?;
    let mut plan = Plan::offline(
        found,
        target.registry.clone(),
        target.repository.clone(),
        config.intent,
        config.mode,
        config.use_kind,
    );
    plan.warnings
        .extend(docker_auth_config_warning(config, &target.registry));
    if target.repository.is_none() {
        plan.warnings.push(
            "no repository is known (--repository, CI_REGISTRY_IMAGE, CI_PROJECT_PATH): the credential can be checked, but not what it may pull or push".into(),
        );
    }
    Ok(plan)
}

fn plan(config: &Config) -> Result<Exit> {
    let mut exit = Exit::Success;
    for target in &config.targets {
        let plan = build_plan(config, target)?;
        print_plan(config, &plan, false);
        if plan.chosen.is_none() {
            exit = exit.worst(Exit::NoCredential);
        }
    }
    Ok(exit)
}

fn print_plan(config: &Config, plan: &Plan, live: bool) {
    match config.printer.format {
        Format::Json => config.printer.json(&output::plan_json(plan)),
        Format::Text => {
            config.printer.report(&output::plan_text(plan, live));
            for w in &plan.warnings {
                config.printer.warn(w);
            }
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::new(
                Exit::Unreachable,
                format!("cannot start the network runtime: {e}"),
            )
        })
}

/// Verifies every candidate worth checking and folds the results into the plan.
/// Returns how the registry's endpoint speaks (`None` when it could not be reached).
fn verify_plan(
    config: &Config,
    http: &Arc<Http>,
    rt: &tokio::runtime::Runtime,
    plan: &mut Plan,
) -> Option<Scheme> {
    let indices = plan.to_verify(config.use_kind);
    if indices.is_empty() {
        return None;
    }
    let target = Arc::new(verify::Target {
        registry: plan.registry.clone(),
        repository: plan.repository.clone(),
        intent: plan.intent,
        mode: plan.mode,
        own_project: config
            .vars
            .setting("CI_PROJECT_PATH")
            .ok()
            .flatten()
            .map(str::to_ascii_lowercase),
        api_url: config.api_url.clone(),
        insecure: config.insecure,
    });
    let session = match rt.block_on(verify::connect(http, &target)) {
        Ok(session) => Arc::new(session),
        Err(e) => {
            let mut detail = e.to_string();
            if let Some(hint) = e.hint() {
                detail.push_str(&format!(" ({hint})"));
            }
            let failed = indices
                .into_iter()
                .map(|i| (i, unreachable(&detail)))
                .collect();
            plan.apply_live(failed);
            return None;
        }
    };
    let scheme = session.endpoint.scheme;
    let work = indices
        .into_iter()
        .map(|i| (i, plan.candidates[i].candidate.clone()))
        .collect();
    let results = rt.block_on(verify::verify_all(http.clone(), session, target, work));
    plan.apply_live(results);
    lifetime_warning(config, plan);
    Some(scheme)
}

fn unreachable(detail: &str) -> Verification {
    let mut v = Verification::shared(Vec::new());
    v.outcome = Outcome::Unreachable;
    v.granted = None;
    v.detail = detail.to_string();
    v
}

fn lifetime_warning(config: &Config, plan: &mut Plan) {
    if plan.intent != Intent::Push {
        return;
    }
    let Some(secs) = plan
        .chosen()
        .and_then(|a| a.live.as_ref())
        .and_then(|l| l.lifetime_seconds)
    else {
        return;
    };
    if secs < config.min_token_lifetime.as_secs() {
        plan.warnings.push(format!(
            "registry tokens for this login live {}: pushing a large image can fail with 'unauthorized: authentication required' when the token expires mid-push; an administrator can raise Admin > Settings > CI/CD > Container Registry > Authorization token duration (GitLab.com uses 15 minutes)",
            output::duration(secs)
        ));
    }
}

fn check(config: &Config) -> Result<Exit> {
    let rt = runtime()?;
    let http = Arc::new(
        Http::new(&config.net).map_err(|e| Failure::new(Exit::Unreachable, e.to_string()))?,
    );
    let mut exit = Exit::Success;
    for target in &config.targets {
        let mut plan = build_plan(config, target)?;
        verify_plan(config, &http, &rt, &mut plan);
        print_plan(config, &plan, true);
        if plan.chosen.is_none() {
            exit = exit.worst(plan.failure_exit());
        }
    }
    Ok(exit)
}

fn login(config: &Config) -> Result<Exit> {
    let engine = engines::select(config.engine, &config.paths, &config.engine_policy)
        .map_err(engine_failure)?;
    let rt_http = if config.verify {
        Some((
            runtime()?,
            Arc::new(
                Http::new(&config.net)
                    .map_err(|e| Failure::new(Exit::Unreachable, e.to_string()))?,
            ),
        ))
    } else {
        None
    };
    let mut exit = Exit::Success;
    for target in &config.targets {
        let mut plan = build_plan(config, target)?;
        let scheme = match &rt_http {
            Some((rt, http)) => verify_plan(config, http, rt, &mut plan),
            None => None,
        };
        let outcome = login_one(engine.as_ref(), &plan, scheme);
        if config.printer.format == Format::Json {
            let mut json = output::plan_json(&plan);
            if let Ok(stored) = &outcome {
                json["stored"] =
                    serde_json::json!({"engine": stored.engine, "location": stored.location});
            }
            config.printer.json(&json);
        } else {
            for w in &plan.warnings {
                config.printer.warn(w);
            }
        }
        match outcome {
            Ok(stored) => config.printer.summary(&logged_in_line(&plan, &stored)),
            Err(failure) => {
                config.printer.error(&failure);
                exit = exit.worst(failure.exit);
            }
        }
    }
    Ok(exit)
}

fn login_one(engine: &dyn Engine, plan: &Plan, scheme: Option<Scheme>) -> Result<Stored> {
    let Some(chosen) = plan.chosen() else {
        return Err(nothing_usable(plan));
    };
    let plain_http = match scheme {
        Some(s) => s == Scheme::Http,
        None => plan.registry.explicit_scheme() == Some(Scheme::Http),
    };
    let request = LoginRequest {
        registry: &plan.registry,
        username: &chosen.candidate.username,
        secret: &chosen.candidate.secret,
        plain_http,
    };
    engine.login(&request).map_err(|e| {
        let mut f = engine_failure(e);
        f.message = format!(
            "{} (credential: {} from {})",
            f.message, chosen.candidate.kind, chosen.candidate.source
        );
        f
    })
}

/// The error when no candidate can serve the intent, with each one's reason.
fn nothing_usable(plan: &Plan) -> Failure {
    let mut message = plan.explain();
    if plan.candidates.is_empty() {
        message.push_str(": no credentials found");
        return Failure::new(Exit::NoCredential, message).with_hint(
            "in a GitLab job CI_REGISTRY_USER/CI_REGISTRY_PASSWORD or CI_JOB_TOKEN are set for you; elsewhere set REGISTRY_USER and REGISTRY_PASSWORD (or name the secret's variable with --password-env)",
        );
    }
    for a in &plan.candidates {
        message.push_str(&format!(
            "\n  {} ({}): {}",
            a.candidate.kind, a.candidate.source, a.reason
        ));
    }
    Failure::new(plan.failure_exit(), message)
}

fn logged_in_line(plan: &Plan, stored: &Stored) -> String {
    let mut line = format!("logged in to {}; {}", plan.registry, plan.explain());
    let passed_over: Vec<String> = plan
        .candidates
        .iter()
        .take(plan.chosen.unwrap_or(0))
        .filter(|a| a.live.is_some() && !a.usable)
        .map(|a| {
            format!(
                "{} ({}) was not used: {}",
                a.candidate.kind, a.candidate.source, a.reason
            )
        })
        .collect();
    if !passed_over.is_empty() {
        line.push_str(&format!("; {}", passed_over.join("; ")));
    }
    line.push_str(&format!(
        "; stored by {} in {}",
        stored.engine, stored.location
    ));
    line
}

fn engine_failure(e: EngineError) -> Failure {
    use crate::auth_file::AuthFileError as F;
    let exit = match &e {
        EngineError::Refused { .. } => Exit::Rejected,
        EngineError::Unreachable { .. } => Exit::Unreachable,
        EngineError::File(F::Invalid { .. } | F::NotAnObject { .. } | F::IsDirectory { .. }) => {
            Exit::Usage
        }
        EngineError::Missing { .. } | EngineError::Failed { .. } | EngineError::File(_) => {
            Exit::Engine
        }
    };
    let failure = Failure::new(exit, e.to_string());
    match e {
        EngineError::Missing { .. } => failure.with_hint("install it, choose another with --engine, or use --engine auth-file to write the docker config directly"),
        _ => failure,
    }
}

fn logout(config: &Config) -> Result<Exit> {
    let engine = engines::select(config.engine, &config.paths, &config.engine_policy)
        .map_err(engine_failure)?;
    for target in &config.targets {
        let removed = engine.logout(&target.registry).map_err(engine_failure)?;
        config.printer.summary(&if removed {
            format!(
                "removed the credentials for {} ({})",
                target.registry,
                engine.name()
            )
        } else {
            format!(
                "no credentials for {} were stored ({})",
                target.registry,
                engine.name()
            )
        });
    }
    Ok(Exit::Success)
}

/// docker CLI 28.3 and newer prefer `DOCKER_AUTH_CONFIG` over what a login stores.
fn docker_auth_config_warning(config: &Config, registry: &Registry) -> Option<String> {
    let raw = config.vars.setting("DOCKER_AUTH_CONFIG").ok().flatten()?;
    let json: serde_json::Value = serde_json::from_str(raw).ok()?;
    let shadows = json
        .get("auths")?
        .as_object()?
        .keys()
        .filter_map(|k| Registry::parse(k).ok())
        .any(|k| k.same_as(registry));
    shadows.then(|| {
        format!(
            "DOCKER_AUTH_CONFIG holds an entry for {registry}: docker CLI 28.3 and newer use it ahead of what this login stores, so pushes may use those credentials; unset it for this step (env -u DOCKER_AUTH_CONFIG docker push ...) or point DOCKER_CONFIG at a separate folder"
        )
    })
}
