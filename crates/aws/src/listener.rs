//! The certificates of the load balancer's HTTPS listener beyond its
//! default one: each custom domain's, chosen by SNI.

use crate::errors::{AwsError, error_code};

/// ELBv2 calls on one listener.
pub(crate) struct Listener {
    client: aws_sdk_elasticloadbalancingv2::Client,
    arn: String,
}

impl Listener {
    /// The listener `arn`.
    pub(crate) fn new(client: aws_sdk_elasticloadbalancingv2::Client, arn: String) -> Self {
        Self { client, arn }
    }

    /// The ARNs of the listener's certificates (its default one included).
    pub(crate) async fn certificates(&self) -> Result<Vec<String>, AwsError> {
        let mut all = Vec::new();
        let mut marker = None;
        loop {
            let page = self
                .client
                .describe_listener_certificates()
                .listener_arn(&self.arn)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("elasticloadbalancing:DescribeListenerCertificates", &e))?;
            all.extend(page.certificates().iter().filter_map(|c| c.certificate_arn().map(str::to_owned)));
            match page.next_marker() {
                Some(m) if !m.is_empty() => marker = Some(m.to_owned()),
                _ => return Ok(all),
            }
        }
    }

    /// Adds `certificate` to the listener; returns whether it was not there yet.
    pub(crate) async fn add(&self, certificate: &str) -> Result<bool, AwsError> {
        if self.certificates().await?.iter().any(|c| c == certificate) {
            return Ok(false);
        }
        let cert = aws_sdk_elasticloadbalancingv2::types::Certificate::builder().certificate_arn(certificate).build();
        self.client
            .add_listener_certificates()
            .listener_arn(&self.arn)
            .certificates(cert)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("elasticloadbalancing:AddListenerCertificates", &e))?;
        tracing::info!(listener = %self.arn, %certificate, "added the certificate to the HTTPS listener");
        Ok(true)
    }

    /// Removes `certificate` from the listener; returns whether it was there.
    pub(crate) async fn remove(&self, certificate: &str) -> Result<bool, AwsError> {
        if !self.certificates().await?.iter().any(|c| c == certificate) {
            return Ok(false);
        }
        let cert = aws_sdk_elasticloadbalancingv2::types::Certificate::builder().certificate_arn(certificate).build();
        match self.client.remove_listener_certificates().listener_arn(&self.arn).certificates(cert).send().await {
            Ok(_) => {}
            Err(e) if error_code(&e).as_deref() == Some("CertificateNotFound") => return Ok(false),
            Err(e) => return Err(AwsError::from_sdk("elasticloadbalancing:RemoveListenerCertificates", &e)),
        }
        tracing::info!(listener = %self.arn, %certificate, "removed the certificate from the HTTPS listener");
        Ok(true)
    }
}
