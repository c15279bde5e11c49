//! `ownstak env set/unset/list`: an environment's variables and secrets,
//! kept in SSM Parameter Store (the local backend answers SSM too), which
//! its next deploy snapshots (so each deployment keeps the values it was
//! deployed with).

use std::collections::BTreeMap;

use ownstak_core::EnvironmentName;
use ownstak_deploy::{
    EnvironmentStore, LocalVariables, NEXT_ACTIONS_KEY, Snapshot, check_value, check_variable_name, parse_assignment,
};
use serde_json::json;

use super::Target;
use crate::cli::{BackendArgs, VarsCommand};
use crate::output;

/// How `env list` shows a secret's value.
const MASK: &str = "********";

/// Runs `ownstak env …`.
pub(super) async fn run(cmd: VarsCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        VarsCommand::Set(args) => {
            // Every pair is checked before anything is written.
            let pairs = args.assignments.iter().map(|a| parse_assignment(a)).collect::<Result<Vec<_>, _>>()?;
            for (k, v) in &pairs {
                check_value(k, v, args.secret)?;
            }
            let (target, env) = super::target(&args.backend, &args.env).await?;
            let store = open(&target, &args.backend, &env).await?;
            store.set(&pairs, args.secret).await?;
            let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
            report(json, &env, "set", &keys, args.secret);
        }
        VarsCommand::Unset(args) => {
            for key in &args.keys {
                check_variable_name(key)?;
            }
            let (target, env) = super::target(&args.backend, &args.env).await?;
            let store = open(&target, &args.backend, &env).await?;
            let removed = store.unset(&args.keys).await?;
            let removed: Vec<&str> = removed.iter().map(String::as_str).collect();
            report(json, &env, "unset", &removed, false);
        }
        VarsCommand::List(args) => {
            let (target, env) = super::target(&args.backend, &args.env).await?;
            let store = open(&target, &args.backend, &env).await?;
            let listed = store.list().await?;
            if json {
                let variables: BTreeMap<&str, &str> =
                    listed.iter().map(|v| (v.key.as_str(), v.value.as_deref().unwrap_or(MASK))).collect();
                let secrets: Vec<&str> = listed.iter().filter(|v| v.secret).map(|v| v.key.as_str()).collect();
                output::json(&json!({
                    "function": env.function(),
                    "path": store.path(),
                    "variables": variables,
                    "secrets": secrets,
                }));
            } else if listed.is_empty() {
                println!(
                    "{}/{} has no variables; set them with `ownstak env set KEY=VALUE` (add --secret for secrets)",
                    env.project(),
                    env.env()
                );
            } else {
                for v in &listed {
                    match &v.value {
                        Some(value) => println!("{}={value}", v.key),
                        None => println!("{}={MASK} (secret)", v.key),
                    }
                }
            }
        }
    }
    Ok(())
}

fn report(json: bool, env: &EnvironmentName, action: &str, keys: &[&str], secret: bool) {
    if json {
        output::json(&json!({ "function": env.function(), action: keys, "secret": secret }));
    } else if keys.is_empty() {
        println!("nothing to {action} for {}/{}", env.project(), env.env());
    } else {
        println!(
            "{action} {}{} for {}/{}; the next deploy takes {}",
            if secret { "secret " } else { "" },
            keys.join(", "),
            env.project(),
            env.env(),
            if keys.len() == 1 { "it" } else { "them" }
        );
    }
}

/// The store of the environment on its backend. On a local backend,
/// variables an older ownstak kept in `<data dir>/env/<function>.json` move
/// into it first (those already in the store win), and the file goes.
async fn open(target: &Target, backend: &BackendArgs, env: &EnvironmentName) -> anyhow::Result<EnvironmentStore> {
    let store = EnvironmentStore::new(&target.endpoint(), target.info(), env);
    if let Target::Local { .. } = target {
        let legacy = LocalVariables::new(&super::local_data_dir(backend)?, env.function());
        let old = legacy.load()?;
        if !old.is_empty() {
            let present: std::collections::BTreeSet<String> = store.list().await?.into_iter().map(|v| v.key).collect();
            let moving: Vec<(String, String)> = old.into_iter().filter(|(k, _)| !present.contains(k)).collect();
            store.set(&moving, false).await?;
            tracing::info!(count = moving.len(), "moved the variables of an older ownstak into the backend's store");
        }
        legacy.remove()?;
    }
    Ok(store)
}

/// What the next deploy of `env` takes from the store: the variables and
/// the secrets' references. For a Next.js app, the environment's server
/// actions key is made first if it has none (32 random bytes, kept as a
/// secret), so every deployment of the environment shares it.
pub(super) async fn snapshot(
    target: &Target,
    backend: &BackendArgs,
    env: &EnvironmentName,
    nextjs: bool,
) -> anyhow::Result<Snapshot> {
    let store = open(target, backend, env).await?;
    if nextjs {
        let key = ownstak_deploy::new_actions_key()?;
        if store.ensure_secret(NEXT_ACTIONS_KEY, || key).await? {
            tracing::info!("made the environment's {NEXT_ACTIONS_KEY} (a secret)");
        }
    }
    Ok(store.snapshot().await?)
}
