//! Writing the API Gateway v2 event for a request in one pass, straight
//! from the request's parts into the invoke payload: no intermediate
//! [`HttpEvent`](crate::HttpEvent), no copies of headers or body (a binary
//! body is base64-encoded directly into the output).
//!
//! The JSON is the same document [`HttpEvent`](crate::HttpEvent) describes
//! (a test checks that it reads back field for field).

use std::net::IpAddr;

use base64::display::Base64Display;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::header::{COOKIE, HeaderMap};
use http::{Method, Uri, Version};
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct, Serializer};

use crate::apigw::{protocol_name, query_parameters};

/// What the receiver of a request knows besides the request itself.
#[derive(Debug, Clone, Copy)]
pub struct EventContext<'a> {
    /// Account id to report.
    pub account_id: &'a str,
    /// API id to report.
    pub api_id: &'a str,
    /// The host name the request was for (without port, lower case).
    pub domain_name: &'a str,
    /// The client's address.
    pub source_ip: IpAddr,
    /// The request id.
    pub request_id: &'a str,
    /// When the request arrived, in epoch milliseconds.
    pub time_epoch_ms: i64,
}

/// A request, borrowed, as the event describes it.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// The method.
    pub method: &'a Method,
    /// The target as sent.
    pub uri: &'a Uri,
    /// The protocol version.
    pub version: Version,
    /// The headers (control headers already removed).
    pub headers: &'a HeaderMap,
    /// The whole body.
    pub body: &'a [u8],
}

/// Appends the event for `request` to `out` as JSON.
pub fn write_event(out: &mut Vec<u8>, request: RequestView<'_>, context: &EventContext<'_>) {
    let event = Event { request, context };
    // Writing to a Vec cannot fail, and every field serializes.
    if let Err(e) = event.serialize(&mut serde_json::Serializer::new(out)) {
        debug_assert!(false, "an event always serializes: {e}");
    }
}

/// The JSON size of the event for `request`, roughly, to size the buffer.
pub fn event_size_hint(request: &RequestView<'_>) -> usize {
    let headers: usize = request.headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 6).sum();
    // Base64 grows a binary body by a third; JSON escapes rarely add more.
    1024 + request.uri.path().len() * 2
        + request.uri.query().map_or(0, |q| q.len() * 3)
        + headers
        + request.body.len() * 4 / 3
        + 4
}

struct Event<'a> {
    request: RequestView<'a>,
    context: &'a EventContext<'a>,
}

impl Serialize for Event<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = &self.request;
        let query = r.uri.query().unwrap_or("");
        let has_cookies = cookie_pairs(r.headers).next().is_some();
        let mut s = serializer.serialize_struct("HttpEvent", 10)?;
        s.serialize_field("version", "2.0")?;
        s.serialize_field("routeKey", "$default")?;
        s.serialize_field("rawPath", r.uri.path())?;
        s.serialize_field("rawQueryString", query)?;
        if has_cookies {
            s.serialize_field("cookies", &Cookies(r.headers))?;
        }
        s.serialize_field("headers", &Headers(r.headers))?;
        if let Some(params) = query_parameters(query) {
            s.serialize_field("queryStringParameters", &params)?;
        }
        s.serialize_field("requestContext", &Context { request: r, context: self.context })?;
        if r.body.is_empty() {
            s.serialize_field("isBase64Encoded", &false)?;
        } else {
            match std::str::from_utf8(r.body) {
                Ok(text) => {
                    s.serialize_field("body", text)?;
                    s.serialize_field("isBase64Encoded", &false)?;
                }
                Err(_) => {
                    s.serialize_field("body", &Base64(r.body))?;
                    s.serialize_field("isBase64Encoded", &true)?;
                }
            }
        }
        s.end()
    }
}

/// The body as base64, written straight into the output.
struct Base64<'a>(&'a [u8]);

impl Serialize for Base64<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&Base64Display::new(self.0, &BASE64))
    }
}

/// The pairs of every `Cookie` header.
fn cookie_pairs(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|v| std::str::from_utf8(v.as_bytes()).unwrap_or("").split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty())
}

struct Cookies<'a>(&'a HeaderMap);

impl Serialize for Cookies<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        for pair in cookie_pairs(self.0) {
            seq.serialize_element(pair)?;
        }
        seq.end()
    }
}

/// Header names (lower case, as `http` keeps them) to their values joined
/// by commas; `Cookie` is carried by `cookies` instead.
struct Headers<'a>(&'a HeaderMap);

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for name in self.0.keys().filter(|n| *n != COOKIE) {
            map.serialize_entry(name.as_str(), &Joined(self.0, name))?;
        }
        map.end()
    }
}

/// The values of one header joined by commas (a value that is not UTF-8
/// is taken lossily, as a function receiving JSON must).
struct Joined<'a>(&'a HeaderMap, &'a http::HeaderName);

impl Serialize for Joined<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut values = self.0.get_all(self.1).iter();
        match (values.next(), values.next()) {
            (Some(only), None) => match std::str::from_utf8(only.as_bytes()) {
                Ok(text) => serializer.serialize_str(text),
                Err(_) => serializer.serialize_str(&String::from_utf8_lossy(only.as_bytes())),
            },
            _ => serializer.collect_str(&JoinedDisplay(self.0, self.1)),
        }
    }
}

struct JoinedDisplay<'a>(&'a HeaderMap, &'a http::HeaderName);

