//! The credential the user names: `--username` (or `REGISTRY_USER`) and the variable
//! `--password-env` names (`REGISTRY_PASSWORD` by default); its kind comes from the
//! secret's GitLab prefix.

use super::{
    Binding, Candidate, Context, Origin, Serves, Source, empty_problem, is_job_secret, job_binding,
    secret_from, unsendable,
};
use crate::access::{JOB_TOKEN_USER, Kind, Scope, never_a_registry_credential};
use crate::secret::Secret;
use crate::vars::VarError;

pub const EXPLICIT: Source = Source {
    name: "explicit",
    serves: Serves::Any,
    // `--password-env`'s variable is added at run time.
    secret_variables: &["REGISTRY_PASSWORD"],
    job_secrets: false,
    find: |cx| Ok(explicit(cx)?.into_iter().collect()),
};

/// The explicit credential: `--username` (or its variable) and the variable named by
/// `--password-env`.
#[derive(Debug, Clone)]
pub struct Explicit {
    /// `--username`, when given.
    pub username: Option<String>,
    /// The variable holding the user name when `--username` is not given.
    pub username_var: String,
    /// The variable holding the secret (`--password-env`).
    pub password_var: String,
    /// Whether `--password-env` was given on the command line (an unset variable is
    /// then worth a complaint; the default one is simply not on offer).
    pub password_var_explicit: bool,
    /// Where the credential may go: `--password-for`; `None` for the registry being
    /// served, when the call serves exactly one (an empty binding when it serves several
    /// and none was named).
    pub binding: Option<Binding>,
    /// `--use`: what the user says a secret without a GitLab prefix is.
    pub named_kind: Option<Kind>,
}

impl Default for Explicit {
    fn default() -> Self {
        Explicit {
            username: None,
            username_var: "REGISTRY_USER".into(),
            password_var: "REGISTRY_PASSWORD".into(),
            password_var_explicit: false,
            binding: None,
            named_kind: None,
        }
    }
}

/// The kind of a secret, from GitLab's token prefixes (the kind table's); without one it
/// is unknown: an access token with a custom prefix, or a password (reference 9.1).
pub fn kind_of_secret(secret: &Secret) -> Kind {
    Kind::of_prefix(secret.expose()).unwrap_or(Kind::Unknown)
}

fn explicit(cx: &Context) -> Result<Option<Candidate>, VarError> {
    let spec = cx.explicit;
    let vars = cx.vars;
    let tied = spec.binding.clone().unwrap_or_else(|| {
        Binding::to(
            vec![cx.target.registry.clone()],
            "the one registry of this call",
        )
    });
    let (user, user_source) = match &spec.username {
        Some(u) => (Some(u.as_str()), "--username".to_string()),
        None => (vars.get(&spec.username_var)?, spec.username_var.clone()),
    };
    let mut notes = Vec::new();
    let secret = secret_from(vars, &spec.password_var, &mut notes)?;
    let origin = Origin::Variable(spec.password_var.clone());
    let Some(secret) = secret else {
        if spec.password_var_explicit || user.is_some_and(|u| !u.is_empty()) {
            return Ok(Some(Candidate {
                kind: Kind::Password,
                origin,
                username: user.unwrap_or_default().to_string(),
                secret: Secret::new(""),
                binding: tied,
                scopes: None,
                problem: Some(match user.filter(|u| !u.is_empty()) {
                    Some(_) => format!(
                        "{} is not set (a user name came from {user_source}, but no secret)",
                        spec.password_var
                    ),
                    None => format!("{} is not set", spec.password_var),
                }),
                notes,
            }));
        }
        return Ok(None);
    };
    // A secret without a prefix is what the user said it is, when they said.
    let kind = match (kind_of_secret(&secret), spec.named_kind) {
        (Kind::Unknown, Some(named)) => named,
        (kind, _) => kind,
    };
    let user = user.filter(|u| !u.is_empty());
    let (username, problem) = match (kind, user, kind.row().default_user) {
        (_, Some(u), _) => (u.to_string(), None),
        (_, None, Some(default)) => (default.to_string(), None),
        (Kind::DeployToken, None, _) => (
            String::new(),
            Some(format!(
                "{} is a deploy token, which needs its own user name (gitlab+deploy-token-N): set {} or --username",
                spec.password_var, spec.username_var
            )),
        ),
        (Kind::Unknown, None, _) => (
            String::new(),
            Some(format!(
                "{} has no GitLab token prefix (glpat-, gldt-, glcbt-) and no user name came with it: set {} or --username (a password needs its user; an access token takes any), or say --use access-token",
                spec.password_var, spec.username_var
            )),
        ),
        (_, None, _) => (
            String::new(),
            Some(format!(
                "{} holds a password, which needs a user name: set {} or --username",
                spec.password_var, spec.username_var
            )),
        ),
    };
    let problem = problem.or_else(|| {
        never_a_registry_credential(secret.expose()).map(|what| {
            format!(
                "{} holds {what}, which never logs in to a registry: use a job token, a deploy token or an access token with read_registry",
                spec.password_var
            )
        })
    });
    let problem = problem.or_else(|| {
        if secret.is_empty() {
            Some(empty_problem(vars, &spec.password_var))
        } else {
            unsendable(&user_source, &username, &spec.password_var, &secret)
        }
    });
    let scopes = match kind {
        Kind::Password => {
            notes.push("a password never works for a user with two-factor authentication".into());
            Some(vec![Scope::ReadRegistry, Scope::WriteRegistry])
        }
        Kind::JobToken => super::ci::job_token_scopes(cx, false, &mut notes)?,
        Kind::Unknown => {
            notes.push(
                "no GitLab token prefix: an access token with a custom prefix, or a password; GitLab's API (when known) or the registry says which".into(),
            );
            None
        }
        _ => None,
    };
    if kind == Kind::JobToken && username != JOB_TOKEN_USER {
        notes.push(format!(
            "a job token works only with the user {JOB_TOKEN_USER}"
        ));
    }
    // The job's own secret through another variable is still the job's: it goes where
    // the job's credentials go, whatever registry the call names (issue 11, finding 11).
    let binding = if is_job_secret(cx, &secret)? {
        job_binding(cx.job)
    } else {
        tied
    };
    let problem = problem.or_else(|| {
        binding.registries.is_empty().then(|| {
            format!(
                "{} is tied to no registry: with several registries in one call, name the ones it is for with --password-for REGISTRY",
                spec.password_var
            )
        })
    });
    Ok(Some(Candidate {
        kind,
        origin,
        username,
        secret,
        binding,
        scopes,
        problem,
        notes,
    }))
}
