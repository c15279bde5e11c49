//! The signature rule: AWS Signature Version 4, read from the
//! `Authorization` header or a presigned query, and — when verifying —
//! recomputed with the official `aws-sigv4` crate from the request as
//! received.
//!
//! Recomputing works by handing `aws-sigv4` exactly what the client
//! signed: the method, the path as sent (re-encoded and normalized as the
//! API's clients do: twice and normalized for Lambda, as is for S3), the
//! query without the presigning parameters, only the headers named in
//! `SignedHeaders`, the payload hash, and the client's own key id, time,
//! region and service. Signing that with the secret key must give the
//! signature the client sent.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::SigningOutput;
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningInstructions, SigningSettings,
    UriPathNormalizationMode,
};
use http::header::{AUTHORIZATION, HOST};
use http::request::Parts;
use percent_encoding::percent_decode_str;
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;

use crate::{Denial, KeyPair, Rule};

/// The only signing algorithm accepted.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far the signing time may be from the clock, as AWS allows.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);
/// The longest validity of a presigned request, as AWS allows.
const MAX_PRESIGNED_SECS: u64 = 7 * 24 * 3600;
/// The header with the payload hash.
const CONTENT_SHA256: &str = "x-amz-content-sha256";
/// The payload hash of requests whose body is not signed.
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// The query parameters of a presigned request that carry the signature
/// (`X-Amz-Security-Token` is signed like any other parameter).
const PRESIGN_PARAMS: [&str; 6] =
    ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"];

/// Which API a request is for: it decides how its path is canonicalized,
/// as the clients of that API do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// The Lambda REST API: the path is normalized and encoded once more.
    Lambda,
    /// S3: the path is used as sent.
    S3,
}

impl Api {
    fn settings(self, location: Location) -> SigningSettings {
        let mut s = SigningSettings::default();
        (s.percent_encoding_mode, s.uri_path_normalization_mode) = match self {
            Api::Lambda => (PercentEncodingMode::Double, UriPathNormalizationMode::Enabled),
            Api::S3 => (PercentEncodingMode::Single, UriPathNormalizationMode::Disabled),
        };
        // Sign exactly the headers handed over: the client's SignedHeaders.
        s.excluded_headers = Some(Vec::new());
        match location {
            Location::Header => s.signature_location = SignatureLocation::Headers,
            Location::Query { expires } => {
                s.signature_location = SignatureLocation::QueryParams;
                s.expires_in = Some(Duration::from_secs(expires));
            }
        }
        s
    }
}

/// Where the payload hash of a request comes from.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// The body, read in full (the Lambda API); an `x-amz-content-sha256`
    /// header, when sent, must match it.
    Body(&'a [u8]),
    /// The `x-amz-content-sha256` header (S3, whose bodies stream).
    Declared,
}

/// Where the signature is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    /// The `Authorization` header.
    Header,
    /// A presigned query, valid for `expires` seconds.
    Query { expires: u64 },
}

/// What a request says about its signature.
#[derive(Debug)]
pub(crate) struct Claims {
    location: Location,
    access_key_id: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
    /// `x-amz-date` / `X-Amz-Date` as sent.
    amz_date: String,
    /// The same, parsed.
    time: OffsetDateTime,
}

fn deny(endpoint: &str, what: impl std::fmt::Display) -> Denial {
    Denial::new(Rule::Signature, format!("The {endpoint} refused the request: {what}"))
}

impl Claims {
    /// Reads the signature's claims; refuses requests that carry none or a
    /// malformed one.
    pub(crate) fn parse(endpoint: &str, parts: &Parts) -> Result<Self, Denial> {
        let query = query_pairs(parts.uri.query().unwrap_or(""));
        if query.iter().any(|(k, _)| k == "X-Amz-Signature") {
            return Self::from_query(endpoint, &query);
        }
        match parts.headers.get(AUTHORIZATION) {
            Some(value) => Self::from_header(endpoint, parts, value),
            None => Err(deny(
                endpoint,
                "it is not signed with AWS Signature Version 4 (no `Authorization: AWS4-HMAC-SHA256 Credential=…` \
                 header and no presigned `X-Amz-Signature` query). Send it with an AWS SDK or CLI: any credentials \
                 do, unless the backend runs with --verify-signatures (then use the key pair in its data directory's \
                 `credentials` file).",
            )),
        }
    }

