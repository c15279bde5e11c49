//! What a client needs to know about a backend to print deployment URLs.

use serde::{Deserialize, Serialize};

use crate::host::{HostError, HostSuffix};
use crate::names::{EnvironmentName, FunctionPrefix, NameError, Qualifier};

/// Public facts about a backend: where its deployments are served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendInfo {
    /// The backend slug (`local`).
    pub backend: String,
    /// The organization slug (`dev`).
    pub org: String,
    /// The root domain (`localhost`, `ownstak.link`).
    pub root_domain: String,
    /// The function name prefix (`ownstak`).
    pub function_prefix: String,
    /// `http` or `https`.
    pub scheme: String,
    /// The port in URLs, when not the scheme's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The S3-compatible endpoint of the backend's asset store (the local
    /// backend's); absent for AWS S3 or when the backend has no store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assets_endpoint: Option<String>,
    /// The bucket holding the backend's static assets, when it has a store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assets_bucket: Option<String>,
}

/// Why backend facts are unusable.
#[derive(Debug, thiserror::Error)]
pub enum BackendInfoError {
    /// The domain parts do not form a host name.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The function prefix is invalid.
    #[error(transparent)]
    Name(#[from] NameError),
}

impl BackendInfo {
    /// The host suffix `<backend>.<org>.<root>`.
    pub fn suffix(&self) -> Result<HostSuffix, BackendInfoError> {
        Ok(HostSuffix::new(&self.backend, &self.org, &self.root_domain)?)
    }

    /// The function prefix.
    pub fn prefix(&self) -> Result<FunctionPrefix, BackendInfoError> {
        Ok(FunctionPrefix::new(&self.function_prefix)?)
    }

    /// The URL of an environment's deployment or of its live deployment.
    pub fn url(&self, env: &EnvironmentName, qualifier: Qualifier) -> Result<String, BackendInfoError> {
        let host = self.suffix()?.host(&env.host_label(qualifier));
        let default_port = if self.scheme == "https" { 443 } else { 80 };
        Ok(match self.port {
            Some(p) if p != default_port => format!("{}://{host}:{p}/", self.scheme),
            _ => format!("{}://{host}/", self.scheme),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::DeploymentNumber;

    #[test]
    fn builds_urls() {
        let info = BackendInfo {
            backend: "local".into(),
            org: "dev".into(),
            root_domain: "localhost".into(),
            function_prefix: "ownstak".into(),
            scheme: "http".into(),
            port: Some(3000),
            assets_endpoint: None,
            assets_bucket: None,
        };
        let env = EnvironmentName::new(&info.prefix().unwrap(), "hello", "prod").unwrap();
        let n = DeploymentNumber::new(2).unwrap();
        assert_eq!(info.url(&env, Qualifier::Deployment(n)).unwrap(), "http://hello-prod-2.local.dev.localhost:3000/");
        let https = BackendInfo { scheme: "https".into(), port: Some(443), ..info };
        assert_eq!(https.url(&env, Qualifier::Current).unwrap(), "https://hello-prod.local.dev.localhost/");
    }
}
