//! The dependency proxy, proven (issue 13, item 6; reference 1.9 and 9.7): GitLab
//! accepting a login to its dependency proxy proves no pull (gitlab#362991), so the
//! check requests one manifest through the proxy with the credential it would store.
//! Which image is probed is decided here, purely; what the answer means is
//! `diagnose::proxy_probe_verdict`'s.

use crate::handshake::{self, Auth, Endpoint, TokenReply};
use crate::http::{Credential, Http};
use crate::names::{Registry, Repository};
use crate::secret::Secret;
use crate::text::sanitize;

/// Where the proxy keeps a group's images: `GROUP/dependency_proxy/containers/IMAGE`.
const CONTAINERS: &str = "/dependency_proxy/containers";

/// The manifest types a pull accepts (indexes first, as docker asks).
const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// One image as the dependency proxy serves it, at a tag or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeImage {
    /// The group whose proxy serves it, e.g. `group` or `group/sub`.
    pub group: String,
    /// The upstream (Docker Hub) image, e.g. `alpine` or `library/alpine`.
    pub image: String,
    /// The tag, or `sha256:...` for a digest.
    pub reference: String,
    /// What named it: `--proxy-probe` or `CI_JOB_IMAGE`.
    pub source: &'static str,
}

impl ProbeImage {
    /// The repository path on the proxy.
    pub fn path(&self) -> String {
        format!("{}{CONTAINERS}/{}", self.group, self.image)
    }

    /// `PATH:TAG` or `PATH@DIGEST`, as an image reference writes it.
    pub fn describe(&self) -> String {
        let separator = if self.reference.starts_with("sha256:") {
            '@'
        } else {
            ':'
        };
        format!("{}{separator}{}", self.path(), self.reference)
    }
}

/// `value` as an image of the proxy: a whole reference on the proxy (as
/// `$CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX/alpine:3.20` expands), or a Docker Hub image
/// (`alpine:3.20`) in the group `group_prefix` names. The tag defaults to `latest`.
pub fn parse(
    value: &str,
    source: &'static str,
    proxy: &Registry,
    group_prefix: Option<&str>,
) -> Result<ProbeImage, String> {
    let bad = |why: String| format!("{source} '{}': {why}", sanitize(value, 80));
    let (name, reference) = split_reference(value).map_err(bad)?;
    let path = Repository::parse(name, Some(proxy))
        .map_err(|e| bad(e.to_string()))?
        .as_str()
        .to_string();
    let (group, image) = match path.split_once(&format!("{CONTAINERS}/")) {
        Some((group, image)) => (group.to_string(), image.to_string()),
        None => {
            let group = group_prefix
                .and_then(|prefix| group_of_prefix(prefix, proxy))
                .ok_or_else(|| {
                    bad("a Docker Hub image needs the group whose dependency proxy serves it, which CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX says, and it is not set to one: give the whole reference (HOST/GROUP/dependency_proxy/containers/IMAGE:TAG)".into())
                })?;
            (group, path)
        }
    };
    if group.is_empty() || image.is_empty() {
        return Err(bad(
            "names no image below a group's dependency_proxy/containers".into(),
        ));
    }
    Ok(ProbeImage {
        group,
        image,
        reference,
        source,
    })
}

/// The job's own image when it comes through this proxy: `CI_JOB_IMAGE` below one of
/// the `..._IMAGE_PREFIX` values. Anything else is not the proxy's to prove.
pub fn from_job_image(job_image: &str, proxy: &Registry, prefixes: &[&str]) -> Option<ProbeImage> {
    let through_proxy = prefixes
        .iter()
        .filter(|p| !p.is_empty())
        .any(|p| job_image.starts_with(&format!("{}/", p.trim_end_matches('/'))));
    through_proxy
        .then(|| parse(job_image, "CI_JOB_IMAGE", proxy, None).ok())
        .flatten()
}

/// `GROUP` of `HOST[:PORT]/GROUP/dependency_proxy/containers`.
fn group_of_prefix(prefix: &str, proxy: &Registry) -> Option<String> {
    let path = Repository::parse(prefix.trim_end_matches('/'), Some(proxy)).ok()?;
    path.as_str()
        .strip_suffix(CONTAINERS)
        .filter(|g| !g.is_empty())
        .map(str::to_string)
}

/// `name[:tag]` or `name@sha256:...`; a tag only after the last `/`.
fn split_reference(value: &str) -> Result<(&str, String), String> {
    if let Some((name, digest)) = value.split_once('@') {
        let hex = digest.strip_prefix("sha256:").unwrap_or_default();
        let valid = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        return if valid {
            Ok((name, digest.to_string()))
        } else {
            Err("a digest is sha256: and 64 lower-case hex digits".into())
        };
    }
    match value.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => {
            let valid = tag.len() <= 128
                && tag
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            if valid {
                Ok((name, tag.to_string()))
            } else {
                Err(format!("'{}' is no tag", sanitize(tag, 40)))
            }
        }
        _ => Ok((value, "latest".to_string())),
    }
}

/// What the proxy did with the manifest request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// 200: the manifest came through; its digest when the proxy said it.
    Pulled { digest: Option<String> },
    /// 401 or 403, from the token service or the proxy, with GitLab's message.
    Refused { status: u16, message: String },
    /// 404: upstream has no such image or tag.
    NotFound(String),
    /// No answer, or one that is no registry talking.
    Unreachable(String),
}

