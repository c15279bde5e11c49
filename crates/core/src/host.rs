//! Host routing: which function and alias a request's host name reaches.
//!
//! `<project>-<env>-<N>.<backend>.<org>.<root>` reaches deployment N and
//! `<project>-<env>.<backend>.<org>.<root>` the live deployment.

use std::fmt;

use crate::names::{FunctionPrefix, MAX_DNS_LABEL, Qualifier, parse_canonical_number};

/// The domain under which a backend serves deployments:
/// `<backend>.<org>.<root-domain>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSuffix {
    /// The suffix without a leading dot, lower case.
    domain: String,
}

impl HostSuffix {
    /// Builds the suffix from its parts, each a DNS name.
    pub fn new(backend: &str, org: &str, root_domain: &str) -> Result<Self, HostError> {
        let domain = format!("{backend}.{org}.{root_domain}").to_ascii_lowercase();
        let domain = domain.trim_end_matches('.').to_owned();
        check_dns_name(&domain)?;
        Ok(Self { domain })
    }

    /// The suffix without a leading dot.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The full host name for a first label.
    pub fn host(&self, label: &str) -> String {
        format!("{label}.{}", self.domain)
    }

    /// Maps a `Host` header value (with or without port) to a route.
    pub fn route(&self, host: &str) -> Result<Route, HostError> {
        let name = strip_port(host)?;
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        check_dns_name(&name)?;
        let label = name
            .strip_suffix(&self.domain)
            .and_then(|rest| rest.strip_suffix('.'))
            .ok_or_else(|| HostError::Unknown { host: name.clone(), suffix: self.domain.clone() })?;
        if label.contains('.') {
            return Err(HostError::Malformed {
                host: name.clone(),
                reason: format!("expected exactly one label before `.{}`", self.domain),
            });
        }
        parse_label(label).map_err(|reason| HostError::Malformed { host: name.clone(), reason })
    }
}

impl HostSuffix {
    /// Checks a custom domain for this backend and returns it in the form
    /// the domain map and the proxy use: lower case, without a trailing
    /// dot. It must be a host name of at least two labels (no wildcard, no
    /// IP address, no scheme, port or path) outside this suffix.
    pub fn custom_domain(&self, name: &str) -> Result<String, DomainNameError> {
        let invalid = |reason: &str| DomainNameError::Invalid { name: name.to_owned(), reason: reason.to_owned() };
        if name.contains("://") || name.contains('/') || name.contains(':') {
            return Err(invalid("give the host name alone, without scheme, port or path (`shop.example.com`)"));
        }
        if name.contains('*') {
            return Err(invalid("wildcards are not supported; add each name on its own"));
        }
        if name.ends_with('.') {
            return Err(invalid("write it without the trailing dot"));
        }
        let lower = name.to_ascii_lowercase();
        check_dns_name(&lower).map_err(|e| match e {
            HostError::Malformed { reason, .. } | HostError::Unknown { host: reason, .. } => invalid(&reason),
        })?;
        let labels = lower.split('.').count();
        if labels < 2 {
            return Err(invalid("a domain has at least two labels, like `shop.example.com` or `shop.localhost`"));
        }
        if lower.rsplit('.').next().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
            return Err(invalid("an IP address is not a domain name"));
        }
        if lower == self.domain || lower.ends_with(&format!(".{}", self.domain)) {
            return Err(DomainNameError::OwnDomain { name: lower, suffix: self.domain.clone() });
        }
        Ok(lower)
    }
}

/// Why a name cannot be a custom domain (see [`HostSuffix::custom_domain`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainNameError {
    /// Not a host name a custom domain can have.
    #[error("`{name}` is not a valid domain name: {reason}")]
    Invalid {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Under the backend's own domain, whose names route by their label.
    #[error(
        "`{name}` is under this backend's own domain `{suffix}`, whose names already reach deployments \
         (`<project>-<env>.{suffix}`); choose a name outside it"
    )]
    OwnDomain {
        /// The name.
        name: String,
        /// The backend's domain.
        suffix: String,
    },
}

