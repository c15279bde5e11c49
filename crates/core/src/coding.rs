//! Content codings: which of `br`, `gzip` or none a client gets, by its
//! `Accept-Encoding` (used by the proxy's compression and cache keys, and
//! by the asset store's precompressed files).

use http::HeaderMap;
use http::header::ACCEPT_ENCODING;

/// A content coding ownstak produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentCoding {
    /// Brotli (`br`).
    Brotli,
    /// gzip.
    Gzip,
    /// The bytes as they are.
    Identity,
}

impl ContentCoding {
    /// The token in `Content-Encoding` and `Accept-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            ContentCoding::Brotli => "br",
            ContentCoding::Gzip => "gzip",
            ContentCoding::Identity => "identity",
        }
    }
}

/// The coding to answer a request with: `br` or `gzip` by the client's
/// `Accept-Encoding` q-values (on a tie, `br`), else identity.
pub fn negotiate_coding(headers: &HeaderMap) -> ContentCoding {
    let (mut br, mut gzip, mut star) = (None, None, None);
    for value in headers.get_all(ACCEPT_ENCODING) {
        let Ok(text) = value.to_str() else { continue };
        for item in text.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match coding.as_str() {
                "br" => br = Some(q),
                "gzip" | "x-gzip" => gzip = Some(q),
                "*" => star = Some(q),
                _ => {}
            }
        }
    }
    let (br, gzip) = (br.or(star).unwrap_or(0.0), gzip.or(star).unwrap_or(0.0));
    if br > 0.0 && br >= gzip {
        ContentCoding::Brotli
    } else if gzip > 0.0 {
        ContentCoding::Gzip
    } else {
        ContentCoding::Identity
    }
}

/// Whether a media type is worth compressing: text-like types (`text/*`
/// except event streams, JSON, JavaScript, XML and their `+json`/`+xml`
/// kinds, SVG).
pub fn compressible_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let Some((kind, sub)) = essence.split_once('/') else { return false };
    match kind {
        "text" => sub != "event-stream",
        "application" => {
            matches!(sub, "json" | "javascript" | "x-javascript" | "ecmascript" | "xml" | "xhtml+xml" | "manifest+json")
                || sub.ends_with("+json")
                || sub.ends_with("+xml")
        }
        "image" => sub == "svg+xml",
        _ => false,
    }
}
