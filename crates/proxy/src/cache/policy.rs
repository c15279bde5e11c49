//! What may be stored and for how long, by RFC 9111's rules for a shared
//! cache, narrowed to what the function explicitly marks shareable.
//!
//! A request is looked up only when it is a `GET` or `HEAD` without a body,
//! a `Range`, an `Authorization` header or a session cookie. An answer is
//! stored only when its status is one of [`STORABLE_STATUSES`], it carries
//! no `Set-Cookie`, its `Vary` is not `*`, and its `Cache-Control` parses
//! cleanly, names neither `private`, `no-store` nor `no-cache`, and gives a
//! lifetime with `s-maxage`, or `max-age` together with `public`. Anything
//! malformed is simply not stored.

use std::time::Duration;

use http::header::{
    AGE, AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, COOKIE, PRAGMA, RANGE, SET_COOKIE, TRANSFER_ENCODING,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

/// Statuses an explicitly shareable answer may be stored with.
pub(crate) const STORABLE_STATUSES: [u16; 10] = [200, 203, 204, 300, 301, 302, 307, 308, 404, 410];

/// Largest lifetime a directive can give (RFC 9111 §1.2.2: 2^31 seconds).
const MAX_DELTA: u64 = 1 << 31;

/// The `Cache-Control` directives the cache acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Directives {
    pub(crate) s_maxage: Option<u64>,
    pub(crate) max_age: Option<u64>,
    pub(crate) public: bool,
    pub(crate) private: bool,
    pub(crate) no_store: bool,
    pub(crate) no_cache: bool,
    /// `must-revalidate` or `proxy-revalidate`: never served stale.
    pub(crate) must_revalidate: bool,
    pub(crate) stale_while_revalidate: Option<u64>,
    pub(crate) stale_if_error: Option<u64>,
}

/// Parses every `Cache-Control` value of `headers` as one list; `None`
/// when a value is not text, a directive is malformed, or a directive the
/// cache acts on appears twice with different values.
pub(crate) fn directives(headers: &HeaderMap) -> Option<Directives> {
    let mut d = Directives::default();
    for value in headers.get_all(CACHE_CONTROL) {
        let text = value.to_str().ok()?;
        for item in split_list(text)? {
            let (name, arg) = match item.split_once('=') {
                Some((n, v)) => (n.trim(), Some(unquote(v.trim())?)),
                None => (item, None),
            };
            if name.is_empty() || !name.bytes().all(is_tchar) {
                return None;
            }
            let seconds = |slot: &mut Option<u64>| -> Option<()> {
                let n = delta_seconds(arg?)?;
                match *slot {
                    Some(old) if old != n => None,
                    _ => {
                        *slot = Some(n);
                        Some(())
                    }
                }
            };
            match name.to_ascii_lowercase().as_str() {
                "s-maxage" => seconds(&mut d.s_maxage)?,
                "max-age" => seconds(&mut d.max_age)?,
                "stale-while-revalidate" => seconds(&mut d.stale_while_revalidate)?,
                "stale-if-error" => seconds(&mut d.stale_if_error)?,
                "public" => d.public = true,
                // With or without field names, these keep the whole answer out.
                "private" => d.private = true,
                "no-store" => d.no_store = true,
                "no-cache" => d.no_cache = true,
                "must-revalidate" | "proxy-revalidate" => d.must_revalidate = true,
                _ => {}
            }
        }
    }
    Some(d)
}

/// Splits a comma-separated list, keeping commas inside quoted strings;
/// empty items are skipped. `None` for an unterminated quote.
fn split_list(text: &str) -> Option<Vec<&str>> {
    let (mut items, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, b) in text.bytes().enumerate() {
        match (quoted, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (_, false, b'"') => quoted = !quoted,
            (false, _, b',') => {
                items.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return None;
    }
    items.push(text[start..].trim());
    Some(items.into_iter().filter(|i| !i.is_empty()).collect())
}

/// A directive's argument without its quotes (quoted numbers are accepted, as RFC 9111 asks).
fn unquote(v: &str) -> Option<&str> {
    match v.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"'),
        None => Some(v),
    }
}

/// Delta-seconds: digits only, capped at 2^31.
fn delta_seconds(v: &str) -> Option<u64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(v.parse::<u64>().unwrap_or(MAX_DELTA).min(MAX_DELTA))
}

/// A token character (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// How long a stored answer may be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Freshness {
    /// Fresh for this long after it was received (minus its initial age).
    pub(crate) lifetime: Duration,
    /// The age it already had when it arrived (its `Age` header).
    pub(crate) initial_age: Duration,
    /// Past its lifetime, served stale while one refresh runs, for this long.
    pub(crate) stale_while_revalidate: Duration,
    /// Past its lifetime, served stale when the function fails, for this long.
    pub(crate) stale_if_error: Duration,
}

