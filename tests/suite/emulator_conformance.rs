//! The emulator held against GitLab's own specification of `/jwt/auth`.
//!
//! GitLab specifies `Auth::ContainerRegistryAuthenticationService` in
//! `spec/services/auth/container_registry_authentication_service_spec.rb` (CE), the shared
//! examples and context it includes
//! (`spec/support/shared_examples/services/container_registry_auth_service_shared_examples.rb`,
//! "the shared suite" below) and `ee/spec/services/ee/auth/container_registry_authentication_service_spec.rb`
//! (EE), read in their newest stored versions (late 2026, with protected tags, immutable tags
//! and granular tokens). Facts only: each row restates one of their cases in this project's
//! terms (credential, the actor's roles, project visibility and registry access, requested
//! scopes, expected status and granted actions) and names the case it comes from.
//!
//! The spec drives the service directly with a user or job and an explicit list of
//! abilities; here every row goes through HTTP (`GET /jwt/auth` with Basic credentials), so
//! each case is mapped to the credential that carries those abilities: a user's full
//! abilities are a password and an `api` token (every user row runs with both), a job's are
//! its job token, a deploy token's are its scopes.
//!
//! Counted at the level of a case (one context or table row with one expected outcome; the
//! side-effect examples inside a case, such as "creates a container repository record" or
//! "logs an auth warning", are not observable over HTTP and not emulated):
//!
//! | source | cases | rows here | left out |
//! |---|---|---|---|
//! | shared suite (runs in the CE spec and twice more in the EE spec) | 183 | 152 | 31 |
//! | CE spec, its own cases (granular tokens) | 9 | 4 | 5 |
//! | EE spec, its own cases | 56 | 10 | 46 |
//! | all | 248 | 166 | 82 |
//!
//! Matched with a stated adaptation (the row says how):
//! - 3 `'delete authorized as maintainer'` cases give the service only `admin_container_image`;
//!   no credential carries that alone, so the rows use the maintainer's full abilities, which
//!   decide `*` and `delete` the same way.
//! - 6 `'build authorized as user'` cases pull a *private* project as its member or owner; the
//!   spec's user is not a job-token user, so the job-token allowlist never applies there. Over
//!   HTTP it does (enforced for every project since 18.0, reference §9.5), so these rows
//!   allowlist the job's project on the target.
//! - 35 `'with protected tags'` rows assert the tag deny patterns, which the emulator does not
//!   produce (reference §9.3); the rows here assert their grant half (which actions, or none).
//!
//! Left out, and why:
//! - 12 cases of the class-level tokens (`full_access_token`, `pull_access_token`, the nested,
//!   move and special-path tokens): GitLab issues them to itself (cleanup, import, moves), never
//!   through `/jwt/auth`.
//! - 1 `'for project that disables repository'`: the world has no repository feature switch.
//! - 17 cases around deploy tokens: 4 `'unable to login'` variants and 1 `'when logging in'` with an empty ability
//!   list (the emulator has no scope that gives no ability at all, such as `read_user`; the
//!   `read_repository` variants are rows); 12 cases that hand the service full abilities with a
//!   deploy token that lacks `read_registry` (4), is revoked (4) or lacks it while unattached
//!   (4): over HTTP such a token carries no registry ability or fails to authenticate (401),
//!   which `testbed::` covers.
//! - 1 protected-tags row for an admin outside admin mode: the emulator models the default
//!   instance, where the admin-mode setting is off and admins are always admins.
//! - CE, 5 granular-token cases the emulator's fine-grained model cannot express. A
//!   fine-grained token there is an access token whose API answer carries
//!   `granular_scopes` and whose registry rights are its read/write registry scopes over
//!   every project its user belongs to; it has no resource boundary (selected memberships),
//!   no delete permission, no permissions outside the registry, and no namespace that
//!   enforces granular tokens. So left out: pull outside its boundary, an unrelated
//!   permission (over HTTP a token without registry rights is refused 403 before any grant,
//!   not granted `[]`), delete with the delete permission inside and outside its boundary,
//!   and a legacy token in an enforcing namespace. Rows: pull inside, no push, no `*`, and
//!   the legacy token where granular tokens are not enforced.
//! - EE, 46: group IP restriction for deploy tokens (1, not emulated); audit events (3, a
//!   side effect); immutable tag patterns (42, an Ultimate feature the emulator does not
//!   produce; their grant half is the same role and action grid as the protected-tags rows).
//!   Maintenance mode (3) and the namespace storage limit (7) are rows.
//!
//! Rows added with issue 13's switches (maintenance mode, storage limit, external
//! authorization, fine-grained tokens): 16. The external-authorization user row runs by
//! password only: GitLab turns access tokens' registry access off too (reference 9.4), so
//! the spec's full-abilities user is the password. Two emulator fixes they forced: the
//! storage limit refuses `push` only (a Maintainer still gets `*` and delete), and its
//! message ends with a full stop, as the EE spec's format and reference 1.4 write it.
//!
//! Emulator fixes this table forced (auth.rs, world.rs): internal projects, projects whose
//! registry is private to members, the Guest role, external users, the `admin` level of a
//! protection rule, and job-token pulls from a public or internal project by its members
//! without the allowlist (ProjectPolicy's `project_allowed_for_job_token`).

