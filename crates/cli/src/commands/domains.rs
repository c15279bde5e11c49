//! `ownstak domains add|list|remove`: custom domains of a backend.
//!
//! The mapping is the domain map in the backend's asset store
//! (`ownstak_assets::DomainMap`), which every proxy follows, so a change
//! reaches every proxy within a second or two. Locally that is all (any
//! `*.localhost` name, or any name with `--allow-any`). On AWS a domain
//! also gets an ACM certificate validated through DNS, which goes on the
//! load balancer's HTTPS listener once issued (`ownstak_aws::CustomDomains`);
//! until then the domain is `pending`, and `add` again or `list` finishes it.

use anyhow::Context as _;
use ownstak_assets::{AssetStore, DomainEntry, DomainMap, DomainMapError, DomainStatus};
use ownstak_aws::{CustomDomains, DeployTarget, DnsRecord};
use ownstak_core::EnvironmentName;
use ownstak_deploy::{BackendId, lambda_client, list_deployments, local_asset_store};
use serde_json::{Value, json};

use super::Target;
use crate::cli::{DomainsAddArgs, DomainsCommand, DomainsListArgs, DomainsRemoveArgs};
use crate::output;

/// Runs `ownstak domains …`.
pub(super) async fn run(cmd: DomainsCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        DomainsCommand::Add(args) => add(args, json).await,
        DomainsCommand::List(args) => list(args, json).await,
        DomainsCommand::Remove(args) => remove(args, json).await,
    }
}

/// The asset store of the backend, which holds the domain map.
async fn store(target: &Target) -> anyhow::Result<AssetStore> {
    Ok(match target {
        Target::Local { endpoint, info } => local_asset_store(info, endpoint)
            .await
            .context("this local backend has no asset store, which holds the domain map; restart `ownstak local up`")?,
        Target::Aws(t) => t.asset_store(),
    })
}

/// `name` checked and in canonical form for this backend.
fn checked_domain(target: &Target, name: &str) -> anyhow::Result<String> {
    let suffix = target.info().suffix().context("the backend reported an invalid domain")?;
    Ok(suffix.custom_domain(name)?)
}

async fn add(args: DomainsAddArgs, json: bool) -> anyhow::Result<()> {
    let (target, env) = super::target(&args.backend, &args.env).await?;
    let domain = checked_domain(&target, &args.domain)?;
    if let Target::Local { .. } = &target {
        if !args.allow_any && !domain.ends_with(".localhost") {
            anyhow::bail!(
                "a local backend serves custom domains under `.localhost` (they resolve to this machine), \
                 e.g. `shop.localhost`; to use `{domain}`, pass --allow-any and point it at 127.0.0.1 yourself \
                 (for instance in /etc/hosts)"
            );
        }
        if args.zone_id.is_some() || args.wait {
            anyhow::bail!("--zone-id and --wait are for AWS backends (--backend); a local domain needs no certificate");
        }
    }
    let store = store(&target).await?;
    // A domain of another environment is refused before anything else
    // (and again, atomically, when the map is written).
    let existing = store.domain_map().await?.domains.remove(&domain);
    if let Some(old) = existing.as_ref().filter(|old| old.function != env.function()) {
        return Err(DomainMapError::Taken {
            domain: domain.clone(),
            project: old.project.clone(),
            env: old.env.clone(),
            function: old.function.clone(),
        }
        .into());
    }
    let endpoint = target.endpoint();
    let deployments =
        list_deployments(&lambda_client(&endpoint), &endpoint, &env, &BackendId::of(target.info())).await?;
    if deployments.is_empty() {
        anyhow::bail!(
            "{}/{} has no deployments on this backend, so there is nothing to serve on {domain}; \
             deploy it first (`ownstak deploy --project {} --env {}`), or check --project and --env",
            env.project(),
            env.env(),
            env.project(),
            env.env()
        );
    }
    match &target {
        Target::Local { info, .. } => {
            let entry =
                DomainEntry::new(env.function(), env.project().as_str(), env.env().as_str(), DomainStatus::Active);
            let (entry, added) = store.put_domain(&domain, entry).await?;
            let url = match info.port {
                Some(p) if p != 80 => format!("{}://{domain}:{p}/", info.scheme),
                _ => format!("{}://{domain}/", info.scheme),
            };
            if json {
                let mut out = entry_json(&domain, &entry, None);
                out["added"] = json!(added);
                out["url"] = json!(url);
                output::json(&out);
            } else {
                let verb = if added { "added" } else { "already serves" };
                println!(
                    "{domain} {verb} {}/{} (its live deployment); every proxy of the backend routes it within a few seconds: {url}",
                    entry.project, entry.env
                );
                if !domain.ends_with(".localhost") {
                    println!("point {domain} at 127.0.0.1 (for instance in /etc/hosts) to reach it");
                }
            }
            Ok(())
        }
        Target::Aws(t) => add_aws(t, &store, &domain, &env, existing, &args, json).await,
    }
}

