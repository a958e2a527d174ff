//! GitLab's database as plain data: projects, users, tokens, jobs and settings.
//!
//! Tests start from [`World::standard`] and tweak the public fields before
//! handing the world to the emulator (or edit it live with `GitLab::edit_world`).

use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// The issuer the emulator signs with and the registry is configured to trust.
pub const ISSUER: &str = "gitlab-issuer";

// Secrets of the standard world. Each is long and unique (none is a substring
// of another) so a test can grep a program's output for any of them.
pub const ALICE_PASSWORD: &str = "alice-password";
pub const BOB_PASSWORD: &str = "bob-password";
pub const RITA_PASSWORD: &str = "rita-password-Vn3Qd8Lk";
pub const ALICE_PAT_RW: &str = "glpat-alice-rw-Zq8Xv3Lp7Tn2Wk5Hd9Jc";
pub const ALICE_PAT_RO: &str = "glpat-alice-ro-Mf4Rb6Ns1Yg8Pe2Ux7Ka";
pub const ALICE_PAT_API: &str = "glpat-alice-api-Ht5Wc9Lq2Dz6Bv3Nj8Rs";
pub const ALICE_PAT_REPO: &str = "glpat-alice-repo-Gk7Tp1Xm4Sw9Fh2Cy6Qe";
pub const ALICE_PAT_REVOKED: &str = "glpat-alice-revoked-Lb3Vd8Jn5Rq1Mt7Wz4Ph";
pub const ALICE_PAT_EXPIRED: &str = "glpat-alice-expired-Yc6Ks2Fg9Nx4Hb1Tr8Dm";
pub const APP_BOT_TOKEN: &str = "glpat-app-bot-Qw2Er7Ty4Ui9Op3As6Df";
pub const DEPLOY_RW_TOKEN: &str = "gldt-deploy-rw-Pn8Bq3Xv6Lk1Zr9Hc4Wt";
pub const DEPLOY_RO_TOKEN: &str = "gldt-deploy-ro-Jd5Sm2Gy7Fp4Kv9Qx1Nb";
pub const DEPLOY_REPO_TOKEN: &str = "gldt-deploy-repo-Tz9Ch4Rw1Ld6Mn3Vb8Ks";
pub const JOB_APP_TOKEN: &str = "glcbt-64_app-running-Xr4Kq9Wm2Hp7Nc5Vd1Zs";
pub const JOB_APP_FINISHED_TOKEN: &str = "glcbt-64_app-finished-Bf6Ty3Lj8Qs2Gw5Mk9Pc";
pub const JOB_OTHER_TOKEN: &str = "glcbt-64_other-running-Vh1Nd7Ks4Rz9Fx2Jq6Wb";

/// The standard deploy tokens' usernames (GitLab's default `gitlab+deploy-token-<id>`).
pub const DEPLOY_RW_USER: &str = "gitlab+deploy-token-7";
pub const DEPLOY_RO_USER: &str = "gitlab+deploy-token-8";
pub const DEPLOY_REPO_USER: &str = "gitlab+deploy-token-9";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    Private,
    /// Readable by every signed-in user who is not external.
    Internal,
    Public,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Internal => "internal",
            Visibility::Public => "public",
        }
    }
}

/// A member's role; the order is GitLab's access levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Sees the project but none of its images (shared examples `'private project'`).
    Guest,
    Reporter,
    Developer,
    Maintainer,
    Owner,
    /// Only a protection rule's minimum level: no member holds it, only
    /// instance admins pass it (reference §9.3).
    Admin,
}

/// Token scopes, named as GitLab spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Api,
    /// Registry read for a person's token, nothing for a bot's (reference 9.2).
    ReadApi,
    ReadRepository,
    ReadRegistry,
    WriteRegistry,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Api => "api",
            Scope::ReadApi => "read_api",
            Scope::ReadRepository => "read_repository",
            Scope::ReadRegistry => "read_registry",
            Scope::WriteRegistry => "write_registry",
        }
    }
}

/// A calendar day, enough for token expiry ("expires today" counts as expired).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    days_since_epoch: i64,
}

impl Date {
    pub fn today() -> Date {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        Date {
            days_since_epoch: (secs / 86_400) as i64,
        }
    }

    pub fn days_from_today(days: i64) -> Date {
        Date {
            days_since_epoch: Date::today().days_since_epoch + days,
        }
    }

