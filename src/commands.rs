//! The commands: each turns the configuration into a plan, maybe verifies it, maybe
//! logs in, and reports. Everything here is orchestration; the work is in the modules.

use crate::access::Intent;
use crate::cli::{Command, HelperAction};
use crate::config::Config;
use crate::diagnose::{engine_failure, nothing_usable};
use crate::engines::{self, Engine, LoginRequest, Started, Stored};
use crate::error::{Exit, Failure, Result};
use crate::gitlab_log;
use crate::helper;
use crate::http::Http;
use crate::isolation::{self, IsolationError};
use crate::job::Target;
use crate::known_realm;
use crate::mode::Mode;
use crate::names::Scheme;
use crate::output::{self, Format};
use crate::pipeline;
use crate::report::Report;
use crate::selection::{Assessed, Plan};
use crate::verify::{self, Verification};
use std::sync::Arc;

pub fn run(config: &Config) -> Result<Exit> {
    // docker shows a helper's stderr on every call: the protocol answers stay quiet.
    let protocol =
        matches!(config.command, Command::Helper { action } if action != HelperAction::Install);
    if !protocol {
        for w in &config.warnings {
            config.printer.warn(w);
        }
    }
    match config.command {
        Command::Plan => plan(config),
        Command::Check => check(config),
        Command::Login => login(config),
        Command::Logout => logout(config),
        Command::Helper { action } => {
            if action == HelperAction::Install {
                prepare_isolation(config)?;
            }
            let exit = helper::run(config, action)?;
            if action == HelperAction::Install {
                announce_isolation(config, exit)?;
            }
            Ok(exit)
        }
    }
}

/// The offline plan for one target, with what the user should know about it.
fn build_plan(config: &Config, target: &Target) -> Result<Plan> {
    crate::job::refuse_placeholder_registry(config.job.mode, &target.registry)?;
    // The dependency proxy serves pulls only, whatever the job does elsewhere.
    let intent = if target.dependency_proxy {
        Intent::Pull
    } else {
        config.intent
    };
    let mut plan = pipeline::offline_plan(config, target, intent)?;
    plan.warnings
        .extend(crate::diagnose::job_token_expiry_warning(
            &plan,
            unix_now(),
            config.min_token_lifetime.as_secs(),
        ));
    plan.warnings.extend(crate::diagnose::target_warnings(
        &config.job,
        target,
        live_proxy_probe(config),
    ));
    // A local run looks for an earlier docker login in the docker config: one that is no
    // file to read (issue 11: a FIFO hung the run) is skipped, and said so.
    if config.job.mode.is_local()
        && let Some(file) = &config.paths.docker_config_file
        && let Err(e @ crate::auth_file::AuthFileError::Refused { .. }) =
            crate::auth_file::read(file)
    {
        plan.warnings
            .push(format!("{e}; earlier docker logins in it are not used"));
    }
    Ok(plan)
}

/// The image the live check pulls through the dependency proxy: only a command that
/// checks live requests it.
fn live_proxy_probe(config: &Config) -> Option<&crate::proxy_probe::ProbeImage> {
    let live = match config.command {
        Command::Check => true,
        Command::Login => config.verify,
        _ => false,
    };
    config.proxy_probe.as_ref().filter(|_| live)
}

fn plan(config: &Config) -> Result<Exit> {
    if let Some(pf) = &config.preflight {
        return crate::preflight::plan(config, pf);
    }
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
    // The plan is updated as each candidate is judged; the check reads its own copy.
    let target = plan.target.clone();
    let check = verify::Check {
        job: &config.job,
        target: &target,
        intent: plan.intent,
        api_url: config
            .api
            .as_ref()
            // The dependency proxy is served by the job's GitLab itself.
            .filter(|api| {
                api.named_by_flag
                    || config.job.is_own_registry(&plan.target.registry)
                    || config.job.is_dependency_proxy(&plan.target.registry)
            })
            .map(|api| api.url.as_str()),
        insecure: config.insecure,
    };
    // The job's own registry: its token service is known, so the first candidate asks
    // it at once, alongside the ping (issue 15).
    let first = &plan.candidates[indices[0]].candidate;
    let guess = known_realm::guess(&config.job, &plan.target.registry, first, config.insecure);
    let (session, mut early) = rt.block_on(verify::connect_with_early_token(
        http,
        &check,
        guess.as_ref().map(|g| (g, first)),
    ));
    let session = match session {
        Ok(session) => session,
        Err(e) => {
            let failed = indices
                .into_iter()
                .map(|i| (i, Verification::unreachable(&e, e.hint())))
                .collect();
            plan.apply_live(failed);
            return None;
        }
    };
    let scheme = session.endpoint.scheme;
    // One at a time, in rank order: the first that serves the job ends the search, so
    // no lower-ranked secret is ever sent on speculation (issue 11, finding 3).
    for i in indices {
        let candidate = &plan.candidates[i].candidate;
        let mut result = rt.block_on(verify::verify_with(
            http,
            &session,
            &check,
            candidate,
            early.take(),
        ));
        // The dependency proxy accepting a login proves no pull: one manifest does.
        if let (true, verify::Outcome::Accepted, Some(image)) = (
            target.dependency_proxy,
            result.outcome,
            live_proxy_probe(config),
        ) {
            let outcome = rt.block_on(crate::proxy_probe::probe(
                http,
                &session.endpoint,
                &session.auth,
                image,
                &candidate.username,
                &candidate.secret,
            ));
            result = crate::diagnose::proxy_probe_verdict(result, image, outcome);
        }
        plan.apply_live(vec![(i, result)]);
        if plan.candidates[i].usable {
            break;
        }
    }
    lifetime_warning(config, plan);
    if config.warn_expiry_days > 0 {
        plan.warnings
            .extend(crate::diagnose::credential_expiry_warning(
                plan,
                unix_now(),
                config.warn_expiry_days,
            ));
    }
    Some(scheme)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
            crate::text::duration(secs)
        ));
    }
}

