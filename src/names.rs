//! Registry hosts and repository paths: parsed once, normalised the way docker and
//! GitLab compare them, and rejected with a reason when they cannot be meant.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Https,
    Http,
}

/// A registry as docker keys it in `config.json`: `host` or `host:port`, lower case.
///
/// The normal form (the key) is `host[:port]` with HTTPS implied: port 443 is dropped,
/// any other port is kept. A plain-HTTP registry keeps its port in the key, 80 when
/// none was written (`http://host` is `host:80`, never `host`, which is HTTPS on 443);
/// plain HTTP on 443 has no key that reads back as the same registry and is refused.
/// So a key always parses back to the registry it was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    host: String,
    port: Option<u16>,
    /// Only set when the user wrote `http://` or `https://`.
    scheme: Option<Scheme>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("is empty")]
    Empty,
    #[error("contains whitespace or control characters")]
    Whitespace,
    #[error("has user information ('@'); pass credentials through variables, never in the address")]
    UserInfo,
    #[error("has a path ('{}'); give only host[:port]", shown(.0))]
    Path(String),
    #[error("has an unsupported scheme '{}'; use host[:port], https://host or http://host", shown(.0))]
    Scheme(String),
    #[error("has an invalid port '{}' (1-65535)", shown(.0))]
    Port(String),
    #[error(
        "asks for plain HTTP on port 443, the HTTPS port; write https://HOST for an HTTPS registry, or http://HOST:PORT with the port the plain-HTTP registry listens on"
    )]
    HttpOnHttpsPort,
    #[error("has a non-ASCII host '{}' (a look-alike character?); write it in ASCII or punycode", shown(.0))]
    NonAscii(String),
    #[error("has an invalid host '{}'", shown(.0))]
    Host(String),
    #[error("has an invalid path component '{}' (lower-case letters, digits, '.', '_', '-')", shown(.0))]
    Component(String),
    #[error("is too long ({0} characters, at most 255)")]
    TooLong(usize),
    #[error("names registry '{0}', not the one being logged in to ('{1}')")]
    OtherRegistry(String, String),
}

/// A piece of hostile input as a message quotes it: never a 128 KiB line in a job log.
fn shown(part: &str) -> String {
    crate::text::sanitize(part, 80)
}

impl Registry {
    pub fn parse(input: &str) -> Result<Registry, NameError> {
        check_text(input)?;
        let (scheme, rest) = split_scheme(input)?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('@') {
            return Err(NameError::UserInfo);
        }
        if let Some(slash) = rest.find('/') {
            return Err(NameError::Path(rest[slash..].to_string()));
        }
        let (host, port) = split_port(rest)?;
        let host = normalise_host(host)?;
        let port = match scheme {
            Some(Scheme::Http) if port == Some(443) => return Err(NameError::HttpOnHttpsPort),
            Some(Scheme::Http) => Some(port.unwrap_or(80)),
            _ => port.filter(|p| *p != 443),
        };
        Ok(Registry { host, port, scheme })
    }

    /// The key docker and the auth files use, e.g. `registry.example.com:5050`.
    pub fn host_port(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> Option<u16> {
        self.port
    }

    pub fn explicit_scheme(&self) -> Option<Scheme> {
        self.scheme
    }

    /// Loopback registries may speak plain HTTP without `--insecure`, as docker allows.
    pub fn is_loopback(&self) -> bool {
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        bare == "localhost"
            || bare.ends_with(".localhost")
            || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// Same registry, whatever the spelling (`https://HOST:443/` equals `host`).
    pub fn same_as(&self, other: &Registry) -> bool {
        self.host == other.host && self.port == other.port
    }
}

impl fmt::Display for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.host_port())
    }
}

fn split_scheme(input: &str) -> Result<(Option<Scheme>, &str), NameError> {
    let Some((scheme, rest)) = input.split_once("://") else {
        return Ok((None, input));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok((Some(Scheme::Https), rest)),
        "http" => Ok((Some(Scheme::Http), rest)),
        _ => Err(NameError::Scheme(scheme.to_string())),
    }
}

fn split_port(hostport: &str) -> Result<(&str, Option<u16>), NameError> {
    // [v6] or [v6]:port
    if let Some(inner_end) = hostport.strip_prefix('[').and_then(|r| r.find(']')) {
        let host = &hostport[..inner_end + 2];
        let after = &hostport[inner_end + 2..];
        return match after.strip_prefix(':') {
            Some(port) => Ok((host, Some(parse_port(port)?))),
            None if after.is_empty() => Ok((host, None)),
            None => Err(NameError::Host(hostport.to_string())),
        };
    }
    match hostport.rsplit_once(':') {
        Some((host, port)) => Ok((host, Some(parse_port(port)?))),
        None => Ok((hostport, None)),
    }
}