use serde_json::Value;

use crate::support::GitLab;
use crate::support::jwt;
use crate::support::world::{
    AccessToken, Project, PushProtection, Role, Scope, User, Visibility, World,
};

const ACTOR: &str = "actor";
const ACTOR_ID: u64 = 500;
const ACTOR_PASSWORD: &str = "conformance-actor-password-Rk4Tz8Qe";
const ACTOR_API_PAT: &str = "glpat-conformance-api-Wd3Jq7Lm2Xs9Bv";
const ACTOR_SCOPED_PAT: &str = "glpat-conformance-scoped-Hn6Vb1Pc8Ty4";
const JOB_TOKEN: &str = "glcbt-conformance-job-Fq2Mz7Kd5Ns3Uw";
const DEPLOY_ID: u64 = 70;
const DEPLOY_USER: &str = "gitlab+deploy-token-70";
const DEPLOY_TOKEN: &str = "gldt-conformance-deploy-Lp9Cw4Xr6Gh1";
/// The job's project (the spec's `current_project`).
const HOME: &str = "ns/home";
/// A project in the actor's personal namespace, which the actor owns.
const OWN: &str = "actor/own";

#[derive(Clone, Copy)]
enum RegistryAccess {
    Enabled,
    /// Members only, whatever the visibility.
    Private,
    Disabled,
}

/// Every row's world holds these projects: path, id, visibility, registry access.
const PROJECTS: &[(&str, u64, Visibility, RegistryAccess)] = &[
    (HOME, 10, Visibility::Private, RegistryAccess::Enabled),
    (
        "ns/private",
        11,
        Visibility::Private,
        RegistryAccess::Enabled,
    ),
    ("ns/public", 12, Visibility::Public, RegistryAccess::Enabled),
    (
        "ns/internal",
        13,
        Visibility::Internal,
        RegistryAccess::Enabled,
    ),
    (
        "ns/public-members",
        14,
        Visibility::Public,
        RegistryAccess::Private,
    ),
    (
        "ns/internal-members",
        15,
        Visibility::Internal,
        RegistryAccess::Private,
    ),
    (
        "ns/public-off",
        16,
        Visibility::Public,
        RegistryAccess::Disabled,
    ),
    (OWN, 17, Visibility::Private, RegistryAccess::Enabled),
];

/// The projects the shared `'private project'` examples run on: private, and public or
/// internal with the registry private to members.
const PRIVATE_LIKE: &[&str] = &["ns/private", "ns/public-members", "ns/internal-members"];
/// The projects the `'for deploy tokens'` write-token examples run on.
const DEPLOY_TARGETS: &[&str] = &[
    "ns/public",
    "ns/internal",
    "ns/private",
    "ns/public-members",
];
/// The projects the `'does not have read_registry scope'` examples run on (the spec's
/// "private" one is internal).
const NO_READ_REGISTRY_TARGETS: &[&str] = &[
    "ns/public",
    "ns/public-members",
    "ns/internal",
    "ns/internal",
];
/// Run a case once, with nothing to substitute.
const ONCE: &[&str] = &[""];

#[derive(Clone, Copy, Debug)]
enum Who {
    Anonymous,
    /// The actor with full abilities: each row runs with the password and with an `api` token.
    User {
        admin: bool,
        external: bool,
    },
    /// The actor with full abilities, by password only (an access token would be a
    /// different case under external authorization).
    Password,
    /// A personal access token of the actor with these scopes.
    Pat(&'static [Scope]),
    /// A running job of [`HOME`] acting as the actor, who is a Developer there.
    Job {
        admin: bool,
    },
    /// A deploy token with these scopes, attached to these projects (`{p}` allowed).
    Deploy(&'static [Scope], &'static [&'static str]),
}

const ANONYMOUS: Who = Who::Anonymous;
const USER: Who = Who::User {
    admin: false,
    external: false,
};
const ADMIN: Who = Who::User {
    admin: true,
    external: false,
};
const EXTERNAL: Who = Who::User {
    admin: false,
    external: true,
};
const JOB: Who = Who::Job { admin: false };
const ADMIN_JOB: Who = Who::Job { admin: true };
const DEPLOY_RW: Who = Who::Deploy(&[Scope::ReadRegistry, Scope::WriteRegistry], &["{p}"]);
const DEPLOY_REPO_ONLY: Who = Who::Deploy(&[Scope::ReadRepository], &["{p}"]);

#[derive(Clone, Copy, Debug)]
enum Expect {
    /// 200 with these access entries, `type:name:actions`, in request order.
    Granted(&'static [&'static str]),
    /// 403 `access forbidden`.
    Forbidden,
    /// 403 `Pushing to protected repository path forbidden`.
    Protected,
    /// 403 with the namespace storage limit message ([`STORAGE_LIMIT_MESSAGE`]).
    StorageLimit,
}
use Expect::{Forbidden, Granted, Protected, StorageLimit};

/// The instance URL the storage-limit rows set, so that GitLab's message is fixed.
const EXTERNAL_URL: &str = "https://gitlab.example.com";
const STORAGE_LIMIT_MESSAGE: &str = "Your action has been rejected because the namespace storage limit has been reached. For more information, visit https://gitlab.example.com/help/user/storage_usage_quotas.md.";

fn maintenance(world: &mut World) {
    world.settings.maintenance_mode = true;
}

fn over_storage_limit(world: &mut World) {
    world.project_mut("ns/private").storage_limit_reached = true;
    world.settings.external_url = Some(EXTERNAL_URL.to_string());
}

fn external_authorization(world: &mut World) {
    world.settings.external_authorization = true;
}

fn fine_grained(world: &mut World) {
    world.access_token_mut("actor-scoped").fine_grained = true;
}

/// One case of GitLab's spec; `{p}` stands for each project of `over`.
struct Case {
    spec: &'static str,
    who: Who,
    roles: &'static [(&'static str, Role)],
    scopes: &'static [&'static str],
    expect: Expect,
    over: &'static [&'static str],
    /// What else the case's setup changes.
    setup: fn(&mut World),
}

