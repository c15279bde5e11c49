//! The proxy's access log as `ownstak logs --proxy` reads it: one JSON
//! object per request, as the proxy's `ownstak::access` event is written by
//! `tracing-subscriber`'s JSON format (`{"timestamp", "level", "fields":
//! {"request_id", "method", "host", "path", "function", "qualifier",
//! "status", "duration_ms", "bytes_in", "bytes_out"}, "target"}`), in the
//! local backend's `logs/proxy-access.log` or the proxy's CloudWatch log
//! group on AWS.

use serde::{Deserialize, Serialize};

/// One request the proxy answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessRecord {
    /// When it ended (RFC 3339, UTC).
    pub time: String,
    /// The `X-Request-ID` sent back to the client.
    pub request_id: String,
    /// The method.
    pub method: String,
    /// The host it was routed by.
    pub host: String,
    /// The path (without the query).
    pub path: String,
    /// The function it was routed to (empty when it was not routed).
    pub function: String,
    /// The alias or version it was routed to.
    pub qualifier: String,
    /// The status sent.
    pub status: u16,
    /// How long it took, in milliseconds.
    pub duration_ms: f64,
    /// Request body bytes.
    pub bytes_in: u64,
    /// Response body bytes.
    pub bytes_out: u64,
}

/// The line as written.
#[derive(Deserialize)]
struct Line {
    timestamp: String,
    target: String,
    fields: Fields,
}

#[derive(Deserialize)]
struct Fields {
    request_id: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    function: String,
    #[serde(default)]
    qualifier: String,
    #[serde(default)]
    status: u16,
    #[serde(default)]
    duration_ms: f64,
    #[serde(default)]
    bytes_in: u64,
    #[serde(default)]
    bytes_out: u64,
}

impl AccessRecord {
    /// Reads one log line; `None` for lines that are not access records
    /// (other log lines share the proxy's log group on AWS).
    pub fn parse(line: &str) -> Option<Self> {
        let line: Line = serde_json::from_str(line.trim()).ok()?;
        if line.target != "ownstak::access" {
            return None;
        }
        let f = line.fields;
        Some(Self {
            time: line.timestamp,
            request_id: f.request_id,
            method: f.method,
            host: f.host,
            path: f.path,
            function: f.function,
            qualifier: f.qualifier,
            status: f.status,
            duration_ms: f.duration_ms,
            bytes_in: f.bytes_in,
            bytes_out: f.bytes_out,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_access_lines_and_skips_the_rest() {
        let line = r#"{"timestamp":"2026-11-29T22:42:46.872296Z","level":"INFO","fields":{"message":"request","request_id":"r-1","method":"GET","host":"shop-prod.local.dev.localhost","path":"/a","function":"ownstak-shop-prod","qualifier":"current","status":200,"duration_ms":4.5,"bytes_in":0,"bytes_out":23},"target":"ownstak::access"}"#;
        let r = AccessRecord::parse(line).unwrap();
        assert_eq!((r.request_id.as_str(), r.status, r.function.as_str()), ("r-1", 200, "ownstak-shop-prod"));
        assert_eq!(r.time, "2026-11-29T22:42:46.872296Z");
        let other = r#"{"timestamp":"2026-11-29T22:42:46Z","level":"WARN","fields":{"message":"x"},"target":"ownstak_proxy::cache"}"#;
        assert!(AccessRecord::parse(other).is_none());
        assert!(AccessRecord::parse("not json").is_none());
    }
}
