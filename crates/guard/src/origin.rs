//! The Origin rule: requests a web page sent are refused unless their
//! origin was allowed, and allowed origins get CORS answers.

use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method};

use crate::{Denial, Rule};

/// An origin a web page may call the endpoints from: `scheme://host[:port]`,
/// compared without regard to case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOrigin(String);

impl AllowedOrigin {
    /// The origin as browsers send it (lower case).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn matches(&self, origin: &str) -> bool {
        self.0.eq_ignore_ascii_case(origin)
    }
}

impl std::fmt::Display for AllowedOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for AllowedOrigin {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| {
            format!("`{s}` is not an origin ({why}); write it as a browser sends it, e.g. http://localhost:5173")
        };
        let trimmed = s.strip_suffix('/').unwrap_or(s);
        let (scheme, rest) = trimmed.split_once("://").ok_or_else(|| bad("no scheme://"))?;
        let scheme_ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !scheme_ok {
            return Err(bad("invalid scheme"));
        }
        if rest.is_empty() {
            return Err(bad("no host"));
        }
        if rest.contains(['/', '?', '#', '@', ' ']) || rest == "*" {
            return Err(bad("only scheme, host and port; no path, query, user or wildcard"));
        }
        Ok(Self(trimmed.to_ascii_lowercase()))
    }
}

/// Refuses requests whose `Origin` headers are not all allowed.
pub(crate) fn check(endpoint: &str, allowed: &[AllowedOrigin], parts: &Parts) -> Result<(), Denial> {
    for value in parts.headers.get_all(ORIGIN) {
        let origin = value.to_str().unwrap_or("<not text>");
        if allowed.iter().any(|a| a.matches(origin)) {
            continue;
        }
        let hint = if origin == "null" || origin == "<not text>" {
            "Web pages may not drive it.".to_owned()
        } else {
            format!(
                "Web pages may not drive it; if you trust this page, start the backend with `ownstak local up --allow-origin {origin}`."
            )
        };
        return Err(Denial::new(
            Rule::Origin,
            format!(
                "The {endpoint} refused the request: it carries `Origin: {origin}`, so a web page in a browser sent it \
                 (AWS SDKs and CLIs never send Origin). {hint}"
            ),
        ));
    }
    Ok(())
}

/// The preflight answer's headers for an (already allowed) origin.
pub(crate) fn preflight(parts: &Parts) -> Option<HeaderMap> {
    if parts.method != Method::OPTIONS || !parts.headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD) {
        return None;
    }
    let mut headers = cors(parts)?;
    headers.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, HEAD, PUT, POST, DELETE"));
    if let Some(asked) = parts.headers.get(ACCESS_CONTROL_REQUEST_HEADERS) {
        headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    Some(headers)
}

/// `Access-Control-Allow-Origin` and friends for an (already allowed) origin.
pub(crate) fn cors(parts: &Parts) -> Option<HeaderMap> {
    let origin = parts.headers.get(ORIGIN)?;
    let mut headers = HeaderMap::new();
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("*"));
    headers.insert(VARY, HeaderValue::from_static("Origin"));
    Some(headers)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parts(method: Method, headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::builder().method(method).uri("/");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn origins_parse_as_browsers_send_them() {
        let o: AllowedOrigin = "HTTP://App.Localhost:5173/".parse().unwrap();
        assert_eq!(o.as_str(), "http://app.localhost:5173");
        for bad in ["localhost:5173", "http://", "http://a/b", "http://a?x", "*", "http://*", "1http://a"] {
            assert!(bad.parse::<AllowedOrigin>().is_err(), "{bad}");
        }
    }

    #[test]
    fn only_allowed_origins_pass() {
        let allowed = vec!["http://localhost:5173".parse::<AllowedOrigin>().unwrap()];
        assert!(check("t", &allowed, &parts(Method::POST, &[])).is_ok(), "no Origin: not a browser");
        assert!(check("t", &allowed, &parts(Method::POST, &[("origin", "http://localhost:5173")])).is_ok());
        assert!(check("t", &allowed, &parts(Method::POST, &[("origin", "HTTP://LOCALHOST:5173")])).is_ok());
        for other in ["http://localhost:5174", "https://localhost:5173", "http://evil.example", "null"] {
            let err = check("S3 endpoint", &allowed, &parts(Method::POST, &[("origin", other)])).unwrap_err();
            assert_eq!(err.rule, Rule::Origin);
            assert!(err.message.contains(other) && err.message.contains("S3 endpoint"), "{err}");
        }
        let err = check("t", &[], &parts(Method::GET, &[("origin", "http://evil.example")])).unwrap_err();
        assert!(err.message.contains("--allow-origin http://evil.example"), "{err}");
    }

    #[test]
    fn preflights_and_cors_headers() {
        let p = parts(
            Method::OPTIONS,
            &[
                ("origin", "http://localhost:5173"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "authorization, x-amz-date"),
            ],
        );
        let h = preflight(&p).unwrap();
        assert_eq!(h[ACCESS_CONTROL_ALLOW_ORIGIN], "http://localhost:5173");
        assert_eq!(h[ACCESS_CONTROL_ALLOW_HEADERS], "authorization, x-amz-date");
        assert!(preflight(&parts(Method::OPTIONS, &[("origin", "http://localhost:5173")])).is_none());
        assert!(preflight(&parts(Method::GET, &[("origin", "http://localhost:5173")])).is_none());
        assert!(cors(&parts(Method::GET, &[])).is_none());
    }
}