const fn case(
    spec: &'static str,
    who: Who,
    roles: &'static [(&'static str, Role)],
    scopes: &'static [&'static str],
    expect: Expect,
) -> Case {
    Case {
        spec,
        who,
        roles,
        scopes,
        expect,
        over: ONCE,
        setup: |_| {},
    }
}

impl Case {
    const fn over(mut self, projects: &'static [&'static str]) -> Case {
        self.over = projects;
        self
    }

    const fn setup(mut self, setup: fn(&mut World)) -> Case {
        self.setup = setup;
        self
    }
}

fn admit_home(world: &mut World, target: &str) {
    world
        .project_mut(target)
        .job_token_allowlist
        .push(HOME.to_string());
}

fn protect_home(world: &mut World, pattern: &str, level: Role) {
    world
        .project_mut(HOME)
        .push_protection
        .push(PushProtection {
            path_pattern: pattern.to_string(),
            min_push_level: level,
        });
}

const FOUR_PULLS: &[&str] = &[
    "repository:ns/internal:pull",
    "repository:ns/private:pull",
    "repository:ns/public:pull",
    "repository:ns/public-members:pull",
];

use Role::{Developer, Guest, Maintainer, Owner, Reporter};

#[rustfmt::skip]
const CASES: &[Case] = &[
    // Shared suite, 'user authorization' (a signed-in user with full abilities).
    case("user: a non-admin asking for the catalog gets nothing", USER, &[], &["registry:catalog:*"], Granted(&[])),
    case("user, private-like project: a login without scope gets a token", USER, &[], &[], Granted(&[])).over(PRIVATE_LIKE),
    case("user, private-like project: a Developer pushes", USER, &[("{p}", Developer)], &["repository:{p}:push"], Granted(&["repository:{p}:push"])).over(PRIVATE_LIKE),
    case("user, private-like project: a Developer gets no `*`", USER, &[("{p}", Developer)], &["repository:{p}:*"], Granted(&[])).over(PRIVATE_LIKE),
    case("user, private-like project: a Developer gets no delete", USER, &[("{p}", Developer)], &["repository:{p}:delete"], Granted(&[])).over(PRIVATE_LIKE),
    case("user, private-like project: a Reporter pulls", USER, &[("{p}", Reporter)], &["repository:{p}:pull"], Granted(&["repository:{p}:pull"])).over(PRIVATE_LIKE),
    case("user, private-like project: a Reporter gets no `*`", USER, &[("{p}", Reporter)], &["repository:{p}:*"], Granted(&[])).over(PRIVATE_LIKE),
    case("user, private-like project: a Reporter gets no delete", USER, &[("{p}", Reporter)], &["repository:{p}:delete"], Granted(&[])).over(PRIVATE_LIKE),
    case("user, private-like project: a Reporter asking push,pull gets the least, pull", USER, &[("{p}", Reporter)], &["repository:{p}:push,pull"], Granted(&["repository:{p}:pull"])).over(PRIVATE_LIKE),
    case("user, private-like project: a Guest neither pulls nor pushes", USER, &[("{p}", Guest)], &["repository:{p}:pull,push"], Granted(&[])).over(PRIVATE_LIKE),
    case("user, private-like project: a Guest gets no `*`", USER, &[("{p}", Guest)], &["repository:{p}:*"], Granted(&[])).over(PRIVATE_LIKE),
    case("user, private-like project: a Guest gets no delete", USER, &[("{p}", Guest)], &["repository:{p}:delete"], Granted(&[])).over(PRIVATE_LIKE),
    case("user, public project with its registry open: anyone pulls", USER, &[], &["repository:ns/public:pull"], Granted(&["repository:ns/public:pull"])),
    case("user, public project with its registry open: nobody else pushes", USER, &[], &["repository:ns/public:push"], Granted(&[])),
    case("user, public project with its registry open: nobody else gets `*`", USER, &[], &["repository:ns/public:*"], Granted(&[])),
    case("user, public project with its registry open: nobody else deletes", USER, &[], &["repository:ns/public:delete"], Granted(&[])),
    case("user, public project: an invalid repository name is dropped", USER, &[], &["repository:invalid:push"], Granted(&[])),
    case("user, internal project, internal user: anyone pulls", USER, &[], &["repository:ns/internal:pull"], Granted(&["repository:ns/internal:pull"])),
    case("user, internal project, internal user: nobody else pushes", USER, &[], &["repository:ns/internal:push"], Granted(&[])),
    case("user, internal project, internal user: nobody else gets `*`", USER, &[], &["repository:ns/internal:*"], Granted(&[])),
    case("user, internal project, internal user: nobody else deletes", USER, &[], &["repository:ns/internal:delete"], Granted(&[])),
    case("user, internal project, external user: neither pull nor push", EXTERNAL, &[], &["repository:ns/internal:pull,push"], Granted(&[])),
    case("user, internal project, external user: no `*`", EXTERNAL, &[], &["repository:ns/internal:*"], Granted(&[])),
    case("user, internal project, external user: no delete", EXTERNAL, &[], &["repository:ns/internal:delete"], Granted(&[])),
    // Shared suite, 'delete authorized as maintainer' (adapted: full abilities, see the header).
    case("maintainer allowed to delete: a login without scope gets a token", USER, &[("ns/private", Maintainer)], &[], Granted(&[])),
    case("maintainer allowed to delete: `*` is granted", USER, &[("ns/private", Maintainer)], &["repository:ns/private:*"], Granted(&["repository:ns/private:*"])),
    case("maintainer allowed to delete: delete (registry 2.7+) is granted", USER, &[("ns/private", Maintainer)], &["repository:ns/private:delete"], Granted(&["repository:ns/private:delete"])),
    // Shared suite, 'build authorized as user' (a job token; its user is a Developer of the job's project).
    case("job: docker's offline-token login gets a token", JOB, &[], &[], Granted(&[])),
    case("job: a login without scope gets a token", JOB, &[], &[], Granted(&[])),
    case("job: pulls and pushes its own project", JOB, &[], &["repository:ns/home:pull,push"], Granted(&["repository:ns/home:pull,push"])),
    case("job: deletes in its own project (registry 2.7+)", JOB, &[], &["repository:ns/home:delete"], Granted(&["repository:ns/home:delete"])),
    case("job: never gets `*`, even on its own project", JOB, &[], &["repository:ns/home:*"], Granted(&[])),
    case("job, other projects: pulls a public one", JOB, &[], &["repository:ns/public:pull"], Granted(&["repository:ns/public:pull"])),
    case("job, other private project: not a member, no pull", JOB, &[], &["repository:ns/private:pull"], Granted(&[])),
    case("job, other private project: a member pulls (adapted: allowlisted)", JOB, &[("ns/private", Developer)], &["repository:ns/private:pull"], Granted(&["repository:ns/private:pull"])).setup(|w| admit_home(w, "ns/private")),
    case("job, other private project: its owner pulls (adapted: allowlisted)", JOB, &[(OWN, Owner)], &["repository:actor/own:pull"], Granted(&["repository:actor/own:pull"])).setup(|w| admit_home(w, OWN)),
    case("job, other private project, admin: not a member, no pull", ADMIN_JOB, &[], &["repository:ns/private:pull"], Granted(&[])),
    case("job, other private project, admin: a member pulls (adapted: allowlisted)", ADMIN_JOB, &[("ns/private", Developer)], &["repository:ns/private:pull"], Granted(&["repository:ns/private:pull"])).setup(|w| admit_home(w, "ns/private")),
    case("job, other private project, admin: its owner pulls (adapted: allowlisted)", ADMIN_JOB, &[(OWN, Owner)], &["repository:actor/own:pull"], Granted(&["repository:actor/own:pull"])).setup(|w| admit_home(w, OWN)),
    case("job, public project with a members-only registry: not a member, no pull", JOB, &[], &["repository:ns/public-members:pull"], Granted(&[])),
    case("job, public project with a members-only registry: a member pulls", JOB, &[("ns/public-members", Developer)], &["repository:ns/public-members:pull"], Granted(&["repository:ns/public-members:pull"])),
    case("job, public project with a members-only registry: an owner pulls (adapted: allowlisted)", JOB, &[(OWN, Owner)], &["repository:actor/own:pull"], Granted(&["repository:actor/own:pull"])).setup(|w| admit_home(w, OWN)),
    case("job, public project with a members-only registry, admin: not a member, no pull", ADMIN_JOB, &[], &["repository:ns/public-members:pull"], Granted(&[])),
    case("job, public project with a members-only registry, admin: a member pulls", ADMIN_JOB, &[("ns/public-members", Developer)], &["repository:ns/public-members:pull"], Granted(&["repository:ns/public-members:pull"])),
    case("job, public project with a members-only registry, admin: an owner pulls (adapted: allowlisted)", ADMIN_JOB, &[(OWN, Owner)], &["repository:actor/own:pull"], Granted(&["repository:actor/own:pull"])).setup(|w| admit_home(w, OWN)),
    case("job, other projects: no push to a public one it is a member of", JOB, &[("ns/public", Developer)], &["repository:ns/public:push"], Granted(&[])),
    case("job, other projects: no push to a public one it owns", JOB, &[(OWN, Owner)], &["repository:actor/own:push"], Granted(&[])).setup(|w| w.project_mut(OWN).visibility = Visibility::Public),
    case("job: a project without a registry grants no pull", JOB, &[], &["repository:ns/public-off:pull"], Granted(&[])),
    // Shared suite, catalog and several scopes at once.
    case("admin: browses the catalog", ADMIN, &[], &["registry:catalog:*"], Granted(&["registry:catalog:*"])),
    case("several scopes: an admin pulls all four", ADMIN, &[], FOUR_PULLS, Granted(FOUR_PULLS)),
    case("several scopes: a user pulls the internal and the public one", USER, &[], FOUR_PULLS, Granted(&["repository:ns/internal:pull", "repository:ns/public:pull"])),
    case("several scopes: anonymous pulls the public one only", ANONYMOUS, &[], FOUR_PULLS, Granted(&["repository:ns/public:pull"])),
    case("several scopes: anonymous, no public registry left, is forbidden", ANONYMOUS, &[], FOUR_PULLS, Forbidden).setup(|w| w.project_mut("ns/public").registry_private = true),
    // Shared suite, 'unauthorized' (anonymous).
    case("anonymous: a login without scope is forbidden", ANONYMOUS, &[], &[], Forbidden),
    case("anonymous: an unknown scope type is forbidden", ANONYMOUS, &[], &["invalid:aa:bb"], Forbidden),
    case("anonymous: a private project is forbidden", ANONYMOUS, &[], &["repository:ns/private:pull"], Forbidden),
    case("anonymous, public project: pull,push gets pull", ANONYMOUS, &[], &["repository:ns/public:pull,push"], Granted(&["repository:ns/public:pull"])),
    case("anonymous, public project: push alone is forbidden", ANONYMOUS, &[], &["repository:ns/public:push"], Forbidden),
    case("anonymous, public project with a members-only registry: forbidden", ANONYMOUS, &[], &["repository:ns/public-members:pull,push"], Forbidden),
    case("anonymous: the catalog is forbidden", ANONYMOUS, &[], &["registry:catalog:*"], Forbidden),
    // Shared suite, 'for deploy tokens'.
    case("deploy token with read and write registry: pulls", DEPLOY_RW, &[], &["repository:{p}:pull"], Granted(&["repository:{p}:pull"])).over(DEPLOY_TARGETS),
    case("deploy token with read and write registry: pushes", DEPLOY_RW, &[], &["repository:{p}:push"], Granted(&["repository:{p}:push"])).over(DEPLOY_TARGETS),
    case("deploy token with read and write registry: logs in", DEPLOY_RW, &[], &[], Granted(&[])).over(DEPLOY_TARGETS),
    case("deploy token without read_registry: inapplicable abilities cannot log in", DEPLOY_REPO_ONLY, &[], &[], Forbidden).over(NO_READ_REGISTRY_TARGETS),
    // Shared suite, the second 'user authorization' (named for several scopes).
    case("user: a Developer pushes", USER, &[("ns/private", Developer)], &["repository:ns/private:push"], Granted(&["repository:ns/private:push"])),
    case("user: the payload carries the user's information", USER, &[], &[], Granted(&[])),
    case("user: the payload carries the auth type", USER, &[], &[], Granted(&[])),
    // Shared suite, 'with container registry protection rules' (path = the project's own).
    case("protected path, rule Maintainer: a Developer is refused", USER, &[(HOME, Developer)], &["repository:ns/home:push"], Protected).setup(|w| protect_home(w, HOME, Maintainer)),
    case("protected path, rule Maintainer: the owner pushes", USER, &[(HOME, Owner)], &["repository:ns/home:push"], Granted(&["repository:ns/home:push"])).setup(|w| protect_home(w, HOME, Maintainer)),
    case("protected path, rule Owner: a Maintainer is refused", USER, &[(HOME, Maintainer)], &["repository:ns/home:push"], Protected).setup(|w| protect_home(w, HOME, Owner)),
    case("protected path, rule Owner: the owner pushes", USER, &[(HOME, Owner)], &["repository:ns/home:push"], Granted(&["repository:ns/home:push"])).setup(|w| protect_home(w, HOME, Owner)),
    case("protected path, rule Owner: an instance admin pushes", ADMIN, &[], &["repository:ns/home:push"], Granted(&["repository:ns/home:push"])).setup(|w| protect_home(w, HOME, Owner)),
    case("protected path, rule admin: the owner is refused", USER, &[(HOME, Owner)], &["repository:ns/home:push"], Protected).setup(|w| protect_home(w, HOME, Role::Admin)),
    case("protected path, rule admin: an instance admin pushes", ADMIN, &[], &["repository:ns/home:push"], Granted(&["repository:ns/home:push"])).setup(|w| protect_home(w, HOME, Role::Admin)),
    case("protected path, pattern not matching, rule Maintainer: a Developer pushes", USER, &[(HOME, Developer)], &["repository:ns/home:push"], Granted(&["repository:ns/home:push"])).setup(|w| protect_home(w, "ns/home_no_match", Maintainer)),
    case("protected path, pattern not matching, rule admin: the owner pushes", USER, &[(HOME, Owner)], &["repository:ns/home:push"], Granted(&["repository:ns/home:push"])).setup(|w| protect_home(w, "ns/home_no_match", Role::Admin)),
    case("protected path, rule Owner, a Maintainer asking `*`: refused", USER, &[(HOME, Maintainer)], &["repository:ns/home:*"], Protected).setup(|w| protect_home(w, HOME, Owner)),
    case("protected path, rule Owner, a Maintainer asking push: refused", USER, &[(HOME, Maintainer)], &["repository:ns/home:push"], Protected).setup(|w| protect_home(w, HOME, Owner)),
    case("protected path, rule Owner, a Maintainer asking push,pull: refused", USER, &[(HOME, Maintainer)], &["repository:ns/home:push,pull"], Protected).setup(|w| protect_home(w, HOME, Owner)),
    case("protected path, rule Owner, a Maintainer asking pull: pulls", USER, &[(HOME, Maintainer)], &["repository:ns/home:pull"], Granted(&["repository:ns/home:pull"])).setup(|w| protect_home(w, HOME, Owner)),
    // CE spec, a legacy token where granular tokens are on but not enforced.
    case("CE: a legacy read_registry token of a Developer pulls", Who::Pat(&[Scope::ReadRegistry]), &[("ns/private", Developer)], &["repository:ns/private:pull"], Granted(&["repository:ns/private:pull"])),
    // CE spec, fine-grained tokens (the emulator's model: its rights are its registry
    // scopes over every membership; see the header for the cases it cannot express).
    case("CE fine-grained: pull inside its boundary is granted", Who::Pat(&[Scope::ReadRegistry]), &[("ns/private", Developer)], &["repository:ns/private:pull"], Granted(&["repository:ns/private:pull"])).setup(fine_grained),
    case("CE fine-grained: a read permission gives no push", Who::Pat(&[Scope::ReadRegistry]), &[("ns/private", Developer)], &["repository:ns/private:push"], Granted(&[])).setup(fine_grained),
    case("CE fine-grained: no `*`", Who::Pat(&[Scope::ReadRegistry]), &[("ns/private", Developer)], &["repository:ns/private:*"], Granted(&[])).setup(fine_grained),
    // Shared suite, deploy tokens under external authorization (reference 9.4).
    case("external authorization: a deploy token's pull is forbidden", DEPLOY_RW, &[], &["repository:ns/private:pull"], Forbidden).setup(external_authorization),
    case("external authorization: a deploy token's push is forbidden", DEPLOY_RW, &[], &["repository:ns/private:push"], Forbidden).setup(external_authorization),
    case("external authorization: a Developer still pulls (by password)", Who::Password, &[("ns/private", Developer)], &["repository:ns/private:pull"], Granted(&["repository:ns/private:pull"])).setup(external_authorization),
    // EE spec, 'in maintenance mode' (a Developer of the project).
    case("EE maintenance mode: a Developer pulls", USER, &[("ns/private", Developer)], &["repository:ns/private:pull"], Granted(&["repository:ns/private:pull"])).setup(maintenance),
    case("EE maintenance mode: a Developer's push is not granted", USER, &[("ns/private", Developer)], &["repository:ns/private:push"], Granted(&[])).setup(maintenance),
    case("EE maintenance mode: a Developer's delete is not granted", USER, &[("ns/private", Developer)], &["repository:ns/private:delete"], Granted(&[])).setup(maintenance),
    // EE spec, 'when over storage limit'.
    case("EE storage limit: a Developer's push is refused with the storage message", USER, &[("ns/private", Developer)], &["repository:ns/private:push"], StorageLimit).setup(over_storage_limit),
    case("EE storage limit: a Developer's push,pull is refused with the storage message", USER, &[("ns/private", Developer)], &["repository:ns/private:push,pull"], StorageLimit).setup(over_storage_limit),
    case("EE storage limit: a Developer pulls", USER, &[("ns/private", Developer)], &["repository:ns/private:pull"], Granted(&["repository:ns/private:pull"])).setup(over_storage_limit),
    case("EE storage limit: a Maintainer's login without scope gets a token", USER, &[("ns/private", Maintainer)], &[], Granted(&[])).setup(over_storage_limit),
    case("EE storage limit: a Maintainer gets `*`", USER, &[("ns/private", Maintainer)], &["repository:ns/private:*"], Granted(&["repository:ns/private:*"])).setup(over_storage_limit),
    case("EE storage limit: a Maintainer deletes", USER, &[("ns/private", Maintainer)], &["repository:ns/private:delete"], Granted(&["repository:ns/private:delete"])).setup(over_storage_limit),
    case("EE storage limit: no project, no storage error", USER, &[], &[], Granted(&[])).setup(over_storage_limit),
];

