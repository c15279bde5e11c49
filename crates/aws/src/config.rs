//! SDK configurations: profile, region, endpoint override and a credential
//! check that fails early with a clear message.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials as _;

use crate::errors::AwsError;

/// Where and as whom to call AWS.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// A named profile of the shared config files; otherwise the default chain.
    pub profile: Option<String>,
    /// The region; otherwise the profile's or `AWS_REGION`.
    pub region: Option<String>,
    /// An endpoint for every service (moto, LocalStack); otherwise AWS.
    pub endpoint_url: Option<String>,
    /// Fixed credentials (tests); otherwise the profile or default chain.
    pub credentials: Option<Credentials>,
}

impl AwsSettings {
    /// Loads the configuration and checks that it has a plausible region and
    /// usable credentials; `what` names the account in errors.
    pub async fn load(&self, what: &'static str) -> Result<SdkConfig, AwsError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &self.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(credentials) = &self.credentials {
            loader = loader.credentials_provider(credentials.clone());
        }
        let config = loader.load().await;
        let region = config.region().ok_or(AwsError::MissingRegion)?;
        if !is_region_name(region.as_ref()) {
            return Err(AwsError::BadRegion(region.to_string()));
        }
        let profile_hint = self.profile.as_ref().map(|p| format!(" --profile {p}")).unwrap_or_default();
        let Some(provider) = config.credentials_provider() else {
            return Err(AwsError::MissingCredentials {
                what,
                detail: "no credential provider is configured".into(),
                profile_hint,
            });
        };
        if let Err(e) = provider.provide_credentials().await {
            return Err(AwsError::MissingCredentials {
                what,
                detail: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
                profile_hint,
            });
        }
        tracing::debug!(region = %region, profile = ?self.profile, endpoint = ?self.endpoint_url, "AWS configuration loaded for {what}");
        Ok(config)
    }
}

/// Whether `s` looks like a region name (`us-east-1`, `ap-southeast-2`, `us-gov-west-1`).
fn is_region_name(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().take(parts.len() - 1).all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts.last().is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn region_names() {
        for ok in ["us-east-1", "eu-central-2", "us-gov-west-1", "ap-southeast-4"] {
            assert!(super::is_region_name(ok), "{ok}");
        }
        for bad in ["us-east", "useast1", "US-EAST-1", "us-east-1a", ""] {
            assert!(!super::is_region_name(bad), "{bad}");
        }
    }
}