/// `domains add` on an AWS backend: the certificate, its validation
/// record, the listener once issued, the mapping (`existing` is the
/// domain's entry, of this environment, if it has one).
async fn add_aws(
    t: &DeployTarget,
    store: &AssetStore,
    domain: &str,
    env: &EnvironmentName,
    existing: Option<DomainEntry>,
    args: &DomainsAddArgs,
    json: bool,
) -> anyhow::Result<()> {
    let domains = CustomDomains::open(t).await?;
    let mut cert = domains.certificate(domain).await?;
    let mut entry = DomainEntry::new(env.function(), env.project().as_str(), env.env().as_str(), DomainStatus::Pending);
    entry.certificate_arn = Some(cert.arn.clone());
    entry.certificate_requested = cert.requested
        || existing.as_ref().is_some_and(|e| e.certificate_requested && e.certificate_arn == entry.certificate_arn);
    let zone_id = args.zone_id.clone().or_else(|| existing.as_ref().and_then(|e| e.validation_zone_id.clone()));
    if let Some(zone_id) = &zone_id {
        entry.validation_records = domains.write_validation(zone_id, domain, &cert.validation).await?;
        entry.validation_zone_id = Some(zone_id.clone());
    }
    // The name is held for this environment from now on, issued or not.
    store.put_domain(domain, entry.clone()).await?;
    if !cert.issued() && args.wait {
        let spinner = output::spinner(json);
        spinner.set_message(format!("waiting for ACM to issue the certificate of {domain}"));
        let waited = domains.wait_issued(&cert.arn, domain, &cert.validation.name, args.wait_timeout).await;
        spinner.finish_and_clear();
        waited?;
        cert.status = "ISSUED".to_owned();
    }
    let mut attached = false;
    if cert.issued() {
        attached = domains.attach(&cert.arn).await?;
        entry.status = DomainStatus::Active;
        entry = store.put_domain(domain, entry).await?.0;
    }
    let cname =
        DnsRecord { name: domain.to_owned(), kind: "CNAME".to_owned(), value: domains.cname_target().to_owned() };
    if json {
        let mut out = entry_json(domain, &entry, Some(domains.cname_target()));
        out["certificate"] = json!(cert);
        out["validationRecordWritten"] = json!(zone_id.is_some());
        out["cname"] = json!(cname);
        out["attachedNow"] = json!(attached);
        output::json(&out);
        return Ok(());
    }
    let v = &cert.validation;
    match &zone_id {
        Some(zone) => println!("validation record {} {} {} is in hosted zone {zone}", v.name, v.kind, v.value),
        None if !cert.issued() => {
            println!("create this DNS record so that ACM can validate the certificate of {domain}:");
            println!("  {} {} {}", v.name, v.kind, v.value);
        }
        None => {}
    }
    if cert.issued() {
        println!("{domain} serves {}/{} (its live deployment) once this DNS record exists:", entry.project, entry.env);
        println!("  {} {} {}", cname.name, cname.kind, cname.value);
    } else {
        println!(
            "{domain} is pending: its certificate {} is {}; once the validation record resolves, run \
             `ownstak domains add {domain}` again (or `ownstak domains list`) to finish, or pass --wait",
            cert.arn, cert.status
        );
        println!("then point {domain} at the load balancer: {} {} {}", cname.name, cname.kind, cname.value);
    }
    Ok(())
}

/// One domain as `--json` prints it.
fn entry_json(domain: &str, entry: &DomainEntry, cname_target: Option<&str>) -> Value {
    json!({
        "domain": domain,
        "project": entry.project,
        "env": entry.env,
        "function": entry.function,
        "status": entry.status.as_str(),
        "addedAtMs": entry.added_at_ms,
        "certificateArn": entry.certificate_arn,
        "cnameTarget": cname_target,
    })
}