impl Freshness {
    /// How long after arrival the entry is of any use.
    pub(crate) fn keep_for(&self) -> Duration {
        let stale = self.stale_while_revalidate.max(self.stale_if_error);
        (self.lifetime + stale).saturating_sub(self.initial_age)
    }
}

/// Why an answer is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotStored {
    /// The status is not one the cache keeps.
    Status,
    /// The answer sets a cookie.
    SetCookie,
    /// `Cache-Control` is malformed or contradicts itself.
    Invalid,
    /// `private`, `no-store` or `no-cache`.
    Forbidden,
    /// Neither `s-maxage` nor `public` with `max-age`, or a lifetime of 0 without stale windows.
    NotShareable,
    /// `Vary: *`, or a `Vary` that is not a list of header names.
    Vary,
}

/// Whether an answer may be stored, and for how long, with every window
/// capped at `max_ttl`.
pub(crate) fn storable(status: StatusCode, headers: &HeaderMap, max_ttl: Duration) -> Result<Freshness, NotStored> {
    if !STORABLE_STATUSES.contains(&status.as_u16()) {
        return Err(NotStored::Status);
    }
    if headers.contains_key(SET_COOKIE) {
        return Err(NotStored::SetCookie);
    }
    let d = directives(headers).ok_or(NotStored::Invalid)?;
    if d.private || d.no_store || d.no_cache {
        return Err(NotStored::Forbidden);
    }
    let lifetime = match (d.s_maxage, d.max_age) {
        (Some(s), _) => s,
        (None, Some(m)) if d.public => m,
        _ => return Err(NotStored::NotShareable),
    };
    if super::key::vary_names(headers).is_none() {
        return Err(NotStored::Vary);
    }
    let cap = |secs: u64| Duration::from_secs(secs).min(max_ttl);
    let stale = |w: Option<u64>| if d.must_revalidate { Duration::ZERO } else { cap(w.unwrap_or(0)) };
    let initial_age = headers
        .get(AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(delta_seconds)
        .map_or(Duration::ZERO, Duration::from_secs);
    let f = Freshness {
        lifetime: cap(lifetime),
        initial_age,
        stale_while_revalidate: stale(d.stale_while_revalidate),
        stale_if_error: stale(d.stale_if_error),
    };
    if f.keep_for().is_zero() {
        return Err(NotStored::NotShareable);
    }
    Ok(f)
}

/// What the cache does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestUse {
    /// Answer from the cache when possible, store the answer (a `GET`).
    LookupAndStore,
    /// Answer from the cache when possible, never store (a `HEAD`).
    LookupOnly,
    /// Do not look up (the client asked for a fresh answer), but store it.
    Revalidate,
    /// Leave the cache out entirely.
    Bypass,
}

/// How the cache treats a request, by the rules at the top of this module;
/// `session_cookies` are the cookie names that mark a signed-in user.
pub(crate) fn request_use(method: &Method, headers: &HeaderMap, session_cookies: &[String]) -> RequestUse {
    let has_body =
        headers.contains_key(TRANSFER_ENCODING) || headers.get(CONTENT_LENGTH).is_some_and(|v| v.as_bytes() != b"0");
    if (method != Method::GET && method != Method::HEAD)
        || has_body
        || headers.contains_key(AUTHORIZATION)
        || headers.contains_key(RANGE)
        || has_session_cookie(headers, session_cookies)
    {
        return RequestUse::Bypass;
    }
    let asked = directives(headers).unwrap_or_default();
    if asked.no_store {
        return RequestUse::Bypass;
    }
    let pragma_no_cache = headers.get_all(PRAGMA).iter().any(|v| contains_token(v, "no-cache"));
    if asked.no_cache || asked.max_age == Some(0) || pragma_no_cache {
        return if method == Method::GET { RequestUse::Revalidate } else { RequestUse::Bypass };
    }
    if method == Method::GET { RequestUse::LookupAndStore } else { RequestUse::LookupOnly }
}

/// Whether a `Cookie` header names one of `names`.
fn has_session_cookie(headers: &HeaderMap, names: &[String]) -> bool {
    headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).any(|pair| {
        let name = pair.split_once('=').map_or(pair, |(n, _)| n).trim();
        names.iter().any(|s| s == name)
    })
}

