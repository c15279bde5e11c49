//! API Gateway HTTP API (payload format 2.0) events and responses.
//!
//! These types follow the wire format exactly. The `aws_lambda_events`
//! crate's request type keeps only the first value of a repeated header when
//! it serializes and adds v1 authorizer fields, so the event sent to
//! functions is defined here; a test checks that `aws_lambda_events` reads
//! it back.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::header::{COOKIE, HeaderMap, HeaderName, HeaderValue, SET_COOKIE};
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};

/// An API Gateway v2 HTTP event, as a function receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpEvent {
    /// Always `2.0`.
    pub version: String,
    /// Always `$default`.
    pub route_key: String,
    /// The path exactly as sent, percent-encoding kept.
    pub raw_path: String,
    /// The query string exactly as sent, without `?`.
    pub raw_query_string: String,
    /// The `Cookie` header split into its pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cookies: Vec<String>,
    /// Lower-cased header names; repeated values joined by commas.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Decoded query parameters; repeated keys joined by commas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_string_parameters: Option<BTreeMap<String, String>>,
    /// Who asked, when, and for what.
    pub request_context: RequestContext,
    /// The body, base64 when `is_base64_encoded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Whether `body` is base64.
    #[serde(default)]
    pub is_base64_encoded: bool,
}

/// `requestContext` of an HTTP event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    /// The account that owns the function.
    pub account_id: String,
    /// The API id; the backend slug here.
    pub api_id: String,
    /// The full host name of the request.
    pub domain_name: String,
    /// The first label of the host name.
    pub domain_prefix: String,
    /// Method, path, protocol, caller.
    pub http: HttpContext,
    /// The request id (also sent as `x-request-id`).
    pub request_id: String,
    /// Always `$default`.
    pub route_key: String,
    /// Always `$default`.
    pub stage: String,
    /// Receive time, `27/Nov/2026:23:19:15 +0000`.
    pub time: String,
    /// Receive time in epoch milliseconds.
    pub time_epoch: i64,
}

/// `requestContext.http` of an HTTP event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpContext {
    /// The request method.
    pub method: String,
    /// The request path.
    pub path: String,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub protocol: String,
    /// The client's address.
    pub source_ip: String,
    /// The `User-Agent` header.
    pub user_agent: String,
}

/// Why an event or a response cannot be converted.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The body claims base64 but is not.
    #[error("the body is marked base64 but does not decode: {0}")]
    Base64(#[from] base64::DecodeError),
    /// A status code outside 100–999.
    #[error("status code {0} is not a valid HTTP status")]
    Status(u16),
    /// A header name or value that HTTP cannot carry.
    #[error("header `{0}` has an invalid name or value")]
    Header(String),
    /// The method is not a valid HTTP method.
    #[error("`{0}` is not a valid HTTP method")]
    Method(String),
    /// The payload is not JSON.
    #[error("the response is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Encodes a body as API Gateway does: text as is, anything else base64.
pub(crate) fn encode_body(body: &[u8]) -> (Option<String>, bool) {
    if body.is_empty() {
        return (None, false);
    }
    match std::str::from_utf8(body) {
        Ok(text) => (Some(text.to_owned()), false),
        Err(_) => (Some(BASE64.encode(body)), true),
    }
}

fn decode_body(body: Option<&str>, base64: bool) -> Result<Bytes, ConvertError> {
    match body {
        None => Ok(Bytes::new()),
        Some(b) if base64 => Ok(Bytes::from(BASE64.decode(b)?)),
        Some(b) => Ok(Bytes::copy_from_slice(b.as_bytes())),
    }
}

impl HttpEvent {
    /// The event as JSON, as Lambda receives it.
    #[allow(clippy::expect_used, reason = "an event of strings, maps, lists and numbers always serializes")]
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("HttpEvent serializes")
    }

    /// The request method.
    pub fn method(&self) -> Result<Method, ConvertError> {
        Method::from_bytes(self.request_context.http.method.as_bytes())
            .map_err(|_| ConvertError::Method(self.request_context.http.method.clone()))
    }

    /// Path and query as sent (`/a%20b?x=1`).
    pub fn path_and_query(&self) -> String {
        let path = if self.raw_path.is_empty() { "/" } else { &self.raw_path };
        if self.raw_query_string.is_empty() { path.to_owned() } else { format!("{path}?{}", self.raw_query_string) }
    }

    /// Headers for forwarding to an app, with `cookies` joined back into
    /// one `Cookie` header. Names or values HTTP cannot carry are errors.
    pub fn header_map(&self) -> Result<HeaderMap, ConvertError> {
        let mut map = HeaderMap::with_capacity(self.headers.len() + 1);
        for (name, value) in &self.headers {
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| ConvertError::Header(name.clone()))?;
            let v = HeaderValue::from_str(value).map_err(|_| ConvertError::Header(name.clone()))?;
            map.append(n, v);
        }
        if !self.cookies.is_empty() {
            let v =
                HeaderValue::from_str(&self.cookies.join("; ")).map_err(|_| ConvertError::Header("cookie".into()))?;
            map.insert(COOKIE, v);
        }
        Ok(map)
    }

    /// The decoded body.
    pub fn body_bytes(&self) -> Result<Bytes, ConvertError> {
        decode_body(self.body.as_deref(), self.is_base64_encoded)
    }
}

