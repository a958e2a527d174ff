//! Name resolution without glibc's NSS, so the static binary behaves the same in
//! Alpine, busybox, distroless and scratch images.
//!
//! `/etc/hosts` answers first and alone: GitLab writes service aliases there, and a
//! name found there must not wait on a nameserver (reqwest's own hickory integration
//! asks DNS for AAAA even then, and silently falls back to Google's servers when
//! `/etc/resolv.conf` is missing; neither is acceptable in a CI job).

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{LookupIpStrategy, ResolveHosts};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("cannot resolve '{host}': {reason}")]
    Lookup { host: String, reason: String },
    #[error("cannot resolve '{host}': no nameserver configuration ({path}: {reason})")]
    NoConfig {
        host: String,
        path: String,
        reason: String,
    },
}

#[derive(Clone)]
pub struct HostsFirst {
    inner: Arc<Inner>,
}

struct Inner {
    hosts_path: PathBuf,
    hosts: OnceLock<HashMap<String, Vec<IpAddr>>>,
    dns: OnceLock<Result<TokioResolver, String>>,
}

impl Default for HostsFirst {
    fn default() -> Self {
        HostsFirst {
            inner: Arc::new(Inner {
                hosts_path: PathBuf::from("/etc/hosts"),
                hosts: OnceLock::new(),
                dns: OnceLock::new(),
            }),
        }
    }
}

impl Inner {
    fn lookup_hosts(&self, host: &str) -> Option<Vec<IpAddr>> {
        if host == "localhost" || host.ends_with(".localhost") {
            return Some(vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ]);
        }
        let hosts = self.hosts.get_or_init(|| {
            std::fs::read_to_string(&self.hosts_path)
                .map(|text| parse_hosts(&text))
                .unwrap_or_default()
        });
        hosts.get(&host.to_ascii_lowercase()).cloned()
    }

    fn resolver(&self) -> Result<&TokioResolver, String> {
        self.dns
            .get_or_init(|| {
                let mut builder = TokioResolver::builder_tokio().map_err(|e| e.to_string())?;
                let opts = builder.options_mut();
                // A for the common IPv4-only CI network first; AAAA only if that fails.
                opts.ip_strategy = LookupIpStrategy::Ipv4thenIpv6;
                // /etc/hosts was already consulted.
                opts.use_hosts_file = ResolveHosts::Never;
                // A dead nameserver should fail as a DNS error, well inside a request's
                // timeout, rather than surface as a vague connect timeout.
                opts.timeout = std::time::Duration::from_secs(2);
                opts.attempts = 1;
                builder.build().map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl Resolve for HostsFirst {
    fn resolve(&self, name: Name) -> Resolving {
        let inner = self.inner.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            if let Some(ips) = inner.lookup_hosts(&host) {
                tracing::debug!(%host, "resolved from /etc/hosts");
                return Ok(addrs(ips));
            }
            // hickory refuses such a name with Rust Debug text; say it plainly.
            if host.contains('_') {
                return Err(DnsError::Lookup {
                    host: host.clone(),
                    reason: "'_' is not allowed in a DNS name (only /etc/hosts, where GitLab writes service aliases, can hold one)".into(),
                }
                .into());
            }
            let resolver = inner.resolver().map_err(|reason| DnsError::NoConfig {
                host: host.clone(),
                path: "/etc/resolv.conf".into(),
                reason,
            })?;
            let found = resolver
                .lookup_ip(host.as_str())
                .await
                .map_err(|e| DnsError::Lookup {
                    host: host.clone(),
                    reason: lookup_failure(&e),
                })?;
            Ok(addrs(found.iter().collect()))
        })
    }
}

/// A failed lookup in words: the resolver's own text quotes its query as Rust `Debug`.
fn lookup_failure(e: &hickory_resolver::net::NetError) -> String {
    if e.is_nx_domain() {
        "no such host (the nameservers say it does not exist)".into()
    } else if e.is_no_records_found() {
        "the nameservers know no address for it".into()
    } else if matches!(e, hickory_resolver::net::NetError::Timeout) {
        "the nameservers did not answer in time".into()
    } else if matches!(e, hickory_resolver::net::NetError::NoConnections) {
        "no nameserver could be reached".into()
    } else {
        crate::text::sanitize(&e.to_string(), 200)
    }
}

fn addrs(ips: Vec<IpAddr>) -> Addrs {
    Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)))
}

/// `/etc/hosts`: `ADDRESS NAME [ALIAS...]`, `#` comments. The first mention of a name
/// keeps its order; later lines add addresses.
pub fn parse_hosts(text: &str) -> HashMap<String, Vec<IpAddr>> {
    let mut map: HashMap<String, Vec<IpAddr>> = HashMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let Some(ip) = fields.next().and_then(|a| a.parse::<IpAddr>().ok()) else {
            continue;
        };
        for name in fields {
            let entry = map.entry(name.to_ascii_lowercase()).or_default();
            if !entry.contains(&ip) {
                entry.push(ip);
            }
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_with_aliases_and_comments() {
        let map = parse_hosts(
            "127.0.0.1 localhost\n# x\n10.0.0.5 Docker registry.test # svc\n::1 registry.test\nbad line\n",
        );
        assert_eq!(map["docker"], vec!["10.0.0.5".parse::<IpAddr>().unwrap()]);
        assert_eq!(map["registry.test"].len(), 2);
        assert!(!map.contains_key("bad"));
    }
}
