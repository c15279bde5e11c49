//! The Host rule: requests must be addressed to this machine by a name or
//! address that no DNS answer can fake.

use std::net::IpAddr;

use http::header::HOST;
use http::request::Parts;

use crate::{Denial, Rule};

/// Which hosts an endpoint answers.
#[derive(Debug, Clone)]
pub(crate) struct HostRule {
    /// The address the endpoint listens on.
    listen: IpAddr,
}

impl HostRule {
    pub(crate) fn new(listen: IpAddr) -> Self {
        Self { listen }
    }

    /// Whether `host` (without port or brackets) names this endpoint.
    fn allows(&self, host: &str) -> bool {
        if host.eq_ignore_ascii_case("localhost") {
            return true;
        }
        let Ok(ip) = host.parse::<IpAddr>() else {
            // Any other name could be resolved to 127.0.0.1 by its owner.
            return false;
        };
        is_loopback(ip) || ip == self.listen || self.listen.is_unspecified()
    }

    /// Checks the `Host` header and the authority of an absolute URI.
    pub(crate) fn check(&self, endpoint: &str, parts: &Parts) -> Result<(), Denial> {
        let mut values = parts.headers.get_all(HOST).iter();
        let header = values.next();
        if values.next().is_some() {
            return Err(deny(endpoint, "the request has more than one Host header"));
        }
        let header = match header.map(|v| v.to_str()) {
            None => None,
            Some(Ok(h)) => Some(h),
            Some(Err(_)) => return Err(deny(endpoint, "the Host header is not text")),
        };
        let authority = parts.uri.authority().map(|a| a.as_str());
        if header.is_none() && authority.is_none() {
            return Err(deny(endpoint, "the request has no Host header"));
        }
        for value in header.into_iter().chain(authority) {
            let ok = host_of(value).is_some_and(|h| self.allows(h));
            if !ok {
                return Err(deny(
                    endpoint,
                    &format!(
                        "the Host `{value}` does not name this machine (a web page can make its own name resolve to 127.0.0.1)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn deny(endpoint: &str, what: &str) -> Denial {
    Denial::new(
        Rule::Host,
        format!(
            "The {endpoint} refused the request: {what}. It answers only requests addressed to localhost, \
             127.0.0.1 or [::1] (or the address it listens on), with any port; use http://127.0.0.1:<port> as the endpoint URL."
        ),
    )
}

/// Whether `ip` is a loopback address (an IPv4-mapped one included).
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// The host of an authority (`host`, `host:port`, `[v6]` or `[v6]:port`),
/// without brackets; `None` when it is not of that form.
fn host_of(authority: &str) -> Option<&str> {
    let valid_port = |p: &str| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let ok = after.is_empty() || after.strip_prefix(':').is_some_and(valid_port);
        return (ok && inside.parse::<std::net::Ipv6Addr>().is_ok()).then_some(inside);
    }
    let host = match authority.split_once(':') {
        None => authority,
        Some((host, port)) if valid_port(port) => host,
        Some(_) => return None,
    };
    let ok = !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    ok.then_some(host)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parts(host: Option<&str>, uri: &str) -> Parts {
        let mut b = http::Request::builder().uri(uri);
        if let Some(h) = host {
            b = b.header(HOST, h);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn allowed(rule: &HostRule, host: &str) -> bool {
        rule.check("test", &parts(Some(host), "/")).is_ok()
    }

    #[test]
    fn loopback_names_and_addresses_with_any_port() {
        let rule = HostRule::new("127.0.0.1".parse().unwrap());
        for host in [
            "localhost",
            "LOCALHOST:9001",
            "127.0.0.1",
            "127.0.0.1:9001",
            "127.1.2.3:80",
            "[::1]",
            "[::1]:9002",
            "[::ffff:127.0.0.1]:1",
        ] {
            assert!(allowed(&rule, host), "{host} should be allowed");
        }
    }

    #[test]
    fn every_other_name_is_refused() {
        let rule = HostRule::new("127.0.0.1".parse().unwrap());
        for host in [
            "evil.example",
            "evil.example:9001",
            "app.localhost:9001",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "10.0.0.5:9001",
            "[::2]:9001",
            "[::1",
            "127.0.0.1:99999999",
            "user@127.0.0.1",
            "",
            "127.0.0.1:",
        ] {
            let err = rule.check("Lambda API", &parts(Some(host), "/")).unwrap_err();
            assert_eq!(err.rule, Rule::Host, "{host}");
            assert!(err.message.contains("Lambda API"), "{err}");
        }
    }

    #[test]
    fn the_listen_address_and_unspecified_listeners() {
        let rule = HostRule::new("192.168.1.5".parse().unwrap());
        assert!(allowed(&rule, "192.168.1.5:9001"));
        assert!(!allowed(&rule, "192.168.1.6:9001"));
        let any = HostRule::new("0.0.0.0".parse().unwrap());
        assert!(allowed(&any, "192.168.1.6:9001"), "an unspecified listener takes any IP address");
        assert!(!allowed(&any, "evil.example:9001"), "but never a name");
    }

    #[test]
    fn missing_duplicate_or_disagreeing_hosts_are_refused() {
        let rule = HostRule::new("127.0.0.1".parse().unwrap());
        assert!(rule.check("t", &parts(None, "/")).is_err(), "no Host at all");
        assert!(rule.check("t", &parts(None, "http://127.0.0.1:9001/x")).is_ok(), "authority of an absolute URI");
        assert!(rule.check("t", &parts(Some("127.0.0.1"), "http://evil.example/x")).is_err());
        let mut two = parts(Some("127.0.0.1"), "/");
        two.headers.append(HOST, http::HeaderValue::from_static("127.0.0.1"));
        assert!(rule.check("t", &two).is_err(), "two Host headers");
    }
}