/// `HTTP/1.1` or `HTTP/2.0`, as API Gateway names protocols.
pub(crate) fn protocol_name(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// Decodes a query string into parameters, joining repeated keys by commas.
pub(crate) fn query_parameters(raw: &str) -> Option<BTreeMap<String, String>> {
    if raw.is_empty() {
        return None;
    }
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (decode_component(k), decode_component(v));
        out.entry(k)
            .and_modify(|old| {
                old.push(',');
                old.push_str(&v);
            })
            .or_insert(v);
    }
    Some(out)
}

fn decode_component(s: &str) -> String {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus).decode_utf8_lossy().into_owned()
}

/// A buffered API Gateway v2 response, as a function returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpResponse {
    /// The status code (200 when absent).
    #[serde(default = "default_status")]
    pub status_code: u16,
    /// Single-valued headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "lenient_map")]
    pub headers: BTreeMap<String, String>,
    /// Headers with several values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub multi_value_headers: BTreeMap<String, Vec<String>>,
    /// `Set-Cookie` values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cookies: Vec<String>,
    /// The body, base64 when `is_base64_encoded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Whether `body` is base64.
    #[serde(default)]
    pub is_base64_encoded: bool,
}

fn default_status() -> u16 {
    200
}

/// Reads a header map whose values may be strings, numbers or booleans,
/// as handlers in dynamic languages return them.
fn lenient_map<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: Option<BTreeMap<String, serde_json::Value>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            serde_json::Value::Null => None,
            other => Some((k, other.to_string())),
        })
        .collect())
}

impl HttpResponse {
    /// Builds a response from an app's answer: `Set-Cookie` goes to
    /// `cookies`, repeated headers to `multiValueHeaders`.
    pub fn from_parts(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Self {
        let mut out = HttpResponse { status_code: status.as_u16(), ..Default::default() };
        for name in headers.keys() {
            let mut values = headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            if name == SET_COOKIE {
                out.cookies.extend(values);
                continue;
            }
            let first = values.next().unwrap_or_default();
            let rest: Vec<String> = values.collect();
            if rest.is_empty() {
                out.headers.insert(name.as_str().to_owned(), first);
            } else {
                let mut all = Vec::with_capacity(rest.len() + 1);
                all.push(first);
                all.extend(rest);
                out.multi_value_headers.insert(name.as_str().to_owned(), all);
            }
        }
        let (body, b64) = encode_body(body);
        out.body = body;
        out.is_base64_encoded = b64;
        out
    }

    /// Reads a function's buffered payload. A JSON value that is not an
    /// object with `statusCode` is itself the body of a 200 JSON response,
    /// as API Gateway treats it.
    pub fn from_payload(payload: &[u8]) -> Result<Self, ConvertError> {
        /// The response with its status optional: an object without one is a JSON body.
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            status_code: Option<u16>,
            #[serde(default, deserialize_with = "lenient_map")]
            headers: BTreeMap<String, String>,
            #[serde(default)]
            multi_value_headers: BTreeMap<String, Vec<String>>,
            #[serde(default)]
            cookies: Vec<String>,
            #[serde(default)]
            body: Option<String>,
            #[serde(default)]
            is_base64_encoded: bool,
        }
        // One parse for the common case: an object naming its status.
        if memchr::memmem::find(payload, b"\"statusCode\"").is_some()
            && let Ok(Probe {
                status_code: Some(status_code),
                headers,
                multi_value_headers,
                cookies,
                body,
                is_base64_encoded,
            }) = serde_json::from_slice::<Probe>(payload)
        {
            return Ok(HttpResponse { status_code, headers, multi_value_headers, cookies, body, is_base64_encoded });
        }
        // Anything else is the body, and must be JSON to be a function's answer.
        let value: serde_json::Value = serde_json::from_slice(payload)?;
        if matches!(&value, serde_json::Value::Object(map) if map.contains_key("statusCode")) {
            // A status of the wrong shape: say so precisely.
            return Ok(serde_json::from_value(value)?);
        }
        Ok(HttpResponse {
            status_code: 200,
            headers: BTreeMap::from([("content-type".to_owned(), "application/json".to_owned())]),
            body: Some(String::from_utf8_lossy(payload).into_owned()),
            ..Default::default()
        })
    }

