//! The backend's wildcard certificate in ACM, validated through DNS.

use std::time::{Duration, Instant};

use aws_sdk_acm::types::{CertificateStatus, ValidationMethod};

use crate::errors::AwsError;

/// A DNS record ACM wants to see before it issues the certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValidationRecord {
    /// Record name (with or without the trailing dot).
    pub name: String,
    /// Record type (`CNAME`).
    pub kind: String,
    /// Record value.
    pub value: String,
}

/// ACM calls for one backend's certificate.
pub(crate) struct Certificates {
    client: aws_sdk_acm::Client,
    poll: Duration,
}

impl Certificates {
    /// Wraps an ACM client; `poll` is the interval between status checks.
    pub(crate) fn new(client: aws_sdk_acm::Client, poll: Duration) -> Self {
        Self { client, poll }
    }

    /// The ARN of a pending or issued certificate for exactly `domain`, if any.
    pub(crate) async fn find(&self, domain: &str) -> Result<Option<String>, AwsError> {
        let mut next = None;
        loop {
            let page = self
                .client
                .list_certificates()
                .certificate_statuses(CertificateStatus::Issued)
                .certificate_statuses(CertificateStatus::PendingValidation)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("acm:ListCertificates", &e))?;
            if let Some(found) = page
                .certificate_summary_list()
                .iter()
                .find(|c| c.domain_name() == Some(domain))
                .and_then(|c| c.certificate_arn().map(str::to_owned))
            {
                return Ok(Some(found));
            }
            match page.next_token() {
                Some(t) => next = Some(t.to_owned()),
                None => return Ok(None),
            }
        }
    }

    /// Finds the certificate for `domain` or requests one validated by DNS.
    pub(crate) async fn find_or_request(&self, domain: &str) -> Result<(String, bool), AwsError> {
        if let Some(arn) = self.find(domain).await? {
            tracing::info!(%arn, "reusing certificate for {domain}");
            return Ok((arn, false));
        }
        let token: String = domain.chars().filter(|c| c.is_ascii_alphanumeric()).rev().take(32).collect();
        let out = self
            .client
            .request_certificate()
            .domain_name(domain)
            .validation_method(ValidationMethod::Dns)
            .idempotency_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("acm:RequestCertificate", &e))?;
        let arn = out.certificate_arn().ok_or_else(|| AwsError::Api {
            operation: "acm:RequestCertificate",
            detail: "no certificate ARN in the answer".into(),
        })?;
        tracing::info!(%arn, "requested certificate for {domain}");
        Ok((arn.to_owned(), true))
    }

    /// The certificate's status and validation record (waits up to `timeout`
    /// for ACM to publish the record).
    pub(crate) async fn validation(
        &self,
        arn: &str,
        timeout: Duration,
    ) -> Result<(String, ValidationRecord), AwsError> {
        let start = Instant::now();
        loop {
            let out = self
                .client
                .describe_certificate()
                .certificate_arn(arn)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("acm:DescribeCertificate", &e))?;
            let cert = out.certificate();
            let status = cert.and_then(|c| c.status()).map(|s| s.as_str().to_owned()).unwrap_or_default();
            let record = cert
                .map(|c| c.domain_validation_options())
                .and_then(|o| o.iter().find_map(|v| v.resource_record()))
                .map(|r| ValidationRecord {
                    name: r.name().to_owned(),
                    kind: r.r#type().as_str().to_owned(),
                    value: r.value().to_owned(),
                });
            if let Some(record) = record {
                return Ok((status, record));
            }
            if start.elapsed() >= timeout {
                return Err(AwsError::Timeout {
                    what: format!("ACM to publish the validation record of {arn}"),
                    secs: timeout.as_secs(),
                });
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Waits until the certificate is issued.
    pub(crate) async fn wait_issued(
        &self,
        arn: &str,
        domain: &str,
        record: &str,
        timeout: Duration,
    ) -> Result<(), AwsError> {
        let start = Instant::now();
        loop {
            let out = self
                .client
                .describe_certificate()
                .certificate_arn(arn)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("acm:DescribeCertificate", &e))?;
            let status = out.certificate().and_then(|c| c.status()).cloned();
            match status {
                Some(CertificateStatus::Issued) => return Ok(()),
                Some(CertificateStatus::PendingValidation) if start.elapsed() < timeout => {
                    tokio::time::sleep(self.poll).await
                }
                other => {
                    return Err(AwsError::CertificateNotIssued {
                        arn: arn.to_owned(),
                        domain: domain.to_owned(),
                        status: other.map(|s| s.as_str().to_owned()).unwrap_or_else(|| "UNKNOWN".into()),
                        record: record.to_owned(),
                        waited_secs: start.elapsed().as_secs(),
                    });
                }
            }
        }
    }

    /// Deletes the certificate (after the load balancer that used it is gone).
    pub(crate) async fn delete(&self, arn: &str) -> Result<(), AwsError> {
        self.client
            .delete_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("acm:DeleteCertificate", &e))?;
        Ok(())
    }
}