    /// Year, month, day (Howard Hinnant's `civil_from_days`).
    fn ymd(self) -> (i64, u32, u32) {
        let z = self.days_since_epoch + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        (year, month, day)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = self.ymd();
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}

/// A container-registry protection rule: pushes to matching repository paths
/// need at least `min_push_level`.
#[derive(Clone, Debug)]
pub struct PushProtection {
    /// Full repository path, `*` matching any run of characters.
    pub path_pattern: String,
    pub min_push_level: Role,
}

/// A protected container tag rule (GA 17.11, reference 9.3): pushes of tags matching
/// the RE2 `pattern` need at least `min_push_level`.
#[derive(Clone, Debug)]
pub struct TagProtection {
    pub pattern: String,
    pub min_push_level: Role,
}

#[derive(Clone, Debug)]
pub struct Project {
    /// Full path as GitLab stores it; may contain upper case.
    pub path: String,
    pub id: u64,
    pub root_namespace_id: u64,
    pub visibility: Visibility,
    pub registry_enabled: bool,
    /// `container_registry_access_level` = private: only members read the
    /// images, whatever the project's visibility (reference §1.6).
    pub registry_private: bool,
    /// CI/CD on; a job token of a project without it is refused.
    pub ci_enabled: bool,
    /// Source projects (or groups, as a path prefix) whose job tokens may reach this project.
    pub job_token_allowlist: Vec<String>,
    pub push_protection: Vec<PushProtection>,
    /// The namespace is over its storage limit (EE, reference 9.4): pushes are denied.
    pub storage_limit_reached: bool,
    /// Protected container tags (reference 9.3).
    pub tag_protection: Vec<TagProtection>,
    /// Immutable tag patterns (RE2; reference 9.3).
    pub immutable_tags: Vec<String>,
}

impl Project {
    pub fn new(path: &str, id: u64, root_namespace_id: u64, visibility: Visibility) -> Project {
        Project {
            path: path.to_string(),
            id,
            root_namespace_id,
            visibility,
            registry_enabled: true,
            registry_private: false,
            ci_enabled: true,
            job_token_allowlist: Vec::new(),
            push_protection: Vec::new(),
            storage_limit_reached: false,
            tag_protection: Vec::new(),
            immutable_tags: Vec::new(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct User {
    pub id: u64,
    pub username: String,
    pub email: String,
    /// None for bot users, who cannot sign in with a password.
    pub password: Option<String>,
    pub two_factor: bool,
    pub blocked: bool,
    pub admin: bool,
    /// External users see no internal projects.
    pub external: bool,
    /// Project path -> role.
    pub memberships: BTreeMap<String, Role>,
}

impl User {
    /// A project or group access token's user (`project_<id>_bot...`, `group_<id>_bot...`).
    pub fn is_bot(&self) -> bool {
        ["project_", "group_"].iter().any(|kind| {
            self.username.strip_prefix(kind).is_some_and(|rest| {
                let digits = rest.chars().take_while(char::is_ascii_digit).count();
                digits > 0 && rest[digits..].starts_with("_bot")
            })
        })
    }
}

impl User {
    pub fn new(id: u64, username: &str, password: Option<&str>) -> User {
        User {
            id,
            username: username.to_string(),
            email: format!("{username}@example.com"),
            password: password.map(str::to_string),
            two_factor: false,
            blocked: false,
            admin: false,
            external: false,
            memberships: BTreeMap::new(),
        }
    }

    pub fn member_of(mut self, project: &str, role: Role) -> User {
        self.memberships.insert(project.to_string(), role);
        self
    }

    pub fn role_in(&self, project: &str) -> Option<Role> {
        self.memberships
            .iter()
            .find(|(path, _)| path.eq_ignore_ascii_case(project))
            .map(|(_, role)| *role)
    }
}

/// A personal, project or group access token (the latter two belong to bot users).
#[derive(Clone, Debug)]
pub struct AccessToken {
    pub id: u64,
    pub name: String,
    pub token: String,
    pub user: String,
    pub scopes: Vec<Scope>,
    pub revoked: bool,
    pub expires_at: Option<Date>,
    pub created_at: Date,
    pub description: Option<String>,
    /// A fine-grained token (GA 19.2, reference 9.1): `/personal_access_tokens/self`
    /// answers `granular_scopes` instead of `scopes`; `scopes` stays its effective
    /// registry rights.
    pub fine_grained: bool,
}

impl AccessToken {
    pub fn new(id: u64, name: &str, token: &str, user: &str, scopes: &[Scope]) -> AccessToken {
        AccessToken {
            id,
            name: name.to_string(),
            token: token.to_string(),
            user: user.to_string(),
            scopes: scopes.to_vec(),
            revoked: false,
            expires_at: Some(Date::days_from_today(30)),
            created_at: Date::days_from_today(-10),
            description: None,
            fine_grained: false,
        }
    }

    /// Not revoked and not expired; a token expiring today is expired.
    pub fn active(&self) -> bool {
        !self.revoked && self.expires_at.is_none_or(|day| day > Date::today())
    }

    pub fn expired(&self) -> bool {
        self.expires_at.is_some_and(|day| day <= Date::today())
    }
}

#[derive(Clone, Debug)]
pub struct DeployToken {
    pub id: u64,
    /// `gitlab-deploy-token` makes a job see it as `CI_DEPLOY_USER`/`CI_DEPLOY_PASSWORD`.
    pub name: String,
    pub username: String,
    pub token: String,
    pub scopes: Vec<Scope>,
    /// Projects (or groups, as a path prefix) the token is attached to.
    pub projects: Vec<String>,
    pub revoked: bool,
    pub expires_at: Option<Date>,
}

impl DeployToken {
    pub fn active(&self) -> bool {
        !self.revoked && self.expires_at.is_none_or(|day| day > Date::today())
    }
}

#[derive(Clone, Debug)]
pub struct Job {
    pub id: u64,
    pub token: String,
    pub project: String,
    /// The user the job acts as; None for legacy jobs without one.
    pub user: Option<String>,
    pub running: bool,
    pub name: String,
}

#[derive(Clone, Debug)]
pub struct Settings {
    /// `container_registry_token_expire_delay`, minutes.
    pub token_lifetime_minutes: u64,
    pub issuer: String,
    /// The instance-wide registry; off gives 404 UNAVAILABLE and no `CI_REGISTRY`.
    pub registry_enabled: bool,
    pub password_auth_for_git: bool,
    /// Answer bad credentials with the pre-2023 `HTTP Basic: Access denied` text.
    pub legacy_401_message: bool,
    /// Ban an IP after this many failed Basic logins (off by default, as on self-managed).
    pub ip_ban_after_failures: Option<u32>,
    /// The instance URL used in help links; the emulator's own URL when None.
    pub external_url: Option<String>,
    /// Maintenance mode (EE, reference 9.4): every action but pull is silently not granted.
    pub maintenance_mode: bool,
    /// External authorization (EE, reference 9.4): deploy tokens and access tokens lose
    /// their registry abilities.
    pub external_authorization: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            token_lifetime_minutes: 5,
            issuer: ISSUER.to_string(),
            registry_enabled: true,
            password_auth_for_git: true,
            legacy_401_message: false,
            ip_ban_after_failures: None,
            external_url: None,
            maintenance_mode: false,
            external_authorization: false,
        }
    }
}

impl Settings {
    /// GitLab.com: 15-minute registry tokens and the Rack::Attack ban after 10 failures.
    pub fn gitlab_com() -> Settings {
        Settings {
            token_lifetime_minutes: 15,
            ip_ban_after_failures: Some(10),
            ..Settings::default()
        }
    }
}

#[derive(Clone, Debug)]
pub struct World {
    pub projects: Vec<Project>,
    pub users: Vec<User>,
    pub access_tokens: Vec<AccessToken>,
    pub deploy_tokens: Vec<DeployToken>,
    pub jobs: Vec<Job>,
    pub settings: Settings,
    /// What Docker Hub holds, as `image:tag` (`alpine:3.20`; `library/` is implied),
    /// for the dependency proxy to serve (reference 1.9).
    pub upstream_images: Vec<String>,
}

impl World {
    /// The fixture most tests start from:
    /// - projects `group/app` (private, id 10), `group/other` (private, id 11),
    ///   `public/base` (public, id 20); no allowlists;
    /// - users `alice` (Developer on group/app, Reporter on group/other), `bob`
    ///   (2FA, Developer on group/app), `rita` (Reporter on group/app), and the
    ///   bot of group/app's project access token (Developer);
    /// - alice's PATs: rw, ro, api, read_repository only, revoked, expired;
    ///   group/app's project access token (read+write registry);
    /// - deploy tokens on group/app: rw, ro, read_repository only;
    /// - jobs: running on group/app (as alice), finished on group/app, running on group/other;
    /// - upstream (Docker Hub) images for the dependency proxy: alpine:3.20, busybox:1.36.
    pub fn standard() -> World {
        use Role::*;
        use Scope::*;
        let bot = "project_10_bot_4f2a9c";
        let users = vec![
            User::new(101, "alice", Some(ALICE_PASSWORD))
                .member_of("group/app", Developer)
                .member_of("group/other", Reporter),
            User {
                two_factor: true,
                ..User::new(102, "bob", Some(BOB_PASSWORD)).member_of("group/app", Developer)
            },
            User::new(103, "rita", Some(RITA_PASSWORD)).member_of("group/app", Reporter),
            User::new(104, bot, None).member_of("group/app", Developer),
        ];
        let pat = AccessToken::new;
        let access_tokens = vec![
            pat(
                1,
                "alice-rw",
                ALICE_PAT_RW,
                "alice",
                &[ReadRegistry, WriteRegistry],
            ),
            pat(2, "alice-ro", ALICE_PAT_RO, "alice", &[ReadRegistry]),
            pat(3, "alice-api", ALICE_PAT_API, "alice", &[Api]),
            pat(4, "alice-repo", ALICE_PAT_REPO, "alice", &[ReadRepository]),
            AccessToken {
                revoked: true,
                ..pat(
                    5,
                    "alice-revoked",
                    ALICE_PAT_REVOKED,
                    "alice",
                    &[ReadRegistry, WriteRegistry],
                )
            },
            AccessToken {
                expires_at: Some(Date::days_from_today(-1)),
                ..pat(
                    6,
                    "alice-expired",
                    ALICE_PAT_EXPIRED,
                    "alice",
                    &[ReadRegistry, WriteRegistry],
                )
            },
            pat(
                7,
                "app-bot",
                APP_BOT_TOKEN,
                bot,
                &[ReadRegistry, WriteRegistry],
            ),
        ];
        let deploy = |id, name: &str, username: &str, token: &str, scopes: &[Scope]| DeployToken {
            id,
            name: name.to_string(),
            username: username.to_string(),
            token: token.to_string(),
            scopes: scopes.to_vec(),
            projects: vec!["group/app".to_string()],
            revoked: false,
            expires_at: None,
        };
        let deploy_tokens = vec![
            deploy(
                7,
                "deploy-rw",
                DEPLOY_RW_USER,
                DEPLOY_RW_TOKEN,
                &[ReadRegistry, WriteRegistry],
            ),
            deploy(
                8,
                "deploy-ro",
                DEPLOY_RO_USER,
                DEPLOY_RO_TOKEN,
                &[ReadRegistry],
            ),
            deploy(
                9,
                "deploy-repo",
                DEPLOY_REPO_USER,
                DEPLOY_REPO_TOKEN,
                &[ReadRepository],
            ),
        ];
        let job = |id, token: &str, project: &str, running| Job {
            id,
            token: token.to_string(),
            project: project.to_string(),
            user: Some("alice".to_string()),
            running,
            name: "build".to_string(),
        };
        World {
            projects: vec![
                Project::new("group/app", 10, 2, Visibility::Private),
                Project::new("group/other", 11, 2, Visibility::Private),
                Project::new("public/base", 20, 3, Visibility::Public),
            ],
            users,
            access_tokens,
            deploy_tokens,
            jobs: vec![
                job(9001, JOB_APP_TOKEN, "group/app", true),
                job(9002, JOB_APP_FINISHED_TOKEN, "group/app", false),
                job(9003, JOB_OTHER_TOKEN, "group/other", true),
            ],
            settings: Settings::default(),
            upstream_images: vec!["alpine:3.20".into(), "busybox:1.36".into()],
        }
    }

    /// The project with this full path, case-insensitively (GitLab's `where_full_path_in`).
    pub fn project(&self, path: &str) -> Option<&Project> {
        self.projects
            .iter()
            .find(|p| p.path.eq_ignore_ascii_case(path))
    }

    pub fn project_mut(&mut self, path: &str) -> &mut Project {
        self.projects
            .iter_mut()
            .find(|p| p.path.eq_ignore_ascii_case(path))
            .unwrap_or_else(|| panic!("no project {path}"))
    }

    pub fn user(&self, username: &str) -> Option<&User> {
        self.users.iter().find(|u| u.username == username)
    }

    pub fn user_mut(&mut self, username: &str) -> &mut User {
        self.users
            .iter_mut()
            .find(|u| u.username == username)
            .unwrap_or_else(|| panic!("no user {username}"))
    }

    pub fn running_job(&self, project: &str) -> &Job {
        self.jobs
            .iter()
            .find(|j| j.running && j.project.eq_ignore_ascii_case(project))
            .unwrap_or_else(|| panic!("no running job on {project}"))
    }

    pub fn access_token(&self, name: &str) -> &AccessToken {
        self.access_tokens
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no access token named {name}"))
    }

    pub fn access_token_mut(&mut self, name: &str) -> &mut AccessToken {
        self.access_tokens
            .iter_mut()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no access token named {name}"))
    }

    pub fn deploy_token_mut(&mut self, name: &str) -> &mut DeployToken {
        self.deploy_tokens
            .iter_mut()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no deploy token named {name}"))
    }

    /// Every password and token in the world, for "never printed" assertions.
    pub fn secrets(&self) -> Vec<String> {
        let passwords = self.users.iter().filter_map(|u| u.password.clone());
        let access = self.access_tokens.iter().map(|t| t.token.clone());
        let deploy = self.deploy_tokens.iter().map(|t| t.token.clone());
        let jobs = self.jobs.iter().map(|j| j.token.clone());
        passwords.chain(access).chain(deploy).chain(jobs).collect()
    }
}

/// Whether `path` is `entry` or lies inside it, entry being a project or a group path.
pub fn path_within(path: &str, entry: &str) -> bool {
    let (path, entry) = (path.to_ascii_lowercase(), entry.to_ascii_lowercase());
    path == entry || path.starts_with(&format!("{entry}/"))
}
