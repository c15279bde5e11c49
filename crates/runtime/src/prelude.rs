//! The metadata prelude of a streamed HTTP-integration response.
//!
//! A streamed response (`Content-Type:
//! application/vnd.awslambda.http-integration-response`) starts with a JSON
//! document `{"statusCode":…,"headers":{…},"cookies":[…]}`, then
//! [`DELIMITER`] (8 NUL bytes), then the raw body.

use std::collections::BTreeMap;

use bytes::{BufMut as _, Bytes, BytesMut};
use http::header::SET_COOKIE;
use http::{HeaderMap, StatusCode};
use serde::Serialize;

/// The bytes that separate the prelude from the body.
pub const DELIMITER: [u8; 8] = [0; 8];

/// The content type of a streamed HTTP-integration response.
pub const CONTENT_TYPE: &str = "application/vnd.awslambda.http-integration-response";

/// The JSON head of a streamed response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Prelude {
    /// The status code.
    pub status_code: u16,
    /// The headers other than `Set-Cookie`; repeated values joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The `Set-Cookie` values, one per cookie.
    pub cookies: Vec<String>,
}

impl Prelude {
    /// The prelude for a response head. Values that are not UTF-8 are decoded lossily.
    pub fn from_parts(status: StatusCode, headers: &HeaderMap) -> Self {
        let mut prelude = Self { status_code: status.as_u16(), ..Self::default() };
        for name in headers.keys() {
            let mut values = headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()));
            if name == SET_COOKIE {
                prelude.cookies.extend(values.map(|v| v.into_owned()));
                continue;
            }
            let mut joined = values.next().map(|v| v.into_owned()).unwrap_or_default();
            for value in values {
                joined.push_str(", ");
                joined.push_str(&value);
            }
            prelude.headers.insert(name.as_str().to_owned(), joined);
        }
        prelude
    }

    /// The prelude's JSON followed by the delimiter: the first bytes of the stream.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(128 + self.headers.len() * 48).writer();
        // Invariant: a struct of a number, strings and a string map always serializes,
        // and writing to a `BytesMut` cannot fail.
        serde_json::to_writer(&mut out, self).expect("the prelude serializes");
        let mut out = out.into_inner();
        out.extend_from_slice(&DELIMITER);
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn splits_cookies_and_joins_repeated_headers() {
        let mut h = HeaderMap::new();
        h.append("content-type", HeaderValue::from_static("text/html"));
        h.append("set-cookie", HeaderValue::from_static("a=1; Path=/"));
        h.append("vary", HeaderValue::from_static("accept"));
        h.append("set-cookie", HeaderValue::from_static("b=2, c=3"));
        h.append("vary", HeaderValue::from_static("rsc"));
        let bytes = Prelude::from_parts(StatusCode::NOT_FOUND, &h).encode();
        let (json, rest) = bytes.split_at(bytes.len() - DELIMITER.len());
        assert_eq!(rest, DELIMITER);
        assert_eq!(
            std::str::from_utf8(json).unwrap(),
            r#"{"statusCode":404,"headers":{"content-type":"text/html","vary":"accept, rsc"},"cookies":["a=1; Path=/","b=2, c=3"]}"#
        );
    }

    #[test]
    fn always_has_all_three_fields() {
        let bytes = Prelude::from_parts(StatusCode::NO_CONTENT, &HeaderMap::new()).encode();
        assert_eq!(bytes.as_ref(), b"{\"statusCode\":204,\"headers\":{},\"cookies\":[]}\0\0\0\0\0\0\0\0");
    }

    #[test]
    fn decodes_non_utf8_values_lossily() {
        let mut h = HeaderMap::new();
        h.append("x-raw", HeaderValue::from_bytes(b"caf\xe9").unwrap());
        let p = Prelude::from_parts(StatusCode::OK, &h);
        assert_eq!(p.headers["x-raw"], "caf\u{fffd}");
    }
}
