//! Object keys (see the crate docs for the layout), built only from a
//! validated function name and version and a normalized path, so that no
//! request can name an object outside its deployment's keys.

use percent_encoding::percent_decode_str;

use crate::error::AssetError;

/// The name of the deployment index inside a deployment's prefix.
pub(crate) const INDEX_FILE: &str = "_index.json";
/// Longest Lambda function name.
const MAX_FUNCTION: usize = 64;
/// Longest accepted path (bytes, decoded).
const MAX_PATH: usize = 1024;

/// Checks a function name: `[a-z0-9-_]`, 1–64 bytes (Lambda's rule, lower case).
pub(crate) fn check_function(function: &str) -> Result<(), AssetError> {
    let ok = !function.is_empty()
        && function.len() <= MAX_FUNCTION
        && function.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(AssetError::InvalidName { what: "function name", value: function.to_owned() }) }
}

/// Checks a published version: 1–10 decimal digits.
pub(crate) fn check_version(version: &str) -> Result<(), AssetError> {
    let ok = !version.is_empty() && version.len() <= 10 && version.bytes().all(|b| b.is_ascii_digit());
    if ok { Ok(()) } else { Err(AssetError::InvalidName { what: "function version", value: version.to_owned() }) }
}

/// Checks a relative file path as used in keys: `/`-separated non-empty
/// segments, none `.` or `..`, no backslash, NUL or control characters.
pub(crate) fn check_relative(path: &str) -> Result<(), AssetError> {
    let bad = || AssetError::InvalidName { what: "asset path", value: path.to_owned() };
    if path.is_empty() || path.len() > MAX_PATH || path.bytes().any(|b| b == b'\\' || b.is_ascii_control()) {
        return Err(bad());
    }
    if path.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return Err(bad());
    }
    Ok(())
}

/// The key of a permanent file at `rel` (relative to `permanent/`) in the
/// layout of format-1 indexes, read for deployments made before content
/// addressing (nothing writes these keys any more).
pub(crate) fn legacy_permanent_key(function: &str, rel: &str) -> Result<String, AssetError> {
    check_function(function)?;
    check_relative(rel)?;
    Ok(format!("permanent/{function}/{rel}"))
}

/// The content object name of a file: the hex SHA-256 of its bytes, plus
/// its extension (lower case) when it has a plain one, so that the object's
/// `Content-Type` is the one its request path gets.
pub(crate) fn content_object(sha256_hex: &str, rel: &str) -> String {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let ext = name.rsplit_once('.').map(|(stem, ext)| (stem, ext.to_ascii_lowercase())).filter(|(stem, ext)| {
        !stem.is_empty() && !ext.is_empty() && ext.len() <= 16 && ext.bytes().all(|b| b.is_ascii_alphanumeric())
    });
    match ext {
        Some((_, ext)) => format!("{sha256_hex}.{ext}"),
        None => sha256_hex.to_owned(),
    }
}

/// Checks a content object name: 64 lower-case hex digits, then optionally
/// `.` and 1–16 lower-case letters or digits.
pub(crate) fn check_content_object(object: &str) -> Result<(), AssetError> {
    let (hash, ext) = match object.split_once('.') {
        Some((h, e)) => (h, Some(e)),
        None => (object, None),
    };
    let hex = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let ext_ok = ext.is_none_or(|e| {
        !e.is_empty() && e.len() <= 16 && e.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    if hex && ext_ok {
        Ok(())
    } else {
        Err(AssetError::InvalidName { what: "content object", value: object.to_owned() })
    }
}

/// The key of a content-addressed permanent file of `function`.
pub(crate) fn content_key(function: &str, object: &str) -> Result<String, AssetError> {
    check_function(function)?;
    check_content_object(object)?;
    Ok(format!("content/{function}/{object}"))
}

/// The key prefix of a deployment's files, ending in `/`.
pub(crate) fn deployment_prefix(function: &str, version: &str) -> Result<String, AssetError> {
    check_function(function)?;
    check_version(version)?;
    Ok(format!("deployments/{function}/{version}/"))
}

/// The key of a per-deployment file at `rel` (relative to `assets/`).
pub(crate) fn deployment_key(function: &str, version: &str, rel: &str) -> Result<String, AssetError> {
    check_relative(rel)?;
    Ok(format!("{}{rel}", deployment_prefix(function, version)?))
}

/// The key of a deployment's index.
pub(crate) fn index_key(function: &str, version: &str) -> Result<String, AssetError> {
    Ok(format!("{}{INDEX_FILE}", deployment_prefix(function, version)?))
}

/// Normalizes a request path (as sent, percent-encoded) into the decoded
/// absolute path used for lookups; `None` for anything that is not a plain
/// file path: no leading `/`, invalid UTF-8, empty segments (`//`), `.` or
/// `..` segments (also when percent-encoded), backslashes, control
/// characters, or a trailing `/` (directories are the function's to answer).
pub(crate) fn normalize_request_path(raw: &str) -> Option<String> {
    let rest = raw.strip_prefix('/')?;
    let decoded = percent_decode_str(rest).decode_utf8().ok()?;
    if decoded.contains('%')
        && percent_decode_str(&decoded).decode_utf8().ok()?.split('/').any(|s| s == "." || s == "..")
    {
        // Double-encoded traversal: never a legitimate asset name.
        return None;
    }
    check_relative(&decoded).ok()?;
    Some(format!("/{decoded}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_keys_from_checked_parts() {
        assert_eq!(legacy_permanent_key("ownstak-a-b", "chunks/x.js").unwrap(), "permanent/ownstak-a-b/chunks/x.js");
        let sha = "ab".repeat(32);
        assert_eq!(content_object(&sha, "chunks/x.JS"), format!("{sha}.js"));
        assert_eq!(content_object(&sha, "chunks/.hidden"), sha);
        assert_eq!(content_object(&sha, "LICENSE"), sha);
        assert_eq!(content_object(&sha, "a/b.tar-gz"), sha);
        assert_eq!(
            content_key("ownstak_acme_prod-a-b", &format!("{sha}.css")).unwrap(),
            format!("content/ownstak_acme_prod-a-b/{sha}.css")
        );
        for bad in [
            "",
            "x.js",
            &format!("{sha}."),
            &format!("{sha}.JS"),
            &format!("{sha}/x"),
            &format!("{}.js", "AB".repeat(32)),
        ] {
            assert!(content_key("f", bad).is_err(), "{bad}");
        }
        assert_eq!(deployment_key("ownstak-a-b", "12", "robots.txt").unwrap(), "deployments/ownstak-a-b/12/robots.txt");
        assert_eq!(index_key("f", "1").unwrap(), "deployments/f/1/_index.json");
        assert!(legacy_permanent_key("../x", "a").is_err());
        assert!(deployment_key("f", "$LATEST", "a").is_err());
        assert!(deployment_key("f", "1", "a/../b").is_err());
        assert!(deployment_key("f", "1", "/a").is_err());
    }

    #[test]
    fn normalizes_request_paths() {
        assert_eq!(normalize_request_path("/a%20b/c.txt").as_deref(), Some("/a b/c.txt"));
        for bad in [
            "",
            "a",
            "/",
            "//a",
            "/a//b",
            "/a/",
            "/../x",
            "/%2e%2e/x",
            "/a/%2E%2E/b",
            "/%252e%252e/x",
            "/a\\b",
            "/%00",
            "/%ff",
            "/./a",
        ] {
            assert_eq!(normalize_request_path(bad), None, "{bad}");
        }
    }
}
