//! The AWS side of a custom domain: its ACM certificate (validated through
//! DNS, the records printed or written to a Route 53 zone), the
//! certificate on the load balancer's HTTPS listener (chosen by SNI), and
//! the load balancer's DNS name the domain's CNAME must point at. The
//! mapping itself is the domain map in the assets bucket
//! (`ownstak_assets::DomainMap`), which the CLI writes.

use std::time::Duration;

use serde::Serialize;

use crate::cert::Certificates;
use crate::dns::{Cname, Zone};
use crate::errors::{AwsError, error_code};
use crate::listener::Listener;
use crate::target::DeployTarget;

/// Interval between certificate status checks.
const POLL: Duration = Duration::from_secs(5);
/// Longest wait for ACM to publish a new certificate's validation record.
const RECORD_TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts to delete a certificate the listener let go of moments ago.
const DELETE_ATTEMPTS: u32 = 12;

/// A DNS record the user (or `--zone-id`) must create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsRecord {
    /// Record name, without a trailing dot.
    pub name: String,
    /// Record type (`CNAME`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Record value, without a trailing dot.
    pub value: String,
}

/// A custom domain's certificate as ACM reports it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainCertificate {
    /// Its ARN.
    pub arn: String,
    /// `PENDING_VALIDATION`, `ISSUED`, …
    pub status: String,
    /// Whether it was requested now (false: an existing one was found).
    pub requested: bool,
    /// The record ACM validates it by.
    pub validation: DnsRecord,
}

impl DomainCertificate {
    /// Whether ACM issued it.
    pub fn issued(&self) -> bool {
        self.status == "ISSUED"
    }
}

/// The custom-domain calls of one AWS backend.
pub struct CustomDomains {
    certs: Certificates,
    listener: Listener,
    route53: aws_sdk_route53::Client,
    acm: aws_sdk_acm::Client,
    cname_target: String,
}

impl CustomDomains {
    /// The calls for `target`'s account, listener and load balancer.
    pub async fn open(target: &DeployTarget) -> Result<Self, AwsError> {
        let config = target.sdk_config();
        let listener = target.https_listener_arn().await?;
        let acm = aws_sdk_acm::Client::new(config);
        Ok(Self {
            certs: Certificates::new(acm.clone(), POLL),
            listener: Listener::new(aws_sdk_elasticloadbalancingv2::Client::new(config), listener),
            route53: aws_sdk_route53::Client::new(config),
            acm,
            cname_target: target.alb_dns_name()?.trim_end_matches('.').to_ascii_lowercase(),
        })
    }

    /// The load balancer's DNS name: the target of every custom domain's CNAME.
    pub fn cname_target(&self) -> &str {
        &self.cname_target
    }

    /// Finds the certificate of `domain` or requests one validated by DNS,
    /// and reads its validation record.
    pub async fn certificate(&self, domain: &str) -> Result<DomainCertificate, AwsError> {
        let (arn, requested) = self.certs.find_or_request(domain).await?;
        self.describe(&arn, requested).await
    }

    /// The certificate `arn` as ACM reports it now.
    pub async fn describe(&self, arn: &str, requested: bool) -> Result<DomainCertificate, AwsError> {
        let (status, record) = self.certs.validation(arn, RECORD_TIMEOUT).await?;
        let validation = DnsRecord {
            name: crate::dns::canonical(&record.name),
            kind: record.kind,
            value: crate::dns::canonical(&record.value),
        };
        Ok(DomainCertificate { arn: arn.to_owned(), status, requested, validation })
    }

    /// Writes the validation record into hosted zone `zone_id`, which must
    /// cover `domain`; returns the names written.
    pub async fn write_validation(
        &self,
        zone_id: &str,
        domain: &str,
        record: &DnsRecord,
    ) -> Result<Vec<String>, AwsError> {
        let zone = Zone::open(self.route53.clone(), zone_id, domain, domain).await?;
        zone.upsert(&[Cname { name: record.name.clone(), value: record.value.clone() }]).await?;
        Ok(vec![record.name.clone()])
    }

    /// Deletes the records named `names` from hosted zone `zone_id`;
    /// returns how many there were.
    pub async fn delete_validation(&self, zone_id: &str, domain: &str, names: &[String]) -> Result<usize, AwsError> {
        let zone = Zone::open(self.route53.clone(), zone_id, domain, domain).await?;
        zone.delete(names).await
    }

    /// Waits up to `timeout` until the certificate `arn` of `domain` is issued.
    pub async fn wait_issued(&self, arn: &str, domain: &str, record: &str, timeout: Duration) -> Result<(), AwsError> {
        self.certs.wait_issued(arn, domain, record, timeout).await
    }

    /// Adds the certificate to the HTTPS listener; returns whether it was
    /// not there yet.
    pub async fn attach(&self, arn: &str) -> Result<bool, AwsError> {
        self.listener.add(arn).await
    }

    /// Whether the certificate is on the HTTPS listener.
    pub async fn attached(&self, arn: &str) -> Result<bool, AwsError> {
        Ok(self.listener.certificates().await?.iter().any(|c| c == arn))
    }

    /// Removes the certificate from the HTTPS listener; returns whether it was there.
    pub async fn detach(&self, arn: &str) -> Result<bool, AwsError> {
        self.listener.remove(arn).await
    }

    /// Deletes the certificate (retrying while ACM still sees it in use by
    /// the listener it just left); returns whether it existed.
    pub async fn delete_certificate(&self, arn: &str) -> Result<bool, AwsError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.acm.delete_certificate().certificate_arn(arn).send().await {
                Ok(_) => return Ok(true),
                Err(e) if error_code(&e).as_deref() == Some("ResourceNotFoundException") => return Ok(false),
                Err(e) if error_code(&e).as_deref() == Some("ResourceInUseException") && attempt < DELETE_ATTEMPTS => {
                    tracing::debug!(%arn, attempt, "the certificate is still in use; retrying");
                    tokio::time::sleep(POLL).await;
                }
                Err(e) => return Err(AwsError::from_sdk("acm:DeleteCertificate", &e)),
            }
        }
    }
}