/// Shared suite, 'with protected tags': the grant half of its table on the job's project,
/// per requested actions: what a Developer gets, and what a Maintainer, the Owner and an
/// instance admin get (None where the spec has no such row).
#[rustfmt::skip]
const TAG_GRID: &[(&str, &str, Option<&str>)] = &[
    ("pull", "pull", Some("pull")),
    ("push", "push", Some("push")),
    ("delete", "", Some("delete")),
    ("pull,push", "pull,push", Some("pull,push")),
    ("pull,delete", "pull", Some("pull,delete")),
    ("push,delete", "push", Some("push,delete")),
    ("pull,push,delete", "pull,push", Some("pull,push,delete")),
    ("*", "", Some("*")),
    ("push,push", "push,push", None),
    ("push,foo", "push", None),
    ("foo", "", None),
];

/// One request to make: a case with `{p}` filled in, or a protected-tags grid cell.
struct Row {
    spec: String,
    who: Who,
    roles: Vec<(String, Role)>,
    /// The projects a deploy token is attached to.
    attached: Vec<String>,
    scopes: Vec<String>,
    expect: Expected,
    setup: fn(&mut World),
}

enum Expected {
    /// 200 with these `type:name:actions` entries.
    Granted(Vec<String>),
    /// 403 with this message.
    Denied(&'static str),
}

fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for case in CASES {
        for p in case.over {
            let fill = |text: &str| text.replace("{p}", p);
            let expect = match case.expect {
                Granted(entries) => Expected::Granted(entries.iter().map(|e| fill(e)).collect()),
                Forbidden => Expected::Denied("access forbidden"),
                Protected => Expected::Denied("Pushing to protected repository path forbidden"),
                StorageLimit => Expected::Denied(STORAGE_LIMIT_MESSAGE),
            };
            let attached = match case.who {
                Who::Deploy(_, attached) => attached.iter().map(|a| fill(a)).collect(),
                _ => Vec::new(),
            };
            rows.push(Row {
                spec: if p.is_empty() {
                    case.spec.to_string()
                } else {
                    format!("{} [{p}]", case.spec)
                },
                who: case.who,
                roles: case
                    .roles
                    .iter()
                    .map(|(path, role)| (fill(path), *role))
                    .collect(),
                attached,
                scopes: case.scopes.iter().map(|s| fill(s)).collect(),
                expect,
                setup: case.setup,
            });
        }
    }
    let tag_actors: [(&str, Who, Option<Role>); 3] = [
        ("a Maintainer", USER, Some(Maintainer)),
        ("the Owner", USER, Some(Owner)),
        ("an instance admin", ADMIN, None),
    ];
    for (actions, developer, higher) in TAG_GRID {
        let mut cells = vec![("a Developer", USER, Some(Developer), *developer)];
        if let Some(higher) = higher {
            cells.extend(
                tag_actors
                    .iter()
                    .map(|(who, w, role)| (*who, *w, *role, *higher)),
            );
        }
        for (name, who, role, granted) in cells {
            rows.push(Row {
                spec: format!("protected tags (grant half): {name} asking {actions}"),
                who,
                roles: role.map(|r| (HOME.to_string(), r)).into_iter().collect(),
                attached: Vec::new(),
                scopes: vec![format!("repository:{HOME}:{actions}")],
                expect: Expected::Granted(if granted.is_empty() {
                    Vec::new()
                } else {
                    vec![format!("repository:{HOME}:{granted}")]
                }),
                setup: |_| {},
            });
        }
    }
    rows
}

