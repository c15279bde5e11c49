//! The streamed HTTP response of a Lambda function: a JSON prelude
//! `{statusCode, headers, cookies}`, eight NUL bytes, then the raw body.
//! A stream without the delimiter is a buffered API Gateway v2 response.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use http::header::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::apigw::{ConvertError, HttpResponse};

/// The content type of an HTTP-integration response stream.
pub const HTTP_INTEGRATION_CONTENT_TYPE: &str = "application/vnd.awslambda.http-integration-response";
/// Separates the prelude from the body.
pub const DELIMITER: [u8; 8] = [0; 8];

/// The head of a streamed response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prelude {
    /// The status code (200 when absent).
    #[serde(default = "default_status")]
    pub status_code: u16,
    /// Response headers; repeated values joined with `, `.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Headers with several values, kept apart.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub multi_value_headers: BTreeMap<String, Vec<String>>,
    /// `Set-Cookie` values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cookies: Vec<String>,
}

fn default_status() -> u16 {
    200
}

impl Prelude {
    /// The prelude for an app's response head.
    pub fn from_head(status: StatusCode, headers: &HeaderMap) -> Self {
        let r = HttpResponse::from_parts(status, headers, &[]);
        Self {
            status_code: r.status_code,
            headers: r.headers,
            multi_value_headers: r.multi_value_headers,
            cookies: r.cookies,
        }
    }

    /// The prelude followed by the delimiter, ready to send.
    #[allow(clippy::expect_used, reason = "a prelude of strings and integers always serializes")]
    pub fn encode(&self) -> Bytes {
        // Serializing strings and integers cannot fail.
        let mut out = serde_json::to_vec(self).expect("prelude serializes");
        out.extend_from_slice(&DELIMITER);
        Bytes::from(out)
    }

    /// Status and headers (cookies as `Set-Cookie`).
    pub fn into_head(self) -> Result<(StatusCode, HeaderMap), ConvertError> {
        let r = HttpResponse {
            status_code: self.status_code,
            headers: self.headers,
            multi_value_headers: self.multi_value_headers,
            cookies: self.cookies,
            body: None,
            is_base64_encoded: false,
        };
        let (status, headers, _) = r.into_http()?;
        Ok((status, headers))
    }
}

/// Why a response stream cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The prelude is not valid JSON of the expected shape.
    #[error("the response prelude is malformed: {0}")]
    Prelude(serde_json::Error),
    /// The prelude or buffered response is larger than allowed.
    #[error("the response head is larger than {0} bytes without a prelude delimiter")]
    TooLarge(usize),
    /// The buffered response could not be converted.
    #[error(transparent)]
    Convert(#[from] ConvertError),
}

/// What the decoder has found so far.
#[derive(Debug)]
pub enum Decoded {
    /// The head is not complete yet; feed more.
    NeedMore,
    /// The prelude, and the body bytes that came with it.
    Head {
        /// Status and headers.
        status: StatusCode,
        /// Headers.
        headers: HeaderMap,
        /// The first body bytes (may be empty).
        body: Bytes,
    },
}

/// Reads the head of a response stream chunk by chunk, however the
/// prelude and delimiter are split.
#[derive(Debug)]
pub struct PreludeDecoder {
    buf: BytesMut,
    scanned: usize,
    limit: usize,
}

impl PreludeDecoder {
    /// A decoder that gives up after `limit` bytes without a delimiter.
    pub fn new(limit: usize) -> Self {
        Self { buf: BytesMut::new(), scanned: 0, limit }
    }

    /// Feeds a chunk; returns the head once the delimiter has been seen.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Decoded, StreamError> {
        self.buf.extend_from_slice(chunk);
        let from = self.scanned.saturating_sub(DELIMITER.len() - 1);
        let found = self.buf[from..].windows(DELIMITER.len()).position(|w| w == DELIMITER).map(|p| p + from);
        match found {
            Some(at) => {
                let mut head = self.buf.split_to(at + DELIMITER.len());
                head.truncate(at);
                let prelude: Prelude = serde_json::from_slice(&head).map_err(StreamError::Prelude)?;
                let (status, headers) = prelude.into_head()?;
                let body = std::mem::take(&mut self.buf).freeze();
                self.scanned = 0;
                Ok(Decoded::Head { status, headers, body })
            }
            None if self.buf.len() > self.limit => Err(StreamError::TooLarge(self.limit)),
            None => {
                self.scanned = self.buf.len();
                Ok(Decoded::NeedMore)
            }
        }
    }

    /// The stream ended before a delimiter: it is a buffered v2 response.
    pub fn finish(self) -> Result<(StatusCode, HeaderMap, Bytes), StreamError> {
        Ok(HttpResponse::from_payload(&self.buf)?.into_http()?)
    }
}

