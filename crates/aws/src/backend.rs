//! The backend commands: `create`, `plan`, `status` and `destroy`, composed
//! from the template, stack, certificate and DNS modules.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::SdkConfig;
use serde::Serialize;
use serde_json::Value;

use crate::cert::Certificates;
use crate::config::AwsSettings;
use crate::dns::{Cname, Zone};
use crate::errors::AwsError;
use crate::spec::{BackendSpec, stack_name};
use crate::stack::{ResourceChange, StackInfo, StackResource, Stacks, in_progress};
use crate::template::{PARAM_CERTIFICATE_ARN, PARAM_PROXY_IMAGE, backend_template, outputs};
use ownstak_deploy::FunctionOwner;

/// Timing of the waits (tests shorten them).
#[derive(Debug, Clone)]
pub struct Timing {
    /// Interval between status checks.
    pub poll: Duration,
    /// Longest wait for a stack operation.
    pub stack_timeout: Duration,
    /// Longest wait for the certificate to be issued.
    pub certificate_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(5),
            stack_timeout: Duration::from_secs(45 * 60),
            certificate_timeout: Duration::from_secs(15 * 60),
        }
    }
}

/// Where the platform's DNS zone is.
#[derive(Debug, Clone)]
pub struct DnsTarget {
    /// The hosted zone id.
    pub zone_id: String,
    /// Credentials and endpoint for the zone's account.
    pub settings: AwsSettings,
}

/// What `create` did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateOutcome {
    /// The stack name.
    pub stack: String,
    /// The stack was created.
    pub created: bool,
    /// The stack was updated.
    pub updated: bool,
    /// A certificate was requested.
    pub certificate_requested: bool,
    /// Records in the platform zone were written.
    pub dns_changed: bool,
    /// The certificate ARN.
    pub certificate_arn: String,
    /// The stack outputs.
    pub outputs: BTreeMap<String, String>,
}

impl CreateOutcome {
    /// Whether anything changed.
    pub fn changed(&self) -> bool {
        self.created || self.updated || self.certificate_requested || self.dns_changed
    }
}

/// One planned change.
pub type PlannedChange = ResourceChange;

/// What `plan` found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The stack name.
    pub stack: String,
    /// Whether the stack exists.
    pub exists: bool,
    /// The resource changes (all `Add` for a new stack).
    pub changes: Vec<PlannedChange>,
    /// Whether parameters (image, certificate) change.
    pub parameters_change: bool,
}

/// What `status` found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendStatus {
    /// The stack.
    pub stack: StackInfo,
    /// Its resources and their states.
    pub resources: Vec<StackResource>,
}

/// What `destroy` did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DestroyOutcome {
    /// The stack name.
    pub stack: String,
    /// Functions deleted because of `--force` (those tagged with this
    /// backend and organization).
    pub deleted_functions: Vec<String>,
    /// Functions under the backend's prefix without ownership tags (made by
    /// an older ownstak), left alone: they may belong to another backend
    /// with the same prefix.
    pub kept_functions: Vec<String>,
    /// Objects removed from the buckets.
    pub deleted_objects: usize,
    /// DNS records removed from the platform zone.
    pub deleted_records: usize,
    /// Whether the certificate was deleted.
    pub certificate_deleted: bool,
}

/// The clients of one backend account.
struct Account {
    stacks: Stacks,
    certs: Certificates,
    config: SdkConfig,
}

impl Account {
    async fn open(settings: &AwsSettings, timing: &Timing) -> Result<Self, AwsError> {
        let config = settings.load("the backend account").await?;
        Ok(Self {
            stacks: Stacks::new(aws_sdk_cloudformation::Client::new(&config), timing.poll),
            certs: Certificates::new(aws_sdk_acm::Client::new(&config), timing.poll),
            config,
        })
    }
}

async fn open_zone(dns: &DnsTarget, domain: &str, root_domain: &str) -> Result<Zone, AwsError> {
    let config = dns.settings.load("the DNS zone").await?;
    Zone::open(aws_sdk_route53::Client::new(&config), &dns.zone_id, domain, root_domain).await
}

/// The spec with the function prefix an existing stack already has: a
/// backend never changes its prefix (its functions would be orphaned), so a
/// backend made with the shared `ownstak` prefix keeps it.
fn keep_prefix(spec: &BackendSpec, existing: Option<&StackInfo>) -> BackendSpec {
    let mut spec = spec.clone();
    if let Some(prefix) = existing.and_then(|s| s.outputs.get(outputs::FUNCTION_PREFIX)).filter(|p| !p.is_empty())
        && *prefix != spec.prefix
    {
        tracing::info!(%prefix, "keeping the function prefix of the existing stack");
        spec.prefix = prefix.clone();
    }
    spec
}

