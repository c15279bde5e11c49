//! What `deploy`, `promote` and `deployments` need from an AWS backend: its
//! stack outputs (read fresh on every command, the stack being the only
//! state), clients for its account, and the upload of bundles to its code
//! bucket under a content-addressed key.

use aws_config::SdkConfig;
use aws_sdk_s3::primitives::ByteStream;
use ownstak_assets::{AssetStore, StoreConfig};
use ownstak_core::BackendInfo;
use ownstak_deploy::{Bundle, Endpoint, VpcPlacement};
use serde::Serialize;

use crate::config::AwsSettings;
use crate::errors::{AwsError, error_code};
use crate::spec::stack_name;
use crate::stack::{StackInfo, Stacks, in_progress};
use crate::template::outputs;

/// An AWS backend as deploys see it.
#[derive(Debug, Clone)]
pub struct DeployTarget {
    /// The backend's stack name.
    pub stack: String,
    /// Where its deployments are served (`https://…<backend>.<org>.<root>/`).
    pub info: BackendInfo,
    /// The bucket for code bundles.
    pub code_bucket: String,
    /// The bucket for static assets.
    pub assets_bucket: String,
    /// The role functions run as.
    pub function_role: String,
    /// The private subnets and security group of functions.
    pub vpc: VpcPlacement,
    /// The region of the backend.
    pub region: String,
    config: SdkConfig,
    endpoint_url: Option<String>,
    outputs: std::collections::BTreeMap<String, String>,
}

/// A bundle stored in the code bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleObject {
    /// The bucket.
    pub bucket: String,
    /// The key, `bundles/<function>/<sha256>.zip`.
    pub key: String,
    /// Whether it was uploaded now (false: the same bundle was already there).
    pub uploaded: bool,
}

/// The key of a bundle in the code bucket: named by its content, so an
/// unchanged bundle is never uploaded twice.
pub(crate) fn bundle_key(function: &str, sha256_hex: &str) -> String {
    format!("bundles/{function}/{sha256_hex}.zip")
}

/// Refuses stacks whose outputs deploys cannot use yet (or any more).
fn check_deployable(stack: &StackInfo) -> Result<(), AwsError> {
    let status = stack.status.as_str();
    match status {
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "ROLLBACK_IN_PROGRESS" => {
            Err(AwsError::StackRolledBack { stack: stack.name.clone(), status: status.to_owned() })
        }
        "REVIEW_IN_PROGRESS" => Err(AwsError::StackNotCreated { stack: stack.name.clone(), status: status.to_owned() }),
        // An update keeps the previous outputs until it completes.
        s if s.starts_with("UPDATE_") && !s.ends_with("_FAILED") => Ok(()),
        s if in_progress(s) => Err(AwsError::StackBusy { stack: stack.name.clone(), status: status.to_owned() }),
        s if s.ends_with("_FAILED") => Err(AwsError::StackFailed {
            stack: stack.name.clone(),
            status: status.to_owned(),
            reason: stack.reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default(),
        }),
        _ => Ok(()),
    }
}

fn output(stack: &StackInfo, key: &'static str) -> Result<String, AwsError> {
    match stack.outputs.get(key) {
        Some(v) if !v.is_empty() => Ok(v.clone()),
        _ => Err(AwsError::MissingOutput { stack: stack.name.clone(), output: key }),
    }
}

