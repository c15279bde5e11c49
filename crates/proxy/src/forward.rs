//! Invoking the function for a request and turning its answer into the
//! response: the one call the request path, the cache's fills and its
//! background refreshes share.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Response;

use crate::body::ProxyBody;
use crate::config::{InvokeMode, ProxyConfig};
use crate::failure::{Failure, FailureKind};
use crate::invoker::{InvokeFailure, Lambda};
use crate::response::{self, AnswerLimits};
use crate::routing::{self, Target};
use crate::scope::Counters;

/// Everything an invocation needs; cheap to clone into a background task.
#[derive(Clone)]
pub(crate) struct Invoker {
    lambda: Arc<dyn Lambda>,
    mode: InvokeMode,
    limits: AnswerLimits,
    timeout: Duration,
    counters: Arc<Counters>,
}

impl Invoker {
    /// The invoker for a configuration.
    pub(crate) fn new(config: &ProxyConfig, lambda: Arc<dyn Lambda>, counters: Arc<Counters>) -> Self {
        let limits = AnswerLimits {
            head_bytes: config.limits.max_response_head_bytes,
            buffered_bytes: config.limits.max_buffered_response_bytes,
        };
        Self { lambda, mode: config.invoke_mode, limits, timeout: config.limits.invoke_timeout, counters }
    }

    /// The Lambda client.
    pub(crate) fn lambda(&self) -> &dyn Lambda {
        &*self.lambda
    }

    /// Invokes `target`'s function at `qualifier` with the event `payload`;
    /// the response's body streams as the function writes it.
    pub(crate) async fn call(
        &self,
        target: &Target,
        qualifier: &str,
        payload: Bytes,
    ) -> Result<Response<ProxyBody>, Failure> {
        let invoked_at = Instant::now();
        let function = &target.function;
        let answer = match self.mode {
            InvokeMode::Buffered => {
                let invoked = self.lambda.invoke(function, qualifier, payload).await;
                response::from_invoked(invoked.map_err(|f| invoke_failure(f, target))?, self.limits)
            }
            InvokeMode::Streaming => {
                let events = self.lambda.invoke_stream(function, qualifier, payload).await;
                let deadline = invoked_at + self.timeout;
                response::from_events(events.map_err(|f| invoke_failure(f, target))?, deadline, self.limits).await
            }
        };
        self.counters.metrics.invoke_latency(invoked_at.elapsed().as_secs_f64());
        answer
    }
}

/// The answer when an invocation did not happen.
fn invoke_failure(f: InvokeFailure, target: &Target) -> Failure {
    match f {
        InvokeFailure::NotFound => routing::not_found(&target.route),
        InvokeFailure::Throttled => {
            Failure::new(FailureKind::Throttled, "the function is at its concurrency limit; retry shortly")
        }
        InvokeFailure::AccessDenied(message) => {
            tracing::error!(function = %target.function, permission = "lambda:InvokeFunction", %message, "the proxy's role may not invoke this function; grant it lambda:InvokeFunction on the function (this action also covers streaming invokes)");
            Failure::new(FailureKind::AccessDenied, "the proxy is not allowed to invoke this function")
        }
        InvokeFailure::TooLarge => Failure::new(FailureKind::RequestTooLarge, "the request is too large for Lambda"),
        InvokeFailure::Api { code, message } => {
            Failure::new(FailureKind::InvokeFailed, format!("Lambda refused the invocation: {code}: {message}"))
        }
        InvokeFailure::Unreachable(detail) => {
            tracing::error!(%detail, "lambda unreachable");
            Failure::new(FailureKind::LambdaUnreachable, "the Lambda service could not be reached")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::Target;
    use ownstak_core::{Qualifier, Route};

    #[test]
    fn access_denied_is_a_502_naming_no_internals() {
        let route = Route { label: "hello-prod".into(), qualifier: Qualifier::Current };
        let target = Target {
            route,
            function: "ownstak-hello-prod".into(),
            qualifier: "current".into(),
            domain: "hello-prod.local.dev.localhost".into(),
        };
        let f = invoke_failure(
            InvokeFailure::AccessDenied("User: arn:aws:sts::1:assumed-role/x is not authorized".into()),
            &target,
        );
        assert_eq!(f.kind, FailureKind::AccessDenied);
        assert!(!f.message.contains("arn:"), "the client must not see the role: {}", f.message);
        assert_eq!(invoke_failure(InvokeFailure::Throttled, &target).kind, FailureKind::Throttled);
        assert_eq!(invoke_failure(InvokeFailure::NotFound, &target).kind, FailureKind::DeploymentNotFound);
    }
}
