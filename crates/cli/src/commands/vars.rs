//! `ownstak env set/unset/list`: an environment's variables, which its
//! next deploy copies into the function's configuration (so each
//! deployment keeps the values it was deployed with).

use std::collections::BTreeMap;

use ownstak_core::EnvironmentName;
use ownstak_deploy::{LocalVariables, check_variable_name, parse_assignment};
use serde_json::json;

use super::Target;
use crate::cli::{BackendArgs, EnvArgs, VarsCommand};
use crate::output;

/// Runs `ownstak env …`.
pub(super) async fn run(cmd: VarsCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        VarsCommand::Set(args) => {
            // Every pair is checked before anything is written.
            let pairs = args.assignments.iter().map(|a| parse_assignment(a)).collect::<Result<Vec<_>, _>>()?;
            let (store, env) = store(&args.backend, &args.env).await?;
            let mut vars = store.load()?;
            vars.extend(pairs.iter().cloned());
            store.save(&vars)?;
            let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
            report(json, &env, "set", &keys);
        }
        VarsCommand::Unset(args) => {
            for key in &args.keys {
                check_variable_name(key)?;
            }
            let (store, env) = store(&args.backend, &args.env).await?;
            let mut vars = store.load()?;
            let removed: Vec<&str> =
                args.keys.iter().filter(|k| vars.remove(k.as_str()).is_some()).map(String::as_str).collect();
            store.save(&vars)?;
            report(json, &env, "unset", &removed);
        }
        VarsCommand::List(args) => {
            let (store, env) = store(&args.backend, &args.env).await?;
            let vars = store.load()?;
            if json {
                output::json(&json!({ "function": env.function(), "variables": vars }));
            } else if vars.is_empty() {
                println!("{}/{} has no variables; set them with `ownstak env set KEY=VALUE`", env.project(), env.env());
            } else {
                for (k, v) in &vars {
                    println!("{k}={v}");
                }
            }
        }
    }
    Ok(())
}

fn report(json: bool, env: &EnvironmentName, action: &str, keys: &[&str]) {
    if json {
        output::json(&json!({ "function": env.function(), action: keys }));
    } else if keys.is_empty() {
        println!("nothing to {action} for {}/{}", env.project(), env.env());
    } else {
        println!(
            "{action} {} for {}/{}; the next deploy takes {}",
            keys.join(", "),
            env.project(),
            env.env(),
            if keys.len() == 1 { "it" } else { "them" }
        );
    }
}

/// The variables store of the environment the arguments name.
async fn store(backend: &BackendArgs, args: &EnvArgs) -> anyhow::Result<(LocalVariables, EnvironmentName)> {
    let (target, env) = super::target(backend, args).await?;
    match target {
        Target::Local { .. } => Ok((LocalVariables::new(&super::local_data_dir(backend)?, env.function()), env)),
        Target::Aws(_) => anyhow::bail!(
            "`ownstak env` does not support AWS backends yet; until it does, deploy from a directory whose ownstak.toml has an [env] table"
        ),
    }
}

/// The variables the next deploy of `env` takes from the store (none on AWS yet).
pub(super) fn deploy_variables(
    target: &Target,
    backend: &BackendArgs,
    env: &EnvironmentName,
) -> anyhow::Result<BTreeMap<String, String>> {
    match target {
        Target::Local { .. } => Ok(LocalVariables::new(&super::local_data_dir(backend)?, env.function()).load()?),
        Target::Aws(_) => Ok(BTreeMap::new()),
    }
}
