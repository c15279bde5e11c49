//! The proxy's [`Lambda`] boundary served by the local Lambda service in
//! the same process: an invocation is a function call into the service's
//! pool, and a streamed response flows from the runtime's upload to the
//! proxy's client through one bounded channel, with no HTTP, signing or
//! event-stream framing in between.

use std::sync::Arc;

use bytes::Bytes;
use ownstak_local::{FunctionFailure, InvokeError, Outcome, Service, StreamItem};
use ownstak_proxy::{
    AliasEntry, BoxFuture, InvokeFailure, Invoked, Lambda, ResponseEvents, StreamEvent, function_error,
};

/// [`Lambda`] over an in-process [`Service`].
pub struct InProcessLambda {
    service: Arc<Service>,
}

impl InProcessLambda {
    /// Invokes through `service`.
    pub fn new(service: Arc<Service>) -> Self {
        Self { service }
    }
}

impl Lambda for InProcessLambda {
    fn invoke<'a>(
        &'a self,
        function: &'a str,
        qualifier: &'a str,
        payload: Bytes,
    ) -> BoxFuture<'a, Result<Invoked, InvokeFailure>> {
        Box::pin(async move {
            let outcome = self.service.invoke(function, qualifier, payload).await.map_err(failure)?;
            Ok(match outcome.buffered(self.service.config.max_payload_bytes).await {
                Ok(payload) => Invoked::Payload(payload),
                Err(f) => Invoked::Failed(failed(&f)),
            })
        })
    }

    fn invoke_stream<'a>(
        &'a self,
        function: &'a str,
        qualifier: &'a str,
        payload: Bytes,
    ) -> BoxFuture<'a, Result<ResponseEvents, InvokeFailure>> {
        Box::pin(async move {
            let outcome = self.service.invoke(function, qualifier, payload).await.map_err(failure)?;
            Ok(match outcome {
                Outcome::Success(payload) => ResponseEvents::new(futures_util::stream::iter([
                    Ok(StreamEvent::Chunk(payload)),
                    Ok(StreamEvent::Completed),
                ])),
                Outcome::Failure(f) => {
                    ResponseEvents::new(futures_util::stream::iter([Ok(StreamEvent::Failed(failed(&f)))]))
                }
                Outcome::Stream(stream) => {
                    let items = futures_util::stream::unfold(Some(stream.items), |items| async move {
                        let mut items = items?;
                        let event = match items.recv().await? {
                            StreamItem::Chunk(c) => return Some((Ok(StreamEvent::Chunk(c)), Some(items))),
                            StreamItem::Failed(f) => StreamEvent::Failed(failed(&f)),
                            StreamItem::End => StreamEvent::Completed,
                        };
                        // After the final event nothing follows.
                        Some((Ok(event), None))
                    });
                    ResponseEvents::new(items)
                }
            })
        })
    }

    fn alias_version<'a>(
        &'a self,
        function: &'a str,
        alias: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, InvokeFailure>> {
        Box::pin(async move { Ok(self.service.alias_version(function, alias)) })
    }

    fn alias_lookups_are_free(&self) -> bool {
        // A read of the service's in-memory state: a promotion is seen by the very next request.
        true
    }

    fn list_aliases<'a>(&'a self, function: &'a str) -> BoxFuture<'a, Result<Vec<AliasEntry>, InvokeFailure>> {
        let aliases = self.service.store.get(function).map(|f| {
            f.aliases
                .values()
                .map(|a| AliasEntry {
                    name: a.name.clone(),
                    version: a.function_version.clone(),
                    description: a.description.clone(),
                })
                .collect()
        });
        Box::pin(async move { Ok(aliases.unwrap_or_default()) })
    }
}

fn failure(e: InvokeError) -> InvokeFailure {
    match e {
        InvokeError::NotFound(_) => InvokeFailure::NotFound,
        InvokeError::Throttled => InvokeFailure::Throttled,
        InvokeError::TooLarge(_) => InvokeFailure::TooLarge,
    }
}

fn failed(f: &FunctionFailure) -> ownstak_proxy::FunctionError {
    function_error(&f.payload, f.error_type.clone())
}
