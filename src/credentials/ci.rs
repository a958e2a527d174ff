//! The job's own credentials, from GitLab's predefined variables: the registry login,
//! the job token, a deploy token, and the dependency proxy's login.

use super::{
    Candidate, Context, Origin, Serves, Source, empty_problem, job_binding, read_pair, secret_from,
    unsendable,
};
use crate::access::{JOB_TOKEN_USER, Kind, Scope};
use crate::mode::Mode;
use crate::names::Registry;
use crate::vars::VarError;

pub const REGISTRY_USER: Source = Source {
    name: "registry-user",
    serves: Serves::Registry,
    secret_variables: &["CI_REGISTRY_PASSWORD"],
    job_secrets: true,
    find: |cx| Ok(registry_user(cx)?.into_iter().collect()),
};

pub const JOB_TOKEN: Source = Source {
    name: "job-token",
    serves: Serves::Registry,
    // CI_BUILD_TOKEN: the job token's old name, still set by runners.
    secret_variables: &["CI_JOB_TOKEN", "CI_BUILD_TOKEN"],
    job_secrets: true,
    find: |cx| Ok(job_token(cx)?.into_iter().collect()),
};

pub const DEPLOY_TOKEN: Source = Source {
    name: "deploy-token",
    serves: Serves::Registry,
    secret_variables: &["CI_DEPLOY_PASSWORD"],
    job_secrets: true,
    find: |cx| Ok(deploy_token(cx)?.into_iter().collect()),
};

pub const DEPENDENCY_PROXY: Source = Source {
    name: "dependency-proxy",
    serves: Serves::DependencyProxy,
    secret_variables: &["CI_DEPENDENCY_PROXY_PASSWORD"],
    job_secrets: true,
    find: |cx| Ok(dependency_proxy(cx)?.into_iter().collect()),
};

fn ci_registry_problem(ci_registry: Option<&Registry>) -> Option<String> {
    ci_registry
        .is_none()
        .then(|| "CI_REGISTRY is not set (the instance's registry is disabled?)".to_string())
}

/// Documented job-token scopes for the target repository, with a note when it is
/// another project's.
pub(super) fn job_token_scopes(
    cx: &Context,
    write: bool,
    notes: &mut Vec<String>,
) -> Result<Option<Vec<Scope>>, VarError> {
    if cx.job.mode == Mode::LocalEmulation {
        notes.push("local CI emulation: job token semantics are not assumed".into());
        return Ok(None);
    }
    match cx.target.repository.as_ref().and_then(|r| cx.job.owns(r)) {
        Some(false) => {
            notes.push(
                "the repository is not the job's own project: a job token pulls there only when that project's CI/CD job token allowlist admits this one, and never pushes".into(),
            );
            Ok(Some(vec![Scope::ReadRegistry]))
        }
        _ if write => Ok(Some(vec![Scope::ReadRegistry, Scope::WriteRegistry])),
        _ => Ok(Some(vec![Scope::ReadRegistry])),
    }
}

fn registry_user(cx: &Context) -> Result<Option<Candidate>, VarError> {
    let ci_registry = cx.job.registry.as_ref();
    let Some(mut pair) = read_pair(cx.vars, "CI_REGISTRY_USER", "CI_REGISTRY_PASSWORD")? else {
        return Ok(None);
    };
    pair.problem = pair.problem.or_else(|| ci_registry_problem(ci_registry));
    let user = pair.user;
    let scopes = if user == JOB_TOKEN_USER {
        job_token_scopes(cx, true, &mut pair.notes)?
    } else {
        // In a real job CI_REGISTRY_USER is always gitlab-ci-token; anything else was set
        // by a person (under local emulation the values are arbitrary).
        if pair.problem.is_none() && cx.job.mode == Mode::GitLabCi {
            let job_token = cx.vars.get("CI_JOB_TOKEN")?;
            if job_token == Some(pair.secret.expose()) {
                pair.problem = Some(format!(
                    "CI_REGISTRY_USER is '{user}', but CI_REGISTRY_PASSWORD is the job token, which GitLab accepts only with the user {JOB_TOKEN_USER}: a project or group variable probably overrides CI_REGISTRY_USER; remove it"
                ));
            } else {
                pair.notes.push(format!(
                    "CI_REGISTRY_USER is '{user}', not {JOB_TOKEN_USER}: the predefined registry variables look overridden by project or group variables"
                ));
            }
        }
        None
    };
    Ok(Some(pair.into_candidate(
        Kind::RegistryUser,
        job_binding(cx.job),
        scopes,
    )))
}

fn job_token(cx: &Context) -> Result<Option<Candidate>, VarError> {
    let ci_registry = cx.job.registry.as_ref();
    let mut notes = Vec::new();
    let Some(secret) = secret_from(cx.vars, "CI_JOB_TOKEN", &mut notes)? else {
        return Ok(None);
    };
    let problem = if secret.is_empty() {
        Some(empty_problem(cx.vars, "CI_JOB_TOKEN"))
    } else {
        unsendable(JOB_TOKEN_USER, JOB_TOKEN_USER, "CI_JOB_TOKEN", &secret)
            .or_else(|| ci_registry_problem(ci_registry))
    };
    Ok(Some(Candidate {
        kind: Kind::JobToken,
        origin: Origin::Variable("CI_JOB_TOKEN".into()),
        username: JOB_TOKEN_USER.into(),
        scopes: job_token_scopes(cx, false, &mut notes)?,
        secret,
        binding: job_binding(cx.job),
        problem,
        notes,
    }))
}

fn deploy_token(cx: &Context) -> Result<Option<Candidate>, VarError> {
    let ci_registry = cx.job.registry.as_ref();
    let Some(mut pair) = read_pair(cx.vars, "CI_DEPLOY_USER", "CI_DEPLOY_PASSWORD")? else {
        return Ok(None);
    };
    pair.problem = pair.problem.or_else(|| ci_registry_problem(ci_registry));
    Ok(Some(pair.into_candidate(
        Kind::DeployToken,
        job_binding(cx.job),
        None,
    )))
}

/// `CI_DEPENDENCY_PROXY_USER`/`_PASSWORD` (the job token), when the target is the
/// dependency proxy's server. It pulls through the proxy for the groups the job's user
/// can read; the proxy serves pulls only.
fn dependency_proxy(cx: &Context) -> Result<Option<Candidate>, VarError> {
    let vars = cx.vars;
    if !cx.job.is_dependency_proxy(&cx.target.registry) {
        return Ok(None);
    }
    let pair = read_pair(
        vars,
        "CI_DEPENDENCY_PROXY_USER",
        "CI_DEPENDENCY_PROXY_PASSWORD",
    )?;
    let binding = job_binding(cx.job);
    Ok(pair.map(|p| p.into_candidate(Kind::JobToken, binding, Some(vec![Scope::ReadRegistry]))))
}
