//! `plan`, `check` and `login` for a whole job (issue 14): which credential each
//! registry host gets, the live proof of every image, the table, and one login per host
//! that needs a credential. The job's own registry, dependency proxy and `--registry`
//! keep the ranked candidates of every other call; other hosts get
//! `credentials::for_other_registry`, else an earlier `docker login`, else nothing
//! (anonymous).

use crate::access::Intent;
use crate::config::{Config, Preflight};
use crate::credentials::Candidate;
use crate::engines::{Engine, LoginRequest};
use crate::error::{Exit, Result};
use crate::http::Http;
use crate::images::{Need, Row};
use crate::job::Target;
use crate::names::Registry;
use crate::output::{self, Format};
use crate::proof::{self, HostPlan, HostProof};
use crate::report::Report;

/// The credentials to try per host, in the spec's order of hosts.
pub fn host_plans(config: &Config, pf: &Preflight) -> Result<Vec<HostPlan>> {
    let job = &config.job;
    let mut out = Vec::new();
    for registry in pf.spec.registries() {
        let dependency_proxy = job.is_dependency_proxy(&registry);
        // The call's own registries (the job's, the dependency proxy, `--registry`) keep
        // the ranked candidates, the explicit credential among them.
        let targeted = config.targets.iter().any(|t| t.registry.same_as(&registry));
        let candidates = if job.is_own_registry(&registry) || dependency_proxy || targeted {
            let need = pf.spec.need_on(&registry);
            let intent = if need == Need::Push && !dependency_proxy {
                Intent::Push
            } else {
                Intent::Pull
            };
            // The repository the ranking is judged on: the one the strongest need is for.
            let repository = pf
                .spec
                .on(&registry)
                .find(|t| t.need == need)
                .map(|t| t.image.repository.clone());
            let target = match config
                .targets
                .iter()
                .find(|t| t.registry.same_as(&registry))
            {
                Some(t) => Target {
                    repository: repository.or_else(|| t.repository.clone()),
                    ..t.clone()
                },
                None => Target {
                    keys: vec![registry.host_port()],
                    registry: registry.clone(),
                    repository,
                    dependency_proxy,
                },
            };
            crate::job::refuse_placeholder_registry(job.mode, &target.registry)?;
            let plan = crate::pipeline::offline_plan(config, &target, intent)?;
            plan.to_verify(config.use_kind)
                .into_iter()
                .map(|i| plan.candidates[i].candidate.clone())
                .collect()
        } else {
            let found = crate::credentials::for_other_registry(
                &config.vars,
                &registry,
                &pf.host_credentials,
            )?
            .or_else(|| crate::local::stored_login(&config.vars, &registry));
            found.into_iter().collect()
        };
        out.push(HostPlan {
            registry,
            candidates,
            dependency_proxy,
        });
    }
    Ok(out)
}

/// `plan`: per host, the credential a proof would try first and where it comes from;
/// offline, never a secret.
pub fn plan(config: &Config, pf: &Preflight) -> Result<Exit> {
    let hosts = host_plans(config, pf)?;
    let described: Vec<(String, String, Vec<String>)> = hosts
        .iter()
        .map(|h| {
            let credential = match h.candidates.first() {
                Some(c) => format!("{} from {} (user {})", c.kind, c.origin, c.username),
                None => "anonymous (no credential on offer)".into(),
            };
            let images = pf
                .spec
                .on(&h.registry)
                .map(|t| format!("{} {} ({})", t.need.as_str(), t.image, t.from))
                .collect();
            (h.registry.host_port(), credential, images)
        })
        .collect();
    match config.printer.format {
        Format::Json => {
            let hosts: Vec<serde_json::Value> = described
                .iter()
                .map(|(r, c, i)| serde_json::json!({"registry": r, "credential": c, "images": i}))
                .collect();
            let unresolved: Vec<serde_json::Value> = pf
                .spec
                .unnamed
                .iter()
                .map(|u| serde_json::json!({"from": u.from, "written": u.written, "problem": u.problem}))
                .collect();
            config
                .printer
                .json(&serde_json::json!({"hosts": hosts, "unresolved": unresolved}));
        }
        Format::Text => {
            let mut text = String::new();
            for (registry, credential, images) in &described {
                text.push_str(&format!("{registry}: {credential}\n"));
                for image in images {
                    text.push_str(&format!("  {image}\n"));
                }
            }
            config.printer.report(&text);
            for u in &pf.spec.unnamed {
                config
                    .printer
                    .warn(&format!("{}: {}: {}", u.from, u.written, u.problem));
            }
        }
    }
    Ok(if pf.spec.unnamed.is_empty() {
        Exit::Success
    } else {
        Exit::Usage
    })
}