fn contains_token(value: &HeaderValue, token: &str) -> bool {
    value.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    const DAY: Duration = Duration::from_secs(86_400);

    fn store(pairs: &[(&str, &str)]) -> Result<Freshness, NotStored> {
        storable(StatusCode::OK, &headers(pairs), DAY)
    }

    #[test]
    fn parses_directives_across_headers_and_quotes() {
        let d = directives(&headers(&[
            ("cache-control", "public, S-MaxAge=\"60\""),
            ("cache-control", "stale-while-revalidate=30, ext=\"a,b\", must-revalidate"),
        ]))
        .unwrap();
        assert_eq!(d.s_maxage, Some(60));
        assert!(d.public && d.must_revalidate);
        assert_eq!(d.stale_while_revalidate, Some(30));
        assert_eq!(
            directives(&headers(&[("cache-control", "max-age=99999999999999999999")])).unwrap().max_age,
            Some(MAX_DELTA)
        );
    }

    #[test]
    fn malformed_or_contradictory_directives_are_not_stored() {
        for cc in ["s-maxage=abc", "s-maxage=", "s-maxage=-1", "s-maxage=1, s-maxage=2", "s-maxage=\"60", "=5", "a b"] {
            assert_eq!(store(&[("cache-control", cc)]), Err(NotStored::Invalid), "{cc}");
        }
        assert!(store(&[("cache-control", "s-maxage=5, s-maxage=5")]).is_ok(), "a repeated equal value is fine");
    }

    #[test]
    fn only_explicitly_shared_answers_are_stored() {
        assert_eq!(store(&[("cache-control", "s-maxage=60")]).unwrap().lifetime, Duration::from_secs(60));
        assert_eq!(store(&[("cache-control", "public, max-age=10")]).unwrap().lifetime, Duration::from_secs(10));
        assert_eq!(store(&[("cache-control", "max-age=10")]), Err(NotStored::NotShareable));
        assert_eq!(store(&[]), Err(NotStored::NotShareable));
        assert_eq!(store(&[("cache-control", "s-maxage=0")]), Err(NotStored::NotShareable));
        assert!(store(&[("cache-control", "s-maxage=0, stale-while-revalidate=5")]).is_ok());
        for cc in
            ["private, s-maxage=60", "s-maxage=60, no-store", "s-maxage=60, no-cache", "private=\"x\", s-maxage=1"]
        {
            assert_eq!(store(&[("cache-control", cc)]), Err(NotStored::Forbidden), "{cc}");
        }
        assert_eq!(store(&[("cache-control", "s-maxage=60"), ("set-cookie", "a=b")]), Err(NotStored::SetCookie));
        assert_eq!(store(&[("cache-control", "s-maxage=60"), ("vary", "*")]), Err(NotStored::Vary));
        assert_eq!(
            storable(StatusCode::INTERNAL_SERVER_ERROR, &headers(&[("cache-control", "s-maxage=60")]), DAY),
            Err(NotStored::Status)
        );
        assert_eq!(
            storable(StatusCode::PARTIAL_CONTENT, &headers(&[("cache-control", "s-maxage=60")]), DAY),
            Err(NotStored::Status)
        );
    }

    #[test]
    fn windows_are_capped_and_must_revalidate_forbids_stale() {
        let f = storable(
            StatusCode::OK,
            &headers(&[("cache-control", "s-maxage=999999, stale-while-revalidate=5, stale-if-error=7"), ("age", "3")]),
            Duration::from_secs(100),
        )
        .unwrap();
        assert_eq!(f.lifetime, Duration::from_secs(100));
        assert_eq!((f.stale_while_revalidate, f.stale_if_error), (Duration::from_secs(5), Duration::from_secs(7)));
        assert_eq!(f.initial_age, Duration::from_secs(3));
        assert_eq!(f.keep_for(), Duration::from_secs(104));
        let f = store(&[("cache-control", "s-maxage=1, stale-while-revalidate=5, must-revalidate")]).unwrap();
        assert_eq!(f.stale_while_revalidate, Duration::ZERO);
    }

    #[test]
    fn requests_with_credentials_or_bodies_bypass() {
        let sessions = vec!["sid".to_owned()];
        let use_of = |m: Method, pairs: &[(&str, &str)]| request_use(&m, &headers(pairs), &sessions);
        assert_eq!(use_of(Method::GET, &[]), RequestUse::LookupAndStore);
        assert_eq!(use_of(Method::HEAD, &[]), RequestUse::LookupOnly);
        assert_eq!(use_of(Method::POST, &[]), RequestUse::Bypass);
        assert_eq!(use_of(Method::GET, &[("authorization", "Bearer x")]), RequestUse::Bypass);
        assert_eq!(use_of(Method::GET, &[("cookie", "theme=dark; sid=abc")]), RequestUse::Bypass);
        assert_eq!(use_of(Method::GET, &[("cookie", "theme=dark; sidx=abc")]), RequestUse::LookupAndStore);
        assert_eq!(use_of(Method::GET, &[("content-length", "5")]), RequestUse::Bypass);
        assert_eq!(use_of(Method::GET, &[("range", "bytes=0-1")]), RequestUse::Bypass);
        assert_eq!(use_of(Method::GET, &[("cache-control", "no-cache")]), RequestUse::Revalidate);
        assert_eq!(use_of(Method::GET, &[("pragma", "no-cache")]), RequestUse::Revalidate);
        assert_eq!(use_of(Method::GET, &[("cache-control", "no-store")]), RequestUse::Bypass);
        assert_eq!(use_of(Method::GET, &[("cache-control", "max-age=\"")]), RequestUse::LookupAndStore);
    }
}