fn check(config: &Config) -> Result<Exit> {
    let rt = runtime()?;
    let http = Arc::new(
        Http::new(&config.net).map_err(|e| Failure::new(Exit::Unreachable, e.to_string()))?,
    );
    if let Some(pf) = &config.preflight {
        return crate::preflight::check(config, pf, &rt, &http);
    }
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
    prepare_isolation(config)?;
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
    if let Some(pf) = &config.preflight {
        let live = rt_http.as_ref().map(|(rt, http)| (rt, http.as_ref()));
        let exit = crate::preflight::login(config, pf, engine.as_ref(), live)?;
        announce_isolation(config, exit)?;
        return Ok(exit);
    }
    let mut exit = Exit::Success;
    let mut report = Report::default();
    for target in &config.targets {
        // In a GitLab job the detail folds away; the summary line stays outside.
        let details = gitlab_log::Section::open(
            &config.vars,
            config.printer.format == Format::Text && !config.printer.quiet,
            &gitlab_log::section_name("ci_registry_login", &target.registry),
            &format!("ci-registry-login: credentials for {}", target.registry),
        );
        let mut plan = build_plan(config, target)?;
        // The engine's tool starts now, so its start-up overlaps the live check; it is
        // used only if the check keeps the offline choice. For the job's own registry,
        // with a credential its GitLab issued (the realm is known, and it is that
        // GitLab's), docker is given the secret at once and logs in alongside the
        // check; what it stores is put back unless the check keeps it. Elsewhere it
        // waits for the secret until the check has named the realm.
        let started = match (&rt_http, plan.chosen()) {
            (Some(_), Some(chosen)) => {
                let request = login_request(target, &plan, chosen, None, config.insecure);
                let known = known_realm::guess(
                    &config.job,
                    &target.registry,
                    &chosen.candidate,
                    config.insecure,
                );
                known
                    .and_then(|_| engine.start_fed(&request))
                    .or_else(|| engine.start(&request))
            }
            _ => None,
        };
        let scheme = match &rt_http {
            Some((rt, http)) => verify_plan(config, http, rt, &mut plan),
            None => None,
        };
        let outcome = login_one(
            engine.as_ref(),
            target,
            &plan,
            scheme,
            config.insecure,
            started,
        );
        details.detail(&output::plan_text(&plan, config.verify));
        drop(details);
        report.record(&plan, outcome.is_ok());
        if config.printer.format == Format::Json {
            let mut json = output::plan_json(&plan);
            if let Ok(stored) = &outcome {
                json["stored"] = serde_json::json!({"engine": stored.engine, "location": stored.location, "keys": target.keys});
            }
            if let Some(folder) = &config.isolation {
                json["docker_config"] = serde_json::json!(folder.display().to_string());
            }
            config.printer.json(&json);
        } else {
            for w in &plan.warnings {
                config.printer.warn(w);
            }
        }
        match outcome {
            Ok(stored) => {
                for w in &stored.warnings {
                    config.printer.warn(w);
                }
                config
                    .printer
                    .summary(&logged_in_line(&plan, target, &stored));
            }
            Err(failure) => {
                config.printer.error(&failure);
                exit = exit.worst(failure.exit);
            }
        }
    }
    if let Some(path) = &config.report {
        report
            .write(path)
            .map_err(|e| Failure::usage(e.to_string()))?;
    }
    announce_isolation(config, exit)?;
    Ok(exit)
}