    fn from_header(endpoint: &str, parts: &Parts, value: &http::HeaderValue) -> Result<Self, Denial> {
        let bad = |what: &str| {
            deny(endpoint, format!("its Authorization header is not a valid AWS Signature Version 4 ({what})."))
        };
        let value = value.to_str().map_err(|_| bad("not text"))?;
        let rest = value
            .strip_prefix(ALGORITHM)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or_else(|| bad("only `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` is accepted"))?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for item in rest.split(',') {
            match item.trim().split_once('=') {
                Some(("Credential", v)) => credential = Some(v),
                Some(("SignedHeaders", v)) => signed = Some(v),
                Some(("Signature", v)) => signature = Some(v),
                _ => {}
            }
        }
        let amz_date = match parts.headers.get("x-amz-date").map(|v| v.to_str()) {
            Some(Ok(d)) => d,
            _ => return Err(bad("no x-amz-date header")),
        };
        Self::build(
            endpoint,
            Location::Header,
            credential.ok_or_else(|| bad("no Credential"))?,
            signed.ok_or_else(|| bad("no SignedHeaders"))?,
            signature.ok_or_else(|| bad("no Signature"))?,
            amz_date,
        )
    }

    fn from_query(endpoint: &str, query: &[(String, String)]) -> Result<Self, Denial> {
        let bad = |what: &str| {
            deny(endpoint, format!("its presigned query is not a valid AWS Signature Version 4 ({what})."))
        };
        let get = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        if get("X-Amz-Algorithm") != Some(ALGORITHM) {
            return Err(bad("X-Amz-Algorithm must be AWS4-HMAC-SHA256"));
        }
        let expires = get("X-Amz-Expires")
            .and_then(|e| e.parse::<u64>().ok())
            .filter(|e| *e <= MAX_PRESIGNED_SECS)
            .ok_or_else(|| bad("X-Amz-Expires must be a number of seconds up to 604800"))?;
        Self::build(
            endpoint,
            Location::Query { expires },
            get("X-Amz-Credential").ok_or_else(|| bad("no X-Amz-Credential"))?,
            get("X-Amz-SignedHeaders").ok_or_else(|| bad("no X-Amz-SignedHeaders"))?,
            get("X-Amz-Signature").ok_or_else(|| bad("no X-Amz-Signature"))?,
            get("X-Amz-Date").ok_or_else(|| bad("no X-Amz-Date"))?,
        )
    }

    fn build(
        endpoint: &str,
        location: Location,
        credential: &str,
        signed_headers: &str,
        signature: &str,
        amz_date: &str,
    ) -> Result<Self, Denial> {
        let bad = |what: String| deny(endpoint, format!("its AWS Signature Version 4 is malformed ({what})."));
        let scope: Vec<&str> = credential.split('/').collect();
        let [access_key_id, date, region, service, "aws4_request"] = scope[..] else {
            return Err(bad(format!(
                "the credential `{credential}` is not `KEY/YYYYMMDD/REGION/SERVICE/aws4_request`"
            )));
        };
        if [access_key_id, date, region, service].iter().any(|p| p.is_empty()) {
            return Err(bad(format!("the credential `{credential}` has an empty part")));
        }
        let time =
            parse_amz_date(amz_date).ok_or_else(|| bad(format!("the date `{amz_date}` is not YYYYMMDDTHHMMSSZ")))?;
        if !amz_date.starts_with(date) {
            return Err(bad(format!("the credential's date {date} is not the day of {amz_date}")));
        }
        if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the signature is not 64 hex digits".to_owned()));
        }
        let signed_headers: Vec<String> = signed_headers.split(';').map(str::to_ascii_lowercase).collect();
        if signed_headers.iter().any(String::is_empty) {
            return Err(bad("SignedHeaders has an empty name".to_owned()));
        }
        Ok(Self {
            location,
            access_key_id: access_key_id.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
            signed_headers,
            signature: signature.to_ascii_lowercase(),
            amz_date: amz_date.to_owned(),
            time,
        })
    }
}

/// Verifies the request's signature against `keys` (whose file is `source`).
pub(crate) fn verify(
    endpoint: &str,
    parts: &Parts,
    api: Api,
    payload: Payload<'_>,
    keys: &KeyPair,
    source: &str,
) -> Result<(), Denial> {
    verify_at(endpoint, parts, api, payload, keys, source, SystemTime::now())
}

