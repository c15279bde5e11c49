//! `ownstak backend create|plan|status|template|destroy`: AWS backends.

use anyhow::Context as _;
use ownstak_aws::Ipv4Cidr;
use ownstak_aws::{AwsSettings, BackendSpec, DEFAULT_STACK_PREFIX, DnsTarget, Timing, VpcSpec};

use crate::cli::{AwsAccountArgs, BackendCommand, BackendSpecArgs};

/// Runs a backend command.
pub(super) async fn run(command: BackendCommand, json: bool) -> anyhow::Result<()> {
    let timing = Timing::default();
    match command {
        BackendCommand::Template(a) => {
            let spec = spec(&a.org, &a.name, &a.function_prefix, &a.spec)?;
            let text = ownstak_aws::template_text(&spec) + "\n";
            // A closed pipe (`| head`) is not an error.
            match std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
                _ => {}
            }
        }
        BackendCommand::Create(a) => {
            let spec = spec(&a.backend.org, &a.backend.name, &a.backend.function_prefix, &a.spec)?;
            let zone_id = a.zone_id.clone().context("--zone-id is required: the Route53 zone of the root domain, where the certificate's validation record and the wildcard CNAME go")?;
            let account = settings(&a.backend.aws, a.backend.aws.profile.clone());
            let dns = DnsTarget {
                zone_id,
                settings: settings(&a.backend.aws, a.dns_profile.clone().or(a.backend.aws.profile.clone())),
            };
            eprintln!(
                "provisioning backend {} (stack {}); a first creation takes 5-15 minutes",
                spec.domain(),
                spec.stack_name()
            );
            let out = ownstak_aws::create_backend(&spec, &account, &dns, &a.spec.proxy_image, &timing).await?;
            if json {
                println!("{}", serde_json::to_string(&out)?);
            } else {
                let what = if out.created {
                    "created"
                } else if out.changed() {
                    "updated"
                } else {
                    "unchanged"
                };
                println!("backend {} {what} (stack {})", spec.domain(), out.stack);
                for (k, v) in &out.outputs {
                    println!("  {k:<26} {v}");
                }
            }
        }
        BackendCommand::Plan(a) => {
            let spec = spec(&a.backend.org, &a.backend.name, &a.backend.function_prefix, &a.spec)?;
            let account = settings(&a.backend.aws, a.backend.aws.profile.clone());
            let plan = ownstak_aws::plan_backend(&spec, &account, &a.spec.proxy_image, &timing).await?;
            if json {
                println!("{}", serde_json::to_string(&plan)?);
            } else if plan.changes.is_empty() && !plan.parameters_change {
                println!("stack {} is up to date", plan.stack);
            } else {
                println!("stack {}{}:", plan.stack, if plan.exists { "" } else { " (new)" });
                if plan.parameters_change {
                    println!("  parameters change (proxy image or certificate)");
                }
                for c in &plan.changes {
                    let replace = c.replacement.as_deref().map(|r| format!(" (replacement: {r})")).unwrap_or_default();
                    println!("  {:<7} {:<28} {}{replace}", c.action, c.logical_id, c.kind);
                }
            }
        }
        BackendCommand::Status(a) => {
            let account = settings(&a.aws, a.aws.profile.clone());
            let st = ownstak_aws::backend_status(stack_prefix(&a.function_prefix), &a.org, &a.name, &account, &timing)
                .await?;
            if json {
                println!("{}", serde_json::to_string(&st)?);
            } else {
                println!(
                    "stack {}: {}{}",
                    st.stack.name,
                    st.stack.status,
                    st.stack.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
                );
                for (k, v) in &st.stack.outputs {
                    println!("  {k:<26} {v}");
                }
                println!("resources:");
                for r in &st.resources {
                    println!("  {:<28} {:<45} {}", r.logical_id, r.kind, r.status);
                }
            }
        }
        BackendCommand::Destroy(a) => {
            let t = &a.target;
            let account = settings(&t.aws, t.aws.profile.clone());
            let dns = a.zone_id.clone().map(|zone_id| DnsTarget {
                zone_id,
                settings: settings(&t.aws, a.dns_profile.clone().or(t.aws.profile.clone())),
            });
            let out = ownstak_aws::destroy_backend(
                stack_prefix(&t.function_prefix),
                &t.org,
                &t.name,
                &account,
                dns.as_ref(),
                a.force,
                &timing,
            )
            .await?;
            if json {
                println!("{}", serde_json::to_string(&out)?);
            } else {
                println!(
                    "backend stack {} deleted ({} functions, {} objects, {} DNS records removed)",
                    out.stack,
                    out.deleted_functions.len(),
                    out.deleted_objects,
                    out.deleted_records
                );
                if !out.kept_functions.is_empty() {
                    println!(
                        "  kept {} function(s) without ownership tags: {}",
                        out.kept_functions.len(),
                        out.kept_functions.join(", ")
                    );
                }
            }
        }
    }
    Ok(())
}

fn settings(aws: &AwsAccountArgs, profile: Option<String>) -> AwsSettings {
    AwsSettings { profile, region: aws.region.clone(), endpoint_url: aws.endpoint_url.clone(), credentials: None }
}

/// The first part of the stack name: the explicit prefix, or `ownstak`.
fn stack_prefix(prefix: &Option<String>) -> &str {
    prefix.as_deref().unwrap_or(DEFAULT_STACK_PREFIX)
}

fn spec(org: &str, name: &str, prefix: &Option<String>, a: &BackendSpecArgs) -> anyhow::Result<BackendSpec> {
    let cidr = Ipv4Cidr::parse(&a.vpc_cidr)?;
    let vpc = match &a.vpc_id {
        Some(vpc_id) => VpcSpec::Existing {
            vpc_id: vpc_id.clone(),
            cidr,
            public_subnets: a.public_subnets.clone(),
            private_subnets: a.private_subnets.clone(),
        },
        None => VpcSpec::New { cidr },
    };
    Ok(match prefix {
        Some(prefix) => BackendSpec::new(org, name, &a.root_domain, prefix, vpc)?,
        None => BackendSpec::with_own_prefix(org, name, &a.root_domain, vpc)?,
    })
}
