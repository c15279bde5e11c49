//! Precompressed files: at deploy, each text-like file (by its extension's
//! media type, see `ownstak_core::compressible_type`) between
//! [`MIN_BYTES`] and [`MAX_BYTES`] is also stored Brotli- and
//! gzip-encoded, when that saves at least a tenth of its size, as content
//! objects of their own (`content/<function>/<sha256 of the encoded
//! bytes>.br` / `.gz`, with the file's `Content-Type` and the coding's
//! `Content-Encoding`). The deployment index lists them per request path,
//! and the proxy answers with the variant the client's `Accept-Encoding`
//! picks, so static files cost no compression per request.

use std::io::Write as _;
use std::path::Path;

use bytes::Bytes;
use ownstak_core::{ContentCoding, compressible_type};

use crate::error::AssetError;
use crate::store::content_type;

/// Files smaller than this are stored as they are.
pub(crate) const MIN_BYTES: u64 = 1024;
/// Files larger than this are stored as they are (bounds deploy memory).
pub(crate) const MAX_BYTES: u64 = 8 * 1024 * 1024;
/// Brotli quality at deploy: near the best ratio, still fast enough for
/// every deploy (quality 10–11 are several times slower for a few percent).
const BROTLI_QUALITY: u32 = 9;
/// Brotli window (log2 of bytes).
const BROTLI_WINDOW: u32 = 22;

/// An encoded copy of a file.
#[derive(Debug, Clone)]
pub(crate) struct Variant {
    /// Its coding.
    pub(crate) coding: ContentCoding,
    /// The encoded bytes.
    pub(crate) bytes: Bytes,
}

impl Variant {
    /// The extension of its content object.
    pub(crate) fn extension(&self) -> &'static str {
        match self.coding {
            ContentCoding::Brotli => "br",
            ContentCoding::Gzip | ContentCoding::Identity => "gz",
        }
    }
}

/// The encoded copies worth storing of the file at `path`, served as `rel`.
pub(crate) fn variants(path: &Path, rel: &str, size: u64) -> Result<Vec<Variant>, AssetError> {
    if !(MIN_BYTES..=MAX_BYTES).contains(&size) || !compressible_type(&content_type(rel)) {
        return Ok(Vec::new());
    }
    let plain = std::fs::read(path).map_err(AssetError::io("cannot read", path))?;
    let worth = |encoded: &[u8]| encoded.len() as u64 * 10 <= plain.len() as u64 * 9;
    let mut out = Vec::new();
    let encode_error =
        |e: std::io::Error| AssetError::Io { action: "cannot compress", path: path.to_owned(), source: e };

    let mut br = brotli::CompressorWriter::new(Vec::new(), 64 * 1024, BROTLI_QUALITY, BROTLI_WINDOW);
    br.write_all(&plain).map_err(encode_error)?;
    br.flush().map_err(encode_error)?;
    let br = br.into_inner();
    if worth(&br) {
        out.push(Variant { coding: ContentCoding::Brotli, bytes: Bytes::from(br) });
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&plain).map_err(encode_error)?;
    let gz = gz.finish().map_err(encode_error)?;
    if worth(&gz) {
        out.push(Variant { coding: ContentCoding::Gzip, bytes: Bytes::from(gz) });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn text_files_get_variants_that_decode_to_them_and_others_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let text = "function hello() { return 'hello world'; }\n".repeat(200);
        let js = dir.path().join("a.js");
        std::fs::write(&js, &text).unwrap();
        let found = variants(&js, "chunks/a.js", text.len() as u64).unwrap();
        assert_eq!(found.iter().map(|v| v.coding).collect::<Vec<_>>(), [ContentCoding::Brotli, ContentCoding::Gzip]);
        let mut plain = Vec::new();
        brotli::Decompressor::new(&found[0].bytes[..], 4096).read_to_end(&mut plain).unwrap();
        assert_eq!(plain, text.as_bytes());
        let mut plain = String::new();
        flate2::read::GzDecoder::new(&found[1].bytes[..]).read_to_string(&mut plain).unwrap();
        assert_eq!(plain, text);
        // Images, small files and files that do not shrink are stored as they are.
        let png = dir.path().join("a.png");
        std::fs::write(&png, &text).unwrap();
        assert!(variants(&png, "a.png", text.len() as u64).unwrap().is_empty());
        let small = dir.path().join("s.css");
        std::fs::write(&small, "a{}").unwrap();
        assert!(variants(&small, "s.css", 3).unwrap().is_empty());
        // Bytes that do not compress: SHA-256 digests of a counter.
        let noise: Vec<u8> =
            (0..128u32).flat_map(|i| <sha2::Sha256 as sha2::Digest>::digest(i.to_le_bytes()).to_vec()).collect();
        let random = dir.path().join("r.txt");
        std::fs::write(&random, &noise).unwrap();
        assert!(variants(&random, "r.txt", noise.len() as u64).unwrap().is_empty());
    }
}
