//! Image references as docker reads them: `alpine` is `docker.io/library/alpine:latest`,
//! a first component is a registry host only when it has a `.` or a `:`, or is
//! `localhost` (docker also takes an upper-case one for a host: refused here, as in lower
//! case, the way hosts compare, it would be a Docker Hub path); `index.docker.io` is
//! `docker.io`; a digest is kept (with or without a tag). What a job pulls and pushes is named this way, in flags, in
//! `$CI_JOB_IMAGE` and in Dockerfiles.

use crate::names::{NameError, Registry, Repository};
use std::fmt;

/// Docker Hub as references name it.
pub const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's registry API host: `docker.io` itself serves no `/v2/`.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub registry: Registry,
    pub repository: Repository,
    pub tag: Option<String>,
    /// `sha256:...`, kept as written.
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("is empty")]
    Empty,
    #[error("contains whitespace or control characters")]
    Whitespace,
    #[error("has an upper-case repository path '{}': image paths are lower case", shown(.0))]
    UpperCase(String),
    #[error("has an invalid tag '{}' (letters, digits, '_', '.', '-'; at most 128, not starting with '.' or '-')", shown(.0))]
    Tag(String),
    #[error("has an invalid digest '{}' (ALGORITHM:HEX, e.g. sha256:...)", shown(.0))]
    Digest(String),
    #[error("starts with '{}', which docker reads as a registry host only because of its upper case; write the host in lower case with a '.' or a port, or the Docker Hub path in lower case", shown(.0))]
    UpperCaseHost(String),
    #[error("{0}")]
    Name(#[from] NameError),
}

fn shown(part: &str) -> String {
    crate::text::sanitize(part, 80)
}

impl ImageRef {
    pub fn parse(input: &str) -> Result<ImageRef, ImageError> {
        if input.is_empty() {
            return Err(ImageError::Empty);
        }
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ImageError::Whitespace);
        }
        let (name_tag, digest) = match input.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (input, None),
        };
        if let Some(d) = digest
            && !valid_digest(d)
        {
            return Err(ImageError::Digest(d.to_string()));
        }
        // A tag follows the last ':' after the last '/' (a ':' before it is a port).
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => (
                &name_tag[..last_slash + i],
                Some(&name_tag[last_slash + i + 1..]),
            ),
            None => (name_tag, None),
        };
        if let Some(t) = tag
            && !valid_tag(t)
        {
            return Err(ImageError::Tag(t.to_string()));
        }
        let (host, path) = split_domain(name);
        // Hosts compare in lower case, and in lower case this one would be a Docker Hub
        // path: no spelling names the same registry again (found by fuzzing).
        let bare_label = !host.contains(['.', ':']) && !host.eq_ignore_ascii_case("localhost");
        if bare_label && host != DOCKER_HUB {
            return Err(ImageError::UpperCaseHost(host.to_string()));
        }
        let registry = Registry::parse(host)?;
        let registry = if registry.host() == "index.docker.io" && registry.port().is_none() {
            Registry::parse(DOCKER_HUB)?
        } else {
            registry
        };
        let path = if is_docker_hub(&registry) && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ImageError::UpperCase(path));
        }
        Ok(ImageRef {
            registry,
            repository: Repository::project_path(&path)?,
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        })
    }

    /// What `HEAD /v2/<repo>/manifests/<ref>` asks for: the digest when there is one,
    /// else the tag, else `latest`.
    pub fn reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// The host whose `/v2/` serves this image (Docker Hub's API is not `docker.io`).
    pub fn api_registry(&self) -> Registry {
        if is_docker_hub(&self.registry) {
            Registry::parse(DOCKER_HUB_API).expect("a valid host")
        } else {
            self.registry.clone()
        }
    }

    pub fn on_docker_hub(&self) -> bool {
        is_docker_hub(&self.registry)
    }

    /// The same image with another tag (and no digest): `--tag` on the job's image.
    pub fn with_tag(&self, tag: &str) -> Result<ImageRef, ImageError> {
        if !valid_tag(tag) {
            return Err(ImageError::Tag(tag.to_string()));
        }
        Ok(ImageRef {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        match (&self.tag, &self.digest) {
            (Some(t), Some(d)) => write!(f, ":{t}@{d}"),
            (None, Some(d)) => write!(f, "@{d}"),
            (Some(t), None) => write!(f, ":{t}"),
            (None, None) => write!(f, ":latest"),
        }
    }
}

fn is_docker_hub(registry: &Registry) -> bool {
    registry.port().is_none() && registry.host() == DOCKER_HUB
}

/// docker's rule: the first component is a host only if it has a '.' or ':', is
/// `localhost`, or is not all lower case; otherwise the image is on Docker Hub.
fn split_domain(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first != first.to_ascii_lowercase() =>
        {
            (first, rest)
        }
        _ => (DOCKER_HUB, name),
    }
}

