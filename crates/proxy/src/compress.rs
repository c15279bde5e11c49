//! Compression of function answers: when the client accepts `br` or
//! `gzip`, the answer's type is text-like (HTML, CSS, JavaScript, JSON,
//! XML, SVG, plain text), the function did not encode it itself, does not
//! forbid it (`no-transform`), and its body is not known to be small, the
//! proxy compresses it. `Vary: Accept-Encoding` is added to every answer
//! of a compressible type, small or not, so that whether it is added never
//! depends on how fast the body arrived: the response cache keeps one
//! `Vary` list per URL, and two answers of one page must agree on it.
//! "Small" is known from a body that arrived whole, or from the
//! function's `Content-Length`. A body known in full is compressed at once; a streamed one
//! chunk by chunk, each flushed, so the client sees bytes as soon as the
//! function writes them. The response cache stores what leaves here, so
//! a hit costs no compression, and its keys use the negotiated encoding
//! rather than the raw `Accept-Encoding`.

use std::io::Write as _;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, HeaderValue, VARY};
use http::{HeaderMap, Response, StatusCode};
use ownstak_core::compressible_type;

use crate::body::ProxyBody;
use crate::response::DeclaredLength;

/// Bodies known to be smaller than this are sent as they are.
pub(crate) const MIN_BYTES: usize = 1024;
/// Brotli quality for on-the-fly compression (0–11): fast, still well ahead of gzip.
const BROTLI_QUALITY: u32 = 5;
/// Brotli window (log2 of bytes).
const BROTLI_WINDOW: u32 = 22;

/// A content coding the proxy produces.
pub(crate) use ownstak_core::ContentCoding as Encoding;
/// The encoding to answer a request with (see `ownstak_core::negotiate_coding`).
pub(crate) use ownstak_core::negotiate_coding as negotiate;

/// Whether answers like this one are compressed for clients that accept
/// it (its size aside).
fn eligible(status: StatusCode, headers: &HeaderMap) -> bool {
    let no_transform = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|d| d.trim().eq_ignore_ascii_case("no-transform")));
    !matches!(status.as_u16(), 100..=199 | 204 | 206 | 304)
        && !headers.contains_key(CONTENT_ENCODING)
        && !no_transform
        && headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(compressible_type)
}

/// Compresses a function's answer for a client that accepts `encoding`,
/// when it is eligible and not known to be small; adds `Vary:
/// Accept-Encoding` whenever it is eligible.
pub(crate) fn apply(mut resp: Response<ProxyBody>, encoding: Encoding) -> Response<ProxyBody> {
    let declared = resp.extensions().get::<DeclaredLength>().map(|d| usize::try_from(d.0).unwrap_or(usize::MAX));
    let body_len = resp.body().known_len().or(declared);
    if !eligible(resp.status(), resp.headers()) {
        return resp;
    }
    add_vary(resp.headers_mut());
    if encoding == Encoding::Identity || body_len.is_some_and(|n| n < MIN_BYTES) {
        return resp;
    }
    let Some(compressor) = Compressor::new(encoding) else { return resp };
    if !resp.body_mut().compress(compressor) {
        return resp;
    }
    let headers = resp.headers_mut();
    headers.insert(CONTENT_ENCODING, HeaderValue::from_static(encoding.token()));
    // The bytes differ from the function's: a strong validator becomes weak.
    if let Some(etag) = headers.get(ETAG).and_then(|v| v.to_str().ok()).filter(|e| e.starts_with('"'))
        && let Ok(weak) = HeaderValue::from_str(&format!("W/{etag}"))
    {
        headers.insert(ETAG, weak);
    }
    resp
}

/// Adds `Accept-Encoding` to `Vary` unless it is there (or `Vary: *`).
fn add_vary(headers: &mut HeaderMap) {
    let listed = headers
        .get_all(VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|n| n.trim().eq_ignore_ascii_case("accept-encoding") || n.trim() == "*");
    if !listed {
        headers.append(VARY, HeaderValue::from_static("accept-encoding"));
    }
}

