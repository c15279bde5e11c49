//! The errors of backend provisioning; each says what to do about it.

use ownstak_sdk_error::SdkFailure;
/// Why a backend operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// The backend's names are invalid.
    #[error("invalid backend settings: {0}")]
    Invalid(String),
    /// No credentials were found for a profile.
    #[error(
        "no AWS credentials found for {what}: {detail}; configure them with `aws configure{profile_hint}`, set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or pass --profile / --dns-profile"
    )]
    MissingCredentials {
        /// Which credentials (`the backend account`, `the DNS zone`).
        what: &'static str,
        /// What the credential chain reported.
        detail: String,
        /// ` --profile NAME` when a profile was named.
        profile_hint: String,
    },
    /// No region is configured.
    #[error("no AWS region configured; pass --region or set AWS_REGION")]
    MissingRegion,
    /// The region name is not a known region.
    #[error("`{0}` is not an AWS region name (like `us-east-1`); pass --region with a valid region")]
    BadRegion(String),
    /// The hosted zone does not exist or is not readable.
    #[error(
        "hosted zone `{zone_id}` cannot be read: {detail}; check --zone-id and that --dns-profile names credentials of the account holding the zone"
    )]
    ZoneNotFound {
        /// The zone id given.
        zone_id: String,
        /// What Route53 said.
        detail: String,
    },
    /// The hosted zone's domain does not contain the backend's domain.
    #[error(
        "hosted zone `{zone_id}` is for `{zone_name}`, which does not cover `{domain}`; pass the --zone-id of the zone for `{root_domain}` (or a parent of it)"
    )]
    ZoneMismatch {
        /// The zone id given.
        zone_id: String,
        /// The zone's domain.
        zone_name: String,
        /// The backend's domain `<backend>.<org>.<root>`.
        domain: String,
        /// The root domain.
        root_domain: String,
    },
    /// The certificate did not become valid in time.
    #[error(
        "the certificate {arn} for `{domain}` is still {status} after {waited_secs} s; check that the validation CNAME `{record}` is resolvable in public DNS (is the zone delegated?), then run the command again"
    )]
    CertificateNotIssued {
        /// The certificate ARN.
        arn: String,
        /// The certificate's domain.
        domain: String,
        /// Its status.
        status: String,
        /// The validation record name.
        record: String,
        /// How long we waited.
        waited_secs: u64,
    },
    /// A stack is in a state it cannot be updated from.
    #[error(
        "stack `{stack}` is in {status}: its first creation failed and CloudFormation cannot update it; look at its events (`aws cloudformation describe-stack-events --stack-name {stack}`), then run `ownstak backend destroy` and create it again"
    )]
    StackRolledBack {
        /// The stack name.
        stack: String,
        /// Its status.
        status: String,
    },
    /// A stack operation finished in a failed state.
    #[error(
        "stack `{stack}` ended in {status}{reason}; see `ownstak backend status` and the stack events in the CloudFormation console"
    )]
    StackFailed {
        /// The stack name.
        stack: String,
        /// Its status.
        status: String,
        /// `: <reason>` when CloudFormation gave one.
        reason: String,
    },
    /// A stack is busy with another operation.
    #[error("stack `{stack}` is busy ({status}); wait for the running operation to finish and run the command again")]
    StackBusy {
        /// The stack name.
        stack: String,
        /// Its status.
        status: String,
    },
    /// The stack does not exist.
    #[error("backend stack `{0}` does not exist; create it with `ownstak backend create`")]
    StackNotFound(String),
    /// The backend a deploy names has no stack in the account and region.
    #[error(
        "backend `{backend}` of `{org}` does not exist in {region} (no stack `{stack}`); create it with `ownstak backend create {backend} --org {org} --zone-id …`, or check --backend, --org, --function-prefix, --profile and --region"
    )]
    BackendNotFound {
        /// The backend slug.
        backend: String,
        /// The organization slug.
        org: String,
        /// The stack name looked up.
        stack: String,
        /// The region looked in.
        region: String,
    },
    /// The backend's stack has not finished being created.
    #[error(
        "stack `{stack}` is in {status}: the backend was planned but never created; run `ownstak backend create` to create it"
    )]
    StackNotCreated {
        /// The stack name.
        stack: String,
        /// Its status.
        status: String,
    },
    /// The stack lacks an output later commands need.
    #[error(
        "stack `{stack}` has no output `{output}`; was it created by this version of ownstak? run `ownstak backend create` again"
    )]
    MissingOutput {
        /// The stack name.
        stack: String,
        /// The output key.
        output: &'static str,
    },
    /// Functions still exist under the backend's prefix.
    #[error(
        "{count} function(s) with prefix `{prefix}-` still exist ({names}); delete them first or pass --force to destroy the backend anyway"
    )]
    FunctionsExist {
        /// The prefix.
        prefix: String,
        /// How many.
        count: usize,
        /// Some of their names.
        names: String,
    },
    /// The caller lacks a permission.
    #[error(
        "{operation} was denied: {detail}; the credentials in use need this permission (see `ownstak backend template` for what the backend needs)"
    )]
    AccessDenied {
        /// The API operation.
        operation: &'static str,
        /// What AWS said.
        detail: String,
    },
    /// Waiting for an operation took too long.
    #[error("timed out after {secs} s waiting for {what}")]
    Timeout {
        /// What we waited for.
        what: String,
        /// How long.
        secs: u64,
    },
    /// Any other AWS API error.
    #[error("{operation} failed: {detail}")]
    Api {
        /// The API operation.
        operation: &'static str,
        /// The error with its code and message.
        detail: String,
    },
}

impl AwsError {
    /// Maps an SDK call error (any service) to an [`AwsError`].
    pub fn from_sdk<E, R>(operation: &'static str, err: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> Self
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        match ownstak_sdk_error::classify(err) {
            SdkFailure::AccessDenied(e) => Self::AccessDenied { operation, detail: e.to_string() },
            SdkFailure::NoCredentials { detail } => {
                Self::MissingCredentials { what: "this call", detail, profile_hint: String::new() }
            }
            SdkFailure::Unreachable { detail } => {
                Self::Api { operation, detail: format!("cannot reach the AWS endpoint: {detail}") }
            }
            other => Self::Api { operation, detail: other.to_string() },
        }
    }
}

/// Error code of an SDK service error, if it is one.
pub(crate) fn error_code<E, R>(err: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> Option<String>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    ownstak_sdk_error::classify(err).code().map(str::to_owned)
}

/// Error message of an SDK service error, if it is one.
pub(crate) fn error_message<E, R>(err: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    ownstak_sdk_error::classify(err).service_error().map(|e| e.message.clone()).unwrap_or_default()
}