/// Requests the image's manifest through the proxy as a pull does: a token from the
/// realm the proxy's own challenge named (the credential goes there and nowhere else),
/// then the manifest from the proxy with that token (which goes to the proxy only).
pub async fn probe(
    http: &Http,
    endpoint: &Endpoint,
    auth: &Auth,
    image: &ProbeImage,
    username: &str,
    secret: &Secret,
) -> ProbeOutcome {
    let token;
    let credential = match auth {
        Auth::Open => Credential::None,
        Auth::Basic => Credential::Basic(username, secret),
        Auth::Bearer { realm, service } => {
            let scope = format!("repository:{}:pull", image.path());
            match handshake::request_raw_token(
                http,
                realm,
                service.as_deref(),
                Some(&scope),
                username,
                secret,
            )
            .await
            {
                Ok(t) => {
                    token = t;
                    Credential::Bearer(&token)
                }
                Err(reply) => return refused_token(reply),
            }
        }
    };
    let url = format!(
        "{}/v2/{}/manifests/{}",
        endpoint.base,
        image.path(),
        image.reference
    );
    match http
        .get_accepting(&url, credential, false, Some(MANIFEST_TYPES))
        .await
    {
        Ok(reply) => match reply.status {
            200 => ProbeOutcome::Pulled {
                digest: reply
                    .header("docker-content-digest")
                    .map(|d| sanitize(d, 80)),
            },
            401 | 403 => ProbeOutcome::Refused {
                status: reply.status,
                message: handshake::error_message(&reply.body),
            },
            404 => ProbeOutcome::NotFound(handshake::error_message(&reply.body)),
            status => ProbeOutcome::Unreachable(format!(
                "{url} answered HTTP {status}{}",
                match handshake::error_message(&reply.body) {
                    m if m.is_empty() => String::new(),
                    m => format!(": {m}"),
                }
            )),
        },
        Err(e) => ProbeOutcome::Unreachable(match e.hint() {
            Some(hint) => format!("{e} ({hint})"),
            None => e.to_string(),
        }),
    }
}

/// The token service's answer when it gave no token.
fn refused_token(reply: TokenReply) -> ProbeOutcome {
    match reply {
        TokenReply::Unauthorized(message) => ProbeOutcome::Refused {
            status: 401,
            message,
        },
        TokenReply::Forbidden(message) => ProbeOutcome::Refused {
            status: 403,
            message,
        },
        TokenReply::Redirected(location) => ProbeOutcome::Unreachable(format!(
            "the token endpoint redirected to {location}; no credentials were sent there"
        )),
        TokenReply::Broken(message) => ProbeOutcome::Unreachable(message),
        TokenReply::Net(e) => ProbeOutcome::Unreachable(e.to_string()),
        TokenReply::Granted(_) => {
            ProbeOutcome::Unreachable("the token service answered without a token".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy() -> Registry {
        Registry::parse("gitlab.example.com:443").unwrap()
    }

    const PREFIX: &str = "gitlab.example.com:443/group/dependency_proxy/containers";

    #[test]
    fn a_whole_reference_or_a_docker_hub_image_in_the_prefix_group() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            (
                "gitlab.example.com:443/group/dependency_proxy/containers/alpine:3.20",
                None,
                "group/dependency_proxy/containers/alpine:3.20",
            ),
            (
                "gitlab.example.com/Group/Sub/dependency_proxy/containers/library/alpine",
                None,
                "group/sub/dependency_proxy/containers/library/alpine:latest",
            ),
            (
                "alpine:3.20",
                Some(PREFIX),
                "group/dependency_proxy/containers/alpine:3.20",
            ),
            (
                "busybox",
                Some(PREFIX),
                "group/dependency_proxy/containers/busybox:latest",
            ),
        ];
        for (value, prefix, want) in cases {
            let image = parse(value, "--proxy-probe", &proxy(), *prefix).unwrap();
            assert_eq!(image.describe(), *want, "{value}");
        }
        let digest = format!("alpine@sha256:{}", "a".repeat(64));
        let image = parse(&digest, "--proxy-probe", &proxy(), Some(PREFIX)).unwrap();
        assert_eq!(image.reference, format!("sha256:{}", "a".repeat(64)));
        assert!(image.describe().contains("/alpine@sha256:"));
    }

    #[test]
    fn what_names_no_image_of_the_proxy_is_refused_naming_the_source() {
        let cases: &[(&str, Option<&str>)] = &[
            ("", Some(PREFIX)),
            ("alpine:3.20", None),
            ("docker.io/library/alpine", Some(PREFIX)),
            ("alpine@sha256:abc", Some(PREFIX)),
            ("alpine:-bad", Some(PREFIX)),
            ("..", Some(PREFIX)),
            ("Al pine", Some(PREFIX)),
            ("gitlab.example.com:443/dependency_proxy/containers/x", None),
        ];
        for (value, prefix) in cases {
            let e = parse(value, "--proxy-probe", &proxy(), *prefix).unwrap_err();
            assert!(e.starts_with("--proxy-probe '"), "{value}: {e}");
        }
    }

    #[test]
    fn the_jobs_image_is_probed_only_when_it_comes_through_the_proxy() {
        let direct = "gitlab.example.com:443/group/sub/dependency_proxy/containers";
        let prefixes = [PREFIX, direct];
        let through = format!("{PREFIX}/alpine:3.20");
        let image = from_job_image(&through, &proxy(), &prefixes).unwrap();
        assert_eq!(image.source, "CI_JOB_IMAGE");
        assert_eq!(image.group, "group");
        let sub = from_job_image(&format!("{direct}/node:22"), &proxy(), &prefixes).unwrap();
        assert_eq!(sub.group, "group/sub");
        assert_eq!(from_job_image("alpine:3.20", &proxy(), &prefixes), None);
        assert_eq!(
            from_job_image("registry.example.com/group/app:1", &proxy(), &prefixes),
            None
        );
        assert_eq!(from_job_image(&through, &proxy(), &["", ""]), None);
    }
}
