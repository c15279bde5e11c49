//! Which function and alias a request is for: the host it names (by the
//! rules below), then the route that host maps to.
//!
//! The host comes from `X-Own-Host` when a trusted front end (a
//! `--trusted-proxy` peer) sent it, and otherwise from the request itself:
//! the `Host` header, or the authority of an absolute-form URI or of an
//! HTTP/2 request. Two `Host` headers, or a `Host` that disagrees with the
//! authority, are refused: a cache or firewall in front may have read the
//! other one.

use std::net::SocketAddr;

use http::header::HOST;
use http::{HeaderValue, Request};
use ownstak_core::{HostError, Qualifier, Route};

use crate::config::ProxyConfig;
use crate::domains::{DomainRoute, Domains};
use crate::failure::{Failure, FailureKind};

/// Header a trusted front end may set to name the host to route by.
pub(crate) const OWN_HOST: &str = "x-own-host";

/// The function and alias a request goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The route the host maps to.
    pub(crate) route: Route,
    /// The function name.
    pub(crate) function: String,
    /// The alias (`current` or `deployment-<N>`).
    pub(crate) qualifier: String,
    /// The host name without port, lower case (the event's `domainName`).
    pub(crate) domain: String,
}

/// The host a request names, by the rules above.
pub(crate) fn request_host<B>(
    config: &ProxyConfig,
    req: &Request<B>,
    peer: SocketAddr,
) -> Result<HeaderValue, Failure> {
    let headers = req.headers();
    if config.trusted_proxies.contains(peer.ip())
        && let Some(own) = headers.get(OWN_HOST)
    {
        return Ok(own.clone());
    }
    let mut hosts = headers.get_all(HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(Failure::new(FailureKind::AmbiguousHost, "the request has more than one Host header"));
    }
    let authority = req.uri().authority();
    match (host, authority) {
        (Some(h), Some(a)) if !h.as_bytes().eq_ignore_ascii_case(a.as_str().as_bytes()) => Err(Failure::new(
            FailureKind::AmbiguousHost,
            "the Host header and the request's authority name different hosts",
        )),
        (Some(h), _) => Ok(h.clone()),
        (None, Some(a)) => {
            HeaderValue::from_str(a.as_str()).map_err(|_| Failure::new(FailureKind::MalformedHost, "invalid authority"))
        }
        (None, None) => Err(Failure::new(FailureKind::MissingHost, "the request has no Host header")),
    }
}

/// The function and alias `host` routes to: a host under the suffix by
/// its label, any other by the custom domains (consulted only then), else
/// the fallback route.
pub(crate) fn target(config: &ProxyConfig, domains: &Domains, host: &HeaderValue) -> Result<Target, Failure> {
    let text = host.to_str().map_err(|_| Failure::new(FailureKind::MalformedHost, "the host is not ASCII text"))?;
    let route = match config.suffix.route(text) {
        Ok(route) => route,
        Err(HostError::Unknown { host, suffix }) => {
            if let Some(DomainRoute { route, function }) = domains.route(&host) {
                return Ok(Target { qualifier: route.qualifier.alias(), route, function, domain: host });
            }
            match &config.fallback_route {
                Some(fallback) => fallback.clone(),
                None => {
                    let e = HostError::Unknown { host, suffix };
                    return Err(Failure::new(FailureKind::UnknownHost, e.to_string()));
                }
            }
        }
        Err(e @ HostError::Malformed { .. }) => {
            return Err(Failure::new(FailureKind::MalformedHost, e.to_string()));
        }
    };
    let domain = match text.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => text,
    }
    .to_ascii_lowercase();
    Ok(Target { function: route.function(&config.prefix), qualifier: route.qualifier.alias(), route, domain })
}

