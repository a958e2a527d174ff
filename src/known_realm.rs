//! The token realm of the job's own registry, known before any request (issue 15): a
//! GitLab registry sends clients to its GitLab's `/jwt/auth` with service
//! `container_registry` (reference §2). Asked at once, alongside the `/v2/` ping, the
//! scoped token costs no round trips of its own; the ping's challenge still decides, and
//! a guess it does not confirm is asked again where the challenge points.
//!
//! The guess only ever carries a credential GitLab set for the job, and only to the
//! GitLab that issued it (`CI_SERVER_URL`): any other realm receives credentials only
//! after a challenge named it.

use crate::access::Kind;
use crate::credentials::{Candidate, Origin};
use crate::handshake::{self, Auth};
use crate::job::Job;
use crate::mode::Mode;
use crate::names::Registry;
use reqwest::Url;

/// GitLab's registry service name, as its challenge names it.
pub const SERVICE: &str = "container_registry";

/// The variables (candidate sources) whose credentials the job's GitLab issued: the
/// runner sets them, from the GitLab at `CI_SERVER_URL`.
const ISSUED_BY_THE_JOBS_GITLAB: &[&str] = &["CI_REGISTRY_USER", "CI_JOB_TOKEN", "CI_DEPLOY_USER"];

/// Where an early token request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guess {
    pub realm: Url,
}

impl Guess {
    /// Whether the registry's own challenge names this realm and GitLab's service.
    pub fn confirmed_by(&self, auth: &Auth) -> bool {
        matches!(auth, Auth::Bearer { realm, service }
            if *realm == self.realm && service.as_deref() == Some(SERVICE))
    }
}

/// The early request for candidate `c`, if one may be made: in a GitLab job, for the
/// job's own registry, with a credential GitLab set for the job, to `CI_SERVER_URL`'s
/// `/jwt/auth` (plain HTTP only where a realm may be: loopback or `--insecure`).
pub fn guess(job: &Job, registry: &Registry, c: &Candidate, insecure: bool) -> Option<Guess> {
    let issued_by_the_jobs_gitlab = matches!(&c.origin,
        Origin::Variable(name) if ISSUED_BY_THE_JOBS_GITLAB.contains(&name.as_str()));
    if job.mode != Mode::GitLabCi
        || !job.is_own_registry(registry)
        || c.kind == Kind::AccessToken
        || !issued_by_the_jobs_gitlab
    {
        return None;
    }
    let server = Url::parse(job.server_url.as_deref()?.trim()).ok()?;
    if !matches!(server.scheme(), "https" | "http")
        || server.host_str().is_none()
        || !server.username().is_empty()
        || server.password().is_some()
        || server.query().is_some()
        || server.fragment().is_some()
    {
        return None;
    }
    let realm = format!("{}/jwt/auth", server.as_str().trim_end_matches('/'));
    let realm = handshake::checked_realm(&realm, insecure).ok()?;
    Some(Guess { realm })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Binding;
    use crate::secret::Secret;

    fn candidate(kind: Kind, source: &str) -> Candidate {
        Candidate {
            kind,
            origin: Origin::Variable(source.into()),
            username: "gitlab-ci-token".into(),
            secret: Secret::new("s"),
            binding: Binding::default(),
            scopes: None,
            problem: None,
            notes: Vec::new(),
        }
    }

    fn job(mode: Mode, server: &str) -> Job {
        Job {
            mode,
            registry: Some(registry()),
            dependency_proxy: None,
            project: None,
            servers: Vec::new(),
            docker_auth_config: Vec::new(),
            server_url: Some(server.into()),
        }
    }

    fn registry() -> Registry {
        Registry::parse("registry.example.com").unwrap()
    }

    fn realm_for(server: &str, c: &Candidate) -> Option<String> {
        guess(&job(Mode::GitLabCi, server), &registry(), c, false).map(|g| g.realm.to_string())
    }

    #[test]
    fn the_realm_is_the_jobs_gitlab() {
        let job = candidate(Kind::RegistryUser, "CI_REGISTRY_USER");
        assert_eq!(
            realm_for("https://gitlab.example.com", &job).as_deref(),
            Some("https://gitlab.example.com/jwt/auth")
        );
        // GitLab under a relative URL root.
        assert_eq!(
            realm_for("https://example.com/gitlab/", &job).as_deref(),
            Some("https://example.com/gitlab/jwt/auth")
        );
        assert_eq!(
            realm_for("http://127.0.0.1:8080", &job).as_deref(),
            Some("http://127.0.0.1:8080/jwt/auth")
        );
    }

    #[test]
    fn no_guess_that_could_send_a_credential_elsewhere() {
        let job = candidate(Kind::RegistryUser, "CI_REGISTRY_USER");
        // Plain HTTP off loopback, unparsable or odd URLs.
        for server in [
            "http://gitlab.example.com",
            "",
            "gitlab.example.com",
            "ftp://gitlab.example.com",
            "https://user:pw@gitlab.example.com",
            "https://gitlab.example.com/?x=1",
        ] {
            assert_eq!(realm_for(server, &job), None, "{server}");
        }
        let url = "https://gitlab.example.com";
        let c = job;
        // Not a GitLab job, not the job's registry, no CI_SERVER_URL.
        for mode in [Mode::LocalEmulation, Mode::OtherCi, Mode::Laptop] {
            assert_eq!(guess(&self::job(mode, url), &registry(), &c, false), None);
        }
        let other = Registry::parse("other.example.com").unwrap();
        assert_eq!(
            guess(&self::job(Mode::GitLabCi, url), &other, &c, false),
            None
        );
        let no_server = Job {
            server_url: None,
            ..self::job(Mode::GitLabCi, url)
        };
        assert_eq!(guess(&no_server, &registry(), &c, false), None);
        // Credentials GitLab did not set for the job: the user's own, the docker config's.
        for (kind, source) in [
            (Kind::DeployToken, "REGISTRY_USER"),
            (Kind::AccessToken, "CI_REGISTRY_USER"),
            (Kind::Password, "docker config"),
        ] {
            assert_eq!(realm_for(url, &candidate(kind, source)), None);
        }
        // --insecure allows a plain-HTTP realm, as the challenge's would be.
        let lan = self::job(Mode::GitLabCi, "http://gitlab.lan");
        assert!(guess(&lan, &registry(), &c, true).is_some());
    }

    #[test]
    fn only_the_challenge_confirms_a_guess() {
        let g = Guess {
            realm: Url::parse("https://gitlab.example.com/jwt/auth").unwrap(),
        };
        let bearer = |realm: &str, service: Option<&str>| Auth::Bearer {
            realm: Url::parse(realm).unwrap(),
            service: service.map(str::to_string),
        };
        assert!(g.confirmed_by(&bearer(
            "https://gitlab.example.com/jwt/auth",
            Some(SERVICE)
        )));
        assert!(!g.confirmed_by(&bearer("https://other.example.com/jwt/auth", Some(SERVICE))));
        assert!(!g.confirmed_by(&bearer(
            "https://gitlab.example.com/jwt/auth",
            Some("other")
        )));
        assert!(!g.confirmed_by(&bearer("https://gitlab.example.com/jwt/auth", None)));
        assert!(!g.confirmed_by(&Auth::Basic));
        assert!(!g.confirmed_by(&Auth::Open));
    }
}
