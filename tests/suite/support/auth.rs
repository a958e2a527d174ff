//! GitLab's registry authorization rules, as pure functions over a [`World`]:
//! credential resolution (`Gitlab::Auth.find_for_git_client`), abilities
//! (`abilities_for_scopes`), scope parsing and per-action grants
//! (`Auth::ContainerRegistryAuthenticationService`). Reference §1.2–1.6.

use super::world::path_within;
use super::world::{AccessToken, DeployToken, Job, Project, Role, Scope, User, Visibility, World};

/// The login a job token must come with (`Gitlab::Auth::CI_JOB_USER`).
pub const CI_JOB_USER: &str = "gitlab-ci-token";

/// The registry-related abilities; the others (`download_code`, ...) never matter here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ability {
    ReadImage,
    CreateImage,
    AdminImage,
    BuildRead,
    BuildCreate,
    BuildDestroy,
}

const FULL: &[Ability] = &[
    Ability::ReadImage,
    Ability::CreateImage,
    Ability::AdminImage,
];
const READ_ONLY: &[Ability] = &[Ability::ReadImage];
const BUILD: &[Ability] = &[
    Ability::BuildRead,
    Ability::BuildCreate,
    Ability::BuildDestroy,
];

/// Who the request authenticated as.
#[derive(Clone, Copy, Debug)]
pub enum Credential<'w> {
    Anonymous,
    Job {
        job: &'w Job,
        user: Option<&'w User>,
    },
    AccessToken {
        token: &'w AccessToken,
        user: &'w User,
    },
    Deploy(&'w DeployToken),
    Password(&'w User),
}

/// Why Basic credentials were refused. All answer 401; old GitLab versions
/// told the last two to use a personal access token instead.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    BadCredentials,
    /// A correct password of a 2FA user (`MissingPersonalAccessTokenError`).
    TwoFactorRequiresToken,
    /// Nothing matched and passwords are off for Git (`password_authentication_enabled_for_git`).
    PasswordAuthDisabled,
}

impl<'w> Credential<'w> {
    /// The `auth_type` claim.
    pub fn auth_type(&self) -> &'static str {
        match self {
            Credential::Anonymous => "none",
            Credential::Job { user: Some(_), .. } => "build",
            Credential::Job { user: None, .. } => "ci",
            Credential::AccessToken { .. } => "personal_access_token",
            Credential::Deploy(_) => "deploy_token",
            Credential::Password(_) => "gitlab_or_ldap",
        }
    }

    /// The acting user, if any (`current_user`).
    pub fn user(&self) -> Option<&'w User> {
        match *self {
            Credential::Job { user, .. } => user,
            Credential::AccessToken { user, .. } | Credential::Password(user) => Some(user),
            Credential::Anonymous | Credential::Deploy(_) => None,
        }
    }

    fn abilities(&self) -> Vec<Ability> {
        match self {
            Credential::Anonymous => READ_ONLY.to_vec(),
            Credential::Job { .. } => BUILD.to_vec(),
            Credential::Password(_) => FULL.to_vec(),
            Credential::AccessToken { token, user } => {
                abilities_for_scopes(&token.scopes, user.is_bot())
            }
            Credential::Deploy(token) => abilities_for_scopes(&token.scopes, false),
        }
    }

    fn has(&self, ability: Ability) -> bool {
        self.abilities().contains(&ability)
    }

    /// `has_registry_ability?`: without one, even a plain login is forbidden.
    pub fn has_registry_ability(&self) -> bool {
        !self.abilities().is_empty()
    }

    /// External authorization (reference 9.4) turns off deploy tokens' and access
    /// tokens' registry access.
    pub fn disabled_by_external_authorization(&self, world: &World) -> bool {
        world.settings.external_authorization
            && matches!(self, Credential::Deploy(_) | Credential::AccessToken { .. })
    }
}

/// Reference 9.2: `read_api` reads the registry with a person's token, and gives a
/// project or group access token (a bot's) nothing.
fn abilities_for_scopes(scopes: &[Scope], bot: bool) -> Vec<Ability> {
    let abilities = |scope: &Scope| -> &'static [Ability] {
        match scope {
            Scope::Api => FULL,
            Scope::ReadApi if bot => &[],
            Scope::ReadApi => READ_ONLY,
            Scope::ReadRegistry => READ_ONLY,
            Scope::WriteRegistry => &[Ability::CreateImage],
            Scope::ReadRepository => &[],
        }
    };
    scopes.iter().flat_map(abilities).copied().collect()
}

