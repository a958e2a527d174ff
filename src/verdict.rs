//! A live check's verdict on one candidate, as data: what `verify` finds, what
//! `selection` ranks by and `report`/`output` show. No network here.

use crate::access::{Action, Intent, Kind};
use crate::job::{Job, Target};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The token service answered with a token; `granted` says what it allows.
    Granted,
    /// The credential was accepted, but the registry does not say what it allows
    /// (Basic auth, an open registry, or no `--repository` to ask about).
    Accepted,
    /// Refused: bad credentials, forbidden, a redirect, or too little scope per the API.
    Rejected,
    /// The registry or token service could not be reached or made no sense.
    Unreachable,
}

#[derive(Debug, Clone)]
pub struct Verification {
    pub outcome: Outcome,
    pub granted: Option<Vec<Action>>,
    pub lifetime_seconds: Option<u64>,
    /// Unix time the registry token expires.
    pub expires_at: Option<u64>,
    pub auth_type: Option<String>,
    /// Scopes the GitLab API reported for an access token.
    pub token_scopes: Option<Vec<String>>,
    /// The access token's own expiry date, per the API.
    pub token_expires: Option<String>,
    /// The verdict in words: what happened and what to do.
    pub detail: String,
    /// What the user should know beyond the verdict (a token service that sent
    /// strings that are no registry action).
    pub warnings: Vec<String>,
    /// What GitLab's API says a secret without a prefix is.
    pub kind: Option<Kind>,
    /// Facts about the credential learnt on the way (what kind of token it is, how its
    /// scopes were read), for the candidate's notes.
    pub notes: Vec<String>,
}

impl Verification {
    pub fn new(outcome: Outcome, detail: impl Into<String>) -> Verification {
        Verification {
            outcome,
            granted: None,
            lifetime_seconds: None,
            expires_at: None,
            auth_type: None,
            token_scopes: None,
            token_expires: None,
            detail: detail.into(),
            warnings: Vec::new(),
            kind: None,
            notes: Vec::new(),
        }
    }

    /// The registry or token service could not be reached: the error, and what to do.
    pub fn unreachable(error: impl std::fmt::Display, hint: Option<String>) -> Verification {
        let detail = match hint {
            Some(hint) => format!("{error} ({hint})"),
            None => error.to_string(),
        };
        Verification::new(Outcome::Unreachable, detail)
    }

    /// The result of a candidate that carries the same credential as a verified one.
    pub fn shared(granted: Vec<Action>) -> Verification {
        Verification {
            granted: Some(granted),
            ..Verification::new(Outcome::Granted, "same credential as a verified candidate")
        }
    }
}

/// What every verification needs to know: whose job, which registry and repository,
/// what for, and where an access token may be introspected.
#[derive(Debug, Clone, Copy)]
pub struct Check<'a> {
    pub job: &'a Job,
    pub target: &'a Target,
    pub intent: Intent,
    /// GitLab's API (`CI_API_V4_URL` or `--gitlab-url`), when a token may go there.
    pub api_url: Option<&'a str>,
    pub insecure: bool,
}