/// The world of one row: the projects of [`PROJECTS`], the actor with the row's roles, its
/// tokens, the job and the deploy token. Token and job records start from the standard
/// world's so that fields added later keep their defaults.
fn world_for(row: &Row) -> World {
    let mut world = World::standard();
    world.projects = PROJECTS
        .iter()
        .map(|&(path, id, visibility, registry)| {
            let root = if path.starts_with("actor/") { 3 } else { 2 };
            let mut project = Project::new(path, id, root, visibility);
            project.registry_enabled = !matches!(registry, RegistryAccess::Disabled);
            project.registry_private = matches!(registry, RegistryAccess::Private);
            project
        })
        .collect();
    let (admin, external) = match row.who {
        Who::User { admin, external } => (admin, external),
        Who::Job { admin } => (admin, false),
        _ => (false, false),
    };
    let mut actor = User::new(ACTOR_ID, ACTOR, Some(ACTOR_PASSWORD));
    actor.admin = admin;
    actor.external = external;
    if matches!(row.who, Who::Job { .. }) {
        actor = actor.member_of(HOME, Developer);
    }
    for (path, role) in &row.roles {
        actor = actor.member_of(path, *role);
    }
    world.users = vec![actor];
    let scoped = match row.who {
        Who::Pat(scopes) => scopes,
        _ => &[Scope::ReadRegistry],
    };
    world.access_tokens = vec![
        AccessToken::new(1, "actor-api", ACTOR_API_PAT, ACTOR, &[Scope::Api]),
        AccessToken::new(2, "actor-scoped", ACTOR_SCOPED_PAT, ACTOR, scoped),
    ];
    let mut deploy = world.deploy_tokens[0].clone();
    deploy.id = DEPLOY_ID;
    deploy.name = "conformance-deploy".to_string();
    deploy.username = DEPLOY_USER.to_string();
    deploy.token = DEPLOY_TOKEN.to_string();
    deploy.scopes = match row.who {
        Who::Deploy(scopes, _) => scopes.to_vec(),
        _ => vec![Scope::ReadRegistry],
    };
    deploy.projects = row.attached.clone();
    world.deploy_tokens = vec![deploy];
    let mut job = world.jobs[0].clone();
    job.token = JOB_TOKEN.to_string();
    job.project = HOME.to_string();
    job.user = Some(ACTOR.to_string());
    job.running = true;
    world.jobs = vec![job];
    (row.setup)(&mut world);
    world
}