/// The answer when the function or alias does not exist.
pub(crate) fn not_found(route: &Route) -> Failure {
    let what = match route.qualifier {
        Qualifier::Current => format!("`{}` has no live deployment", route.label),
        Qualifier::Deployment(n) => format!("deployment {n} of `{}` does not exist", route.label),
    };
    Failure::new(
        FailureKind::DeploymentNotFound,
        format!(
            "{what} (project-environment `{}`); check the URL or list deployments with `ownstak deployments`",
            route.label
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forwarded::TrustedProxies;
    use ownstak_core::HostSuffix;

    fn config() -> ProxyConfig {
        let mut c = ProxyConfig::new(HostSuffix::new("local", "dev", "localhost").unwrap(), None);
        c.trusted_proxies = TrustedProxies::parse(["10.0.0.0/8"]).unwrap();
        c
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 1234)
    }

    #[test]
    fn x_own_host_counts_only_from_trusted_peers() {
        let c = config();
        let req = Request::builder()
            .uri("/")
            .header("host", "a-b.local.dev.localhost")
            .header(OWN_HOST, "x-y.local.dev.localhost")
            .body(())
            .unwrap();
        assert_eq!(request_host(&c, &req, peer("10.1.2.3")).unwrap(), "x-y.local.dev.localhost");
        assert_eq!(request_host(&c, &req, peer("127.0.0.1")).unwrap(), "a-b.local.dev.localhost");
    }

    #[test]
    fn two_hosts_or_a_disagreeing_authority_are_refused() {
        let c = config();
        let two = Request::builder().uri("/").header("host", "a").header("host", "b").body(()).unwrap();
        assert_eq!(request_host(&c, &two, peer("127.0.0.1")).unwrap_err().kind, FailureKind::AmbiguousHost);
        let abs = Request::builder().uri("http://a-b.local.dev.localhost/").header("host", "evil").body(()).unwrap();
        assert_eq!(request_host(&c, &abs, peer("127.0.0.1")).unwrap_err().kind, FailureKind::AmbiguousHost);
        let same = Request::builder().uri("http://A-b.local.dev.localhost/").header("host", "a-b.local.dev.localhost");
        assert!(request_host(&c, &same.body(()).unwrap(), peer("127.0.0.1")).is_ok(), "case does not matter");
        let none = Request::builder().uri("/").body(()).unwrap();
        assert_eq!(request_host(&c, &none, peer("127.0.0.1")).unwrap_err().kind, FailureKind::MissingHost);
    }

    #[test]
    fn routes_hosts_to_functions() {
        let c = config();
        let d = Domains::new(c.prefix.clone());
        let t = target(&c, &d, &HeaderValue::from_static("Shop-Prod-3.local.dev.localhost:3000")).unwrap();
        assert_eq!((t.function.as_str(), t.qualifier.as_str()), ("ownstak-shop-prod", "deployment-3"));
        assert_eq!(t.domain, "shop-prod-3.local.dev.localhost");
        let unknown = target(&c, &d, &HeaderValue::from_static("example.com")).unwrap_err();
        assert_eq!(unknown.kind, FailureKind::UnknownHost);
    }

    #[test]
    fn custom_domains_route_to_the_live_deployment() {
        let c = config();
        let d = Domains::new(c.prefix.clone());
        let mut map = ownstak_assets::DomainMap::default();
        let entry = ownstak_assets::DomainEntry::new("ownstak-shop-prod", "shop", "prod", Default::default());
        map.domains.insert("shop.example.com".into(), entry);
        d.replace(&map);
        let t = target(&c, &d, &HeaderValue::from_static("Shop.Example.com:8080")).unwrap();
        assert_eq!((t.function.as_str(), t.qualifier.as_str()), ("ownstak-shop-prod", "current"));
        assert_eq!((t.domain.as_str(), t.route.qualifier), ("shop.example.com", Qualifier::Current));
        let other = target(&c, &d, &HeaderValue::from_static("www.example.com")).unwrap_err();
        assert_eq!(other.kind, FailureKind::UnknownHost);
    }
}
