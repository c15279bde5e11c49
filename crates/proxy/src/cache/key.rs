//! Cache keys. An answer is found in two steps, as RFC 9111 §4.1 asks:
//! the *primary key* names the function, the published version the alias
//! resolved to, the host and the path with its query, i.e. the target URI
//! (only `GET` answers are stored; a `HEAD` reads them). The host is part
//! of it because one version answers under several names (the
//! environment's and the deployment's), and an app may write the name it
//! was asked for into its answer (absolute links, redirects). When the stored answer had a `Vary`, the
//! primary key holds the list of header names, and the *variant key* adds
//! the request's values of those headers. For `Accept-Encoding` the value
//! is the encoding the proxy negotiates (`br`, `gzip` or `identity`), so
//! the many ways clients spell it share three variants.

use http::{HeaderMap, HeaderName};

/// The primary key of a request for `path_and_query` on `host` (lower
/// case, without port) to `function` at `version`.
pub(crate) fn primary(function: &str, version: &str, host: &str, path_and_query: &str) -> String {
    let mut key = String::with_capacity(function.len() + version.len() + host.len() + path_and_query.len() + 3);
    for (i, part) in [function, version, host, path_and_query].into_iter().enumerate() {
        if i > 0 {
            key.push('\n');
        }
        key.push_str(part);
    }
    key
}

/// The header names an answer's `Vary` lists, lower case and without
/// repeats; `None` for `Vary: *` or a value that is not a list of names.
pub(crate) fn vary_names(headers: &HeaderMap) -> Option<Vec<HeaderName>> {
    let mut names: Vec<HeaderName> = Vec::new();
    for value in headers.get_all(http::header::VARY) {
        for item in value.to_str().ok()?.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if item == "*" {
                return None;
            }
            let name = HeaderName::from_bytes(item.as_bytes()).ok()?;
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Some(names)
}

/// The variant key: `primary` plus the request's values of `names` (all
/// values of a repeated header, in order; an absent header is empty and
/// distinct from an empty one).
pub(crate) fn variant(primary: &str, names: &[HeaderName], request: &HeaderMap) -> String {
    let mut key = primary.to_owned();
    for name in names {
        key.push('\n');
        key.push_str(name.as_str());
        if name == http::header::ACCEPT_ENCODING {
            key.push('=');
            key.push_str(crate::compress::negotiate(request).token());
            continue;
        }
        let mut values = request.get_all(name).iter().peekable();
        if values.peek().is_none() {
            continue;
        }
        key.push(':');
        for (i, v) in values.enumerate() {
            if i > 0 {
                key.push(',');
            }
            // Header values are visible ASCII or opaque bytes; both are kept distinct.
            key.push_str(&String::from_utf8_lossy(v.as_bytes()));
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn vary_lists_names_once_and_refuses_star() {
        let mut h = HeaderMap::new();
        h.append("vary", HeaderValue::from_static("Accept-Language, accept-language"));
        h.append("vary", HeaderValue::from_static("X-Theme"));
        let names = vary_names(&h).unwrap();
        assert_eq!(names.iter().map(HeaderName::as_str).collect::<Vec<_>>(), ["accept-language", "x-theme"]);
        h.append("vary", HeaderValue::from_static("*"));
        assert!(vary_names(&h).is_none());
        let mut bad = HeaderMap::new();
        bad.insert("vary", HeaderValue::from_static("a b"));
        assert!(vary_names(&bad).is_none());
    }

    #[test]
    fn variants_differ_by_value_and_by_absence() {
        let names = vec![HeaderName::from_static("accept-language")];
        let p = primary("f", "3", "h", "/a?b=c");
        let mut en = HeaderMap::new();
        en.insert("accept-language", HeaderValue::from_static("en"));
        let mut empty = HeaderMap::new();
        empty.insert("accept-language", HeaderValue::from_static(""));
        let keys = [variant(&p, &names, &en), variant(&p, &names, &empty), variant(&p, &names, &HeaderMap::new())];
        assert_ne!(keys[0], keys[1]);
        assert_ne!(keys[1], keys[2]);
        assert_ne!(primary("f", "3", "h", "/a"), primary("f", "4", "h", "/a"), "versions never share entries");
        assert_ne!(primary("f", "3", "h", "/a"), primary("f", "3", "g", "/a"), "nor hosts");
        let ae = vec![http::header::ACCEPT_ENCODING];
        let mut chrome = HeaderMap::new();
        chrome.insert("accept-encoding", HeaderValue::from_static("gzip, deflate, br, zstd"));
        let mut curl = HeaderMap::new();
        curl.insert("accept-encoding", HeaderValue::from_static("br;q=1.0, gzip;q=0.8"));
        assert_eq!(variant(&p, &ae, &chrome), variant(&p, &ae, &curl), "both get br");
        assert_ne!(variant(&p, &ae, &chrome), variant(&p, &ae, &HeaderMap::new()));
    }
}