impl DeployTarget {
    /// Loads the account configuration and reads the outputs of backend
    /// `backend` of `org` (functions prefixed `prefix`).
    pub async fn open(prefix: &str, org: &str, backend: &str, settings: &AwsSettings) -> Result<Self, AwsError> {
        let name = stack_name(prefix, org, backend);
        let config = settings.load("the backend account").await?;
        // `load` checked that there is a region.
        let region = config.region().map(|r| r.to_string()).unwrap_or_default();
        let stacks = Stacks::new(aws_sdk_cloudformation::Client::new(&config), std::time::Duration::from_secs(1));
        let stack = stacks.describe(&name).await?.ok_or_else(|| AwsError::BackendNotFound {
            backend: backend.to_owned(),
            org: org.to_owned(),
            stack: name.clone(),
            region: region.clone(),
        })?;
        check_deployable(&stack)?;
        let info = BackendInfo {
            backend: output(&stack, outputs::BACKEND)?,
            org: output(&stack, outputs::ORG)?,
            root_domain: output(&stack, outputs::ROOT_DOMAIN)?,
            function_prefix: output(&stack, outputs::FUNCTION_PREFIX)?,
            scheme: "https".to_owned(),
            port: None,
            assets_endpoint: None,
            assets_bucket: Some(output(&stack, outputs::ASSETS_BUCKET)?),
        };
        info.suffix().map_err(|e| AwsError::Invalid(format!("stack `{name}` names an invalid domain: {e}")))?;
        let vpc = VpcPlacement {
            subnet_ids: output(&stack, outputs::FUNCTION_SUBNET_IDS)?
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            security_group_ids: vec![output(&stack, outputs::FUNCTION_SECURITY_GROUP_ID)?],
        };
        Ok(Self {
            code_bucket: output(&stack, outputs::CODE_BUCKET)?,
            assets_bucket: output(&stack, outputs::ASSETS_BUCKET)?,
            function_role: output(&stack, outputs::FUNCTION_ROLE_ARN)?,
            stack: name,
            info,
            vpc,
            region,
            config,
            endpoint_url: settings.endpoint_url.clone(),
            outputs: stack.outputs.clone(),
        })
    }

    /// The SDK configuration of the backend's account.
    pub(crate) fn sdk_config(&self) -> &SdkConfig {
        &self.config
    }

    /// The load balancer's DNS name (the target of the backend's CNAMEs).
    pub fn alb_dns_name(&self) -> Result<String, AwsError> {
        match self.outputs.get(outputs::ALB_DNS_NAME) {
            Some(v) if !v.is_empty() => Ok(v.clone()),
            _ => Err(AwsError::MissingOutput { stack: self.stack.clone(), output: outputs::ALB_DNS_NAME }),
        }
    }

    /// The ARN of the load balancer's HTTPS listener: the stack output, or
    /// for a stack made before that output existed, the listener resource.
    pub(crate) async fn https_listener_arn(&self) -> Result<String, AwsError> {
        if let Some(arn) = self.outputs.get(outputs::HTTPS_LISTENER_ARN).filter(|v| !v.is_empty()) {
            return Ok(arn.clone());
        }
        let stacks = Stacks::new(aws_sdk_cloudformation::Client::new(&self.config), std::time::Duration::from_secs(1));
        stacks
            .resources(&self.stack)
            .await?
            .into_iter()
            .find(|r| r.logical_id == crate::template::alb::HTTPS_LISTENER)
            .and_then(|r| r.physical_id)
            .ok_or_else(|| AwsError::MissingOutput { stack: self.stack.clone(), output: outputs::HTTPS_LISTENER_ARN })
    }

    /// The Lambda endpoint of the backend's account, for `ownstak_deploy`.
    pub fn endpoint(&self) -> Endpoint {
        let label = match &self.endpoint_url {
            Some(url) => format!("{url} (AWS Lambda in {})", self.region),
            None => format!("AWS Lambda in {}", self.region),
        };
        Endpoint::Aws { label, config: Box::new(self.config.clone()) }
    }