/// Proves every image and prints the table; returns the proofs for a login.
fn prove_and_print(
    config: &Config,
    pf: &Preflight,
    rt: &tokio::runtime::Runtime,
    http: &Http,
) -> Result<(Exit, Vec<HostProof>, Vec<Row>)> {
    let hosts = host_plans(config, pf)?;
    let project = config.job.project.as_deref();
    let (rows, proofs) = rt.block_on(proof::prove(
        http,
        &pf.spec,
        &hosts,
        config.insecure,
        project,
    ));
    let summary = crate::diagnose::preflight_summary(&rows);
    let exit = crate::diagnose::preflight_exit(&rows);
    match config.printer.format {
        Format::Json => config
            .printer
            .json(&output::preflight_json(&rows, &summary)),
        Format::Text => {
            config.printer.report(&output::preflight_text(&rows));
            for row in rows
                .iter()
                .filter(|r| r.verdict == crate::images::Verdict::Warning)
            {
                config
                    .printer
                    .warn(&format!("{}: {}", row.image, row.detail));
            }
            config.printer.summary(&summary);
        }
    }
    Ok((exit, proofs, rows))
}

pub fn check(
    config: &Config,
    pf: &Preflight,
    rt: &tokio::runtime::Runtime,
    http: &Http,
) -> Result<Exit> {
    Ok(prove_and_print(config, pf, rt, http)?.0)
}

/// What one host's login stores: its credential under the host's keys and, for the
/// repositories another credential serves, each under `KEY/REPOSITORY` (issue 14, item
/// 6).
struct HostLogin {
    registry: Registry,
    candidate: Candidate,
    plain_http: bool,
    repositories: Vec<(String, Candidate)>,
}

