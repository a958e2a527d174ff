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

    /// Registry scopes implied by an access token's GitLab scopes, per the holder
    /// (reference 9.2): `api` carries registry read and write for every token; `read_api`
    /// carries registry read for a person's token and nothing for a project or group
    /// access token (a bot's). With the holder unknown, `read_api` is left to the live
    /// check: see [`Holder::Unknown`].
    pub fn from_token_scopes<S: AsRef<str>>(scopes: &[S], holder: Holder) -> Vec<Scope> {
        let has = |s: &str| scopes.iter().any(|x| x.as_ref() == s);
        let read_api = has("read_api") && !holder.is_bot();
        let mut out = Vec::new();
        if has("read_registry") || read_api || has("api") {
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

/// Whose access token it is: GitLab gives `read_api` different registry meanings for a
/// person's token and a project or group access token (a bot user's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    Person,
    /// A project access token: its user is `project_<id>_bot...`.
    ProjectBot,
    /// A group access token: its user is `group_<id>_bot...`.
    GroupBot,
    Unknown,
}

impl Holder {
    /// The holder a GitLab user name reveals.
    pub fn of_username(username: &str) -> Holder {
        let bot_of = |kind: &str| {
            username.strip_prefix(kind).is_some_and(|rest| {
                let digits = rest.chars().take_while(char::is_ascii_digit).count();
                digits > 0 && rest[digits..].starts_with("_bot")
            })
        };
        if bot_of("project_") {
            Holder::ProjectBot
        } else if bot_of("group_") {
            Holder::GroupBot
        } else {
            Holder::Person
        }
    }

    /// A project or group access token.
    pub fn is_bot(self) -> bool {
        matches!(self, Holder::ProjectBot | Holder::GroupBot)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Holder::Person => "a personal access token",
            Holder::ProjectBot => "a project access token",
            Holder::GroupBot => "a group access token",
            Holder::Unknown => "an access token",
        }
    }
}

/// The kinds of credential, in the order they are preferred: least privilege and
/// shortest life first. Everything else about a kind is its row in [`KINDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    RegistryUser,
    JobToken,
    DeployToken,
    AccessToken,
    Password,
    /// A secret with no GitLab token prefix: an access token with a custom prefix, or a
    /// password. GitLab's API, or the registry, says which (reference section 9.1).
    Unknown,
}

/// What the product knows about one kind of credential: one row each, in rank order
/// (a new kind is a new row here, plus the source that finds it).
pub struct KindRow {
    pub kind: Kind,
    /// The `--use` value and the name in every message.
    pub name: &'static str,
    /// `--use`'s help for this value.
    pub help: &'static str,
    /// Why this kind ranks where it does, for the one-line explanation.
    pub merit: &'static str,
    /// The user name GitLab expects when none is given (`None`: one must be given).
    pub default_user: Option<&'static str>,
    /// GitLab's type prefix of such a secret (reference section 9.1), for telling an
    /// explicit secret's kind.
    pub prefix: Option<&'static str>,
    /// Issued for one job and dead when it ends: CI_REGISTRY_PASSWORD or CI_JOB_TOKEN.
    pub job_scoped: bool,
    /// A value of `--use`.
    pub by_use: bool,
}

/// The user GitLab requires with a job token.
pub const JOB_TOKEN_USER: &str = "gitlab-ci-token";
/// GitLab accepts any user name with an access token; this one says what it is.
pub const ACCESS_TOKEN_USER: &str = "gitlab-token";

pub const KINDS: [KindRow; 6] = [
    KindRow {
        kind: Kind::RegistryUser,
        name: "registry-user",
        help: "CI_REGISTRY_USER and CI_REGISTRY_PASSWORD (the job's own registry login)",
        merit: "dies with the job",
        default_user: Some(JOB_TOKEN_USER),
        prefix: None,
        job_scoped: true,
        by_use: true,
    },
    KindRow {
        kind: Kind::JobToken,
        name: "job-token",
        help: "CI_JOB_TOKEN with the user gitlab-ci-token",
        merit: "dies with the job",
        default_user: Some(JOB_TOKEN_USER),
        prefix: Some("glcbt-"),
        job_scoped: true,
        by_use: true,
    },
    KindRow {
        kind: Kind::DeployToken,
        name: "deploy-token",
        help: "a deploy token (CI_DEPLOY_USER and CI_DEPLOY_PASSWORD, or gldt- in --password-env)",
        merit: "registry-only, not tied to a person",
        default_user: None,
        prefix: Some("gldt-"),
        job_scoped: false,
        by_use: true,
    },
    KindRow {
        kind: Kind::AccessToken,
        name: "access-token",
        help: "a personal, project or group access token (glpat-)",
        merit: "long-lived, scoped token",
        default_user: Some(ACCESS_TOKEN_USER),
        prefix: Some("glpat-"),
        job_scoped: false,
        by_use: true,
    },
    KindRow {
        kind: Kind::Password,
        name: "password",
        help: "a user name and password",
        merit: "full rights and long-lived; last resort",
        default_user: None,
        prefix: None,
        job_scoped: false,
        by_use: true,
    },
    KindRow {
        kind: Kind::Unknown,
        name: "unknown",
        help: "a secret with no GitLab token prefix",
        merit: "unknown kind: an access token or a password",
        default_user: None,
        prefix: None,
        job_scoped: false,
        by_use: false,
    },
];

