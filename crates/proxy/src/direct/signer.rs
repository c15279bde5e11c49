//! AWS Signature Version 4 for the proxy's invoke requests, with the
//! official `aws-sigv4` crate's key derivation and signature, the signing
//! key derived once per day, region and credentials (not per request), and
//! credentials from `aws-config`'s provider chain cached until shortly
//! before they expire.
//!
//! The canonical request is built here for the one request shape the proxy
//! sends (a POST with a JSON payload and a query of its own making); a test
//! checks every signature against `aws_sigv4::http_request::sign` for the
//! same request and time.

use std::sync::{Mutex, RwLock};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use http::HeaderValue;
use sha2::{Digest, Sha256};

/// Credentials are refreshed when they have less than this left.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// Where credentials come from.
#[derive(Debug)]
pub(crate) enum CredentialsSource {
    /// Fixed credentials (a local endpoint).
    Static(Credentials),
    /// A provider chain (environment, profile, ECS task role, …), cached.
    Provider {
        /// The chain.
        provider: SharedCredentialsProvider,
        /// The last credentials it gave.
        cached: RwLock<Option<Credentials>>,
        /// Held while refreshing, so that one request refreshes and the others wait.
        refreshing: tokio::sync::Mutex<()>,
    },
}

impl CredentialsSource {
    /// A cached source over `provider`.
    pub(crate) fn provider(provider: SharedCredentialsProvider) -> Self {
        CredentialsSource::Provider { provider, cached: RwLock::new(None), refreshing: tokio::sync::Mutex::new(()) }
    }

    /// Current credentials.
    pub(crate) async fn get(&self) -> Result<Credentials, String> {
        let (provider, cached, refreshing) = match self {
            CredentialsSource::Static(c) => return Ok(c.clone()),
            CredentialsSource::Provider { provider, cached, refreshing } => (provider, cached, refreshing),
        };
        let fresh = |c: &Option<Credentials>| c.as_ref().filter(|c| !expiring(c)).cloned();
        if let Some(c) = fresh(&read(cached)) {
            return Ok(c);
        }
        let _one_at_a_time = refreshing.lock().await;
        if let Some(c) = fresh(&read(cached)) {
            return Ok(c);
        }
        let c = provider.provide_credentials().await.map_err(|e| format!("no usable AWS credentials: {e}"))?;
        *cached.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(c.clone());
        Ok(c)
    }
}

fn read(cached: &RwLock<Option<Credentials>>) -> std::sync::RwLockReadGuard<'_, Option<Credentials>> {
    // The cache holds a whole value or none; a panic cannot leave half of one.
    cached.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether credentials expire within the refresh margin.
fn expiring(c: &Credentials) -> bool {
    c.expiry().is_some_and(|at| at.duration_since(SystemTime::now()).map_or(true, |left| left < REFRESH_BEFORE_EXPIRY))
}

/// The headers a signed request carries.
pub(crate) struct Signature {
    /// `x-amz-date`.
    pub(crate) date: HeaderValue,
    /// `authorization`.
    pub(crate) authorization: HeaderValue,
    /// `x-amz-security-token`, for temporary credentials.
    pub(crate) token: Option<HeaderValue>,
}

/// A signing key and what it was derived for.
struct Key {
    day: String,
    access_key: String,
    secret_fingerprint: [u8; 32],
    key: Vec<u8>,
}

/// Signs requests to one service in one region.
pub(crate) struct Signer {
    region: String,
    service: &'static str,
    key: Mutex<Option<Key>>,
}

impl Signer {
    /// A signer for `service` (e.g. `lambda`) in `region`.
    pub(crate) fn new(region: &str, service: &'static str) -> Self {
        Self { region: region.to_owned(), service, key: Mutex::new(None) }
    }