/// `login`: proves the job (unless `--no-verify`), and only when everything it needs
/// is there, logs in once per host whose proof used a credential, and once more per
/// repository another credential serves where the engine keys by repository. Anonymous
/// hosts need no login.
pub fn login(
    config: &Config,
    pf: &Preflight,
    engine: &dyn Engine,
    live: Option<(&tokio::runtime::Runtime, &Http)>,
) -> Result<Exit> {
    let (exit, logins, rows) = match live {
        Some((rt, http)) => {
            let (exit, proofs, rows) = prove_and_print(config, pf, rt, http)?;
            let logins: Vec<HostLogin> = proofs
                .into_iter()
                .filter_map(|p| {
                    Some(HostLogin {
                        registry: p.facts.registry,
                        candidate: p.chosen?,
                        plain_http: p.plain_http,
                        repositories: p
                            .by_repository
                            .into_iter()
                            .map(|r| (r.repository, r.chosen))
                            .collect(),
                    })
                })
                .collect();
            (exit, logins, rows)
        }
        None => {
            let logins = host_plans(config, pf)?
                .into_iter()
                .filter_map(|h| {
                    let candidate = h.candidates.into_iter().find(|c| c.problem.is_none())?;
                    let plain_http = h.registry.is_loopback() || config.insecure;
                    Some(HostLogin {
                        registry: h.registry,
                        candidate,
                        plain_http,
                        repositories: Vec::new(),
                    })
                })
                .collect();
            (Exit::Success, logins, Vec::new())
        }
    };
    if exit != Exit::Success {
        return Ok(exit);
    }
    // An engine whose file keys by host only would send the host's credential for
    // every repository: a repository it does not serve is refused now, before anything
    // is stored, rather than in the middle of the build.
    if !engine.repository_keys() {
        let mut refused = false;
        for login in &logins {
            for (repository, candidate) in &login.repositories {
                let need = pf
                    .spec
                    .repositories(&login.registry)
                    .into_iter()
                    .find(|(r, _)| r == repository)
                    .map_or(Need::Pull, |(_, n)| n);
                config.printer.error(&crate::error::Failure::new(
                    Exit::Rejected,
                    crate::diagnose::keyed_by_host_only(
                        engine.name(),
                        &format!("{}/{repository}", login.registry.host_port()),
                        need,
                        &format!("{} from {}", login.candidate.kind, login.candidate.origin),
                        &format!("{} from {}", candidate.kind, candidate.origin),
                    ),
                ));
                refused = true;
            }
        }
        if refused {
            return Ok(Exit::Rejected);
        }
    }
    let mut worst = Exit::Success;
    let mut stored_hosts = Vec::new();
    let mut stored_any = false;
    for login in &logins {
        let host_keys = match config
            .targets
            .iter()
            .find(|t| t.registry.same_as(&login.registry))
        {
            Some(t) => t.keys.clone(),
            None => vec![login.registry.host_port()],
        };
        let mut stores = vec![(host_keys.clone(), &login.candidate)];
        for (repository, candidate) in &login.repositories {
            let keys = host_keys
                .iter()
                .map(|k| format!("{k}/{repository}"))
                .collect();
            stores.push((keys, candidate));
        }
        let mut stored_host = false;
        for (keys, candidate) in stores {
            // A login found in the docker config is stored there already: storing it
            // again would change nothing, and logging out later would remove the
            // user's own.
            if candidate.origin.is_last_resort() {
                continue;
            }
            let request = LoginRequest {
                registry: &login.registry,
                keys: &keys,
                username: &candidate.username,
                secret: &candidate.secret,
                plain_http: login.plain_http,
            };
            match engine.login(&request) {
                Ok(stored) => {
                    for w in &stored.warnings {
                        config.printer.warn(w);
                    }
                    config.printer.summary(&format!(
                        "logged in to {} with {} from {}; stored by {} in {}",
                        keys.join(" and "),
                        candidate.kind,
                        candidate.origin,
                        stored.engine,
                        stored.location
                    ));
                    stored_host = true;
                }
                Err(e) => {
                    let failure = crate::diagnose::engine_failure(e);
                    config.printer.error(&failure);
                    worst = worst.worst(failure.exit);
                }
            }
        }
        if stored_host {
            stored_hosts.push(login.registry.host_port());
            stored_any = true;
        }
    }
    if !stored_any && worst == Exit::Success {
        config
            .printer
            .summary("no registry of this job needs a credential: nothing to log in to");
    }
    if let Some(path) = &config.report {
        let mut report = Report::default();
        report.record_images(&rows, &stored_hosts);
        report
            .write(path)
            .map_err(|e| crate::error::Failure::usage(e.to_string()))?;
    }
    Ok(worst)
}

/// The registries `logout` also clears with image flags: every host but the targets'
/// whose credential a `login` with the same flags would store (none for anonymous
/// hosts, nor for one whose credential is an earlier `docker login`). With an engine
/// that keys by repository, also each `KEY/REPOSITORY` a login may have stored: on a
/// host with several repositories and several credentials.
pub fn logout_targets(
    config: &Config,
    pf: &Preflight,
    repository_keys: bool,
) -> Result<Vec<Target>> {
    let mut out = Vec::new();
    for h in host_plans(config, pf)? {
        let own = config
            .targets
            .iter()
            .find(|t| t.registry.same_as(&h.registry));
        let keys = match own {
            Some(t) => t.keys.clone(),
            None => vec![h.registry.host_port()],
        };
        let stored: Vec<&Candidate> = h
            .candidates
            .iter()
            .filter(|c| c.problem.is_none() && !c.origin.is_last_resort())
            .collect();
        if stored.is_empty() {
            continue;
        }
        let repositories = pf.spec.repositories(&h.registry);
        if repository_keys && h.candidates.len() > 1 && repositories.len() > 1 {
            for (repository, _) in &repositories {
                out.push(Target {
                    keys: keys.iter().map(|k| format!("{k}/{repository}")).collect(),
                    registry: h.registry.clone(),
                    repository: None,
                    dependency_proxy: h.dependency_proxy,
                });
            }
        }
        if own.is_none() {
            out.push(Target {
                keys,
                registry: h.registry,
                repository: None,
                dependency_proxy: h.dependency_proxy,
            });
        }
    }
    Ok(out)
}