fn verify_at(
    endpoint: &str,
    parts: &Parts,
    api: Api,
    payload: Payload<'_>,
    keys: &KeyPair,
    source: &str,
    now: SystemTime,
) -> Result<(), Denial> {
    let claims = Claims::parse(endpoint, parts)?;
    if claims.access_key_id != keys.access_key_id() {
        return Err(deny(
            endpoint,
            format!(
                "it is signed with the access key id `{}`, but the backend runs with --verify-signatures and accepts only \
                 the key pair in {source} (access key id `{}`). Use that file's keys (e.g. AWS_SHARED_CREDENTIALS_FILE={source}), \
                 or point ownstak commands at the backend's data directory with --data-dir or OWNSTAK_DATA_DIR.",
                claims.access_key_id,
                keys.access_key_id()
            ),
        ));
    }
    let signed_at = SystemTime::from(claims.time);
    let skew = match now.duration_since(signed_at) {
        Ok(behind) => behind,
        Err(ahead) => ahead.duration(),
    };
    if skew > MAX_SKEW {
        return Err(deny(
            endpoint,
            format!(
                "it was signed at {} (x-amz-date), more than 15 minutes from the backend's clock ({}). Check the clock of the client's machine.",
                claims.amz_date,
                format_amz_date(OffsetDateTime::from(now))
            ),
        ));
    }
    if let Location::Query { expires } = claims.location
        && now > signed_at + Duration::from_secs(expires)
    {
        return Err(deny(
            endpoint,
            format!(
                "the presigned URL expired: it was signed at {} for {expires} s. Presign it again.",
                claims.amz_date
            ),
        ));
    }
    let payload_hash = payload_hash(endpoint, parts, claims.location, payload)?;
    let expected =
        sign_like(endpoint, parts, &claims, &payload_hash, api, keys.access_key_id(), keys.secret_access_key())?;
    let matches: bool = expected.signature().as_bytes().ct_eq(claims.signature.as_bytes()).into();
    if !matches {
        return Err(deny(
            endpoint,
            format!(
                "the signature does not match: the request was signed with another secret access key than the one in \
                 {source} for `{}`, or changed after it was signed. Sign it with the key pair in that file.",
                claims.access_key_id
            ),
        ));
    }
    Ok(())
}

/// The payload hash the client signed.
fn payload_hash(endpoint: &str, parts: &Parts, location: Location, payload: Payload<'_>) -> Result<String, Denial> {
    let declared = match parts.headers.get(CONTENT_SHA256).map(|v| v.to_str()) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => return Err(deny(endpoint, "its x-amz-content-sha256 header is not text.")),
    };
    if let Some(d) = declared {
        if let Payload::Body(body) = payload
            && is_sha256_hex(d)
            && !d.eq_ignore_ascii_case(&hex::encode(sha2::Sha256::digest(body)))
        {
            return Err(deny(endpoint, "its x-amz-content-sha256 header does not match the body."));
        }
        return Ok(d.to_owned());
    }
    match (location, payload) {
        (Location::Query { .. }, _) => Ok(UNSIGNED_PAYLOAD.to_owned()),
        (Location::Header, Payload::Body(body)) => Ok(hex::encode(sha2::Sha256::digest(body))),
        (Location::Header, Payload::Declared) => {
            Err(deny(endpoint, "it has no x-amz-content-sha256 header, which S3 requests signed in a header need."))
        }
    }
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Signs what the client says it signed, with the key pair given.
fn sign_like(
    endpoint: &str,
    parts: &Parts,
    claims: &Claims,
    payload_hash: &str,
    api: Api,
    access_key_id: &str,
    secret_access_key: &str,
) -> Result<SigningOutput<SigningInstructions>, Denial> {
    let host = match parts.headers.get(HOST).map(|v| v.to_str()) {
        Some(Ok(h)) => Some(h),
        Some(Err(_)) => return Err(deny(endpoint, "its Host header is not text.")),
        None if parts.uri.authority().is_some() => None,
        None => return Err(deny(endpoint, "it has no Host header, which the signature covers.")),
    };
    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(claims.signed_headers.len() + 1);
    headers.extend(host.map(|h| ("host", h)));
    for name in claims.signed_headers.iter().filter(|n| *n != "host") {
        let before = headers.len();
        for value in parts.headers.get_all(name.as_str()) {
            let value =
                value.to_str().map_err(|_| deny(endpoint, format!("its signed header `{name}` is not text.")))?;
            headers.push((name.as_str(), value));
        }
        if headers.len() == before {
            return Err(deny(endpoint, format!("the header `{name}` is named in SignedHeaders but not sent.")));
        }
    }
    let uri = match claims.location {
        Location::Header => parts.uri.to_string(),
        Location::Query { .. } => without_presign_params(&parts.uri),
    };
    let cannot = |e: &dyn std::fmt::Display| deny(endpoint, format!("its signature cannot be recomputed ({e})."));
    let request = SignableRequest::new(
        parts.method.as_str(),
        uri,
        headers.into_iter(),
        SignableBody::Precomputed(payload_hash.to_owned()),
    )
    .map_err(|e| cannot(&e))?;
    let identity = Credentials::new(access_key_id, secret_access_key, None, None, "ownstak-local").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&claims.region)
        .name(&claims.service)
        .time(SystemTime::from(claims.time))
        .settings(api.settings(claims.location))
        .build()
        .map_err(|e| cannot(&e))?
        .into();
    aws_sigv4::http_request::sign(request, &params).map_err(|e| cannot(&e))
}

