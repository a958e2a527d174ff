//! The preflight's verdicts (issue 14): from what a registry host granted and what its
//! manifests said to one row per image, the summary line and the exit code. Pure.

use crate::access::Action;
use crate::error::Exit;
use crate::images::{HostAnswer, HostFacts, Need, Presence, Row, Touch, Unnamed, Verdict};
use crate::tag_rules::TagCheck;

/// Docker Hub's pull limit for unauthenticated users, as Docker documents it (2025).
pub const DOCKER_HUB_ANONYMOUS_LIMIT: &str =
    "10 pulls per hour per IPv4 address or IPv6 /64 subnet";

/// What the job needs of one image, judged. `presence` is the manifest's answer: of
/// the pulled reference, or for a push, of the tag when an immutable rule matches it.
/// `project` is the job's own (`CI_PROJECT_PATH`), for the allowlist fix.
pub fn image_row(
    touch: &Touch,
    host: &HostFacts,
    presence: Option<Presence>,
    project: Option<&str>,
) -> Row {
    let repo = touch.image.repository.as_str();
    let mut row = Row {
        image: touch.image.to_string(),
        registry: host.registry.host_port(),
        need: touch.need.as_str(),
        credential: host.credential.clone(),
        granted: String::new(),
        verdict: Verdict::Ok,
        detail: String::new(),
        from: touch.from.clone(),
    };
    let (verdict, detail) = match &host.answer {
        HostAnswer::Unreachable(message) => (Verdict::Unreachable, message.clone()),
        HostAnswer::Refused(message) => (
            Verdict::Refused,
            format!("{} was refused: {message}", host.credential),
        ),
        HostAnswer::Open => pulled_or_missing(touch, host, presence, "the registry asks for no credentials"),
        HostAnswer::Basic { accepted: false } => (
            Verdict::Refused,
            format!(
                "the registry refused {} (Basic auth)",
                host.credential
            ),
        ),
        HostAnswer::Basic { accepted: true } => match touch.need {
            Need::Pull => pulled_or_missing(touch, host, presence, "accepted (Basic auth)"),
            Need::Push => (
                Verdict::Unproven,
                "the registry uses Basic auth, which does not say what a credential may do: push rights cannot be proven here".into(),
            ),
        },
        HostAnswer::Granted(claims) => {
            let granted = claims.granted(repo);
            row.granted = if host.dependency_proxy {
                "(not listed)".into()
            } else if granted.is_empty() {
                "nothing".into()
            } else {
                crate::access::join_actions(&granted)
            };
            let wanted = match touch.need {
                Need::Pull => Action::Pull,
                Need::Push => Action::Push,
            };
            // The dependency proxy's tokens list nothing: only the manifest proves a pull.
            if !host.dependency_proxy && !granted.contains(&wanted) {
                (Verdict::Refused, not_granted(touch, host, project))
            } else {
                match touch.need {
                    Need::Pull => pulled_or_missing(touch, host, presence, ""),
                    Need::Push => pushed_tag(touch, claims, presence),
                }
            }
        }
    };
    row.verdict = verdict;
    row.detail = detail;
    row
}

/// A pull is proven by its manifest: there, missing (not a credential problem), or
/// refused after all.
fn pulled_or_missing(
    touch: &Touch,
    host: &HostFacts,
    presence: Option<Presence>,
    accepted: &str,
) -> (Verdict, String) {
    let reference = touch.image.reference();
    match presence {
        Some(Presence::Missing) if host.dependency_proxy => (
            Verdict::Missing,
            format!(
                "{} was not found upstream (the dependency proxy answered 404 for the manifest): the credential is fine, the name or tag is not; check it on Docker Hub",
                touch.image
            ),
        ),
        Some(Presence::Missing) => (
            Verdict::Missing,
            format!(
                "{} does not exist on {} (the manifest answered 404): the credential is fine, the name or tag is not; check it, or push the image first",
                touch.image, host.registry
            ),
        ),
        Some(Presence::Refused(status)) => (
            Verdict::Refused,
            format!(
                "the registry refused to show {}:{reference} (HTTP {status}) although the token allows pull",
                touch.image.repository
            ),
        ),
        Some(Presence::Other(status)) => (
            Verdict::Unreachable,
            format!(
                "the registry answered HTTP {status} for the manifest of {}",
                touch.image
            ),
        ),
        Some(Presence::Exists) | None if host.anonymous && host.docker_hub => (
            Verdict::Warning,
            format!(
                "anonymous pull: Docker Hub limits unauthenticated pulls to {DOCKER_HUB_ANONYMOUS_LIMIT}, shared by every job behind the runner's address; pull through GitLab's dependency proxy ($CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX/...) or give a Docker Hub credential (--credential docker.io=USER_VAR:TOKEN_VAR, or DOCKER_AUTH_CONFIG)"
            ),
        ),
        Some(Presence::Exists) => (Verdict::Ok, join("exists", accepted)),
        None => (Verdict::Ok, accepted.to_string()),
    }
}