impl fmt::Display for HostSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.domain)
    }
}

/// Where a host name routes: the `<project>-<env>` label and the alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `<project>-<env>`, the function name without its prefix.
    pub label: String,
    /// `current` or `deployment-<N>`.
    pub qualifier: Qualifier,
}

impl Route {
    /// The Lambda function this route invokes under a prefix.
    pub fn function(&self, prefix: &FunctionPrefix) -> String {
        prefix.function_for_label(&self.label)
    }
}

/// Why a host name does not route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// The host is not under this backend's suffix.
    #[error("unknown host `{host}`: this backend serves only `*.{suffix}`")]
    Unknown {
        /// The host name.
        host: String,
        /// The configured suffix.
        suffix: String,
    },
    /// The host is not a well-formed deployment host name.
    #[error("malformed host `{host}`: {reason}")]
    Malformed {
        /// The host name as received.
        host: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl HostError {
    /// The HTTP status this error maps to: 404 for unknown, 400 for malformed.
    pub fn status(&self) -> u16 {
        match self {
            HostError::Unknown { .. } => 404,
            HostError::Malformed { .. } => 400,
        }
    }
}

fn malformed(host: &str, reason: impl Into<String>) -> HostError {
    HostError::Malformed { host: host.to_owned(), reason: reason.into() }
}

/// Removes a `:port` suffix, rejecting bracketed IPv6 literals' ports too.
fn strip_port(host: &str) -> Result<&str, HostError> {
    if host.is_empty() {
        return Err(malformed(host, "the Host header is empty"));
    }
    if host.starts_with('[') {
        // An IPv6 literal is well-formed but never one of our host names.
        let end = host.find(']').ok_or_else(|| malformed(host, "unterminated IPv6 literal"))?;
        return Ok(&host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => Ok(name),
        Some(_) => Err(malformed(host, "the port after `:` must be digits")),
        None => Ok(host),
    }
}

/// Checks DNS name syntax: labels of 1–63 letters, digits and hyphens.
fn check_dns_name(name: &str) -> Result<(), HostError> {
    if name.starts_with('[') {
        return Ok(()); // an IPv6 literal; it will not match the suffix.
    }
    if name.is_empty() {
        return Err(malformed(name, "the host name is empty"));
    }
    if name.len() > 253 {
        return Err(malformed(name, "a host name has at most 253 bytes"));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(malformed(name, "empty label (two dots in a row, or a leading dot)"));
        }
        if label.len() > MAX_DNS_LABEL {
            return Err(malformed(name, format!("label `{label}` is longer than 63 bytes")));
        }
        if let Some(c) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
            return Err(malformed(name, format!("`{}` is not allowed in a host name", c.escape_default())));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(malformed(name, format!("label `{label}` starts or ends with a hyphen")));
        }
    }
    Ok(())
}

