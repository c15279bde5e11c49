//! Where an environment's variables and secrets live between deploys: SSM
//! Parameter Store, under `/ownstak/<org>/<backend>/<project>/<env>/<KEY>`,
//! a `String` parameter per variable and a `SecureString` per secret. The
//! same code serves AWS and the local backend (whose Lambda endpoint also
//! answers SSM's protocol).
//!
//! A deploy takes a [`Snapshot`]: the variables' values go into the
//! function's configuration, the secrets only as references with their
//! parameter versions ([`ownstak_core::SecretRefs`]), which
//! `ownstak-runtime` fetches at init. So every deployment keeps its own
//! values, and a secret is never in the bundle nor in plain text in the
//! configuration.

use std::collections::BTreeMap;

use aws_sdk_ssm::types::ParameterType;
use base64::Engine as _;
use ownstak_core::{BackendInfo, EnvironmentName, SecretRefs};

use crate::client::Endpoint;
use crate::error::{DeployError, sdk};
use crate::vars::check_variable_name;

/// The largest value SSM keeps in a standard parameter, in bytes.
pub const MAX_VALUE_BYTES: usize = 4096;
/// A plain variable's stored value starts with this, so that an empty value
/// (which SSM refuses) is stored as `=`.
const PLAIN_MARK: &str = "=";
/// Names GetParameters and DeleteParameters take at once.
const BATCH: usize = 10;
/// The secret Next.js encrypts server action ids with, kept per environment.
pub const NEXT_ACTIONS_KEY: &str = "NEXT_SERVER_ACTIONS_ENCRYPTION_KEY";

/// The SSM path of an environment's parameters, ending with `/`.
pub fn parameter_path(info: &BackendInfo, env: &EnvironmentName) -> String {
    format!("/ownstak/{}/{}/{}/{}/", info.org, info.backend, env.project(), env.env())
}

/// An SSM client for a backend: the local key pair and the Lambda endpoint
/// (which serves SSM too) for a local backend, the account's configuration for AWS.
pub fn ssm_client(endpoint: &Endpoint) -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&endpoint.sdk_config())
}

/// One stored variable or secret, as `env list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredVariable {
    /// The name.
    pub key: String,
    /// The value of a variable; `None` for a secret (never read back).
    pub value: Option<String>,
    /// Whether it is a secret.
    pub secret: bool,
    /// The SSM parameter version (each `env set` makes one).
    pub version: u64,
}

/// What a deploy takes from the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The variables and their values.
    pub variables: BTreeMap<String, String>,
    /// The secrets, by reference.
    pub secrets: SecretRefs,
}

/// Checks a value before anything is written: SSM's size limit, and no
/// empty secret (SSM refuses empty values; a variable may be empty).
pub fn check_value(key: &str, value: &str, secret: bool) -> Result<(), DeployError> {
    if secret && value.is_empty() {
        return Err(DeployError::InvalidVariable(format!(
            "the secret `{key}` is empty; give it a value, or `ownstak env unset {key}`"
        )));
    }
    let stored = if secret { value.len() } else { value.len() + PLAIN_MARK.len() };
    if stored > MAX_VALUE_BYTES {
        return Err(DeployError::InvalidVariable(format!(
            "the value of `{key}` has {} bytes; SSM Parameter Store keeps at most {} in a parameter, so store a larger value elsewhere (an S3 object, a file in the app) and set its location",
            value.len(),
            if secret { MAX_VALUE_BYTES } else { MAX_VALUE_BYTES - PLAIN_MARK.len() }
        )));
    }
    Ok(())
}

/// An environment's variables and secrets in SSM.
#[derive(Debug, Clone)]
pub struct EnvironmentStore {
    client: aws_sdk_ssm::Client,
    endpoint: Endpoint,
    path: String,
}

impl EnvironmentStore {
    /// The store of `env` on the backend `info` describes, reached at `endpoint`.
    pub fn new(endpoint: &Endpoint, info: &BackendInfo, env: &EnvironmentName) -> Self {
        Self::at(endpoint, parameter_path(info, env))
    }

    /// The store under an explicit parameter path (ending with `/`).
    pub fn at(endpoint: &Endpoint, path: String) -> Self {
        Self { client: ssm_client(endpoint), endpoint: endpoint.clone(), path }
    }

