//! CloudFormation calls on the backend stack.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType, Parameter, StackStatus, Tag};
use serde_json::Value;

use crate::errors::{AwsError, error_code, error_message};

/// What DescribeStacks says about a stack.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StackInfo {
    /// Stack name.
    pub name: String,
    /// Stack id (ARN).
    pub id: String,
    /// Status (`CREATE_COMPLETE`, …).
    pub status: String,
    /// Why it is in that status, if CloudFormation says.
    pub reason: Option<String>,
    /// Outputs by key.
    pub outputs: BTreeMap<String, String>,
    /// Parameters by key.
    pub parameters: BTreeMap<String, String>,
}

/// One resource of a stack.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StackResource {
    /// Logical id in the template.
    pub logical_id: String,
    /// Physical id.
    pub physical_id: Option<String>,
    /// Resource type.
    pub kind: String,
    /// Status.
    pub status: String,
}

/// One change of a change set.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ResourceChange {
    /// `Add`, `Modify`, `Remove`.
    pub action: String,
    /// Logical id.
    pub logical_id: String,
    /// Resource type.
    pub kind: String,
    /// `True`, `False`, `Conditional` when modifying.
    pub replacement: Option<String>,
}

/// CloudFormation calls.
pub(crate) struct Stacks {
    client: aws_sdk_cloudformation::Client,
    poll: Duration,
}

fn parameters(params: &BTreeMap<String, String>) -> Vec<Parameter> {
    params.iter().map(|(k, v)| Parameter::builder().parameter_key(k).parameter_value(v).build()).collect()
}

/// Whether a status is an operation still running.
pub(crate) fn in_progress(status: &str) -> bool {
    status.ends_with("_IN_PROGRESS")
}

impl Stacks {
    /// Wraps a client; `poll` is the interval between status checks.
    pub(crate) fn new(client: aws_sdk_cloudformation::Client, poll: Duration) -> Self {
        Self { client, poll }
    }

