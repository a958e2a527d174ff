//! The vocabulary of access: what a job wants (intent), what a token may carry
//! (GitLab scopes), what the registry grants (actions), and the kinds of credential.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Pull,
    Push,
}

impl Intent {
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Pull => "pull",
            Intent::Push => "push",
        }
    }

    /// Registry actions the intent needs; docker asks for `push,pull` when pushing.
    pub fn actions(self) -> &'static [Action] {
        match self {
            Intent::Pull => &[Action::Pull],
            Intent::Push => &[Action::Pull, Action::Push],
        }
    }

    /// The registry token scope string, e.g. `repository:group/app:pull,push`.
    pub fn scope_for(self, repository: &str) -> String {
        let actions: Vec<&str> = self.actions().iter().map(|a| a.as_str()).collect();
        format!("repository:{repository}:{}", actions.join(","))
    }
}

/// A registry action as it appears in a JWT's `access[].actions`: a closed set. The
/// strings come from whatever token service answered, and they end up in the dotenv
/// report that later jobs read as variables: anything else is dropped, never carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Pull,
    Push,
    Delete,
    /// `*`: everything.
    All,
}

impl Action {
    /// The action a grant names; `None` for anything outside the set.
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "pull" => Some(Action::Pull),
            "push" => Some(Action::Push),
            "delete" => Some(Action::Delete),
            "*" => Some(Action::All),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
            Action::All => "*",
        }
    }

    /// The GitLab token scope that grants this action.
    pub fn scope(&self) -> Option<Scope> {
        match self {
            Action::Pull => Some(Scope::ReadRegistry),
            Action::Push => Some(Scope::WriteRegistry),
            _ => None,
        }
    }
}

/// Whether `granted` covers every action in `needed` (`*` covers all).
pub fn covers(granted: &[Action], needed: &[Action]) -> bool {
    granted.contains(&Action::All) || needed.iter().all(|n| granted.contains(n))
}

/// Actions from `needed` that `granted` lacks.
pub fn missing(granted: &[Action], needed: &[Action]) -> Vec<Action> {
    if granted.contains(&Action::All) {
        return Vec::new();
    }
    needed
        .iter()
        .filter(|n| !granted.contains(n))
        .cloned()
        .collect()
}

pub fn join_actions(actions: &[Action]) -> String {
    if actions.is_empty() {
        return "nothing".into();
    }
    actions
        .iter()
        .map(Action::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// GitLab token scopes that matter for the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    ReadRegistry,
    WriteRegistry,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ReadRegistry => "read_registry",
            Scope::WriteRegistry => "write_registry",
        }
    }

    /// Registry scopes implied by an access token's GitLab scopes (`api` and
    /// `read_api` carry registry abilities too).
    pub fn from_token_scopes<S: AsRef<str>>(scopes: &[S]) -> Vec<Scope> {
        let has = |s: &str| scopes.iter().any(|x| x.as_ref() == s);
        let mut out = Vec::new();
        if has("read_registry") || has("read_api") || has("api") {
            out.push(Scope::ReadRegistry);
        }
        if has("write_registry") || has("api") {
            out.push(Scope::WriteRegistry);
        }
        out
    }

    /// Scopes the intent needs: pull needs read_registry, push needs both.
    pub fn needed(intent: Intent) -> Vec<Scope> {
        intent.actions().iter().filter_map(Action::scope).collect()
    }
}

/// The kinds of credential, in the order they are preferred: least privilege and
/// shortest life first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    RegistryUser,
    JobToken,
    DeployToken,
    AccessToken,
    Password,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::RegistryUser,
        Kind::JobToken,
        Kind::DeployToken,
        Kind::AccessToken,
        Kind::Password,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::RegistryUser => "registry-user",
            Kind::JobToken => "job-token",
            Kind::DeployToken => "deploy-token",
            Kind::AccessToken => "access-token",
            Kind::Password => "password",
        }
    }

    /// Why this kind ranks where it does, for the one-line explanation.
    pub fn merit(self) -> &'static str {
        match self {
            Kind::RegistryUser | Kind::JobToken => "dies with the job",
            Kind::DeployToken => "registry-only, not tied to a person",
            Kind::AccessToken => "long-lived, scoped token",
            Kind::Password => "full rights and long-lived; last resort",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Kind, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown credential kind '{s}'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_needs_both_actions_and_star_covers_all() {
        let push = Intent::Push.actions();
        assert!(!covers(&[Action::Pull], push));
        assert_eq!(missing(&[Action::Pull], push), vec![Action::Push]);
        assert!(covers(&[Action::Push, Action::Pull], push));
        assert!(covers(&[Action::All], push));
        assert_eq!(Intent::Push.scope_for("g/a"), "repository:g/a:pull,push");
    }

    #[test]
    fn token_scopes_map_to_registry_scopes() {
        assert_eq!(
            Scope::from_token_scopes(&["api"]),
            vec![Scope::ReadRegistry, Scope::WriteRegistry]
        );
        assert_eq!(
            Scope::from_token_scopes(&["read_api"]),
            vec![Scope::ReadRegistry]
        );
        assert_eq!(
            Scope::from_token_scopes(&["write_registry"]),
            vec![Scope::WriteRegistry]
        );
        assert!(Scope::from_token_scopes(&["read_repository"]).is_empty());
    }

    #[test]
    fn kinds_round_trip_in_rank_order() {
        for k in Kind::ALL {
            assert_eq!(k.as_str().parse::<Kind>().unwrap(), k);
        }
        assert!(Kind::RegistryUser < Kind::Password);
    }
}