fn parse_port(port: &str) -> Result<u16, NameError> {
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
        _ => Err(NameError::Port(port.to_string())),
    }
}

fn normalise_host(host: &str) -> Result<String, NameError> {
    if host.is_empty() {
        return Err(NameError::Empty);
    }
    if !host.is_ascii() {
        return Err(NameError::NonAscii(host.to_string()));
    }
    let host = host.to_ascii_lowercase();
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return match v6.parse::<Ipv6Addr>() {
            Ok(ip) => Ok(format!("[{ip}]")),
            Err(_) => Err(NameError::Host(host)),
        };
    }
    if host.parse::<Ipv4Addr>().is_ok() {
        return Ok(host);
    }
    let labels_ok = host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if labels_ok {
        Ok(host)
    } else {
        Err(NameError::Host(host))
    }
}

/// A repository path inside a registry, lower-cased as GitLab does: `group/sub/app`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository(String);

impl Repository {
    /// Parses a path, dropping a `:tag` or `@digest` and a leading registry host that
    /// names `registry` (so `$CI_REGISTRY_IMAGE:latest` works as a value).
    pub fn parse(input: &str, registry: Option<&Registry>) -> Result<Repository, NameError> {
        check_path_text(input)?;
        let without_digest = input.split('@').next().unwrap_or(input);
        let mut path = strip_registry_prefix(without_digest, registry)?;
        // A tag can only follow the last component.
        if let Some((head, tag)) = path.rsplit_once(':')
            && !tag.contains('/')
        {
            path = head;
        }
        Repository::components(path)
    }

    /// A GitLab project path (`CI_PROJECT_PATH`): components only. It never starts with
    /// a registry host (a group may be named `my.group`) and never carries a tag.
    pub fn project_path(input: &str) -> Result<Repository, NameError> {
        check_path_text(input)?;
        Repository::components(input)
    }

    /// Lower-cases and checks every component of a bare path.
    fn components(path: &str) -> Result<Repository, NameError> {
        let path = path.to_ascii_lowercase();
        if path.len() > 255 {
            return Err(NameError::TooLong(path.len()));
        }
        for component in path.split('/') {
            if !valid_component(component) {
                return Err(NameError::Component(component.to_string()));
            }
        }
        Ok(Repository(path))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What no repository path can be: empty, with spaces or control characters, or a URL.
fn check_path_text(input: &str) -> Result<(), NameError> {
    check_text(input)?;
    match input.split_once("://") {
        Some((scheme, _)) => Err(NameError::Scheme(scheme.into())),
        None => Ok(()),
    }
}

/// What no name can be: empty, or with spaces or control characters.
fn check_text(input: &str) -> Result<(), NameError> {
    if input.is_empty() {
        Err(NameError::Empty)
    } else if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err(NameError::Whitespace)
    } else {
        Ok(())
    }
}

/// `registry.example.com:5050/group/app` -> `group/app` when the host is the registry.
/// A first component that looks like a host (has '.' or ':' or is `localhost`) but names
/// another registry is an error, not a path.
fn strip_registry_prefix<'a>(
    path: &'a str,
    registry: Option<&Registry>,
) -> Result<&'a str, NameError> {
    let Some((first, rest)) = path.split_once('/') else {
        return Ok(path);
    };
    // The registry itself, even a bare name (`registry` as a service alias), found by
    // fuzzing: `docker`'s rule alone kept `registry/group/app` whole.
    if let Some(r) = registry
        && Registry::parse(first).is_ok_and(|named| named.same_as(r))
    {
        return Ok(rest);
    }
    let looks_like_host = first.contains('.') || first.contains(':') || first == "localhost";
    if !looks_like_host {
        return Ok(path);
    }
    let named = Registry::parse(first)?;
    match registry {
        Some(r) if r.same_as(&named) => Ok(rest),
        Some(r) => Err(NameError::OtherRegistry(named.host_port(), r.host_port())),
        None => Ok(rest),
    }
}