/// Re-signs an S3 request signed with a foreign key with `keys`, so that an
/// endpoint that knows only `keys` (s3s) accepts it; for the default mode,
/// where any key is good. Requests already signed with `keys` are left as
/// they are. Uploads whose chunks are signed one by one
/// (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`) cannot be re-signed and are
/// refused, naming `source`, where the right key pair is.
pub fn resign(endpoint: &str, parts: &mut Parts, keys: &KeyPair, source: &str) -> Result<(), Denial> {
    let claims = Claims::parse(endpoint, parts)?;
    if claims.access_key_id == keys.access_key_id() {
        return Ok(());
    }
    let payload_hash = payload_hash(endpoint, parts, claims.location, Payload::Declared)?;
    if payload_hash.starts_with("STREAMING-AWS4-") {
        return Err(deny(
            endpoint,
            format!(
                "its body is signed chunk by chunk ({payload_hash}) with the access key id `{}`; such uploads need the \
                 backend's own key pair, in {source}. Use that file's keys, or sign the payload as a whole.",
                claims.access_key_id
            ),
        ));
    }
    let signed =
        sign_like(endpoint, parts, &claims, &payload_hash, Api::S3, keys.access_key_id(), keys.secret_access_key())?;
    match claims.location {
        Location::Header => {
            let authorization = signed
                .output()
                .headers()
                .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
                .and_then(|(_, value)| http::HeaderValue::from_str(value).ok())
                .ok_or_else(|| deny(endpoint, "its signature cannot be translated."))?;
            parts.headers.insert(AUTHORIZATION, authorization);
        }
        Location::Query { .. } => {
            let stripped: http::Uri = without_presign_params(&parts.uri)
                .parse()
                .map_err(|_| deny(endpoint, "its URI cannot be re-signed."))?;
            let mut req = http::Request::new(());
            *req.uri_mut() = stripped;
            signed.into_parts().0.apply_to_request_http1x(&mut req);
            parts.uri = req.uri().clone();
        }
    }
    Ok(())
}

/// Signs a request as an AWS client would (for ownstak's own plain HTTP
/// calls to the Lambda API, such as the backend facts).
pub fn sign_request<B>(
    request: &mut http::Request<B>,
    body: &[u8],
    keys: &KeyPair,
    region: &str,
    service: &str,
) -> Result<(), SignError> {
    let err = |e: &dyn std::fmt::Display| SignError(e.to_string());
    let mut headers = Vec::new();
    for (name, value) in request.headers() {
        headers.push((name.as_str(), value.to_str().map_err(|e| err(&e))?));
    }
    let uri = request.uri().to_string();
    let signable = SignableRequest::new(request.method().as_str(), uri, headers.into_iter(), SignableBody::Bytes(body))
        .map_err(|e| err(&e))?;
    let identity = Credentials::new(keys.access_key_id(), keys.secret_access_key(), None, None, "ownstak-local").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| err(&e))?
        .into();
    let (instructions, _) = aws_sigv4::http_request::sign(signable, &params).map_err(|e| err(&e))?.into_parts();
    instructions.apply_to_request_http1x(request);
    Ok(())
}

/// A request could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("cannot sign the request: {0}")]
pub struct SignError(String);

