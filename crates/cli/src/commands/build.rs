//! `ownstak build`: turn an app directory into `DIR/.ownstak/` (compute,
//! assets, permanent files and build.json), ready for `ownstak deploy DIR`.

use std::time::Instant;

use anyhow::Context as _;
use ownstak_build::{BuildEvent, BuildOptions, BuildStep, Framework, PartSize};

use crate::cli::{BuildArgs, FrameworkArg};
use crate::output;

impl From<FrameworkArg> for Framework {
    fn from(f: FrameworkArg) -> Self {
        match f {
            FrameworkArg::Nextjs => Framework::Nextjs,
            FrameworkArg::Static => Framework::Static,
            FrameworkArg::Custom => Framework::Custom,
        }
    }
}

fn size(s: PartSize) -> String {
    format!("{} files, {}", s.files, output::bytes(s.bytes))
}

/// Runs `ownstak build`.
pub(super) async fn run(args: BuildArgs, json: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    let options = BuildOptions { framework: args.framework.map(Framework::from), command: args.command.clone() };
    let pb = output::spinner(json);
    let dir = args.dir.clone();
    let built = {
        let pb = pb.clone();
        tokio::task::spawn_blocking(move || {
            ownstak_build::build(&dir, &options, |event| match event {
                BuildEvent::Step(step @ BuildStep::Detected { .. }) => {
                    if !json {
                        pb.println(format!("✓ {}", step.describe()));
                    }
                }
                BuildEvent::Step(step) => pb.set_message(step.describe()),
                // The build tool's own output goes to stderr, above the spinner.
                BuildEvent::Output(line) if json || pb.is_hidden() => eprintln!("{line}"),
                BuildEvent::Output(line) => pb.println(line),
            })
        })
        .await
        .context("the build panicked")?
    };
    pb.finish_and_clear();
    let built = built.with_context(|| format!("cannot build {}", args.dir.display()))?;

    if json {
        let mut value = serde_json::to_value(&built).context("cannot encode the build output")?;
        if let Some(map) = value.as_object_mut() {
            map.insert("seconds".to_owned(), serde_json::json!(started.elapsed().as_secs_f64()));
        }
        output::json(&value);
    } else {
        let version = built.framework_version.as_deref().map(|v| format!(" {v}")).unwrap_or_default();
        println!(
            "Built {}{version} in {:.1}s → {}",
            built.framework,
            started.elapsed().as_secs_f64(),
            built.out_dir.display()
        );
        println!("  compute    {}  (starts with `{}`)", size(built.compute.size), built.compute.command);
        println!("  assets     {}", size(built.assets.size));
        println!("  permanent  {}", size(built.permanent.size));
        println!("Deploy it with: ownstak deploy {} --project <project> --env <env>", args.dir.display());
    }
    Ok(())
}