/// An encoder fed one chunk at a time, each flushed.
pub(crate) enum Compressor {
    Gzip(Box<flate2::write::GzEncoder<Vec<u8>>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
}

impl Compressor {
    fn new(encoding: Encoding) -> Option<Self> {
        match encoding {
            Encoding::Gzip => Some(Compressor::Gzip(Box::new(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::default(),
            )))),
            Encoding::Brotli => Some(Compressor::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                16 * 1024,
                BROTLI_QUALITY,
                BROTLI_WINDOW,
            )))),
            Encoding::Identity => None,
        }
    }

    /// Compresses `chunk` and flushes: everything written so far can be decoded from the output.
    pub(crate) fn chunk(&mut self, chunk: &[u8]) -> std::io::Result<Bytes> {
        match self {
            Compressor::Gzip(e) => {
                e.write_all(chunk)?;
                e.flush()?;
                Ok(Bytes::from(std::mem::take(e.get_mut())))
            }
            Compressor::Brotli(e) => {
                e.write_all(chunk)?;
                e.flush()?;
                Ok(Bytes::from(std::mem::take(e.get_mut())))
            }
        }
    }

    /// Ends the stream: the encoder's last bytes.
    pub(crate) fn finish(self) -> std::io::Result<Bytes> {
        match self {
            Compressor::Gzip(e) => e.finish().map(Bytes::from),
            Compressor::Brotli(e) => Ok(Bytes::from(e.into_inner())),
        }
    }

    /// Compresses a whole body.
    pub(crate) fn whole(mut self, body: &[u8]) -> std::io::Result<Bytes> {
        match &mut self {
            Compressor::Gzip(e) => e.write_all(body)?,
            Compressor::Brotli(e) => e.write_all(body)?,
        }
        self.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> Encoding {
        let mut h = HeaderMap::new();
        h.insert(http::header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        negotiate(&h)
    }

    #[test]
    fn negotiates_by_q_values() {
        assert_eq!(accept("gzip, deflate, br, zstd"), Encoding::Brotli);
        assert_eq!(accept("gzip"), Encoding::Gzip);
        assert_eq!(accept("br;q=0.5, gzip"), Encoding::Gzip);
        assert_eq!(accept("br;q=0, gzip;q=0"), Encoding::Identity);
        assert_eq!(accept("*"), Encoding::Brotli);
        assert_eq!(accept("*;q=0, gzip"), Encoding::Gzip);
        assert_eq!(accept("identity"), Encoding::Identity);
        assert_eq!(accept("br;q=nonsense"), Encoding::Brotli, "an unreadable q counts as 1");
        assert_eq!(negotiate(&HeaderMap::new()), Encoding::Identity);
    }

    #[test]
    fn only_text_like_types_are_compressed() {
        for t in ["text/html; charset=utf-8", "application/json", "image/svg+xml", "application/ld+json", "text/css"] {
            assert!(compressible_type(t), "{t}");
        }
        for t in ["image/png", "application/octet-stream", "text/event-stream", "video/mp4", "nonsense"] {
            assert!(!compressible_type(t), "{t}");
        }
    }

    #[test]
    fn each_flushed_chunk_decodes_on_its_own() {
        let mut c = Compressor::new(Encoding::Gzip).unwrap();
        let first = c.chunk(b"hello ").unwrap();
        let mut d = flate2::write::GzDecoder::new(Vec::new());
        d.write_all(&first).unwrap();
        d.flush().unwrap();
        assert_eq!(d.get_ref().as_slice(), b"hello ");
        let rest = c.chunk(b"world").unwrap();
        d.write_all(&rest).unwrap();
        d.write_all(&c.finish().unwrap()).unwrap();
        assert_eq!(d.finish().unwrap(), b"hello world");

        let mut c = Compressor::new(Encoding::Brotli).unwrap();
        let mut all = c.chunk(b"hello ").unwrap().to_vec();
        all.extend_from_slice(&c.finish().unwrap());
        let mut out = Vec::new();
        brotli::BrotliDecompress(&mut std::io::Cursor::new(all), &mut out).unwrap();
        assert_eq!(out, b"hello ");
    }
}