    /// Status, headers (cookies as `Set-Cookie`) and decoded body.
    pub fn into_http(self) -> Result<(StatusCode, HeaderMap, Bytes), ConvertError> {
        let status = StatusCode::from_u16(self.status_code).map_err(|_| ConvertError::Status(self.status_code))?;
        let mut map =
            HeaderMap::with_capacity(self.headers.len() + self.multi_value_headers.len() + self.cookies.len());
        let header = |name: &str, value: &str| -> Result<(HeaderName, HeaderValue), ConvertError> {
            let n = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                .map_err(|_| ConvertError::Header(name.to_owned()))?;
            let v = HeaderValue::from_str(value).map_err(|_| ConvertError::Header(name.to_owned()))?;
            Ok((n, v))
        };
        for (name, values) in &self.multi_value_headers {
            for value in values {
                let (n, v) = header(name, value)?;
                map.append(n, v);
            }
        }
        for (name, value) in &self.headers {
            if self.multi_value_headers.keys().any(|k| k.eq_ignore_ascii_case(name)) {
                continue; // multiValueHeaders wins, as in API Gateway.
            }
            let (n, v) = header(name, value)?;
            map.append(n, v);
        }
        for cookie in &self.cookies {
            let (n, v) = header("set-cookie", cookie)?;
            map.append(n, v);
        }
        let body = decode_body(self.body.as_deref(), self.is_base64_encoded)?;
        Ok((status, map, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(uri: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpEvent {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        let uri: http::Uri = uri.parse().unwrap();
        let request = crate::RequestView {
            method: &Method::POST,
            uri: &uri,
            version: http::Version::HTTP_11,
            headers: &map,
            body,
        };
        let context = crate::EventContext {
            account_id: "000000000000",
            api_id: "local",
            domain_name: "hello-prod-2.local.dev.localhost",
            source_ip: "10.1.2.3".parse().unwrap(),
            request_id: "req-1",
            time_epoch_ms: 1_795_821_555_000,
        };
        let mut out = Vec::new();
        crate::write_event(&mut out, request, &context);
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn event_keeps_raw_path_query_and_joins_repeats() {
        let e = event(
            "/a%20b/c?x=1&y=2&x=3&z=a%2Bb+c",
            &[
                ("X-Multi", "one"),
                ("x-multi", "two"),
                ("cookie", "a=1; b=2"),
                ("cookie", "c=3"),
                ("user-agent", "curl/8"),
            ],
            b"",
        );
        assert_eq!(e.raw_path, "/a%20b/c");
        assert_eq!(e.raw_query_string, "x=1&y=2&x=3&z=a%2Bb+c");
        let q = e.query_string_parameters.as_ref().unwrap();
        assert_eq!(q["x"], "1,3");
        assert_eq!(q["z"], "a+b c");
        assert_eq!(e.headers["x-multi"], "one,two");
        assert!(!e.headers.contains_key("cookie"));
        assert_eq!(e.cookies, ["a=1", "b=2", "c=3"]);
        assert_eq!(e.request_context.http.user_agent, "curl/8");
        assert_eq!(e.request_context.http.source_ip, "10.1.2.3");
        assert_eq!(e.request_context.domain_prefix, "hello-prod-2");
        assert_eq!(e.path_and_query(), "/a%20b/c?x=1&y=2&x=3&z=a%2Bb+c");
        assert_eq!(e.header_map().unwrap()["cookie"], "a=1; b=2; c=3");
    }

    #[test]
    fn binary_bodies_round_trip_through_base64() {
        let bytes: Vec<u8> = (0..=255).collect();
        let e = event("/", &[], &bytes);
        assert!(e.is_base64_encoded);
        assert_eq!(e.body_bytes().unwrap(), bytes);
        let text = event("/", &[], "héllo".as_bytes());
        assert!(!text.is_base64_encoded);
        assert_eq!(text.body.as_deref(), Some("héllo"));
    }

    #[test]
    fn aws_lambda_events_reads_our_event() {
        let e = event("/p?q=1", &[("x-a", "1"), ("x-a", "2")], b"hi");
        let json = serde_json::to_string(&e).unwrap();
        let theirs: aws_lambda_events::apigw::ApiGatewayV2httpRequest = serde_json::from_str(&json).unwrap();
        assert_eq!(theirs.raw_path.as_deref(), Some("/p"));
        assert_eq!(theirs.raw_query_string.as_deref(), Some("q=1"));
        assert_eq!(theirs.headers["x-a"], "1,2");
        assert_eq!(theirs.request_context.http.method, Method::POST);
        assert_eq!(theirs.request_context.http.source_ip.as_deref(), Some("10.1.2.3"));
        assert_eq!(theirs.body.as_deref(), Some("hi"));
        assert_eq!(theirs.version.as_deref(), Some("2.0"));
    }

    #[test]
    fn response_round_trips_cookies_repeats_and_binary() {
        let mut h = HeaderMap::new();
        h.append("set-cookie", HeaderValue::from_static("a=1; Path=/"));
        h.append("set-cookie", HeaderValue::from_static("b=2; HttpOnly"));
        h.append("vary", HeaderValue::from_static("accept"));
        h.append("vary", HeaderValue::from_static("origin"));
        h.append("content-type", HeaderValue::from_static("application/octet-stream"));
        let body = [0u8, 159, 146, 150, 255];
        let r = HttpResponse::from_parts(StatusCode::CREATED, &h, &body);
        assert_eq!(r.cookies.len(), 2);
        assert!(r.is_base64_encoded);
        let json = serde_json::to_vec(&r).unwrap();
        let (status, headers, out) = HttpResponse::from_payload(&json).unwrap().into_http().unwrap();
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(out.as_ref(), body);
        let cookies: Vec<_> = headers.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1; Path=/", "b=2; HttpOnly"]);
        let vary: Vec<_> = headers.get_all("vary").iter().collect();
        assert_eq!(vary, ["accept", "origin"]);
    }

    #[test]
    fn payloads_without_status_are_json_bodies() {
        let (status, headers, body) = HttpResponse::from_payload(br#"{"hello":"world"}"#).unwrap().into_http().unwrap();
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(body.as_ref(), br#"{"hello":"world"}"#);
        let r =
            HttpResponse::from_payload(br#"{"statusCode":404,"headers":{"x-n":5,"x-b":true},"body":"nope"}"#).unwrap();
        assert_eq!(r.headers["x-n"], "5");
        assert!(HttpResponse::from_payload(b"<html>").is_err());
        assert!(matches!(
            HttpResponse::from_payload(br#"{"statusCode":42}"#).unwrap().into_http(),
            Err(ConvertError::Status(42))
        ));
        assert!(
            HttpResponse::from_payload(br#"{"statusCode":200,"body":"!!","isBase64Encoded":true}"#)
                .unwrap()
                .into_http()
                .is_err()
        );
    }
}
