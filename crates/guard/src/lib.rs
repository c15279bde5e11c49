//! Who may talk to the local backend's endpoints.
//!
//! `ownstak local up` listens on the developer's machine with three kinds of
//! endpoint: the Lambda API (which runs whatever code it is given), one
//! Runtime API per sandbox, and the S3 endpoint of the asset store. The
//! developer's browser can reach them too: a cross-site `<form>` POST or a
//! `fetch(…, {mode: "no-cors"})` from any page, or — after DNS rebinding —
//! a page at `http://evil.example:9001` whose name now resolves to
//! 127.0.0.1 and which the browser therefore treats as same-origin. A
//! [`Guard`] refuses such requests before any handler runs. Every endpoint
//! uses the same rules from this crate and only renders the [`Denial`] in
//! its own error shape (403):
//!
//! 1. **Host** ([`Rule::Host`]). The `Host` header (and the authority of an
//!    absolute request URI) must name this machine: `localhost`, a loopback
//!    address (`127.0.0.0/8`, `[::1]`) or the address the endpoint was told
//!    to listen on, with any port. Any IP address is accepted when the
//!    endpoint listens on an unspecified address (`0.0.0.0`), because DNS
//!    rebinding always arrives under a *name*. Names below `localhost`
//!    (`app.localhost`) are refused: they are where the proxy serves
//!    deployed apps, and no API client needs them.
//! 2. **Origin** ([`Rule::Origin`]). Browsers put `Origin` on every
//!    cross-origin request and on every POST; SDKs and CLIs never send it.
//!    A request with an `Origin` header is refused unless that exact origin
//!    was allowed (`ownstak local up --allow-origin ORIGIN`); allowed
//!    origins also get CORS answers ([`Guard::preflight`], [`Guard::cors`]).
//! 3. **Signature** ([`Rule::Signature`]; the Lambda API and S3, not the
//!    Runtime API, whose clients never sign). The request must carry an AWS
//!    Signature Version 4: an `Authorization: AWS4-HMAC-SHA256
//!    Credential=…, SignedHeaders=…, Signature=…` header or a presigned
//!    query (`X-Amz-Signature` and friends). A browser cannot send such a
//!    header across origins without a CORS preflight (refused by rule 2).
//!    By default ([`Auth::AnySignature`]) any key is accepted, as other
//!    local emulators do, so boto3, the AWS CLI and the SDKs work with
//!    whatever credentials they have. With [`Auth::Verify`]
//!    (`--verify-signatures`) the signature is recomputed with the official
//!    `aws-sigv4` crate from the request's method, path, query, signed
//!    headers and payload hash, compared in constant time, and the signing
//!    time must be within 15 minutes of the clock (presigned URLs also must
//!    not have expired). The key pair is the one in
//!    `<data-dir>/credentials` (see [`credentials`]).
//!
//! The Runtime API adds a rule of its own (the connecting process must
//! belong to the sandbox); it lives with the sandboxes and reports
//! [`Rule::Process`].

pub mod credentials;
mod host;
mod origin;
mod sigv4;

use std::net::SocketAddr;

use http::HeaderMap;
use http::request::Parts;

pub use credentials::{CredentialsError, KeyPair};
pub use origin::AllowedOrigin;
pub use sigv4::{Api, Payload, SignError, resign, sign_request};

/// Which rule refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The `Host` does not name this machine.
    Host,
    /// A web page sent the request (it carries an `Origin` that was not allowed).
    Origin,
    /// The AWS Signature V4 is missing, malformed, stale or wrong.
    Signature,
    /// The connecting process does not own the endpoint (Runtime API).
    Process,
}

impl Rule {
    /// A short name for logs.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Host => "host",
            Rule::Origin => "origin",
            Rule::Signature => "signature",
            Rule::Process => "process",
        }
    }
}

/// A refused request: the rule and a message that says what was wrong and
/// what to do, for the endpoint to put into its 403 answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Denial {
    /// The rule that refused it.
    pub rule: Rule,
    /// The explanation for the client.
    pub message: String,
}

impl Denial {
    /// A denial under `rule`.
    pub fn new(rule: Rule, message: impl Into<String>) -> Self {
        Self { rule, message: message.into() }
    }

    /// Logs the refusal (once per request, at `warn`: someone is knocking).
    pub fn log(&self, endpoint: &str, method: &http::Method, path: &str) {
        tracing::warn!(endpoint, rule = self.rule.name(), %method, path, reason = %self.message, "request refused");
    }
}

/// How the signature rule is applied.
#[derive(Debug, Clone)]
pub enum Auth {
    /// No signature is asked for (the Runtime API).
    None,
    /// Any well-formed SigV4 signature, whatever its key (the default).
    AnySignature,
    /// Only signatures made with `keys` are accepted; `source` says where
    /// clients find them (the credentials file), for messages.
    Verify {
        /// The one accepted key pair.
        keys: KeyPair,
        /// Where the key pair is kept, named in refusals.
        source: String,
    },
}

/// The rules of one endpoint. Cheap to clone; build once per endpoint.
#[derive(Debug, Clone)]
pub struct Guard {
    endpoint: &'static str,
    hosts: host::HostRule,
    origins: Vec<AllowedOrigin>,
    auth: Auth,
}

impl Guard {
    /// The rules for `endpoint` (named in messages, e.g. `Lambda API`)
    /// listening on `listen`: no origin allowed, no signature asked for.
    pub fn new(endpoint: &'static str, listen: SocketAddr) -> Self {
        Self { endpoint, hosts: host::HostRule::new(listen.ip()), origins: Vec::new(), auth: Auth::None }
    }

    /// Lets requests from these origins through the Origin rule.
    pub fn with_origins(mut self, origins: impl IntoIterator<Item = AllowedOrigin>) -> Self {
        self.origins = origins.into_iter().collect();
        self
    }

    /// Sets the signature rule.
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// The endpoint's name.
    pub fn endpoint(&self) -> &'static str {
        self.endpoint
    }

    /// Whether signatures are verified (then the Lambda API must read the
    /// body to hash it).
    pub fn verifies_signatures(&self) -> bool {
        matches!(self.auth, Auth::Verify { .. })
    }

    /// The Host and Origin rules.
    pub fn check_caller(&self, parts: &Parts) -> Result<(), Denial> {
        self.hosts.check(self.endpoint, parts)?;
        origin::check(self.endpoint, &self.origins, parts)
    }

    /// The signature rule, for a request that passed [`Guard::check_caller`].
    pub fn check_signature(&self, parts: &Parts, api: Api, payload: Payload<'_>) -> Result<(), Denial> {
        match &self.auth {
            Auth::None => Ok(()),
            Auth::AnySignature => sigv4::Claims::parse(self.endpoint, parts).map(|_| ()),
            Auth::Verify { keys, source } => sigv4::verify(self.endpoint, parts, api, payload, keys, source),
        }
    }

    /// The headers of a CORS preflight answer (204) when `parts` is one
    /// from an allowed origin; `None` when it is not a preflight. Call after
    /// [`Guard::check_caller`]: a preflight carries no signature.
    pub fn preflight(&self, parts: &Parts) -> Option<HeaderMap> {
        origin::preflight(parts)
    }

    /// CORS headers for the answer to a request from an allowed origin.
    pub fn cors(&self, parts: &Parts) -> Option<HeaderMap> {
        origin::cors(parts)
    }
}

/// Escapes text for an XML element (the S3 error shape).
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}
