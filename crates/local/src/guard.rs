//! The endpoint rules of [`ownstak_guard`] in front of the Lambda API and
//! of every sandbox's Runtime API, as axum middleware. The rules are the
//! crate's; this module only feeds it the request and answers a refusal in
//! each API's own error shape (403):
//!
//! * Lambda API: `x-amzn-ErrorType: AccessDeniedException` and
//!   `{"Type": "User", "message": …}`, like its other errors. Host, Origin
//!   and signature are checked; `GET /__ownstak__/health` needs no
//!   signature (scripts poll it), but obeys Host and Origin.
//! * Runtime API: `{"errorType": "AccessDenied", "errorMessage": …}`. Host
//!   and Origin are checked (no allowed origins: no web page has business
//!   there), and the connection must come from a process of the sandbox
//!   (see [`crate::sandbox::Peer`]); its clients never sign.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ownstak_guard::{Api, Auth, Denial, Guard, Payload, Rule};

use crate::config::LocalConfig;
use crate::error::{ApiError, ErrorKind};

/// The path that answers without a signature.
pub(crate) const HEALTH_PATH: &str = "/__ownstak__/health";

/// The Lambda API's rules and how much body it may read to verify a signature.
pub(crate) struct LambdaGate {
    guard: Guard,
    body_limit: usize,
}

impl LambdaGate {
    /// The rules for the Lambda API of `config`.
    pub(crate) fn new(config: &LocalConfig, body_limit: usize) -> Arc<Self> {
        let auth = if config.verify_signatures {
            Auth::Verify { keys: config.keys.clone(), source: config.credentials_path().display().to_string() }
        } else {
            Auth::AnySignature
        };
        let guard = Guard::new("Lambda API", config.lambda_addr)
            .with_origins(config.allowed_origins.iter().cloned())
            .with_auth(auth);
        Arc::new(Self { guard, body_limit })
    }
}

/// The Lambda API middleware.
pub(crate) async fn lambda(State(gate): State<Arc<LambdaGate>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    if let Err(denial) = gate.guard.check_caller(&parts) {
        return refuse_lambda(&parts, denial);
    }
    if let Some(headers) = gate.guard.preflight(&parts) {
        return (StatusCode::NO_CONTENT, headers).into_response();
    }
    let health = parts.uri.path() == HEALTH_PATH && matches!(parts.method.as_str(), "GET" | "HEAD");
    let body = if health {
        body
    } else if gate.guard.verifies_signatures() {
        // Verifying needs the payload hash; Lambda clients do not send one.
        let bytes = match axum::body::to_bytes(body, gate.body_limit).await {
            Ok(b) => b,
            Err(e) if is_length_limit(&e) => {
                let message = format!("The request body is larger than {} bytes.", gate.body_limit);
                return ApiError::new(ErrorKind::RequestTooLarge, message).into_response();
            }
            Err(e) => return ApiError::invalid(format!("Cannot read the request body: {e}")).into_response(),
        };
        if let Err(denial) = gate.guard.check_signature(&parts, Api::Lambda, Payload::Body(&bytes)) {
            return refuse_lambda(&parts, denial);
        }
        Body::from(bytes)
    } else {
        // Any key is good: only the signature's presence and form are checked.
        if let Err(denial) = gate.guard.check_signature(&parts, Api::Lambda, Payload::Declared) {
            return refuse_lambda(&parts, denial);
        }
        body
    };
    let cors = gate.guard.cors(&parts);
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if let Some(headers) = cors {
        response.headers_mut().extend(headers);
    }
    response
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

fn refuse_lambda(parts: &axum::http::request::Parts, denial: Denial) -> Response {
    denial.log("Lambda API", &parts.method, parts.uri.path());
    ApiError::new(ErrorKind::AccessDenied, denial.message).into_response()
}

/// The rules of one environment's Runtime API.
pub(crate) struct RuntimeGate {
    guard: Guard,
    /// Names the environment in refusals.
    owner: String,
}

impl RuntimeGate {
    /// The rules for the Runtime API listening on `addr` for `owner`
    /// (e.g. `environment 3 of my-function`).
    pub(crate) fn new(addr: std::net::SocketAddr, owner: String) -> Arc<Self> {
        Arc::new(Self { guard: Guard::new("Runtime API", addr), owner })
    }
}

/// The Runtime API middleware.
pub(crate) async fn runtime(State(gate): State<Arc<RuntimeGate>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let verdict = gate.guard.check_caller(&parts).and_then(|()| {
        match parts.extensions.get::<crate::sandbox::Peer>().map(crate::sandbox::Peer::verdict) {
            Some(Ok(())) => Ok(()),
            Some(Err(why)) => Err(Denial::new(
                Rule::Process,
                format!(
                    "The Runtime API refused the request: it belongs to {}, and only that sandbox's own processes \
                     (its bootstrap and what the bootstrap starts) may use it, through the AWS_LAMBDA_RUNTIME_API it \
                     was given; {why}.",
                    gate.owner
                ),
            )),
            None => Err(Denial::new(Rule::Process, "The Runtime API refused the request: its connection is unknown.")),
        }
    });
    if let Err(denial) = verdict {
        denial.log("Runtime API", &parts.method, parts.uri.path());
        let body = serde_json::json!({ "errorType": "AccessDenied", "errorMessage": denial.message });
        return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}