/// The Basic credentials a row runs with, and the `auth_type` each must produce.
fn credentials(who: Who) -> Vec<(Option<(&'static str, &'static str)>, &'static str)> {
    match who {
        Who::Anonymous => vec![(None, "none")],
        Who::User { .. } => vec![
            (Some((ACTOR, ACTOR_PASSWORD)), "gitlab_or_ldap"),
            (Some((ACTOR, ACTOR_API_PAT)), "personal_access_token"),
        ],
        Who::Password => vec![(Some((ACTOR, ACTOR_PASSWORD)), "gitlab_or_ldap")],
        Who::Pat(_) => vec![(Some((ACTOR, ACTOR_SCOPED_PAT)), "personal_access_token")],
        Who::Job { .. } => vec![(Some(("gitlab-ci-token", JOB_TOKEN)), "build")],
        Who::Deploy(..) => vec![(Some((DEPLOY_USER, DEPLOY_TOKEN)), "deploy_token")],
    }
}

/// What one request got wrong, if anything.
fn check(
    gitlab: &GitLab,
    world: &World,
    row: &Row,
    basic: Option<(&str, &str)>,
    auth_type: &str,
) -> Result<(), String> {
    let scopes: Vec<&str> = row.scopes.iter().map(String::as_str).collect();
    let response = gitlab.request_token(basic, &scopes);
    // Enough of the body to see what came back, not a whole token.
    let body: String = response.text().chars().take(160).collect();
    let granted = match &row.expect {
        Expected::Denied(message) => {
            let got = (
                response.status,
                response.json()["errors"][0]["message"].clone(),
            );
            return match got == (403, Value::from(*message)) {
                true => Ok(()),
                false => Err(format!("expected 403 {message:?}, got {} {body}", got.0)),
            };
        }
        Expected::Granted(granted) => granted,
    };
    if response.status != 200 {
        return Err(format!(
            "expected 200 {granted:?}, got {} {body}",
            response.status
        ));
    }
    let token = response.json()["token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let claims = jwt::try_decode(&token)
        .ok_or(format!("not a JWT: {body}"))?
        .claims;
    let access = claims["access"].as_array().cloned().unwrap_or_default();
    let got: Vec<String> = access.iter().map(entry_text).collect();
    if &got != granted {
        return Err(format!("expected {granted:?}, got {got:?}"));
    }
    for entry in access.iter().filter(|e| e["type"] == "repository") {
        let name = entry["name"].as_str().unwrap_or_default();
        let project = world.project(name).ok_or(format!("{name} is no project"))?;
        let meta = serde_json::json!({
            "project_path": project.path.to_lowercase(),
            "project_id": project.id,
            "root_namespace_id": project.root_namespace_id,
        });
        if entry["meta"] != meta {
            return Err(format!(
                "meta of {name}: expected {meta}, got {}",
                entry["meta"]
            ));
        }
    }
    check_claims(&claims, world, auth_type)
}

/// The claims every token of the shared suite's `'a valid token'` and `'with auth_type'`
/// carries: the auth type, the nested user information, and the configured lifetime.
fn check_claims(claims: &Value, world: &World, auth_type: &str) -> Result<(), String> {
    let user_info = jwt::try_decode(claims["user"].as_str().unwrap_or_default())
        .ok_or("no nested user JWT")?
        .claims["user_info"]
        .clone();
    let (sub, expected_info) = match auth_type {
        "none" => (Value::Null, Value::Null),
        "deploy_token" => (
            Value::Null,
            serde_json::json!({"token_type": auth_type, "username": DEPLOY_USER, "deploy_token_id": DEPLOY_ID}),
        ),
        _ => (
            Value::from(ACTOR),
            serde_json::json!({"token_type": auth_type, "username": ACTOR, "user_id": ACTOR_ID}),
        ),
    };
    let lifetime = claims["exp"].as_u64().unwrap_or(0) - claims["iat"].as_u64().unwrap_or(0);
    let got = (&claims["auth_type"], &claims["sub"], &user_info, lifetime);
    let expected = (
        &Value::from(auth_type),
        &sub,
        &expected_info,
        world.settings.token_lifetime_minutes * 60,
    );
    match got == expected {
        true => Ok(()),
        false => Err(format!("claims: expected {expected:?}, got {got:?}")),
    }
}

fn entry_text(entry: &Value) -> String {
    let actions: Vec<&str> = entry["actions"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    format!(
        "{}:{}:{}",
        entry["type"].as_str().unwrap_or_default(),
        entry["name"].as_str().unwrap_or_default(),
        actions.join(",")
    )
}

#[test]
fn every_case_the_emulator_claims_holds_as_gitlabs_spec_says() {
    let mut failures = Vec::new();
    for row in rows() {
        let world = world_for(&row);
        let gitlab = GitLab::start(world.clone());
        for (basic, auth_type) in credentials(row.who) {
            if let Err(why) = check(&gitlab, &world, &row, basic, auth_type) {
                failures.push(format!("{} ({auth_type}): {why}", row.spec));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of GitLab's cases fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The header's count of matched cases is the table's.
#[test]
fn the_table_has_as_many_rows_as_the_header_counts() {
    assert_eq!(rows().len(), 166);
}