/// Refuses stacks that cannot be updated now.
fn check_updatable(stack: &StackInfo) -> Result<(), AwsError> {
    match stack.status.as_str() {
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" => {
            Err(AwsError::StackRolledBack { stack: stack.name.clone(), status: stack.status.clone() })
        }
        s if in_progress(s) => Err(AwsError::StackBusy { stack: stack.name.clone(), status: stack.status.clone() }),
        _ => Ok(()),
    }
}

fn finished(stack: Option<StackInfo>, name: &str, ok: &[&str]) -> Result<StackInfo, AwsError> {
    match stack {
        Some(s) if ok.contains(&s.status.as_str()) => Ok(s),
        Some(s) => Err(AwsError::StackFailed {
            stack: s.name,
            status: s.status,
            reason: s.reason.map(|r| format!(": {r}")).unwrap_or_default(),
        }),
        None => Err(AwsError::StackFailed { stack: name.to_owned(), status: "DELETED".into(), reason: String::new() }),
    }
}

fn output<'a>(stack: &'a StackInfo, key: &'static str) -> Result<&'a str, AwsError> {
    stack.outputs.get(key).map(String::as_str).ok_or(AwsError::MissingOutput { stack: stack.name.clone(), output: key })
}

/// Provisions or updates a backend: certificate and its validation record,
/// the stack, and the wildcard CNAME. Running it again with the same inputs
/// changes nothing.
pub async fn create_backend(
    spec: &BackendSpec,
    account: &AwsSettings,
    dns: &DnsTarget,
    proxy_image: &str,
    timing: &Timing,
) -> Result<CreateOutcome, AwsError> {
    spec.validate()?;
    let name = spec.stack_name();
    let acct = Account::open(account, timing).await?;
    let zone = open_zone(dns, &spec.domain(), &spec.root_domain).await?;

    let existing = acct.stacks.describe(&name).await?;
    if let Some(stack) = &existing {
        check_updatable(stack)?;
    }
    let spec = &keep_prefix(spec, existing.as_ref());

    // The certificate, validated through the platform zone.
    let wildcard = spec.wildcard();
    let (certificate_arn, certificate_requested) = acct.certs.find_or_request(&wildcard).await?;
    let (_, record) = acct.certs.validation(&certificate_arn, timing.certificate_timeout).await?;
    let mut dns_changed = zone.upsert(&[Cname { name: record.name.clone(), value: record.value.clone() }]).await?;
    acct.certs.wait_issued(&certificate_arn, &wildcard, &record.name, timing.certificate_timeout).await?;

    // The stack.
    let template = backend_template(spec);
    let params: BTreeMap<String, String> = [
        (PARAM_PROXY_IMAGE.to_owned(), proxy_image.to_owned()),
        (PARAM_CERTIFICATE_ARN.to_owned(), certificate_arn.clone()),
    ]
    .into();
    let (mut created, mut updated) = (false, false);
    let stack = match existing {
        None => {
            tracing::info!(stack = %name, "creating stack");
            let tags = vec![("ownstak:backend".to_owned(), spec.domain())];
            acct.stacks.create(&name, &template, &params, &tags).await?;
            created = true;
            finished(acct.stacks.wait(&name, timing.stack_timeout).await?, &name, &["CREATE_COMPLETE"])?
        }
        Some(stack) => {
            let same = stack.parameters == params && acct.stacks.template(&name).await? == template;
            if same {
                tracing::info!(stack = %name, "stack is up to date");
                stack
            } else {
                tracing::info!(stack = %name, "updating stack");
                updated = acct.stacks.update(&name, &template, &params).await?;
                finished(
                    acct.stacks.wait(&name, timing.stack_timeout).await?,
                    &name,
                    &["UPDATE_COMPLETE", "CREATE_COMPLETE"],
                )?
            }
        }
    };

    // The wildcard CNAME to the load balancer.
    let alb = output(&stack, outputs::ALB_DNS_NAME)?.to_owned();
    dns_changed |= zone.upsert(&[Cname { name: wildcard, value: alb }]).await?;

    Ok(CreateOutcome {
        stack: name,
        created,
        updated,
        certificate_requested,
        dns_changed,
        certificate_arn,
        outputs: stack.outputs,
    })
}