async fn list(args: DomainsListArgs, json: bool) -> anyhow::Result<()> {
    let target = super::open(&args.backend).await?;
    let store = store(&target).await?;
    let mut map = store.domain_map().await?;
    let cname_target = match &target {
        Target::Aws(t) if !map.domains.is_empty() => Some(finish_pending(t, &store, &mut map).await?),
        Target::Aws(t) => t.alb_dns_name().ok(),
        Target::Local { .. } => None,
    };
    if json {
        let items: Vec<Value> = map.domains.iter().map(|(d, e)| entry_json(d, e, cname_target.as_deref())).collect();
        output::json(&json!({ "domains": items }));
        return Ok(());
    }
    if map.domains.is_empty() {
        println!("no custom domains; add one with `ownstak domains add DOMAIN --project P --env E`");
        return Ok(());
    }
    println!("{:<40} {:<24} {:<8} {:<24} CERTIFICATE", "DOMAIN", "PROJECT/ENV", "STATUS", "CNAME TARGET");
    for (domain, e) in &map.domains {
        println!(
            "{domain:<40} {:<24} {:<8} {:<24} {}",
            format!("{}/{}", e.project, e.env),
            e.status.as_str(),
            cname_target.as_deref().unwrap_or("-"),
            e.certificate_arn.as_deref().unwrap_or("-"),
        );
    }
    Ok(())
}

/// Finishes the pending domains whose certificate ACM has issued since;
/// returns the load balancer's DNS name.
async fn finish_pending(t: &DeployTarget, store: &AssetStore, map: &mut DomainMap) -> anyhow::Result<String> {
    let domains = CustomDomains::open(t).await?;
    for (domain, entry) in map.domains.iter_mut() {
        let Some(arn) = entry.certificate_arn.clone().filter(|_| entry.status == DomainStatus::Pending) else {
            continue;
        };
        // One unreadable certificate does not hide the other domains.
        let cert = match domains.describe(&arn, false).await {
            Ok(cert) => cert,
            Err(e) => {
                tracing::warn!(%domain, error = %e, "cannot read the domain's certificate; it stays pending");
                continue;
            }
        };
        if !cert.issued() {
            continue;
        }
        domains.attach(&arn).await?;
        let mut active = entry.clone();
        active.status = DomainStatus::Active;
        *entry = store.put_domain(domain, active).await?.0;
        tracing::info!(%domain, "certificate issued: the domain is now served");
    }
    Ok(domains.cname_target().to_owned())
}

async fn remove(args: DomainsRemoveArgs, json: bool) -> anyhow::Result<()> {
    let target = super::open(&args.backend).await?;
    let domain = checked_domain(&target, &args.domain)?;
    let store = store(&target).await?;
    let map = store.domain_map().await?;
    let Some(entry) = map.domains.get(&domain) else {
        return Err(DomainMapError::Unknown(domain).into());
    };
    let mut undone = json!({});
    // The certificate and records go first, the mapping last: a failure on
    // the way leaves the domain listed, and `remove` again finishes.
    if let (Target::Aws(t), Some(arn)) = (&target, &entry.certificate_arn) {
        let domains = CustomDomains::open(t).await?;
        undone["detached"] = json!(domains.detach(arn).await?);
        if let Some(zone) = &entry.validation_zone_id {
            undone["deletedRecords"] =
                json!(domains.delete_validation(zone, &domain, &entry.validation_records).await?);
        }
        undone["certificateDeleted"] = json!(entry.certificate_requested && domains.delete_certificate(arn).await?);
    }
    let entry = match store.remove_domain(&domain).await {
        Ok(entry) => entry,
        // Another `remove` finished first.
        Err(DomainMapError::Unknown(_)) => entry.clone(),
        Err(e) => return Err(e.into()),
    };
    if json {
        let mut out = entry_json(&domain, &entry, None);
        out["removed"] = json!(true);
        if let (Some(out), Some(undone)) = (out.as_object_mut(), undone.as_object()) {
            out.extend(undone.clone());
        }
        output::json(&out);
    } else {
        println!(
            "removed {domain} (it served {}/{}); every proxy of the backend stops routing it within a few seconds",
            entry.project, entry.env
        );
        if entry.certificate_arn.is_some() && !entry.certificate_requested {
            println!("its certificate was found in ACM, not requested by ownstak, so it was left there");
        }
    }
    Ok(())
}
