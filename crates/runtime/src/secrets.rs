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

/// Fetches the values of `refs`, as `(KEY, value)` pairs for the app's environment.
pub(crate) async fn fetch(refs: &SecretRefs) -> Result<Vec<(String, String)>, InitError> {
    let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let client = aws_sdk_ssm::Client::new(&config);
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