/// Resolves Basic credentials in GitLab's order; the first match wins:
/// job token, PAT (any login), deploy token (login must be its username),
/// password (username or email).
pub fn find_for_git_client<'w>(
    world: &'w World,
    login: &str,
    password: &str,
) -> Result<Credential<'w>, Refusal> {
    if let Some(credential) = job_token_check(world, login, password)
        .or_else(|| access_token_check(world, password))
        .or_else(|| deploy_token_check(world, login, password))
    {
        return Ok(credential);
    }
    password_check(world, login, password)
}

fn job_token_check<'w>(world: &'w World, login: &str, password: &str) -> Option<Credential<'w>> {
    if login != CI_JOB_USER {
        return None;
    }
    let job = world
        .jobs
        .iter()
        .find(|j| j.token == password && j.running)?;
    if !world.project(&job.project)?.ci_enabled {
        return None;
    }
    let user = match &job.user {
        Some(name) => Some(world.user(name).filter(|u| !u.blocked)?),
        None => None,
    };
    Some(Credential::Job { job, user })
}

fn access_token_check<'w>(world: &'w World, password: &str) -> Option<Credential<'w>> {
    let token = world
        .access_tokens
        .iter()
        .find(|t| t.token == password && t.active() && !t.scopes.is_empty())?;
    let user = world.user(&token.user).filter(|u| !u.blocked)?;
    Some(Credential::AccessToken { token, user })
}

fn deploy_token_check<'w>(world: &'w World, login: &str, password: &str) -> Option<Credential<'w>> {
    world
        .deploy_tokens
        .iter()
        .find(|t| t.token == password && t.active() && t.username == login)
        .map(Credential::Deploy)
}

fn password_check<'w>(
    world: &'w World,
    login: &str,
    password: &str,
) -> Result<Credential<'w>, Refusal> {
    if !world.settings.password_auth_for_git {
        return Err(Refusal::PasswordAuthDisabled);
    }
    let user = world
        .users
        .iter()
        .find(|u| u.username == login || u.email.eq_ignore_ascii_case(login))
        .filter(|u| !u.blocked && u.password.as_deref() == Some(password))
        .ok_or(Refusal::BadCredentials)?;
    if user.two_factor {
        return Err(Refusal::TwoFactorRequiresToken);
    }
    Ok(Credential::Password(user))
}

/// One entry of the JWT's `access` claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
    /// Project id, root namespace id and downcased path; None for the catalog.
    pub project: Option<(u64, u64, String)>,
}

/// A scope whose actions part is missing (`repository:foo`): GitLab calls
/// `nil.split` and answers 500.
#[derive(Debug)]
pub struct MalformedScope;

/// Parses each requested scope and keeps the granted actions; scopes that
/// grant nothing are dropped, never refused (reference §1.5).
pub fn grant(
    world: &World,
    credential: &Credential,
    scopes: &[String],
) -> Result<Vec<Access>, MalformedScope> {
    let mut granted = grant_ignoring_maintenance(world, credential, scopes)?;
    // Reference 9.4: in maintenance mode everything but pull is silently dropped.
    if world.settings.maintenance_mode {
        for access in &mut granted {
            access.actions.retain(|a| a == "pull");
        }
        granted.retain(|a| !a.actions.is_empty());
    }
    Ok(granted)
}

/// Whether a granted push goes to a namespace over its storage limit (reference 9.4).
/// Only `push` counts: GitLab's EE spec lets a Maintainer have `*` and delete there.
pub fn storage_limit_reached(world: &World, granted: &[Access]) -> bool {
    granted
        .iter()
        .filter(|a| a.actions.iter().any(|x| x == "push"))
        .filter_map(|a| repository_project(world, &a.name))
        .any(|p| p.storage_limit_reached)
}

fn grant_ignoring_maintenance(
    world: &World,
    credential: &Credential,
    scopes: &[String],
) -> Result<Vec<Access>, MalformedScope> {
    let mut granted = Vec::new();
    for scope in scopes {
        let mut parts = scope.splitn(3, ':');
        let (kind, name) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        let actions: Vec<&str> = parts.next().ok_or(MalformedScope)?.split(',').collect();
        let access = match kind {
            "registry" => catalog_access(credential, name, &actions),
            "repository" => repository_access(world, credential, name, &actions),
            _ => None,
        };
        granted.extend(access);
    }
    Ok(granted)
}

fn catalog_access(credential: &Credential, name: &str, actions: &[&str]) -> Option<Access> {
    let admin = credential.user().is_some_and(|u| u.admin);
    (admin && name == "catalog" && actions == ["*"]).then(|| Access {
        kind: "registry".to_string(),
        name: "catalog".to_string(),
        actions: vec!["*".to_string()],
        project: None,
    })
}