/// distribution's path-component grammar: `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`.
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_lowercase() || b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__", or any number of "-".
        let start = i;
        while i < b.len() && matches!(b[i], b'.' | b'_' | b'-') {
            i += 1;
        }
        let sep = &c[start..i];
        // An empty run is a byte that is neither: refuse it (and never spin on it).
        let ok = sep == "."
            || sep == "_"
            || sep == "__"
            || (!sep.is_empty() && sep.bytes().all(|x| x == b'-'));
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(s: &str) -> String {
        Registry::parse(s).unwrap().host_port()
    }

    #[test]
    fn normalises_registry_spellings() {
        assert_eq!(reg("https://Registry.Example.com/"), "registry.example.com");
        assert_eq!(reg("registry.example.com:443"), "registry.example.com");
        assert_eq!(reg("gitlab.example.com:5050"), "gitlab.example.com:5050");
        assert_eq!(reg("http://127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(reg("[::1]:5000"), "[::1]:5000");
        assert_eq!(reg("[0:0::1]"), "[::1]");
    }

    /// Found by fuzzing (issue 10): `http://Registry.Example.com:443/` became the key
    /// `registry.example.com:443`, which reads back as the HTTPS registry on 443.
    #[test]
    fn keys_keep_what_makes_a_registry_different() {
        for (input, key) in [
            ("http://host:80", "host:80"),
            ("http://host", "host:80"),
            ("HTTP://HOST", "host:80"),
            ("https://host:443", "host"),
            ("HTTPS://HOST:443/", "host"),
            ("http://host:5000", "host:5000"),
            ("https://host:5000", "host:5000"),
            ("https://host:80", "host:80"),
        ] {
            let registry = Registry::parse(input).unwrap();
            assert_eq!(registry.host_port(), key, "{input}");
            let again = Registry::parse(key).unwrap();
            assert!(again.same_as(&registry), "{input} -> {key} -> {again:?}");
        }
        for input in [
            "http://Registry.Example.com:443/",
            "http://host:443",
            "HTTP://[::1]:443",
        ] {
            assert_eq!(
                Registry::parse(input),
                Err(NameError::HttpOnHttpsPort),
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_what_cannot_be_a_registry() {
        for bad in [
            "",
            "host/path",
            "https://host/v2/",
            "user:pass@host",
            "https://user:pass@host/path",
            "host:99999",
            "host:0",
            "host:",
            "ho st",
            "host\n",
            "ftp://host",
            "a..b",
            "-host",
            "regіstry.example.com", // Cyrillic i
            "[::1",
        ] {
            assert!(Registry::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn knows_loopback() {
        for l in ["127.0.0.1:5000", "localhost", "[::1]:80", "127.9.9.9"] {
            assert!(Registry::parse(l).unwrap().is_loopback(), "{l}");
        }
        assert!(
            !Registry::parse("registry.example.com")
                .unwrap()
                .is_loopback()
        );
    }

    #[test]
    fn project_paths_are_only_components() {
        let p = |s| Repository::project_path(s).map(|x| x.0);
        assert_eq!(p("My.Group/App").unwrap(), "my.group/app");
        assert_eq!(p("group/sub/app").unwrap(), "group/sub/app");
        for bad in [
            "group/app:latest",
            "group/app@sha256:abc",
            "",
            " g/a",
            "g/../a",
        ] {
            assert!(p(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn repository_is_lower_cased_and_stripped() {
        let r = Registry::parse("reg.example.com:5050").unwrap();
        let p = |s| Repository::parse(s, Some(&r)).map(|x| x.0);
        assert_eq!(p("Group/App").unwrap(), "group/app");
        assert_eq!(
            p("reg.example.com:5050/group/app:latest").unwrap(),
            "group/app"
        );
        assert_eq!(p("group/app@sha256:abc").unwrap(), "group/app");
        assert_eq!(
            p("group/my_app__x/a-b--c.d").unwrap(),
            "group/my_app__x/a-b--c.d"
        );
        assert!(matches!(
            p("other.example.com/group/app"),
            Err(NameError::OtherRegistry(..))
        ));
        let bare = Registry::parse("registry").unwrap();
        assert_eq!(
            Repository::parse("registry/group/app", Some(&bare))
                .unwrap()
                .0,
            "group/app"
        );
        for bad in [
            "",
            "group/../app",
            "group//app",
            "/group",
            "group/app/",
            "a b",
            "g/.x",
            "g/a___b",
            // Found by fuzzing: a byte outside the grammar used to loop forever.
            "group/a+b",
            "grоup/app", // Cyrillic o
            "g/a!b",
        ] {
            assert!(p(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