fn login_one(
    engine: &dyn Engine,
    target: &Target,
    plan: &Plan,
    scheme: Option<Scheme>,
    insecure: bool,
    started: Option<Started>,
) -> Result<Stored> {
    let Some(chosen) = plan.chosen() else {
        return Err(nothing_usable(plan));
    };
    let request = login_request(target, plan, chosen, scheme, insecure);
    engine.login_started(&request, started).map_err(|e| {
        let mut f = engine_failure(e);
        f.message = format!(
            "{} (credential: {} from {})",
            f.message, chosen.candidate.kind, chosen.candidate.origin
        );
        f
    })
}

/// What the engine stores for the chosen candidate; `scheme` is what the live check
/// found, if it ran.
fn login_request<'a>(
    target: &'a Target,
    plan: &'a Plan,
    chosen: &'a Assessed,
    scheme: Option<Scheme>,
    insecure: bool,
) -> LoginRequest<'a> {
    // Unchecked, a loopback or --insecure registry may speak plain HTTP: tools that
    // never fall back to it by themselves (podman...) are told they may.
    let plain_http = match (scheme, plan.target.registry.explicit_scheme()) {
        (Some(s), _) | (None, Some(s)) => s == Scheme::Http,
        (None, None) => plan.target.registry.is_loopback() || insecure,
    };
    LoginRequest {
        registry: &plan.target.registry,
        keys: &target.keys,
        username: &chosen.candidate.username,
        secret: &chosen.candidate.secret,
        plain_http,
    }
}

fn logged_in_line(plan: &Plan, target: &Target, stored: &Stored) -> String {
    let mut line = format!(
        "logged in to {}; {}",
        target.keys.join(" and "),
        plan.explain()
    );
    let passed_over: Vec<String> = plan
        .candidates
        .iter()
        .take(plan.chosen.unwrap_or(0))
        .filter(|a| a.live.is_some() && !a.usable)
        .map(|a| {
            format!(
                "{} ({}) was not used: {}",
                a.candidate.kind,
                a.candidate.origin,
                a.reason()
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
    if plan.mode != Mode::GitLabCi {
        line.push_str(&format!("; run detected as {}", plan.mode.describe()));
    }
    line
}

/// Creates the isolated job folder before anything is stored in it.
fn prepare_isolation(config: &Config) -> Result<()> {
    match &config.isolation {
        Some(folder) => isolation::prepare(folder).map_err(isolation_failure),
        None => Ok(()),
    }
}

/// Tells the job how to use the isolated folder: `export` lines on stdout for `eval`
/// (text output only; JSON carries `docker_config`), and the `--env-file-out` file.
/// `eval "$(...)"` succeeds whatever the command substitution's status: after a failure
/// the lines end with `(exit N)`, so the `eval` fails as the command did.
fn announce_isolation(config: &Config, exit: Exit) -> Result<()> {
    let Some(folder) = &config.isolation else {
        return Ok(());
    };
    if config.printer.format == Format::Text {
        let mut lines = isolation::export_lines(folder);
        if exit != Exit::Success {
            lines.push_str(&format!("(exit {})\n", exit.code()));
        }
        config.printer.report(&lines);
    }
    if let Some(file) = &config.env_file_out {
        isolation::write_env_file(file, folder).map_err(isolation_failure)?;
    }
    Ok(())
}

fn isolation_failure(e: IsolationError) -> Failure {
    let exit = match e {
        IsolationError::Io(_) => Exit::Engine,
        _ => Exit::Usage,
    };
    Failure::new(exit, e.to_string())
}

fn logout(config: &Config) -> Result<Exit> {
    let json = config.printer.format == Format::Json;
    // The job's folder holds every registry's credentials: removing it logs out of all.
    if let Some(folder) = &config.isolation {
        let removed = isolation::remove(folder).map_err(isolation_failure)?;
        config.printer.summary(&if removed {
            format!("removed the job's credentials folder {}", folder.display())
        } else {
            format!("no credentials folder {} to remove", folder.display())
        });
        if json {
            config.printer.json(&serde_json::json!({"logout": {
                "folder": folder.display().to_string(), "removed": removed,
            }}));
        }
        return Ok(Exit::Success);
    }
    let engine = engines::select(config.engine, &config.paths, &config.engine_policy)
        .map_err(engine_failure)?;
    let mut done = Vec::new();
    let mut targets = config.targets.clone();
    if let Some(pf) = &config.preflight {
        targets.extend(crate::preflight::logout_targets(
            config,
            pf,
            engine.repository_keys(),
        )?);
    }
    for target in &targets {
        let removed = engine.logout(&target.keys).map_err(engine_failure)?;
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
        done.push(serde_json::json!({
            "registry": target.registry.host_port(),
            "keys": target.keys,
            "engine": engine.name(),
            "removed": removed,
        }));
    }
    if json {
        config.printer.json(&serde_json::json!({ "logout": done }));
    }
    Ok(Exit::Success)
}