fn repository_access(
    world: &World,
    credential: &Credential,
    name: &str,
    actions: &[&str],
) -> Option<Access> {
    let name = name.to_lowercase();
    let project = repository_project(world, &name)?;
    let allowed: Vec<String> = actions
        .iter()
        .filter(|action| can_access(credential, project, action))
        .map(|action| action.to_string())
        .collect();
    (!allowed.is_empty()).then(|| Access {
        kind: "repository".to_string(),
        name,
        actions: allowed,
        project: Some((
            project.id,
            project.root_namespace_id,
            project.path.to_lowercase(),
        )),
    })
}

/// `ContainerRegistry::Path#repository_project`: the path must be a valid
/// repository name of 2+ components; the project is the longest of its
/// 3 longest prefixes that names one.
pub fn repository_project<'w>(world: &'w World, name: &str) -> Option<&'w Project> {
    let components: Vec<&str> = name.split('/').collect();
    if !valid_repository_name(name) || components.len() < 2 {
        return None;
    }
    (2..=components.len())
        .rev()
        .take(3)
        .find_map(|len| world.project(&components[..len].join("/")))
}

/// GitLab's `container_repository_name_regex`:
/// `\A[a-z0-9]+(([._/]|__|-*)[a-z0-9])*\z`, i.e. lower-case alphanumeric runs
/// joined by one of `.`, `_`, `/`, `__` or any number of `-`.
fn valid_repository_name(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut rest = name;
    let mut first = true;
    while !rest.is_empty() {
        let separator_len = rest.find(alnum).unwrap_or(rest.len());
        let separator = &rest[..separator_len];
        let ok = if first {
            separator.is_empty()
        } else {
            matches!(separator, "" | "." | "_" | "/" | "__") || separator.chars().all(|c| c == '-')
        };
        rest = &rest[separator_len..];
        if !ok || rest.is_empty() {
            return false;
        }
        rest = rest.trim_start_matches(alnum);
        first = false;
    }
    !first
}

fn can_access(credential: &Credential, project: &Project, action: &str) -> bool {
    if !project.registry_enabled {
        return false;
    }
    match action {
        "pull" => {
            build_can_pull(credential, project)
                || user_can(credential, project, Ability::ReadImage, Role::Reporter)
                || deploy_token_can(credential, project, Ability::ReadImage)
        }
        "push" => {
            build_can(credential, project, Ability::BuildCreate)
                || user_can(credential, project, Ability::CreateImage, Role::Developer)
                || deploy_token_can(credential, project, Ability::CreateImage)
        }
        "delete" => {
            build_can(credential, project, Ability::BuildDestroy)
                || user_can(credential, project, Ability::AdminImage, Role::Maintainer)
        }
        "*" => user_can(credential, project, Ability::AdminImage, Role::Maintainer),
        _ => false,
    }
}

/// A job pushes and deletes only in its own project; a push also needs the role of the
/// user the job acts as (reference 9.4: a manual job started by a Reporter cannot push).
fn build_can(credential: &Credential, project: &Project, ability: Ability) -> bool {
    match credential {
        Credential::Job { job, user } => {
            let role_allows = ability != Ability::BuildCreate
                || user.is_none_or(|u| policy_allows(Some(u), project, Role::Developer));
            credential.has(ability)
                && project.path.eq_ignore_ascii_case(&job.project)
                && role_allows
        }
        _ => false,
    }
}

/// A job pulls from its own project, and from others where its user may read
/// the images and, for private projects, the target's job-token allowlist
/// admits the job's project (ProjectPolicy's `project_allowed_for_job_token`:
/// public and internal projects are never held back by the allowlist).
fn build_can_pull(credential: &Credential, project: &Project) -> bool {
    let Credential::Job { job, user } = credential else {
        return false;
    };
    if !credential.has(Ability::BuildRead) {
        return false;
    }
    let own = project.path.eq_ignore_ascii_case(&job.project);
    let allowlisted = || {
        project
            .job_token_allowlist
            .iter()
            .any(|entry| path_within(&job.project, entry))
    };
    own || (member_or_open(*user, project, Role::Reporter)
        && (project.visibility != Visibility::Private || allowlisted()))
}

/// The ability from the credential's scopes, and the project policy's role
/// for its user (none for anonymous requests and deploy tokens, which the
/// policy lets read public projects only).
fn user_can(credential: &Credential, project: &Project, ability: Ability, role: Role) -> bool {
    credential.has(ability) && policy_allows(credential.user(), project, role)
}

/// ProjectPolicy: admins may do anything (admin mode is off by default);
/// otherwise see [`member_or_open`].
fn policy_allows(user: Option<&User>, project: &Project, role: Role) -> bool {
    user.is_some_and(|u| u.admin) || member_or_open(user, project, role)
}