/// The query's pairs, percent-decoded.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                percent_decode_str(k).decode_utf8_lossy().into_owned(),
                percent_decode_str(v).decode_utf8_lossy().into_owned(),
            )
        })
        .collect()
}

/// The URI without the presigning parameters, the others as sent.
fn without_presign_params(uri: &http::Uri) -> String {
    let mut out = String::new();
    if let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) {
        out.push_str(scheme);
        out.push_str("://");
        out.push_str(authority.as_str());
    }
    out.push_str(uri.path());
    let kept: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let key = p.split_once('=').map_or(*p, |(k, _)| k);
            !PRESIGN_PARAMS.contains(&percent_decode_str(key).decode_utf8_lossy().as_ref())
        })
        .collect();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    out
}

/// Parses `YYYYMMDDTHHMMSSZ`.
fn parse_amz_date(s: &str) -> Option<OffsetDateTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        let part = s.get(from..to)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok()).flatten()
    };
    let month = time::Month::try_from(u8::try_from(num(4, 6)?).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::try_from(num(0, 4)?).ok()?, month, u8::try_from(num(6, 8)?).ok()?).ok()?;
    let t = date
        .with_hms(u8::try_from(num(9, 11)?).ok()?, u8::try_from(num(11, 13)?).ok()?, u8::try_from(num(13, 15)?).ok()?)
        .ok()?;
    Some(t.assume_utc())
}

