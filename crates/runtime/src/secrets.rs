//! The function's secrets: fetched at init from SSM Parameter Store, at
//! exactly the parameter versions its configuration names (see
//! [`ownstak_core::SecretRefs`]), with the official SDK and the
//! credentials, region and endpoint Lambda gives the function (the local
//! backend gives its own SSM endpoint as `AWS_ENDPOINT_URL_SSM`). Only a
//! function that has secrets pays for this.

use aws_config::BehaviorVersion;
use ownstak_core::SecretRefs;

use crate::error::InitError;

/// Names GetParameters takes at once.
const BATCH: usize = 10;
/// How long connecting to SSM may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// How long one GetParameters call may take, retries included.
const OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(6);

/// Fetches the values of `refs`, as `(KEY, value)` pairs for the app's environment.
pub(crate) async fn fetch(refs: &SecretRefs) -> Result<Vec<(String, String)>, InitError> {
    // Bounded, so that an unreachable SSM is reported as an init error
    // before Lambda's own init timeout (10 s) ends the environment silently.
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build();
    let config = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts).load().await;
    fetch_with(&aws_sdk_ssm::Client::new(&config), refs).await
}

/// Fetches the values of `refs` with `client`.
async fn fetch_with(client: &aws_sdk_ssm::Client, refs: &SecretRefs) -> Result<Vec<(String, String)>, InitError> {
    let mut out = Vec::with_capacity(refs.entries.len());
    for chunk in refs.entries.chunks(BATCH) {
        let names: Vec<String> = chunk.iter().map(|(k, v)| refs.selector(k, *v)).collect();
        let got = client.get_parameters().set_names(Some(names.clone())).with_decryption(true).send().await.map_err(
            |e| InitError::Secrets {
                parameter: names.join(", "),
                detail: aws_sdk_ssm::error::DisplayErrorContext(&e).to_string(),
                hint: "check that SSM is reachable from the function and that its role may call ssm:GetParameters on the environment's path",
            },
        )?;
        if let Some(missing) = got.invalid_parameters().first() {
            return Err(InitError::Secrets {
                parameter: missing.clone(),
                detail: "it does not exist at that version (it was unset, or overwritten more than 100 times)"
                    .to_owned(),
                hint: "set it again with `ownstak env set KEY=VALUE --secret` and deploy again",
            });
        }
        for p in got.parameters() {
            if let Some(key) = p.name().and_then(|n| n.strip_prefix(refs.path.as_str())) {
                out.push((key.to_owned(), p.value().unwrap_or_default().to_owned()));
            }
        }
    }
    tracing::debug!(count = out.len(), "fetched the function's secrets");
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn an_unreachable_store_is_an_init_error_that_names_the_parameter() {
        // A port nothing listens on: bind one, then close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = aws_sdk_ssm::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_sdk_ssm::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_ssm::config::Credentials::new("a", "b", None, None, "test"))
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .retry_config(aws_sdk_ssm::config::retry::RetryConfig::disabled())
            .build();
        let refs = SecretRefs { path: "/ownstak/o/b/p/e/".into(), entries: vec![("API_TOKEN".into(), 3)] };
        let err = fetch_with(&aws_sdk_ssm::Client::from_conf(config), &refs).await.unwrap_err();
        assert_eq!(err.error_type(), "Runtime.SecretsError");
        let message = err.to_string();
        assert!(message.contains("/ownstak/o/b/p/e/API_TOKEN:3") && message.contains("ssm:GetParameters"), "{message}");
    }
}