/// Splits `<project>-<env>[-<N>]` into label and qualifier.
fn parse_label(label: &str) -> Result<Route, String> {
    if label.contains("--") {
        return Err(format!("`{label}` has a doubled hyphen"));
    }
    let (base, qualifier) = match label.rsplit_once('-') {
        Some((base, last)) if last.bytes().all(|b| b.is_ascii_digit()) => {
            let n = parse_canonical_number(last)
                .ok_or_else(|| format!("`{last}` is not a deployment number (1, 2, 3… without leading zeros)"))?;
            (base, Qualifier::Deployment(n))
        }
        _ => (label, Qualifier::Current),
    };
    if !base.contains('-') {
        return Err(format!("`{label}` is not `<project>-<env>` or `<project>-<env>-<N>`"));
    }
    let env_last = base.rsplit('-').next().unwrap_or(base);
    if env_last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{label}` has two deployment numbers"));
    }
    Ok(Route { label: base.to_owned(), qualifier })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::DeploymentNumber;

    fn suffix() -> HostSuffix {
        HostSuffix::new("local", "dev", "localhost").unwrap()
    }

    fn dep(n: u32) -> Qualifier {
        Qualifier::Deployment(DeploymentNumber::new(n).unwrap())
    }

    #[test]
    fn routes_deployment_and_environment_hosts() {
        let s = suffix();
        let cases = [
            ("hello-prod-2.local.dev.localhost", "hello-prod", dep(2)),
            ("hello-prod.local.dev.localhost", "hello-prod", Qualifier::Current),
            ("HELLO-Prod-12.Local.Dev.Localhost:3000", "hello-prod", dep(12)),
            ("my-app-eu-west-7.local.dev.localhost.", "my-app-eu-west", dep(7)),
            ("a-b2.local.dev.localhost", "a-b2", Qualifier::Current),
        ];
        for (host, label, q) in cases {
            let r = s.route(host).unwrap_or_else(|e| panic!("{host}: {e}"));
            assert_eq!(r, Route { label: label.into(), qualifier: q }, "{host}");
        }
        let r = s.route("hello-prod-2.local.dev.localhost").unwrap();
        assert_eq!(r.function(&FunctionPrefix::default()), "ownstak-hello-prod");
    }

    #[test]
    fn unknown_hosts_are_404() {
        let s = suffix();
        for host in [
            "example.com",
            "local.dev.localhost",
            "hello-prod.other.dev.localhost",
            "127.0.0.1:3000",
            "[::1]:3000",
            "xlocal.dev.localhost",
        ] {
            let e = s.route(host).unwrap_err();
            assert_eq!(e.status(), 404, "{host}: {e}");
        }
    }

    #[test]
    fn malformed_hosts_are_400() {
        let s = suffix();
        for host in [
            "",
            "hello_prod.local.dev.localhost",
            "a.hello-prod.local.dev.localhost",
            "hello.local.dev.localhost",
            "hello-3.local.dev.localhost",
            "hello-prod-0.local.dev.localhost",
            "hello-prod-01.local.dev.localhost",
            "hello-prod-99999999999.local.dev.localhost",
            "hello-prod-2-3.local.dev.localhost",
            "hello--prod.local.dev.localhost",
            "-hello-prod.local.dev.localhost",
            "hello..local.dev.localhost",
            "hello-prod.local.dev.localhost:abc",
            "héllo-prod.local.dev.localhost",
            "hello prod.local.dev.localhost",
        ] {
            let e = s.route(host).unwrap_err();
            assert_eq!(e.status(), 400, "{host:?}: {e}");
        }
        let long = format!("{}.local.dev.localhost", "a".repeat(64));
        assert_eq!(s.route(&long).unwrap_err().status(), 400);
    }

    #[test]
    fn custom_domains_are_checked_and_lower_cased() {
        let s = suffix();
        assert_eq!(s.custom_domain("Shop.Example.COM").unwrap(), "shop.example.com");
        assert_eq!(s.custom_domain("shop.localhost").unwrap(), "shop.localhost");
        for (bad, says) in [
            ("", "empty"),
            ("shop", "two labels"),
            ("shop.example.com.", "trailing dot"),
            ("*.example.com", "wildcards"),
            ("https://shop.example.com", "without scheme"),
            ("shop.example.com:443", "without scheme"),
            ("shop_1.example.com", "not allowed"),
            ("-shop.example.com", "hyphen"),
            ("a..b", "empty label"),
            ("10.0.0.1", "IP address"),
        ] {
            let e = s.custom_domain(bad).unwrap_err();
            assert!(matches!(e, DomainNameError::Invalid { .. }) && e.to_string().contains(says), "{bad:?}: {e}");
        }
        let long = format!("{}.com", "a".repeat(64));
        assert!(s.custom_domain(&long).unwrap_err().to_string().contains("longer than 63"));
        let huge = format!("{}com", "abcdefghi.".repeat(26));
        assert!(s.custom_domain(&huge).unwrap_err().to_string().contains("253"));
        for own in ["local.dev.localhost", "shop-prod.local.dev.localhost", "A.B.Local.Dev.Localhost"] {
            assert!(matches!(s.custom_domain(own), Err(DomainNameError::OwnDomain { .. })), "{own}");
        }
    }
}