impl std::fmt::Display for JoinedDisplay<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, v) in self.0.get_all(self.1).iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(&String::from_utf8_lossy(v.as_bytes()))?;
        }
        Ok(())
    }
}

struct Context<'a> {
    request: &'a RequestView<'a>,
    context: &'a EventContext<'a>,
}

impl Serialize for Context<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let c = self.context;
        let mut s = serializer.serialize_struct("RequestContext", 11)?;
        s.serialize_field("accountId", c.account_id)?;
        s.serialize_field("apiId", c.api_id)?;
        s.serialize_field("domainName", c.domain_name)?;
        s.serialize_field("domainPrefix", c.domain_name.split('.').next().unwrap_or_default())?;
        s.serialize_field("http", &Http { request: self.request, source_ip: c.source_ip })?;
        s.serialize_field("requestId", c.request_id)?;
        s.serialize_field("routeKey", "$default")?;
        s.serialize_field("stage", "$default")?;
        s.serialize_field("time", &RequestTime(c.time_epoch_ms))?;
        s.serialize_field("timeEpoch", &c.time_epoch_ms)?;
        s.end()
    }
}

struct Http<'a> {
    request: &'a RequestView<'a>,
    source_ip: IpAddr,
}

impl Serialize for Http<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.request;
        let user_agent = r.headers.get(http::header::USER_AGENT).map(|v| v.as_bytes()).unwrap_or_default();
        let mut s = serializer.serialize_struct("HttpContext", 5)?;
        s.serialize_field("method", r.method.as_str())?;
        s.serialize_field("path", r.uri.path())?;
        s.serialize_field("protocol", protocol_name(r.version))?;
        s.serialize_field("sourceIp", &Displayed(&self.source_ip))?;
        s.serialize_field("userAgent", &String::from_utf8_lossy(user_agent))?;
        s.end()
    }
}

/// A value written through its `Display`, without an intermediate string.
struct Displayed<'a, T>(&'a T);

impl<T: std::fmt::Display> Serialize for Displayed<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
    }
}

/// The request time as API Gateway writes it: `07/Nov/2026:03:04:05 +0000`.
struct RequestTime(i64);

impl Serialize for RequestTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&RequestTimeDisplay(self.0))
    }
}

struct RequestTimeDisplay(i64);

impl std::fmt::Display for RequestTimeDisplay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        write!(
            f,
            "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
            t.day(),
            MONTHS[usize::from(u8::from(t.month())) - 1],
            t.year(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HttpEvent;

    fn write(method: &str, uri: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpEvent {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let uri: Uri = uri.parse().unwrap();
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        let context = EventContext {
            account_id: "000000000000",
            api_id: "local",
            domain_name: "shop-prod-3.local.dev.localhost",
            source_ip: "203.0.113.7".parse().unwrap(),
            request_id: "req-1",
            time_epoch_ms: 1_795_821_555_123,
        };
        let view = RequestView { method: &method, uri: &uri, version: Version::HTTP_11, headers: &map, body };
        let mut out = Vec::new();
        write_event(&mut out, view, &context);
        assert!(out.len() <= event_size_hint(&view), "the size hint is an upper bound here");
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn writes_every_field_as_the_event_describes_it() {
        let e = write(
            "POST",
            "/a%20b/c?x=1&x=2&y=%20z&flag",
            &[
                ("x-multi", "one"),
                ("x-multi", "two"),
                ("cookie", "a=1; b=2"),
                ("cookie", "c=3"),
                ("user-agent", "ua/1"),
                ("content-type", "text/plain"),
            ],
            "héllo \"quoted\"\n".as_bytes(),
        );
        assert_eq!((e.version.as_str(), e.route_key.as_str()), ("2.0", "$default"));
        assert_eq!(e.raw_path, "/a%20b/c");
        assert_eq!(e.raw_query_string, "x=1&x=2&y=%20z&flag");
        assert_eq!(e.cookies, ["a=1", "b=2", "c=3"]);
        assert_eq!(e.headers["x-multi"], "one,two");
        assert!(!e.headers.contains_key("cookie"));
        let q = e.query_string_parameters.unwrap();
        assert_eq!((q["x"].as_str(), q["y"].as_str(), q["flag"].as_str()), ("1,2", " z", ""));
        let c = &e.request_context;
        assert_eq!((c.domain_prefix.as_str(), c.request_id.as_str()), ("shop-prod-3", "req-1"));
        assert_eq!(c.time, "27/Nov/2026:23:19:15 +0000");
        assert_eq!(c.time_epoch, 1_795_821_555_123);
        assert_eq!(c.http.method, "POST");
        assert_eq!((c.http.protocol.as_str(), c.http.source_ip.as_str()), ("HTTP/1.1", "203.0.113.7"));
        assert_eq!(c.http.user_agent, "ua/1");
        assert_eq!((e.body.as_deref(), e.is_base64_encoded), (Some("héllo \"quoted\"\n"), false));
    }

    #[test]
    fn binary_bodies_are_base64_and_empty_ones_absent() {
        let e = write("PUT", "/bin", &[], &[0, 159, 146, 150, 255]);
        assert!(e.is_base64_encoded);
        assert_eq!(e.body_bytes().unwrap().as_ref(), &[0, 159, 146, 150, 255]);
        let e = write("GET", "/", &[], b"");
        assert_eq!((e.body, e.is_base64_encoded, e.query_string_parameters), (None, false, None));
        assert!(e.cookies.is_empty());
    }
}