fn join(a: &str, b: &str) -> String {
    if b.is_empty() {
        a.to_string()
    } else {
        format!("{a}; {b}")
    }
}

/// What a refused action means, by who asked: the job token's allowlist, an
/// anonymous request, or a credential without the right.
fn not_granted(touch: &Touch, host: &HostFacts, project: Option<&str>) -> String {
    let repo = touch.image.repository.as_str();
    let owned = project.is_some_and(|p| repo == p || repo.starts_with(&format!("{p}/")));
    match touch.need {
        Need::Pull if host.anonymous => format!(
            "anonymous pulls of {repo} are not allowed (private, or no such repository): give a credential for {} with --credential HOST=USER_VAR:SECRET_VAR or DOCKER_AUTH_CONFIG",
            host.registry
        ),
        Need::Pull if host.job_token && !owned => format!(
            "the job token may not pull {repo}: add this project{} to the CI/CD job token allowlist of the project owning {repo} (its Settings > CI/CD > Job token permissions), or use a credential with read_registry there",
            project.map(|p| format!(" ({p})")).unwrap_or_default()
        ),
        Need::Pull => format!(
            "{} may not pull {repo}: use a credential with read_registry (or Reporter) on it",
            host.credential
        ),
        Need::Push if host.job_token && !owned => format!(
            "a job token pushes only to its own project, never to {repo}: use a deploy or access token with write_registry there"
        ),
        Need::Push if host.anonymous => format!(
            "nobody pushes anonymously: give a credential for {} that may push to {repo}",
            host.registry
        ),
        Need::Push => format!(
            "{} may not push to {repo}: use a credential with write_registry (Developer or above)",
            host.credential
        ),
    }
}

/// A push the token allows: the tag against the project's protected and immutable
/// tag rules (reference 9.3).
fn pushed_tag(
    touch: &Touch,
    claims: &crate::jwt::Claims,
    presence: Option<Presence>,
) -> (Verdict, String) {
    let tag = touch.image.tag.as_deref().unwrap_or("latest");
    let rules = claims.tag_rules(touch.image.repository.as_str());
    match rules.check(tag) {
        TagCheck::Free if rules.sent => (
            Verdict::Ok,
            format!("tag {tag} matches no protected or immutable tag rule"),
        ),
        TagCheck::Free => (Verdict::Ok, String::new()),
        TagCheck::Denied { pattern } => (
            Verdict::Refused,
            format!(
                "tag {tag} is protected: the rule '{}' denies this credential's role a push; push it as a role the rule allows (its minimum role for push, e.g. Maintainer: Settings > Packages and registries > Protected container tags), or push another tag",
                crate::text::sanitize(&pattern, 120)
            ),
        ),
        TagCheck::Immutable { pattern } => match presence {
            Some(Presence::Exists) => (
                Verdict::Refused,
                format!(
                    "tag {tag} exists and matches the immutable tag rule '{}': nobody may overwrite it; push a new tag",
                    crate::text::sanitize(&pattern, 120)
                ),
            ),
            Some(Presence::Missing) => (
                Verdict::Ok,
                format!(
                    "tag {tag} is new; once pushed it is immutable (rule '{}')",
                    crate::text::sanitize(&pattern, 120)
                ),
            ),
            _ => (
                Verdict::Unproven,
                format!(
                    "tag {tag} matches the immutable tag rule '{}' and whether it exists could not be read",
                    crate::text::sanitize(&pattern, 120)
                ),
            ),
        },
        TagCheck::BadPattern { pattern, error } => (
            Verdict::Unproven,
            format!(
                "the token carries the tag rule '{}', which is no RE2 pattern ({error}): the registry's verdict on tag {tag} is unknown",
                crate::text::sanitize(&pattern, 120)
            ),
        ),
    }
}

/// An engine whose file keys credentials by host only (docker's config.json), for a
/// repository the host's credential does not serve: the job would be refused there.
pub fn keyed_by_host_only(
    engine: &str,
    repository: &str,
    need: Need,
    host_credential: &str,
    repository_credential: &str,
) -> String {
    format!(
        "{engine} keys credentials by registry host only, so {repository} would get {host_credential}, which may not {} it ({repository_credential} may): use one credential that grants both, or an engine that keys by repository (--engine podman, buildah or skopeo, or --engine auth-file --auth-format containers)",
        need.as_str()
    )
}