    /// An S3 client of the backend's account (path-style through an
    /// endpoint override such as moto's).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.config).force_path_style(self.endpoint_url.is_some()).build(),
        )
    }

    /// A CloudWatch Logs client of the backend's account.
    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::new(&self.config)
    }

    /// The asset store in the backend's assets bucket.
    pub fn asset_store(&self) -> AssetStore {
        let config = StoreConfig {
            endpoint: self.endpoint_url.clone(),
            bucket: self.assets_bucket.clone(),
            region: self.region.clone(),
            credentials: None,
        };
        AssetStore::with_client(self.s3(), config)
    }

    /// Stores a bundle of `function` in the code bucket unless the same
    /// bytes are already there.
    pub async fn upload_bundle(&self, function: &str, bundle: &Bundle) -> Result<BundleObject, AwsError> {
        let key = bundle_key(function, &bundle.sha256_hex());
        let s3 = self.s3();
        let size = i64::try_from(bundle.zip.len()).unwrap_or(i64::MAX);
        match s3.head_object().bucket(&self.code_bucket).key(&key).send().await {
            Ok(head) if head.content_length() == Some(size) => {
                tracing::debug!(%key, "bundle already in the code bucket");
                return Ok(BundleObject { bucket: self.code_bucket.clone(), key, uploaded: false });
            }
            Ok(_) => {}
            Err(e)
                if e.as_service_error().is_some_and(|s| s.is_not_found())
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {}
            Err(e) if error_code(&e).as_deref() == Some("NoSuchBucket") => return Err(self.bucket_gone()),
            Err(e) => return Err(AwsError::from_sdk("s3:HeadObject", &e)),
        }
        let put = s3
            .put_object()
            .bucket(&self.code_bucket)
            .key(&key)
            .content_type("application/zip")
            .body(ByteStream::from(bundle.zip.clone()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(BundleObject { bucket: self.code_bucket.clone(), key, uploaded: true }),
            Err(e) if error_code(&e).as_deref() == Some("NoSuchBucket") => Err(self.bucket_gone()),
            Err(e) => Err(AwsError::from_sdk("s3:PutObject", &e)),
        }
    }

    /// The bundle of `function` with this SHA-256 (hex) in the code bucket,
    /// for `deploy --redeploy`; an error that says what to do when it is gone.
    pub async fn existing_bundle(&self, function: &str, sha256_hex: &str) -> Result<BundleObject, AwsError> {
        let key = bundle_key(function, sha256_hex);
        match self.s3().head_object().bucket(&self.code_bucket).key(&key).send().await {
            Ok(_) => Ok(BundleObject { bucket: self.code_bucket.clone(), key, uploaded: false }),
            Err(e)
                if e.as_service_error().is_some_and(|s| s.is_not_found())
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) =>
            {
                Err(AwsError::Api {
                    operation: "s3:HeadObject",
                    detail: format!(
                        "the deployment's bundle s3://{}/{key} is gone from the code bucket; deploy the app again instead of redeploying",
                        self.code_bucket
                    ),
                })
            }
            Err(e) => Err(AwsError::from_sdk("s3:HeadObject", &e)),
        }
    }

    fn bucket_gone(&self) -> AwsError {
        AwsError::Api {
            operation: "s3:PutObject",
            detail: format!(
                "the code bucket `{}` of stack `{}` does not exist; run `ownstak backend create` again to repair the backend",
                self.code_bucket, self.stack
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn stack(status: &str) -> StackInfo {
        StackInfo {
            name: "s".into(),
            id: "id".into(),
            status: status.into(),
            reason: Some("why".into()),
            outputs: BTreeMap::new(),
            parameters: BTreeMap::new(),
        }
    }

    #[test]
    fn only_settled_stacks_are_deployable() {
        for ok in [
            "CREATE_COMPLETE",
            "UPDATE_COMPLETE",
            "UPDATE_ROLLBACK_COMPLETE",
            "UPDATE_IN_PROGRESS",
            "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
        ] {
            assert!(check_deployable(&stack(ok)).is_ok(), "{ok}");
        }
        let e = check_deployable(&stack("ROLLBACK_COMPLETE")).unwrap_err();
        assert!(
            matches!(e, AwsError::StackRolledBack { .. }) && e.to_string().contains("ownstak backend destroy"),
            "{e}"
        );
        let e = check_deployable(&stack("REVIEW_IN_PROGRESS")).unwrap_err();
        assert!(e.to_string().contains("ownstak backend create"), "{e}");
        assert!(matches!(check_deployable(&stack("CREATE_IN_PROGRESS")), Err(AwsError::StackBusy { .. })));
        assert!(matches!(check_deployable(&stack("DELETE_IN_PROGRESS")), Err(AwsError::StackBusy { .. })));
        let e = check_deployable(&stack("UPDATE_ROLLBACK_FAILED")).unwrap_err();
        assert!(matches!(e, AwsError::StackFailed { .. }) && e.to_string().contains("why"), "{e}");
    }

    #[test]
    fn bundle_keys_are_content_addressed() {
        assert_eq!(bundle_key("ownstak-hello-prod", "ab12"), "bundles/ownstak-hello-prod/ab12.zip");
    }
}