/// The changes `create` would make to the stack.
pub async fn plan_backend(
    spec: &BackendSpec,
    account: &AwsSettings,
    proxy_image: &str,
    timing: &Timing,
) -> Result<Plan, AwsError> {
    spec.validate()?;
    let name = spec.stack_name();
    let acct = Account::open(account, timing).await?;
    let Some(stack) = acct.stacks.describe(&name).await? else {
        let template = backend_template(spec);
        let changes = template["Resources"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(id, r)| ResourceChange {
                action: "Add".into(),
                logical_id: id.clone(),
                kind: r["Type"].as_str().unwrap_or_default().to_owned(),
                replacement: None,
            })
            .collect();
        return Ok(Plan { stack: name, exists: false, changes, parameters_change: true });
    };
    check_updatable(&stack)?;
    let template = backend_template(&keep_prefix(spec, Some(&stack)));
    let certificate = stack.parameters.get(PARAM_CERTIFICATE_ARN).cloned().unwrap_or_default();
    let params: BTreeMap<String, String> =
        [(PARAM_PROXY_IMAGE.to_owned(), proxy_image.to_owned()), (PARAM_CERTIFICATE_ARN.to_owned(), certificate)]
            .into();
    let parameters_change = stack.parameters != params;
    let changes = if !parameters_change && acct.stacks.template(&name).await? == template {
        Vec::new()
    } else {
        acct.stacks.plan(&name, true, &template, &params, timing.stack_timeout).await?
    };
    Ok(Plan { stack: name, exists: true, changes, parameters_change })
}

/// The stack's status, outputs and resources.
pub async fn backend_status(
    prefix: &str,
    org: &str,
    backend: &str,
    account: &AwsSettings,
    timing: &Timing,
) -> Result<BackendStatus, AwsError> {
    let name = stack_name(prefix, org, backend);
    let acct = Account::open(account, timing).await?;
    let stack = acct.stacks.describe(&name).await?.ok_or(AwsError::StackNotFound(name.clone()))?;
    let resources = acct.stacks.resources(&name).await?;
    Ok(BackendStatus { stack, resources })
}

/// Functions whose name starts with `<prefix>-`, with their ARNs.
async fn functions(lambda: &aws_sdk_lambda::Client, prefix: &str) -> Result<Vec<(String, String)>, AwsError> {
    let mut found = Vec::new();
    let mut marker = None;
    loop {
        let page = lambda
            .list_functions()
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("lambda:ListFunctions", &e))?;
        found.extend(page.functions().iter().filter_map(|f| {
            let name = f.function_name().filter(|n| n.starts_with(&format!("{prefix}-")))?;
            Some((name.to_owned(), f.function_arn().unwrap_or(name).to_owned()))
        }));
        match page.next_marker() {
            Some(m) => marker = Some(m.to_owned()),
            None => return Ok(found),
        }
    }
}

/// A backend's functions by their ownership tags: `(owned, untagged)`.
/// Functions tagged for another backend or organization are in neither.
async fn owned_functions(
    lambda: &aws_sdk_lambda::Client,
    prefix: &str,
    org: &str,
    backend: &str,
) -> Result<(Vec<String>, Vec<String>), AwsError> {
    let (mut owned, mut untagged) = (Vec::new(), Vec::new());
    for (name, arn) in functions(lambda, prefix).await? {
        let tags = lambda
            .list_tags()
            .resource(&arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("lambda:ListTags", &e))?
            .tags()
            .cloned()
            .unwrap_or_default();
        let owner = FunctionOwner::from_tags(&tags);
        match (owner.backend.as_deref(), owner.org.as_deref()) {
            (Some(b), Some(o)) if b == backend && o == org => owned.push(name),
            (None, None) => untagged.push(name),
            _ => tracing::debug!(function = %name, owner = %owner.describe(), "another backend's function; left alone"),
        }
    }
    Ok((owned, untagged))
}

/// Deletes every object of a bucket; returns how many.
async fn empty_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<usize, AwsError> {
    let mut count = 0;
    loop {
        let page = match s3.list_objects_v2().bucket(bucket).send().await {
            Ok(p) => p,
            Err(e) if crate::errors::error_code(&e).as_deref() == Some("NoSuchBucket") => return Ok(count),
            Err(e) => return Err(AwsError::from_sdk("s3:ListObjectsV2", &e)),
        };
        let keys: Vec<String> = page.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect();
        if keys.is_empty() {
            return Ok(count);
        }
        for key in &keys {
            s3.delete_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("s3:DeleteObject", &e))?;
        }
        count += keys.len();
    }
}