/// A Dockerfile line whose image is unknown.
pub fn unnamed_row(u: &Unnamed) -> Row {
    Row {
        image: u.written.clone(),
        registry: "?".into(),
        need: Need::Pull.as_str(),
        credential: String::new(),
        granted: String::new(),
        verdict: Verdict::Unresolved,
        detail: u.problem.clone(),
        from: u.from.clone(),
    }
}

/// The rows' worst outcome: 2 for an image that cannot be named, 5 for a registry
/// that cannot be reached, 4 for anything refused or missing, else 0.
pub fn preflight_exit(rows: &[Row]) -> Exit {
    rows.iter().fold(Exit::Success, |exit, row| {
        exit.worst(match row.verdict {
            Verdict::Ok | Verdict::Warning | Verdict::Unproven => Exit::Success,
            Verdict::Missing | Verdict::Refused => Exit::Rejected,
            Verdict::Unreachable => Exit::Unreachable,
            Verdict::Unresolved => Exit::Usage,
        })
    })
}

/// `3 images: all reachable`, or the first failure.
pub fn preflight_summary(rows: &[Row]) -> String {
    let n = rows.len();
    let images = if n == 1 { "image" } else { "images" };
    let failed = rows.iter().find(|r| {
        matches!(
            r.verdict,
            Verdict::Missing | Verdict::Refused | Verdict::Unreachable | Verdict::Unresolved
        )
    });
    match failed {
        None => {
            let unproven = rows
                .iter()
                .filter(|r| r.verdict == Verdict::Unproven)
                .count();
            if unproven == 0 {
                format!("{n} {images}: all reachable")
            } else {
                format!("{n} {images}: all reachable; {unproven} not provable here (see the table)")
            }
        }
        Some(row) => format!(
            "{n} {images}: {} {} ({}, {}): {}",
            row.need,
            row.image,
            row.from,
            row.verdict.as_str(),
            row.detail
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image_ref::ImageRef;
    use crate::jwt::{AccessEntry, Claims, Meta, TagDenyPatterns};
    use crate::names::Registry;

    fn touch(image: &str, need: Need) -> Touch {
        Touch {
            image: ImageRef::parse(image).unwrap(),
            need,
            from: "--tag".into(),
        }
    }

    fn granted(repo: &str, actions: &[&str], deny: &[&str], immutable: &[&str]) -> HostAnswer {
        HostAnswer::Granted(Claims {
            access: vec![AccessEntry {
                kind: "repository".into(),
                name: repo.into(),
                actions: actions.iter().map(|a| a.to_string()).collect(),
                meta: Some(Meta {
                    project_path: Some(repo.into()),
                    tag_deny_access_patterns: Some(TagDenyPatterns {
                        push: deny.iter().map(|a| a.to_string()).collect(),
                        delete: vec![],
                    }),
                    tag_immutable_patterns: Some(immutable.iter().map(|a| a.to_string()).collect()),
                }),
            }],
            ..Claims::default()
        })
    }

    fn host(answer: HostAnswer) -> HostFacts {
        HostFacts {
            registry: Registry::parse("registry.example.com").unwrap(),
            credential: "registry-user from CI_REGISTRY_USER".into(),
            anonymous: false,
            job_token: true,
            docker_hub: false,
            dependency_proxy: false,
            answer,
        }
    }

    const APP: &str = "registry.example.com/group/app";

    #[test]
    fn every_case_has_its_verdict_and_its_fix() {
        let push = |tag: &str| touch(&format!("{APP}:{tag}"), Need::Push);
        let pull = |image: &str| touch(image, Need::Pull);
        let protected = host(granted(
            "group/app",
            &["pull", "push"],
            &[r"^v\d+$"],
            &["^release-"],
        ));
        let anonymous_hub = HostFacts {
            anonymous: true,
            docker_hub: true,
            credential: "anonymous".into(),
            job_token: false,
            ..host(granted("library/alpine", &["pull"], &[], &[]))
        };
        let cases: Vec<(Row, Verdict, &str)> = vec![
            (
                image_row(&push("v1"), &protected, None, Some("group/app")),
                Verdict::Refused,
                "tag v1 is protected: the rule '^v\\d+$'",
            ),
            (
                image_row(&push("main"), &protected, None, Some("group/app")),
                Verdict::Ok,
                "matches no protected",
            ),
            (
                image_row(
                    &push("release-1"),
                    &protected,
                    Some(Presence::Exists),
                    Some("group/app"),
                ),
                Verdict::Refused,
                "exists and matches the immutable tag rule '^release-'",
            ),
            (
                image_row(
                    &push("release-2"),
                    &protected,
                    Some(Presence::Missing),
                    Some("group/app"),
                ),
                Verdict::Ok,
                "tag release-2 is new",
            ),
            (
                image_row(
                    &pull("registry.example.com/group/other:1"),
                    &host(granted("group/app", &["pull"], &[], &[])),
                    None,
                    Some("group/app"),
                ),
                Verdict::Refused,
                "the job token may not pull group/other: add this project (group/app) to the CI/CD job token allowlist",
            ),
            (
                image_row(
                    &pull("registry.example.com/group/app/base:1"),
                    &host(granted("group/app/base", &["pull"], &[], &[])),
                    Some(Presence::Missing),
                    Some("group/app"),
                ),
                Verdict::Missing,
                "does not exist on registry.example.com",
            ),
            (
                image_row(
                    &pull("registry.example.com/group/dependency_proxy/containers/alpine:0.1"),
                    &HostFacts {
                        dependency_proxy: true,
                        ..host(granted("", &[], &[], &[]))
                    },
                    Some(Presence::Missing),
                    Some("group/app"),
                ),
                Verdict::Missing,
                "containers/alpine:0.1 was not found upstream (the dependency proxy answered 404",
            ),
            (
                image_row(
                    &pull("alpine"),
                    &anonymous_hub,
                    Some(Presence::Exists),
                    None,
                ),
                Verdict::Warning,
                "10 pulls per hour",
            ),
            (
                image_row(
                    &push("v2"),
                    &host(HostAnswer::Basic { accepted: true }),
                    None,
                    None,
                ),
                Verdict::Unproven,
                "push rights cannot be proven here",
            ),
            (
                image_row(
                    &push("v2"),
                    &host(HostAnswer::Unreachable("connection refused".into())),
                    None,
                    None,
                ),
                Verdict::Unreachable,
                "connection refused",
            ),
            (
                image_row(
                    &push("v2"),
                    &host(HostAnswer::Refused(
                        "unauthorized: HTTP Basic: Access denied".into(),
                    )),
                    None,
                    None,
                ),
                Verdict::Refused,
                "registry-user from CI_REGISTRY_USER was refused: unauthorized",
            ),
        ];
        for (row, verdict, detail) in &cases {
            assert_eq!(row.verdict, *verdict, "{}: {}", row.image, row.detail);
            assert!(row.detail.contains(detail), "{}: {}", row.image, row.detail);
            assert!(!row.detail.contains('\n'));
        }
        let rows: Vec<Row> = cases.into_iter().map(|(r, _, _)| r).collect();
        assert_eq!(preflight_exit(&rows[1..2]), Exit::Success);
        assert_eq!(preflight_exit(&rows[..2]), Exit::Rejected);
        assert_eq!(preflight_exit(&rows), Exit::Unreachable);
        assert_eq!(preflight_summary(&rows[1..2]), "1 image: all reachable");
        assert!(
            preflight_summary(&rows[..2]).starts_with(&format!(
                "2 images: push {APP}:v1 (--tag, refused): tag v1 is protected"
            )),
            "{}",
            preflight_summary(&rows[..2])
        );
    }

    #[test]
    fn an_unnamed_base_image_is_bad_input() {
        let row = unnamed_row(&Unnamed {
            from: "Dockerfile:3".into(),
            written: "$REGISTRY/app".into(),
            problem: "ARG REGISTRY has no value".into(),
        });
        assert_eq!(preflight_exit(std::slice::from_ref(&row)), Exit::Usage);
        assert!(preflight_summary(&[row]).contains("Dockerfile:3"));
    }

    #[test]
    fn a_host_keyed_engine_names_the_repository_both_credentials_and_the_fix() {
        let m = keyed_by_host_only(
            "docker",
            "registry.example.com/group/other",
            Need::Pull,
            "registry-user from CI_REGISTRY_USER",
            "deploy-token from REGISTRY_PASSWORD",
        );
        assert_eq!(
            m,
            "docker keys credentials by registry host only, so registry.example.com/group/other would get registry-user from CI_REGISTRY_USER, which may not pull it (deploy-token from REGISTRY_PASSWORD may): use one credential that grants both, or an engine that keys by repository (--engine podman, buildah or skopeo, or --engine auth-file --auth-format containers)"
        );
    }
}
