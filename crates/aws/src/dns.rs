//! Records in the platform's Route53 zone: the certificate's validation
//! record and the wildcard CNAME to the load balancer.

use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};

use crate::errors::AwsError;

/// TTL of the records we write.
pub(crate) const TTL: i64 = 300;

/// One CNAME record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Cname {
    /// Record name, lower case, no trailing dot (`*` for wildcards).
    pub name: String,
    /// Target, lower case, no trailing dot.
    pub value: String,
}

/// `name` in canonical form: lower case, `*` unescaped, no trailing dot.
pub fn canonical(name: &str) -> String {
    name.replace("\\052", "*").trim_end_matches('.').to_ascii_lowercase()
}

/// Route53 calls on one hosted zone.
pub(crate) struct Zone {
    client: aws_sdk_route53::Client,
    id: String,
}

impl Zone {
    /// Opens zone `zone_id` (with or without `/hostedzone/`) and checks that
    /// it covers `domain` (which belongs to `root_domain`).
    pub(crate) async fn open(
        client: aws_sdk_route53::Client,
        zone_id: &str,
        domain: &str,
        root_domain: &str,
    ) -> Result<Self, AwsError> {
        let id = zone_id.trim_start_matches("/hostedzone/").to_owned();
        let out = client.get_hosted_zone().id(&id).send().await.map_err(|e| {
            match AwsError::from_sdk("route53:GetHostedZone", &e) {
                AwsError::Api { detail, .. } => AwsError::ZoneNotFound { zone_id: id.clone(), detail },
                other => other,
            }
        })?;
        let name = out.hosted_zone().map(|z| canonical(z.name())).unwrap_or_default();
        let domain = canonical(domain);
        if !(domain == name || domain.ends_with(&format!(".{name}"))) {
            return Err(AwsError::ZoneMismatch {
                zone_id: id,
                zone_name: name,
                domain,
                root_domain: root_domain.to_owned(),
            });
        }
        Ok(Self { client, id })
    }

    /// Every CNAME record of the zone.
    pub(crate) async fn cnames(&self) -> Result<Vec<Cname>, AwsError> {
        let mut all = Vec::new();
        let mut start: Option<(String, RrType)> = None;
        loop {
            let mut req = self.client.list_resource_record_sets().hosted_zone_id(&self.id);
            if let Some((name, kind)) = start.take() {
                req = req.start_record_name(name).start_record_type(kind);
            }
            let page = req.send().await.map_err(|e| AwsError::from_sdk("route53:ListResourceRecordSets", &e))?;
            for set in page.resource_record_sets() {
                if set.r#type() == &RrType::Cname {
                    for record in set.resource_records() {
                        all.push(Cname { name: canonical(set.name()), value: canonical(record.value()) });
                    }
                }
            }
            match (page.is_truncated(), page.next_record_name(), page.next_record_type()) {
                (true, Some(name), Some(kind)) => start = Some((name.to_owned(), kind.clone())),
                _ => return Ok(all),
            }
        }
    }

    /// Makes the zone hold exactly these CNAMEs (for their names); returns
    /// whether anything changed.
    pub(crate) async fn upsert(&self, records: &[Cname]) -> Result<bool, AwsError> {
        let existing = self.cnames().await?;
        let wanted: Vec<Cname> =
            records.iter().map(|r| Cname { name: canonical(&r.name), value: canonical(&r.value) }).collect();
        let missing: Vec<&Cname> = wanted.iter().filter(|r| !existing.contains(r)).collect();
        if missing.is_empty() {
            return Ok(false);
        }
        self.change(ChangeAction::Upsert, &missing).await?;
        for r in &missing {
            tracing::info!(zone = %self.id, name = %r.name, value = %r.value, "wrote CNAME");
        }
        Ok(true)
    }

    /// Deletes those of `records` the zone holds (with their current value).
    pub(crate) async fn delete(&self, names: &[String]) -> Result<usize, AwsError> {
        let wanted: Vec<String> = names.iter().map(|n| canonical(n)).collect();
        let existing: Vec<Cname> = self.cnames().await?.into_iter().filter(|c| wanted.contains(&c.name)).collect();
        if existing.is_empty() {
            return Ok(0);
        }
        let refs: Vec<&Cname> = existing.iter().collect();
        self.change(ChangeAction::Delete, &refs).await?;
        Ok(existing.len())
    }

    /// Applies `action` to each record, one change per request (moto's
    /// server mis-parses batches of several changes).
    async fn change(&self, action: ChangeAction, records: &[&Cname]) -> Result<(), AwsError> {
        let build = |e: aws_sdk_route53::error::BuildError| AwsError::Api {
            operation: "route53:ChangeResourceRecordSets",
            detail: e.to_string(),
        };
        for r in records {
            let set = ResourceRecordSet::builder()
                .name(&r.name)
                .r#type(RrType::Cname)
                .ttl(TTL)
                .resource_records(ResourceRecord::builder().value(&r.value).build().map_err(build)?)
                .build()
                .map_err(build)?;
            let batch = ChangeBatch::builder()
                .comment("ownstak backend")
                .changes(Change::builder().action(action.clone()).resource_record_set(set).build().map_err(build)?)
                .build()
                .map_err(build)?;
            self.client
                .change_resource_record_sets()
                .hosted_zone_id(&self.id)
                .change_batch(batch)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("route53:ChangeResourceRecordSets", &e))?;
        }
        Ok(())
    }
}