/// Decodes a function's whole answer: a prelude, the delimiter and the body
/// (a streamed response received whole), or a buffered API Gateway v2
/// response. The body is a slice of `payload`, not a copy.
pub fn decode_whole(payload: &Bytes) -> Result<(StatusCode, HeaderMap, Bytes), StreamError> {
    match memchr::memmem::find(payload, &DELIMITER) {
        Some(at) => {
            let prelude: Prelude = serde_json::from_slice(&payload[..at]).map_err(StreamError::Prelude)?;
            let (status, headers) = prelude.into_head()?;
            Ok((status, headers, payload.slice(at + DELIMITER.len()..)))
        }
        None => Ok(HttpResponse::from_payload(payload)?.into_http()?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderValue;

    fn prelude_bytes() -> Vec<u8> {
        let mut h = HeaderMap::new();
        h.append("content-type", HeaderValue::from_static("text/html"));
        h.append("set-cookie", HeaderValue::from_static("a=1"));
        h.append("set-cookie", HeaderValue::from_static("b=2"));
        Prelude::from_head(StatusCode::CREATED, &h).encode().to_vec()
    }

    fn decode_in_pieces(stream: &[u8], piece: usize) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut d = PreludeDecoder::new(1 << 20);
        let mut chunks = stream.chunks(piece);
        loop {
            let chunk = chunks.next().expect("delimiter before the end");
            if let Decoded::Head { status, headers, body } = d.push(chunk).unwrap() {
                let mut all = body.to_vec();
                for c in chunks {
                    all.extend_from_slice(c);
                }
                return (status, headers, all);
            }
        }
    }

    #[test]
    fn splits_anywhere_including_inside_the_delimiter() {
        let mut stream = prelude_bytes();
        let body = b"hello\0\0\0\0\0\0\0\0\0world\0".to_vec();
        stream.extend_from_slice(&body);
        for piece in [1, 2, 3, 7, 8, 9, 13, stream.len()] {
            let (status, headers, got) = decode_in_pieces(&stream, piece);
            assert_eq!(status, 201, "piece {piece}");
            assert_eq!(headers.get_all("set-cookie").iter().count(), 2);
            assert_eq!(got, body, "NULs in the body pass through (piece {piece})");
        }
    }

    #[test]
    fn no_delimiter_is_a_buffered_response() {
        let mut d = PreludeDecoder::new(1 << 20);
        assert!(matches!(d.push(br#"{"statusCode":418,"body":"tea"#).unwrap(), Decoded::NeedMore));
        assert!(matches!(d.push(br#"pot"}"#).unwrap(), Decoded::NeedMore));
        let (status, _, body) = d.finish().unwrap();
        assert_eq!(status, 418);
        assert_eq!(body.as_ref(), b"teapot");
    }

    #[test]
    fn malformed_and_oversized_heads_are_errors() {
        let mut d = PreludeDecoder::new(1 << 20);
        let mut bad = b"{not json".to_vec();
        bad.extend_from_slice(&DELIMITER);
        assert!(matches!(d.push(&bad), Err(StreamError::Prelude(_))));
        let mut d = PreludeDecoder::new(16);
        assert!(matches!(d.push(&[b'x'; 17]), Err(StreamError::TooLarge(16))));
        let d = PreludeDecoder::new(16);
        assert!(d.finish().is_err(), "an empty stream is not a response");
        let mut d = PreludeDecoder::new(1 << 20);
        let mut status = br#"{"statusCode":1}"#.to_vec();
        status.extend_from_slice(&DELIMITER);
        assert!(matches!(d.push(&status), Err(StreamError::Convert(_))));
    }
}