fn format_amz_date(t: OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const KEYS: (&str, &str) = ("OWNSTAKTESTKEY000001", "s3cr3t/s3cr3t+s3cr3t/s3cr3t+s3cr3t/s3cr3");

    fn keys() -> KeyPair {
        KeyPair::new(KEYS.0, KEYS.1)
    }

    /// Signs like an SDK: the request goes out with the headers aws-sigv4 adds.
    fn client_sign(
        req: &mut http::Request<()>,
        body: &[u8],
        api: Api,
        akid: &str,
        secret: &str,
        time: SystemTime,
        presign: Option<u64>,
    ) {
        let mut settings = SigningSettings::default();
        if api == Api::S3 {
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
            settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
        }
        let body = match presign {
            Some(expires) => {
                settings.signature_location = SignatureLocation::QueryParams;
                settings.expires_in = Some(Duration::from_secs(expires));
                SignableBody::UnsignedPayload
            }
            None => SignableBody::Bytes(body),
        };
        let uri = req.uri().to_string();
        let headers: Vec<(String, String)> =
            req.headers().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned())).collect();
        let signable = SignableRequest::new(
            req.method().as_str(),
            uri,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            body,
        )
        .unwrap();
        let identity = Credentials::new(akid, secret, None, None, "test").into();
        let service = if api == Api::S3 { "s3" } else { "lambda" };
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("eu-west-1")
            .name(service)
            .time(time)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let (instructions, _) = aws_sigv4::http_request::sign(signable, &params).unwrap().into_parts();
        instructions.apply_to_request_http1x(req);
    }

    fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::Request<()> {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    fn check(req: http::Request<()>, api: Api, payload: Payload<'_>, now: SystemTime) -> Result<(), Denial> {
        verify_at("test endpoint", &req.into_parts().0, api, payload, &keys(), "DATA/credentials", now)
    }

    #[test]
    fn the_aws_test_suite_vector_verifies() {
        // get-vanilla from the AWS Signature Version 4 test suite.
        let req = request(
            "GET",
            "/",
            &[
                ("host", "example.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
                (
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                     SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
                ),
            ],
        );
        let keys = KeyPair::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        let at = SystemTime::from(parse_amz_date("20150830T123600Z").unwrap());
        let parts = req.into_parts().0;
        verify_at("t", &parts, Api::Lambda, Payload::Body(b""), &keys, "f", at).unwrap();
        let wrong = KeyPair::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEX");
        let err = verify_at("t", &parts, Api::Lambda, Payload::Body(b""), &wrong, "f", at).unwrap_err();
        assert!(err.message.contains("does not match"), "{err}");
    }

    #[test]
    fn lambda_requests_signed_by_the_sdk_signer_verify_and_tampering_does_not() {
        let now = SystemTime::now();
        let body = br#"{"FunctionName":"f:1"}"#;
        let signed = || {
            let mut req = request(
                "POST",
                "/2015-03-31/functions/my%3Afn/invocations?Qualifier=live",
                &[("host", "127.0.0.1:9001"), ("content-type", "application/json"), ("x-amz-invocation-type", "Event")],
            );
            client_sign(&mut req, body, Api::Lambda, KEYS.0, KEYS.1, now, None);
            req
        };
        check(signed(), Api::Lambda, Payload::Body(body), now).unwrap();

        let err = check(signed(), Api::Lambda, Payload::Body(b"{}"), now).unwrap_err();
        assert!(err.message.contains("does not match"), "another body: {err}");
        let mut req = signed();
        *req.uri_mut() = "/2015-03-31/functions/other/invocations?Qualifier=live".parse().unwrap();
        assert!(check(req, Api::Lambda, Payload::Body(body), now).is_err(), "another path");
        let mut req = signed();
        req.headers_mut().insert("x-amz-invocation-type", http::HeaderValue::from_static("RequestResponse"));
        assert!(check(req, Api::Lambda, Payload::Body(body), now).is_err(), "a changed signed header");
        let mut req = signed();
        req.headers_mut().insert("user-agent", http::HeaderValue::from_static("changed"));
        check(req, Api::Lambda, Payload::Body(body), now).expect("unsigned headers may change");

        // The in-process client: no Host header, an absolute URI.
        let mut req = request("GET", "http://127.0.0.1:9001/2015-03-31/functions/", &[]);
        client_sign(&mut req, b"", Api::Lambda, KEYS.0, KEYS.1, now, None);
        check(req, Api::Lambda, Payload::Body(b""), now).unwrap();
    }

    #[test]
    fn wrong_keys_stale_times_and_expired_presigns_are_refused() {
        let now = SystemTime::now();
        let mut req = request("GET", "/2015-03-31/functions/", &[("host", "127.0.0.1:9001")]);
        client_sign(&mut req, b"", Api::Lambda, "SOMEONEELSE", KEYS.1, now, None);
        let err = check(req, Api::Lambda, Payload::Body(b""), now).unwrap_err();
        assert!(err.message.contains("SOMEONEELSE") && err.message.contains("DATA/credentials"), "{err}");
        assert!(err.message.contains(KEYS.0), "names the expected key id: {err}");

        let mut req = request("GET", "/2015-03-31/functions/", &[("host", "127.0.0.1:9001")]);
        client_sign(&mut req, b"", Api::Lambda, KEYS.0, "not-the-secret", now, None);
        let err = check(req, Api::Lambda, Payload::Body(b""), now).unwrap_err();
        assert!(err.message.contains("does not match") && err.message.contains("DATA/credentials"), "{err}");

        for offset in [Duration::from_secs(16 * 60)] {
            for signed_at in [now - offset, now + offset] {
                let mut req = request("GET", "/2015-03-31/functions/", &[("host", "127.0.0.1:9001")]);
                client_sign(&mut req, b"", Api::Lambda, KEYS.0, KEYS.1, signed_at, None);
                let err = check(req, Api::Lambda, Payload::Body(b""), now).unwrap_err();
                assert!(err.message.contains("15 minutes"), "{err}");
            }
        }
        let mut req = request("GET", "/2015-03-31/functions/", &[("host", "127.0.0.1:9001")]);
        client_sign(&mut req, b"", Api::Lambda, KEYS.0, KEYS.1, now - Duration::from_secs(14 * 60), None);
        check(req, Api::Lambda, Payload::Body(b""), now).expect("14 minutes of skew are fine");

        let mut req = request("GET", "/bucket/key.txt", &[("host", "127.0.0.1:9002")]);
        client_sign(&mut req, b"", Api::S3, KEYS.0, KEYS.1, now - Duration::from_secs(120), Some(60));
        let err = check(req, Api::S3, Payload::Declared, now).unwrap_err();
        assert!(err.message.contains("expired"), "{err}");
    }

    #[test]
    fn s3_header_and_presigned_requests_verify() {
        let now = SystemTime::now();
        let body = b"hello, asset world";
        let mut req = request(
            "PUT",
            "/ownstak-assets/deployments/f/1/a%20b%2Bc.txt?x-id=PutObject",
            &[("host", "127.0.0.1:9002"), ("content-type", "text/plain"), ("x-amz-meta-sha256", "abc")],
        );
        client_sign(&mut req, body, Api::S3, KEYS.0, KEYS.1, now, None);
        assert!(req.headers().contains_key(CONTENT_SHA256));
        check(req, Api::S3, Payload::Declared, now).unwrap();

        let mut req =
            request("GET", "/ownstak-assets/k.txt?response-content-type=text%2Fplain", &[("host", "127.0.0.1:9002")]);
        client_sign(&mut req, b"", Api::S3, KEYS.0, KEYS.1, now, Some(300));
        assert!(req.uri().query().unwrap().contains("X-Amz-Signature="));
        check(req, Api::S3, Payload::Declared, now).unwrap();

        let mut req = request("GET", "/ownstak-assets/k.txt", &[("host", "127.0.0.1:9002")]);
        client_sign(&mut req, b"", Api::S3, KEYS.0, "wrong", now, Some(300));
        assert!(check(req, Api::S3, Payload::Declared, now).is_err());
    }

    #[test]
    fn requests_without_a_signature_or_with_another_scheme_are_refused() {
        for auth in [None, Some("AWS ownstak:c2lnbmF0dXJl"), Some("Bearer x"), Some("AWS4-HMAC-SHA256 Credential=a/b")]
        {
            let mut headers = vec![("host", "127.0.0.1:9001"), ("x-amz-date", "20250101T000000Z")];
            headers.extend(auth.map(|a| ("authorization", a)));
            let parts = request("POST", "/2015-03-31/functions", &headers).into_parts().0;
            let err = Claims::parse("Lambda API", &parts).unwrap_err();
            assert_eq!(err.rule, Rule::Signature, "{auth:?}");
            assert!(err.message.starts_with("The Lambda API refused the request"), "{err}");
        }
        let ok = request(
            "GET",
            "/",
            &[
                ("x-amz-date", "20250101T000000Z"),
                (
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=anything/20250101/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000",
                ),
            ],
        );
        Claims::parse("t", &ok.into_parts().0).expect("any well-formed signature parses");
    }

    #[test]
    fn foreign_s3_signatures_are_resigned_with_the_local_keys() {
        let now = SystemTime::now();
        let body = b"resigned";
        let mut req = request("PUT", "/b/k.txt", &[("host", "127.0.0.1:9002")]);
        client_sign(&mut req, body, Api::S3, "ANYKEY", "anysecret", now, None);
        let mut parts = req.into_parts().0;
        assert!(verify_at("t", &parts, Api::S3, Payload::Declared, &keys(), "f", now).is_err());
        resign("t", &mut parts, &keys(), "f").unwrap();
        verify_at("t", &parts, Api::S3, Payload::Declared, &keys(), "f", now).expect("re-signed with the local keys");

        let mut req = request("GET", "/b/k.txt?versionId=1", &[("host", "127.0.0.1:9002")]);
        client_sign(&mut req, b"", Api::S3, "ANYKEY", "anysecret", now, Some(600));
        let mut parts = req.into_parts().0;
        resign("t", &mut parts, &keys(), "f").unwrap();
        assert!(parts.uri.query().unwrap().contains("versionId=1"), "{}", parts.uri);
        verify_at("t", &parts, Api::S3, Payload::Declared, &keys(), "f", now).expect("re-presigned");

        let mut req = request(
            "PUT",
            "/b/k.txt",
            &[("host", "127.0.0.1:9002"), (CONTENT_SHA256, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")],
        );
        client_sign(&mut req, body, Api::Lambda, "ANYKEY", "anysecret", now, None);
        let err = resign("S3 endpoint", &mut req.into_parts().0, &keys(), "DATA/credentials").unwrap_err();
        assert!(err.message.contains("DATA/credentials"), "{err}");
    }

    #[test]
    fn own_signing_helper_verifies() {
        let mut req = http::Request::builder().uri("http://127.0.0.1:9001/__ownstak__/backend").body(()).unwrap();
        sign_request(&mut req, b"", &keys(), "us-east-1", "lambda").unwrap();
        req.headers_mut().insert(HOST, http::HeaderValue::from_static("127.0.0.1:9001"));
        check(req, Api::Lambda, Payload::Body(b""), SystemTime::now()).unwrap();
    }

    #[test]
    fn amz_dates_round_trip() {
        let t = parse_amz_date("20240229T235959Z").unwrap();
        assert_eq!(format_amz_date(t), "20240229T235959Z");
        for bad in ["20240230T000000Z", "2024022T0000000Z", "20240229 235959Z", "20240229T235959", "+0240229T235959Z"] {
            assert!(parse_amz_date(bad).is_none(), "{bad}");
        }
    }
}