    /// The stack, or `None` when it does not exist (or is deleted).
    pub(crate) async fn describe(&self, name: &str) -> Result<Option<StackInfo>, AwsError> {
        let out = match self.client.describe_stacks().stack_name(name).send().await {
            Ok(out) => out,
            Err(e)
                if error_code(&e).as_deref() == Some("ValidationError")
                    && error_message(&e).contains("does not exist") =>
            {
                return Ok(None);
            }
            Err(e) => return Err(AwsError::from_sdk("cloudformation:DescribeStacks", &e)),
        };
        let Some(s) = out.stacks().first() else { return Ok(None) };
        let status = s.stack_status().map(|s| s.as_str().to_owned()).unwrap_or_default();
        if status == StackStatus::DeleteComplete.as_str() {
            return Ok(None);
        }
        Ok(Some(StackInfo {
            name: s.stack_name().unwrap_or(name).to_owned(),
            id: s.stack_id().unwrap_or_default().to_owned(),
            status,
            reason: s.stack_status_reason().map(str::to_owned),
            outputs: s
                .outputs()
                .iter()
                .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value().unwrap_or_default().to_owned())))
                .collect(),
            parameters: s
                .parameters()
                .iter()
                .filter_map(|p| {
                    Some((p.parameter_key()?.to_owned(), p.parameter_value().unwrap_or_default().to_owned()))
                })
                .collect(),
        }))
    }

    /// The template the stack was last deployed with.
    pub(crate) async fn template(&self, name: &str) -> Result<Value, AwsError> {
        let out = self
            .client
            .get_template()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("cloudformation:GetTemplate", &e))?;
        let body = out.template_body().unwrap_or("{}");
        serde_json::from_str(body).map_err(|e| AwsError::Api {
            operation: "cloudformation:GetTemplate",
            detail: format!("the stack's template is not JSON: {e}"),
        })
    }

    /// Creates the stack.
    pub(crate) async fn create(
        &self,
        name: &str,
        template: &Value,
        params: &BTreeMap<String, String>,
        tags: &[(String, String)],
    ) -> Result<(), AwsError> {
        self.client
            .create_stack()
            .stack_name(name)
            .template_body(template.to_string())
            .set_parameters(Some(parameters(params)))
            .capabilities(Capability::CapabilityIam)
            .set_tags(Some(tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("cloudformation:CreateStack", &e))?;
        Ok(())
    }

    /// Updates the stack; `false` when CloudFormation found nothing to change.
    pub(crate) async fn update(
        &self,
        name: &str,
        template: &Value,
        params: &BTreeMap<String, String>,
    ) -> Result<bool, AwsError> {
        match self
            .client
            .update_stack()
            .stack_name(name)
            .template_body(template.to_string())
            .set_parameters(Some(parameters(params)))
            .capabilities(Capability::CapabilityIam)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if error_message(&e).contains("No updates are to be performed") => Ok(false),
            Err(e) => Err(AwsError::from_sdk("cloudformation:UpdateStack", &e)),
        }
    }

    /// Waits until no operation runs on the stack; returns it (`None` once deleted).
    pub(crate) async fn wait(&self, name: &str, timeout: Duration) -> Result<Option<StackInfo>, AwsError> {
        let start = Instant::now();
        loop {
            let info = self.describe(name).await?;
            match &info {
                Some(s) if in_progress(&s.status) => {
                    if start.elapsed() >= timeout {
                        return Err(AwsError::Timeout {
                            what: format!("stack {name} ({})", s.status),
                            secs: timeout.as_secs(),
                        });
                    }
                    tracing::debug!(stack = name, status = %s.status, "waiting");
                    tokio::time::sleep(self.poll).await;
                }
                _ => return Ok(info),
            }
        }
    }

    /// The changes updating (or creating) the stack would make, through a
    /// change set that is deleted afterwards.
    pub(crate) async fn plan(
        &self,
        name: &str,
        exists: bool,
        template: &Value,
        params: &BTreeMap<String, String>,
        timeout: Duration,
    ) -> Result<Vec<ResourceChange>, AwsError> {
        let change_set = format!(
            "ownstak-plan-{}",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
        );
        let out = self
            .client
            .create_change_set()
            .stack_name(name)
            .change_set_name(&change_set)
            .change_set_type(if exists { ChangeSetType::Update } else { ChangeSetType::Create })
            .template_body(template.to_string())
            .set_parameters(Some(parameters(params)))
            .capabilities(Capability::CapabilityIam)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("cloudformation:CreateChangeSet", &e))?;
        let id = out.id().unwrap_or(&change_set).to_owned();
        let start = Instant::now();
        let result = loop {
            let d = self
                .client
                .describe_change_set()
                .change_set_name(&id)
                .stack_name(name)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("cloudformation:DescribeChangeSet", &e))?;
            match d.status() {
                Some(ChangeSetStatus::CreateComplete) => {
                    break Ok(d
                        .changes()
                        .iter()
                        .filter_map(|c| c.resource_change())
                        .map(|rc| ResourceChange {
                            action: rc.action().map(|a| a.as_str().to_owned()).unwrap_or_default(),
                            logical_id: rc.logical_resource_id().unwrap_or_default().to_owned(),
                            kind: rc.resource_type().unwrap_or_default().to_owned(),
                            replacement: rc.replacement().map(|r| r.as_str().to_owned()),
                        })
                        .collect());
                }
                Some(ChangeSetStatus::Failed) => {
                    let reason = d.status_reason().unwrap_or_default();
                    if reason.contains("didn't contain changes") || reason.contains("No updates") {
                        break Ok(Vec::new());
                    }
                    break Err(AwsError::Api {
                        operation: "cloudformation:CreateChangeSet",
                        detail: reason.to_owned(),
                    });
                }
                _ if start.elapsed() >= timeout => {
                    break Err(AwsError::Timeout { what: format!("change set {change_set}"), secs: timeout.as_secs() });
                }
                _ => tokio::time::sleep(self.poll).await,
            }
        };
        if let Err(e) = self.client.delete_change_set().change_set_name(&id).stack_name(name).send().await {
            tracing::warn!(change_set = %id, "could not delete the plan's change set: {}", aws_smithy_types::error::display::DisplayErrorContext(&e));
        }
        result
    }

    /// The stack's resources.
    pub(crate) async fn resources(&self, name: &str) -> Result<Vec<StackResource>, AwsError> {
        let out = self
            .client
            .describe_stack_resources()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("cloudformation:DescribeStackResources", &e))?;
        Ok(out
            .stack_resources()
            .iter()
            .map(|r| StackResource {
                logical_id: r.logical_resource_id().unwrap_or_default().to_owned(),
                physical_id: r.physical_resource_id().map(str::to_owned),
                kind: r.resource_type().unwrap_or_default().to_owned(),
                status: r.resource_status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            })
            .collect())
    }

    /// Starts deleting the stack.
    pub(crate) async fn delete(&self, name: &str) -> Result<(), AwsError> {
        self.client
            .delete_stack()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("cloudformation:DeleteStack", &e))?;
        Ok(())
    }
}