/// GitLab token prefixes of secrets that never log in to a registry, and what they are
/// (GitLab's token prefix list; reference section 9.1 names the runner's).
pub const NOT_REGISTRY_CREDENTIALS: [(&str, &str); 4] = [
    ("glrt-", "a runner authentication token"),
    ("glptt-", "a pipeline trigger token"),
    ("glft-", "a feed token"),
    ("glagent-", "a GitLab agent for Kubernetes token"),
];

/// Whether `secret` carries `prefix` at its start or after an instance prefix
/// (`acme-glpat-...`): `(^|-)prefix`.
fn has_type_prefix(secret: &str, prefix: &str) -> bool {
    secret.starts_with(prefix) || secret.contains(&format!("-{prefix}"))
}

/// What a secret is when its prefix says it can never log in to a registry.
pub fn never_a_registry_credential(secret: &str) -> Option<&'static str> {
    NOT_REGISTRY_CREDENTIALS
        .iter()
        .find(|(prefix, _)| has_type_prefix(secret, prefix))
        .map(|(_, what)| *what)
}

impl Kind {
    pub const ALL: [Kind; KINDS.len()] = {
        let mut all = [Kind::Password; KINDS.len()];
        let mut i = 0;
        while i < KINDS.len() {
            all[i] = KINDS[i].kind;
            i += 1;
        }
        all
    };

    /// The kinds `--use` takes, in rank order.
    pub const BY_USE: [Kind; by_use_count()] = {
        let mut out = [Kind::Password; by_use_count()];
        let (mut i, mut n) = (0, 0);
        while i < KINDS.len() {
            if KINDS[i].by_use {
                out[n] = KINDS[i].kind;
                n += 1;
            }
            i += 1;
        }
        out
    };

    pub fn row(self) -> &'static KindRow {
        &KINDS[self as usize]
    }

    pub fn as_str(self) -> &'static str {
        self.row().name
    }

    /// Why this kind ranks where it does, for the one-line explanation.
    pub fn merit(self) -> &'static str {
        self.row().merit
    }

    /// The kind a secret's GitLab type prefix names, at the start or after an instance
    /// prefix (`acme-glpat-...`); `None` when it carries none.
    pub fn of_prefix(secret: &str) -> Option<Kind> {
        KINDS.iter().find_map(|row| {
            let prefix = row.prefix?;
            has_type_prefix(secret, prefix).then_some(row.kind)
        })
    }
}

const fn by_use_count() -> usize {
    let (mut i, mut n) = (0, 0);
    while i < KINDS.len() {
        if KINDS[i].by_use {
            n += 1;
        }
        i += 1;
    }
    n
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
        use Holder::*;
        let rw = vec![Scope::ReadRegistry, Scope::WriteRegistry];
        for holder in [Person, ProjectBot, GroupBot, Unknown] {
            assert_eq!(Scope::from_token_scopes(&["api"], holder), rw);
            assert_eq!(
                Scope::from_token_scopes(&["write_registry"], holder),
                vec![Scope::WriteRegistry]
            );
            assert!(Scope::from_token_scopes(&["read_repository"], holder).is_empty());
        }
        // Reference 9.2: read_api is registry read for a person, nothing for a bot.
        assert_eq!(
            Scope::from_token_scopes(&["read_api"], Person),
            vec![Scope::ReadRegistry]
        );
        assert!(Scope::from_token_scopes(&["read_api"], ProjectBot).is_empty());
        assert!(Scope::from_token_scopes(&["read_api"], GroupBot).is_empty());
    }

    #[test]
    fn bot_users_are_told_by_their_names() {
        assert_eq!(
            Holder::of_username("project_10_bot_4f2a9c"),
            Holder::ProjectBot
        );
        assert_eq!(Holder::of_username("group_7_bot"), Holder::GroupBot);
        assert_eq!(Holder::of_username("project_bot"), Holder::Person);
        assert_eq!(Holder::of_username("alice"), Holder::Person);
        assert_eq!(Holder::of_username("project_10_robot"), Holder::Person);
    }

    #[test]
    fn the_kind_table_is_in_rank_order() {
        for (i, row) in KINDS.iter().enumerate() {
            assert_eq!(row.kind as usize, i, "{} is out of place", row.name);
            assert_eq!(Kind::ALL[i], row.kind);
        }
        assert_eq!(Kind::of_prefix("glpat-abc"), Some(Kind::AccessToken));
        assert_eq!(Kind::of_prefix("acme-glpat-abc"), Some(Kind::AccessToken));
        assert_eq!(Kind::of_prefix("gldt-abc"), Some(Kind::DeployToken));
        assert_eq!(Kind::of_prefix("glcbt-abc"), Some(Kind::JobToken));
        assert_eq!(Kind::of_prefix("hunter2"), None);
        assert_eq!(Kind::of_prefix("xglpat-abc"), None);
        assert_eq!(Kind::of_prefix("acme-glcbt-abc"), Some(Kind::JobToken));
        assert!(!Kind::BY_USE.contains(&Kind::Unknown));
        assert_eq!(Kind::BY_USE.len(), KINDS.len() - 1);
        assert_eq!(
            never_a_registry_credential("glrt-abc"),
            Some("a runner authentication token")
        );
        assert_eq!(
            never_a_registry_credential("acme-glrt-abc"),
            Some("a runner authentication token")
        );
        assert_eq!(never_a_registry_credential("glrtr-abc"), None);
        assert_eq!(never_a_registry_credential("glpat-abc"), None);
    }

    #[test]
    fn kinds_round_trip_in_rank_order() {
        for k in Kind::ALL {
            assert_eq!(k.as_str().parse::<Kind>().unwrap(), k);
        }
        assert!(Kind::RegistryUser < Kind::Password);
    }
}