/// `[\w][\w.-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

/// `ALGORITHM:HEX`: an algorithm of letters and digits (separated by `+._-`), at least
/// 32 hex digits.
fn valid_digest(digest: &str) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return false;
    };
    let algorithm_ok = algorithm.split(['+', '.', '_', '-']).all(|part| {
        part.starts_with(|c: char| c.is_ascii_alphabetic())
            && part.bytes().all(|b| b.is_ascii_alphanumeric())
    });
    algorithm_ok && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn full(input: &str) -> String {
        ImageRef::parse(input).unwrap().to_string()
    }

    #[test]
    fn references_read_as_docker_reads_them() {
        let cases = [
            ("alpine", "docker.io/library/alpine:latest"),
            ("alpine:3.20", "docker.io/library/alpine:3.20"),
            ("library/alpine", "docker.io/library/alpine:latest"),
            ("bitnami/redis:7", "docker.io/bitnami/redis:7"),
            ("docker.io/alpine", "docker.io/library/alpine:latest"),
            ("index.docker.io/alpine", "docker.io/library/alpine:latest"),
            (
                "registry.example.com/group/app",
                "registry.example.com/group/app:latest",
            ),
            (
                "registry.example.com:5050/group/app:v1",
                "registry.example.com:5050/group/app:v1",
            ),
            ("localhost/app", "localhost/app:latest"),
            ("localhost:5000/app:1", "localhost:5000/app:1"),
            ("127.0.0.1:5000/a/b/c:x", "127.0.0.1:5000/a/b/c:x"),
        ];
        for (input, want) in cases {
            assert_eq!(full(input), want, "{input}");
        }
        let with_digest = format!("alpine@{DIGEST}");
        let r = ImageRef::parse(&with_digest).unwrap();
        assert_eq!(r.reference(), DIGEST);
        assert_eq!(r.to_string(), format!("docker.io/library/alpine@{DIGEST}"));
        let both = ImageRef::parse(&format!("alpine:3@{DIGEST}")).unwrap();
        assert_eq!(both.tag.as_deref(), Some("3"));
        assert_eq!(both.reference(), DIGEST);
    }

    #[test]
    fn docker_hub_is_served_by_its_api_host() {
        let r = ImageRef::parse("alpine").unwrap();
        assert!(r.on_docker_hub());
        assert_eq!(r.api_registry().host_port(), DOCKER_HUB_API);
        let own = ImageRef::parse("127.0.0.1:5000/a/b").unwrap();
        assert!(!own.on_docker_hub());
        assert_eq!(own.api_registry().host_port(), "127.0.0.1:5000");
    }

    #[test]
    fn what_docker_refuses_is_refused() {
        for bad in [
            "",
            "a b",
            "alpine:",
            "alpine:-x",
            "Group/App",
            "registry.example.com/Group/app",
            "alpine@sha256:abc",
            "alpine@md5",
            "a//b",
            "-a",
            "https://registry.example.com/app",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(matches!(
            ImageRef::parse("registry.example.com/Group/app"),
            Err(ImageError::UpperCase(_))
        ));
        // docker reads `Registry` as a host for its upper case alone; in lower case it
        // would be a Docker Hub path, so the reference is refused, not misread.
        assert!(matches!(
            ImageRef::parse("RegitpAsyp/r"),
            Err(ImageError::UpperCaseHost(_))
        ));
        let long_tag = format!("alpine:{}", "a".repeat(129));
        assert!(matches!(
            ImageRef::parse(&long_tag),
            Err(ImageError::Tag(_))
        ));
    }

    #[test]
    fn a_tag_replaces_tag_and_digest() {
        let r = ImageRef::parse(&format!("127.0.0.1:5000/g/app:1@{DIGEST}")).unwrap();
        assert_eq!(
            r.with_tag("v2").unwrap().to_string(),
            "127.0.0.1:5000/g/app:v2"
        );
        assert!(r.with_tag(".bad").is_err());
    }
}