/// Deletes a backend: refuses while functions of it exist unless `force`
/// (which deletes them), empties its buckets, deletes the stack, then
/// removes its records from the platform zone and its certificate.
///
/// A function is the backend's when it is under the backend's prefix (read
/// from the stack) and its tags name this backend and organization; one
/// tagged for another backend is never touched. Functions under the prefix
/// without ownership tags (made by an older ownstak) also stop a destroy
/// without `force`, but `force` leaves them alone and reports them.
pub async fn destroy_backend(
    prefix: &str,
    org: &str,
    backend: &str,
    account: &AwsSettings,
    dns: Option<&DnsTarget>,
    force: bool,
    timing: &Timing,
) -> Result<DestroyOutcome, AwsError> {
    let name = stack_name(prefix, org, backend);
    let acct = Account::open(account, timing).await?;
    let stack = acct.stacks.describe(&name).await?.ok_or(AwsError::StackNotFound(name.clone()))?;
    if in_progress(&stack.status) {
        return Err(AwsError::StackBusy { stack: name, status: stack.status });
    }
    let lambda = aws_sdk_lambda::Client::new(&acct.config);
    let prefix = stack.outputs.get(outputs::FUNCTION_PREFIX).filter(|p| !p.is_empty()).map_or(prefix, String::as_str);
    let (existing, untagged) = owned_functions(&lambda, prefix, org, backend).await?;
    let any = !existing.is_empty() || !untagged.is_empty();
    if any && !force {
        let all: Vec<&String> = existing.iter().chain(&untagged).collect();
        return Err(AwsError::FunctionsExist {
            prefix: prefix.to_owned(),
            count: all.len(),
            names: all.iter().take(5).map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
        });
    }
    if !untagged.is_empty() {
        tracing::warn!(
            "leaving {} function(s) under `{prefix}-` without ownership tags alone ({}): made by an older ownstak, they may belong to another backend with the same prefix; delete them yourself if they are this backend's",
            untagged.len(),
            untagged.join(", ")
        );
    }
    for f in &existing {
        tracing::info!(function = %f, "deleting function (--force)");
        lambda
            .delete_function()
            .function_name(f)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("lambda:DeleteFunction", &e))?;
    }
    let s3 =
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&acct.config).force_path_style(true).build());
    let mut deleted_objects = 0;
    for key in [outputs::CODE_BUCKET, outputs::ASSETS_BUCKET] {
        if let Some(bucket) = stack.outputs.get(key) {
            deleted_objects += empty_bucket(&s3, bucket).await?;
        }
    }

    // The validation record's name, before the certificate goes.
    let certificate =
        stack.outputs.get(outputs::CERTIFICATE_ARN).or_else(|| stack.parameters.get(PARAM_CERTIFICATE_ARN)).cloned();
    let validation_name = match &certificate {
        Some(arn) => acct.certs.validation(arn, Duration::ZERO).await.ok().map(|(_, r)| r.name),
        None => None,
    };

    tracing::info!(stack = %name, "deleting stack");
    acct.stacks.delete(&name).await?;
    if let Some(s) = acct.stacks.wait(&name, timing.stack_timeout).await? {
        return Err(AwsError::StackFailed {
            stack: name,
            status: s.status,
            reason: s.reason.map(|r| format!(": {r}")).unwrap_or_default(),
        });
    }

    let mut deleted_records = 0;
    if let Some(dns) = dns {
        let root = stack.outputs.get(outputs::ROOT_DOMAIN).cloned().unwrap_or_default();
        let domain = stack.outputs.get(outputs::DOMAIN).cloned().unwrap_or_default();
        let zone = open_zone(dns, &domain, &root).await?;
        let mut names = vec![format!("*.{domain}")];
        names.extend(validation_name);
        deleted_records = zone.delete(&names).await?;
    }
    let mut certificate_deleted = false;
    if let Some(arn) = certificate {
        match acct.certs.delete(&arn).await {
            Ok(()) => certificate_deleted = true,
            Err(e) => tracing::warn!(%arn, "could not delete the certificate: {e}"),
        }
    }
    Ok(DestroyOutcome {
        stack: name,
        deleted_functions: existing,
        kept_functions: untagged,
        deleted_objects,
        deleted_records,
        certificate_deleted,
    })
}

/// The template as pretty JSON text.
pub fn template_text(spec: &BackendSpec) -> String {
    let t: Value = backend_template(spec);
    serde_json::to_string_pretty(&t).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(status: &str) -> StackInfo {
        StackInfo {
            name: "s".into(),
            id: "id".into(),
            status: status.into(),
            reason: None,
            outputs: BTreeMap::new(),
            parameters: BTreeMap::new(),
        }
    }

    #[test]
    fn rolled_back_and_busy_stacks_are_refused() {
        let err = check_updatable(&stack("ROLLBACK_COMPLETE")).unwrap_err();
        assert!(matches!(err, AwsError::StackRolledBack { .. }));
        assert!(err.to_string().contains("ownstak backend destroy"), "{err}");
        assert!(matches!(check_updatable(&stack("UPDATE_IN_PROGRESS")), Err(AwsError::StackBusy { .. })));
        assert!(check_updatable(&stack("UPDATE_ROLLBACK_COMPLETE")).is_ok());
        assert!(check_updatable(&stack("CREATE_COMPLETE")).is_ok());
    }
}