/// Reading images is open on public projects, and on internal ones to signed-in
/// users who are not external, unless the registry is private to members;
/// otherwise (and for writing) the member's role counts. Job tokens get only
/// this: an admin's job does not pull private projects it is not a member of
/// (shared examples `'a container registry auth service'`).
fn member_or_open(user: Option<&User>, project: &Project, role: Role) -> bool {
    let reading = role == Role::Reporter && !project.registry_private;
    let open = match project.visibility {
        Visibility::Public => reading,
        Visibility::Internal => reading && user.is_some_and(|u| !u.external),
        Visibility::Private => false,
    };
    open || user.is_some_and(|u| u.role_in(&project.path).is_some_and(|r| r >= role))
}

/// Deploy tokens pull where attached or from public projects, push only where attached.
fn deploy_token_can(credential: &Credential, project: &Project, ability: Ability) -> bool {
    let Credential::Deploy(token) = credential else {
        return false;
    };
    let attached = token
        .projects
        .iter()
        .any(|entry| path_within(&project.path, entry));
    let public_read = ability == Ability::ReadImage
        && project.visibility == Visibility::Public
        && !project.registry_private;
    credential.has(ability) && (attached || public_read)
}

/// `repository_path_push_protected?`: a granted push (or `*`) onto a path that
/// a protection rule guards above the actor's level. Admins bypass it; deploy
/// tokens have no level, so every matching rule stops them.
pub fn push_protected(world: &World, credential: &Credential, granted: &[Access]) -> bool {
    let user = credential.user();
    if user.is_some_and(|u| u.admin) {
        return false;
    }
    granted
        .iter()
        .filter(|a| a.actions.iter().any(|x| x == "push" || x == "*"))
        .filter_map(|a| Some((a, repository_project(world, &a.name)?)))
        .any(|(access, project)| {
            let level = user.and_then(|u| u.role_in(&project.path));
            project.push_protection.iter().any(|rule| {
                glob_match(&rule.path_pattern.to_lowercase(), &access.name)
                    && level.is_none_or(|l| l < rule.min_push_level)
            })
        })
}

/// `*` matches any run of characters; everything else literally.
fn glob_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|&i| rest.is_char_boundary(i))
                .any(|i| glob_match(tail, &rest[i..]))
        }
    }
}

/// Who a dependency-proxy token was issued to (reference 1.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyHolder {
    User(u64),
    DeployToken(u64),
}

/// `Auth::ContainerProxyAuthenticationService` (reference 1.9, 9.7): a token for the
/// dependency proxy, or None for GitLab's 403 `access forbidden`. It needs both read and
/// create container-image abilities (a token with read_registry and write_registry, or
/// api), or a job's build abilities, or a password; project deploy tokens are forbidden
/// and group deploy tokens (with both registry scopes) work. A project access token gets
/// a token here like any user (GitLab's service marks only personal and group access
/// tokens in it, and refuses no bot): it is at the proxy that it cannot pull (9.7,
/// gitlab#332411; see [`reads_group`]).
pub fn dependency_proxy_holder(world: &World, credential: &Credential) -> Option<ProxyHolder> {
    let both = credential.has(Ability::ReadImage) && credential.has(Ability::CreateImage);
    match credential {
        Credential::Anonymous => None,
        Credential::Job { user, .. } => user.map(|u| ProxyHolder::User(u.id)),
        Credential::Password(user) => Some(ProxyHolder::User(user.id)),
        Credential::AccessToken { user, .. } => both.then_some(ProxyHolder::User(user.id)),
        Credential::Deploy(token) => {
            let group_token = token.projects.iter().all(|p| world.project(p).is_none());
            (group_token && both).then_some(ProxyHolder::DeployToken(token.id))
        }
    }
}

/// Whether the holder may read `group`'s dependency proxy (GroupPolicy's
/// `read_dependency_proxy`, as the emulator reads it: an admin, a member of the group,
/// of a group above it or of a project or subgroup in it; a group deploy token of the
/// group or a group above it). A project access token's bot never does (reference 9.7,
/// gitlab#332411), whatever its project membership. Public groups are not modelled.
pub fn reads_group(world: &World, holder: ProxyHolder, group: &str) -> bool {
    match holder {
        ProxyHolder::User(id) => world.users.iter().any(|u| {
            u.id == id
                && !u.blocked
                && !u.username.starts_with("project_")
                && (u.admin
                    || u.memberships.iter().any(|(path, role)| {
                        *role >= Role::Guest
                            && (path_within(path, group) || path_within(group, path))
                    }))
        }),
        ProxyHolder::DeployToken(id) => world
            .deploy_tokens
            .iter()
            .any(|t| t.id == id && t.active() && t.projects.iter().any(|p| path_within(group, p))),
    }
}
