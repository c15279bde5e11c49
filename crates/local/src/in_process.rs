//! An HTTP client for the AWS SDK that hands each request straight to this
//! process's Lambda API router. The embedded LambdaProxy invokes functions
//! through the official SDK exactly as it does against AWS (same
//! operations, same signing, same event-stream decoding); only the socket
//! between two halves of one process is gone.

use std::sync::Arc;

use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use tower::ServiceExt as _;

use crate::service::Service;

/// Sends SDK requests to the Lambda API router of a [`Service`] in the same process.
#[derive(Clone)]
struct InProcessConnector {
    router: axum::Router,
}

impl std::fmt::Debug for InProcessConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InProcessConnector")
    }
}

impl HttpConnector for InProcessConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let router = self.router.clone();
        HttpConnectorFuture::new(async move {
            let request = into_router_request(request)?;
            let response = match router.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            // The body streams through unchanged: an InvokeWithResponseStream
            // answer reaches the SDK frame by frame, as it would over a socket.
            let (parts, body) = response.into_parts();
            HttpResponse::try_from(http::Response::from_parts(
                parts,
                SdkBody::from_body_1_x(SyncBody(std::sync::Mutex::new(body))),
            ))
            .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// A response body the SDK can share between threads (it requires `Sync`).
/// Polling takes `&mut self`, so the mutex is never contended; only the
/// size hint locks it.
struct SyncBody(std::sync::Mutex<axum::body::Body>);

impl http_body::Body for SyncBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        // A poisoned lock only means a panic elsewhere; the body itself is intact.
        let body = self.get_mut().0.get_mut().unwrap_or_else(|e| e.into_inner());
        std::pin::Pin::new(body).poll_frame(cx)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.0.try_lock().map(|b| b.size_hint()).unwrap_or_default()
    }
}

/// Converts an SDK request; Lambda API requests carry their body in memory.
fn into_router_request(request: HttpRequest) -> Result<http::Request<axum::body::Body>, ConnectorError> {
    let request = request.try_into_http1x().map_err(|e| ConnectorError::user(e.into()))?;
    let (parts, body) = request.into_parts();
    let bytes = body.bytes().map(Bytes::copy_from_slice).ok_or_else(|| {
        ConnectorError::user("a streaming request body cannot be sent in process; use the Lambda API endpoint".into())
    })?;
    Ok(http::Request::from_parts(parts, axum::body::Body::from(bytes)))
}

/// An SDK HTTP client whose requests go to `service`'s Lambda API without
/// leaving the process (for clients in the same process, such as the
/// embedded proxy).
pub fn in_process_client(service: Arc<Service>) -> SharedHttpClient {
    let connector = SharedHttpConnector::new(InProcessConnector { router: crate::api::router(service) });
    http_client_fn(move |_settings, _components| connector.clone())
}
