//! `allowed_outbound_hosts`: which outbound connections (HTTP, Redis) a
//! component may make. Patterns are `scheme://host[:port]` where the scheme,
//! host or port may be `*`, the host may be `*.domain`, the port may be a
//! range `a..b` (exclusive end, as in Spin) and, when left out, is the
//! scheme's well-known port. Templates (`{{ var }}`) are expanded at start.

use anyhow::{Context as _, bail};

#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone)]
enum HostPattern {
    Any,
    Suffix(String),
    Exact(String),
}

#[derive(Debug, Clone)]
enum PortPattern {
    Any,
    Range(u16, u16),
    Default,
}

fn well_known_port(scheme: &str) -> Option<u16> {
    Some(match scheme {
        "http" => 80,
        "https" => 443,
        "redis" => 6379,
        "rediss" => 6380,
        "mysql" => 3306,
        "postgres" => 5432,
        "mqtt" => 1883,
        _ => return None,
    })
}

impl AllowedHosts {
    pub fn parse(patterns: &[String]) -> anyhow::Result<Self> {
        let patterns = patterns
            .iter()
            .map(|p| Pattern::parse(p).with_context(|| format!("allowed_outbound_hosts entry {p:?}")))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { patterns })
    }

    /// Whether a connection to `scheme://host:port` is allowed (`port`
    /// `None` = the scheme's well-known port).
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let scheme = scheme.to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let Some(port) = port.or_else(|| well_known_port(&scheme)) else {
            return false;
        };
        self.patterns.iter().any(|p| p.matches(&scheme, &host, port))
    }

    /// Whether a URL (`redis://host:port/…`, `http://…`) is allowed.
    pub fn allows_url(&self, url: &str) -> bool {
        match url.parse::<http::Uri>() {
            Ok(uri) => match (uri.scheme_str(), uri.host()) {
                (Some(scheme), Some(host)) => self.allows(scheme, host, uri.port_u16()),
                _ => false,
            },
            Err(_) => false,
        }
    }
}

impl Pattern {
    fn parse(text: &str) -> anyhow::Result<Self> {
        let (scheme, rest) = text.split_once("://").context("expected scheme://host[:port]")?;
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') {
            bail!("a path is not allowed");
        }
        let scheme = match scheme {
            "*" => None,
            s if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) => {
                Some(s.to_ascii_lowercase())
            }
            _ => bail!("bad scheme {scheme:?}"),
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || rest.starts_with('[') => (host, Some(port)),
            _ => (rest, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let host = match host.as_str() {
            "" => bail!("empty host"),
            "*" => HostPattern::Any,
            h if h.starts_with("*.") => HostPattern::Suffix(h[1..].to_owned()),
            h if h.contains('*') => bail!("`*` only as the whole host or a `*.` prefix"),
            h => HostPattern::Exact(h.to_owned()),
        };
        let port = match port {
            None => {
                if let Some(s) = &scheme
                    && well_known_port(s).is_none()
                {
                    bail!("scheme {s} has no well-known port: give one");
                }
                PortPattern::Default
            }
            Some("*") => PortPattern::Any,
            Some(range) if range.contains("..") => {
                let (a, b) = range.split_once("..").unwrap_or_default();
                PortPattern::Range(
                    a.parse().context("port range start")?,
                    b.parse().context("port range end")?,
                )
            }
            Some(port) => {
                let p: u16 = port.parse().with_context(|| format!("bad port {port:?}"))?;
                PortPattern::Range(p, p.saturating_add(1))
            }
        };
        Ok(Self { scheme, host, port })
    }

    fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        let scheme_ok = self.scheme.as_deref().is_none_or(|s| s == scheme);
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Suffix(suffix) => host.ends_with(suffix.as_str()),
            HostPattern::Exact(h) => h == host,
        };
        let port_ok = match self.port {
            PortPattern::Any => true,
            PortPattern::Range(a, b) => (a..b).contains(&port),
            PortPattern::Default => well_known_port(scheme) == Some(port),
        };
        scheme_ok && host_ok && port_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(patterns: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(&patterns.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn matches_like_spin() {
        let h = hosts(&["redis://*:*", "https://*.example.com", "http://127.0.0.1:8080..8090"]);
        assert!(h.allows_url("redis://127.0.0.1:6380"));
        assert!(h.allows_url("https://api.example.com/v1"));
        assert!(!h.allows_url("https://api.example.com:8443/v1"));
        assert!(!h.allows_url("http://api.example.com/"));
        assert!(h.allows_url("http://127.0.0.1:8085/x"));
        assert!(!h.allows_url("http://127.0.0.1:8090/x"));
        assert!(!hosts(&[]).allows_url("http://127.0.0.1/"));
        assert!(hosts(&["*://*:*"]).allows_url("http://10.1.2.3:1/"));
        assert!(AllowedHosts::parse(&["foo://bar".into()]).is_err());
        assert!(AllowedHosts::parse(&["http://a/b".into()]).is_err());
    }
}