    /// The parameter path, ending with `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Every variable and secret, by name (secrets without their values).
    pub async fn list(&self) -> Result<Vec<StoredVariable>, DeployError> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .get_parameters_by_path()
            .path(&self.path)
            .recursive(false)
            .with_decryption(false)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(sdk("ssm:GetParametersByPath", &self.endpoint))?;
            for p in page.parameters() {
                let Some(key) = p.name().and_then(|n| n.strip_prefix(&self.path)) else { continue };
                // Only names `env set` could have written.
                if check_variable_name(key).is_err() {
                    continue;
                }
                let secret = p.r#type() == Some(&ParameterType::SecureString);
                let value = if secret {
                    None
                } else {
                    let raw = p.value().unwrap_or_default();
                    Some(raw.strip_prefix(PLAIN_MARK).unwrap_or(raw).to_owned())
                };
                out.push(StoredVariable { key: key.to_owned(), value, secret, version: p.version().max(0) as u64 });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Sets variables (or secrets, with `secret`). Everything is checked
    /// before the first write: the names, the sizes, and that no name
    /// changes between variable and secret (unset it first), so bad input
    /// writes nothing.
    pub async fn set(&self, pairs: &[(String, String)], secret: bool) -> Result<(), DeployError> {
        for (key, value) in pairs {
            check_variable_name(key)?;
            check_value(key, value, secret)?;
        }
        let existing: BTreeMap<String, bool> = self.list().await?.into_iter().map(|v| (v.key, v.secret)).collect();
        for (key, _) in pairs {
            match existing.get(key) {
                Some(true) if !secret => {
                    return Err(DeployError::InvalidVariable(format!(
                        "`{key}` is a secret; to make it a plain variable, `ownstak env unset {key}` first (or add --secret to update the secret)"
                    )));
                }
                Some(false) if secret => {
                    return Err(DeployError::InvalidVariable(format!(
                        "`{key}` is a plain variable; to make it a secret, `ownstak env unset {key}` first, then set it with --secret"
                    )));
                }
                _ => {}
            }
        }
        for (key, value) in pairs {
            self.put(key, value, secret).await?;
        }
        Ok(())
    }

    async fn put(&self, key: &str, value: &str, secret: bool) -> Result<u64, DeployError> {
        let (kind, stored) = if secret {
            (ParameterType::SecureString, value.to_owned())
        } else {
            (ParameterType::String, format!("{PLAIN_MARK}{value}"))
        };
        let out = self
            .client
            .put_parameter()
            .name(format!("{}{key}", self.path))
            .value(stored)
            .r#type(kind)
            .overwrite(true)
            .send()
            .await
            .map_err(sdk("ssm:PutParameter", &self.endpoint))?;
        Ok(out.version().max(0) as u64)
    }

    /// Removes variables or secrets (every version); returns those that existed.
    pub async fn unset(&self, keys: &[String]) -> Result<Vec<String>, DeployError> {
        for key in keys {
            check_variable_name(key)?;
        }
        let mut removed = Vec::new();
        for chunk in keys.chunks(BATCH) {
            let names: Vec<String> = chunk.iter().map(|k| format!("{}{k}", self.path)).collect();
            let out = self
                .client
                .delete_parameters()
                .set_names(Some(names))
                .send()
                .await
                .map_err(sdk("ssm:DeleteParameters", &self.endpoint))?;
            removed
                .extend(out.deleted_parameters().iter().filter_map(|n| n.strip_prefix(&self.path)).map(str::to_owned));
        }
        removed.sort();
        Ok(removed)
    }

    /// What a deploy copies: the variables' values and the secrets' versions.
    pub async fn snapshot(&self) -> Result<Snapshot, DeployError> {
        let mut snap =
            Snapshot { secrets: SecretRefs { path: self.path.clone(), entries: Vec::new() }, ..Default::default() };
        for v in self.list().await? {
            match v.value {
                Some(value) if !v.secret => {
                    snap.variables.insert(v.key, value);
                }
                _ => snap.secrets.entries.push((v.key, v.version)),
            }
        }
        Ok(snap)
    }

    /// Makes sure the secret `key` exists, creating it with `generate()`
    /// when it does not (and never overwriting one that does, even if
    /// another deploy creates it meanwhile). True when it was created now.
    pub async fn ensure_secret(&self, key: &str, generate: impl FnOnce() -> String) -> Result<bool, DeployError> {
        check_variable_name(key)?;
        let value = generate();
        check_value(key, &value, true)?;
        let put = self
            .client
            .put_parameter()
            .name(format!("{}{key}", self.path))
            .value(value)
            .r#type(ParameterType::SecureString)
            .overwrite(false)
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_already_exists()) => Ok(false),
            Err(e) => Err(sdk("ssm:PutParameter", &self.endpoint)(e)),
        }
    }
}

/// A new Next.js server actions key: 32 random bytes, base64.
pub fn new_actions_key() -> Result<String, DeployError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| DeployError::InvalidVariable(format!("cannot draw random bytes for {NEXT_ACTIONS_KEY}: {e}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn values_are_checked_before_writing() {
        check_value("A", "", false).unwrap();
        assert!(check_value("A", "", true).unwrap_err().to_string().contains("is empty"));
        check_value("A", &"x".repeat(4096), true).unwrap();
        assert!(check_value("A", &"x".repeat(4097), true).unwrap_err().to_string().contains("at most 4096"));
        assert!(check_value("A", &"x".repeat(4096), false).unwrap_err().to_string().contains("at most 4095"));
        let key = new_actions_key().unwrap();
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(&key).unwrap().len(), 32);
        assert_ne!(key, new_actions_key().unwrap());
    }
}