    /// Signs a POST of `payload` to `host` and `path` with the query
    /// `query_key=query_value` (both made of URI-unreserved characters
    /// after encoding), at `time`.
    pub(crate) fn sign(
        &self,
        credentials: &Credentials,
        host: &str,
        path: &str,
        query: (&str, &str),
        payload: &[u8],
        time: SystemTime,
    ) -> Signature {
        let (amz_date, day) = amz_date(time);
        let token = credentials.session_token();
        let signed_headers = if token.is_some() { "host;x-amz-date;x-amz-security-token" } else { "host;x-amz-date" };
        let mut canonical = String::with_capacity(256 + path.len());
        canonical.push_str("POST\n");
        push_canonical_path(&mut canonical, path);
        canonical.push('\n');
        push_encoded(&mut canonical, query.0);
        canonical.push('=');
        push_encoded(&mut canonical, query.1);
        canonical.push_str("\nhost:");
        canonical.push_str(host);
        canonical.push_str("\nx-amz-date:");
        canonical.push_str(&amz_date);
        if let Some(token) = token {
            canonical.push_str("\nx-amz-security-token:");
            canonical.push_str(token);
        }
        canonical.push_str("\n\n");
        canonical.push_str(signed_headers);
        canonical.push('\n');
        canonical.push_str(&hex::encode(Sha256::digest(payload)));

        let scope = format!("{day}/{}/{}/aws4_request", self.region, self.service);
        let string_to_sign =
            format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical.as_bytes())));
        let signature = self.with_key(credentials, &day, time, |key| {
            aws_sigv4::sign::v4::calculate_signature(key, string_to_sign.as_bytes())
        });
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            credentials.access_key_id()
        );
        Signature {
            date: header(&amz_date),
            authorization: header(&authorization),
            token: token.and_then(|t| HeaderValue::from_str(t).ok()),
        }
    }

    /// Runs `f` with the signing key for `day`, deriving it only when the
    /// day or the credentials changed.
    fn with_key<T>(&self, credentials: &Credentials, day: &str, time: SystemTime, f: impl FnOnce(&[u8]) -> T) -> T {
        let fingerprint: [u8; 32] = Sha256::digest(credentials.secret_access_key().as_bytes()).into();
        let mut cached = self.key.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let reusable = cached.as_ref().is_some_and(|k| {
            k.day == day && k.access_key == credentials.access_key_id() && k.secret_fingerprint == fingerprint
        });
        if !reusable {
            let key = aws_sigv4::sign::v4::generate_signing_key(
                credentials.secret_access_key(),
                time,
                &self.region,
                self.service,
            );
            *cached = Some(Key {
                day: day.to_owned(),
                access_key: credentials.access_key_id().to_owned(),
                secret_fingerprint: fingerprint,
                key: key.as_ref().to_vec(),
            });
        }
        let key = cached.as_ref().map(|k| k.key.as_slice()).unwrap_or_default();
        f(key)
    }
}

/// A header value from text this module built (always visible ASCII).
fn header(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// `20261129T171234Z` and `20261129` for `time`.
fn amz_date(time: SystemTime) -> (String, String) {
    let secs = time.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(0))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let day = format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day());
    let full = format!("{day}T{:02}{:02}{:02}Z", t.hour(), t.minute(), t.second());
    (full, day)
}

/// Whether SigV4 leaves a byte unencoded.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// Appends `s` URI-encoded as SigV4 does (unreserved bytes kept, the rest `%XX`).
fn push_encoded(out: &mut String, s: &str) {
    for &b in s.as_bytes() {
        if unreserved(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Appends the canonical form of a path: each segment encoded twice (SigV4
/// for every service but S3), slashes kept.
pub(crate) fn push_canonical_path(out: &mut String, path: &str) {
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let mut once = String::with_capacity(segment.len());
        push_encoded(&mut once, segment);
        push_encoded(out, &once);
    }
}

/// A path segment encoded once, as it goes on the wire.
pub(crate) fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    push_encoded(&mut out, segment);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;

    /// The signature aws-sigv4 computes for the same request.
    fn reference(credentials: &Credentials, host: &str, uri: &str, payload: &[u8], time: SystemTime) -> String {
        let identity = credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("eu-west-1")
            .name("lambda")
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let request =
            SignableRequest::new("POST", uri, [("host", host)].into_iter(), SignableBody::Bytes(payload)).unwrap();
        let (instructions, _) = sign(request, &params).unwrap().into_parts();
        let (headers, _) = instructions.into_parts();
        headers.iter().find(|h| h.name() == "authorization").map(|h| h.value().to_owned()).unwrap()
    }

    #[test]
    fn signatures_equal_aws_sigv4s_with_and_without_a_session_token() {
        let signer = Signer::new("eu-west-1", "lambda");
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_821_555);
        let payload = br#"{"version":"2.0","rawPath":"/a b"}"#;
        let host = "lambda.eu-west-1.amazonaws.com";
        for creds in [
            Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, None, "test"),
            Credentials::new("ASIAEXAMPLE", "secret", Some("token/with+chars==".into()), None, "test"),
        ] {
            for (function, qualifier) in [("ownstak-shop-prod", "deployment-3"), ("ownstak-a_b", "current")] {
                let path = format!("/2015-03-31/functions/{}/invocations", encode_segment(function));
                let uri = format!("https://{host}{path}?Qualifier={}", encode_segment(qualifier));
                let ours = signer.sign(&creds, host, &path, ("Qualifier", qualifier), payload, time);
                assert_eq!(ours.authorization.to_str().unwrap(), reference(&creds, host, &uri, payload, time));
                assert_eq!(ours.date, "20261127T231915Z");
                assert_eq!(ours.token.is_some(), creds.session_token().is_some());
            }
        }
    }

    #[test]
    fn the_signing_key_is_derived_again_for_a_new_day_or_new_credentials() {
        let signer = Signer::new("eu-west-1", "lambda");
        let a = Credentials::new("AKID", "one", None, None, "test");
        let b = Credentials::new("AKID", "two", None, None, "test");
        let day1 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_821_555);
        let day2 = day1 + Duration::from_secs(86_400);
        let path = "/2015-03-31/functions/f/invocations";
        let host = "h";
        for (creds, time) in [(&a, day1), (&a, day2), (&b, day2)] {
            let uri = format!("https://{host}{path}?Qualifier=current");
            let ours = signer.sign(creds, host, path, ("Qualifier", "current"), b"{}", time);
            assert_eq!(ours.authorization.to_str().unwrap(), reference(creds, host, &uri, b"{}", time));
        }
    }
}
