//! Deciding what kind of app a directory holds.

use std::fs;
use std::path::Path;

use serde::Deserialize;

use crate::BuildOptions;
use crate::error::BuildError;
use crate::layout::Framework;

/// The oldest Next.js major version ownstak builds.
pub(crate) const MIN_NEXT_MAJOR: u64 = 14;

/// What [`detect`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// The kind of app.
    pub framework: Framework,
    /// The framework's version when known (installed Next.js, else the
    /// range package.json asks for).
    pub version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PackageJson {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    dependencies: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    dev_dependencies: std::collections::BTreeMap<String, String>,
}

fn read_package_json(path: &Path) -> Result<Option<PackageJson>, BuildError> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| BuildError::Parse { path: path.to_owned(), message: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(BuildError::Io { action: "cannot read", path: path.to_owned(), source: e }),
    }
}

/// The version of `next` the app asks for in package.json, if any.
fn declared_next(dir: &Path) -> Result<Option<String>, BuildError> {
    let Some(pkg) = read_package_json(&dir.join("package.json"))? else { return Ok(None) };
    Ok(pkg.dependencies.get("next").or_else(|| pkg.dev_dependencies.get("next")).cloned())
}

/// The version of the installed `next` package, if installed.
pub(crate) fn installed_next(dir: &Path) -> Result<Option<String>, BuildError> {
    Ok(read_package_json(&dir.join("node_modules/next/package.json"))?.and_then(|p| p.version))
}

/// The major version in a version or a range like `^15.1.0`, `>=14`, `v16`;
/// `None` for tags such as `latest` or `canary`.
pub(crate) fn major(version: &str) -> Option<u64> {
    let start = version.find(|c: char| c.is_ascii_digit())?;
    // Only plain prefixes of a range (`^`, `~`, `>=`, `v`, `=`) may precede the number.
    if !version[..start].chars().all(|c| matches!(c, '^' | '~' | '>' | '=' | 'v' | ' ')) {
        return None;
    }
    let digits: String = version[start..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Decides the framework: `--framework` wins, then `--command` (custom),
/// then a `next` dependency in package.json, then an `index.html`.
pub fn detect(dir: &Path, options: &BuildOptions) -> Result<Detection, BuildError> {
    if !dir.is_dir() {
        return Err(BuildError::NotADirectory(dir.to_owned()));
    }
    let framework = match (options.framework, &options.command) {
        (Some(Framework::Custom), None) => return Err(BuildError::CustomWithoutCommand),
        (Some(f @ (Framework::Nextjs | Framework::Static)), Some(_)) => {
            return Err(BuildError::CommandNotApplicable(f.as_str()));
        }
        (Some(f), _) => Some(f),
        (None, Some(_)) => Some(Framework::Custom),
        (None, None) => None,
    };
    let next = declared_next(dir)?;
    let has_index = dir.join("index.html").is_file();
    let framework = match framework {
        Some(Framework::Nextjs) if next.is_none() => {
            return Err(BuildError::NotThatFramework {
                framework: "nextjs",
                dir: dir.to_owned(),
                reason: "package.json does not depend on `next`".to_owned(),
            });
        }
        Some(Framework::Static) if !has_index => {
            return Err(BuildError::NotThatFramework {
                framework: "static",
                dir: dir.to_owned(),
                reason: "there is no index.html".to_owned(),
            });
        }
        Some(f) => f,
        None if next.is_some() => Framework::Nextjs,
        None if has_index => Framework::Static,
        None => return Err(BuildError::NoApp(dir.to_owned())),
    };
    let version = match framework {
        Framework::Nextjs => {
            let version = installed_next(dir)?.or(next);
            if let Some(v) = &version
                && major(v).is_some_and(|m| m < MIN_NEXT_MAJOR)
            {
                return Err(BuildError::UnsupportedNext { dir: dir.to_owned(), version: v.clone() });
            }
            version
        }
        _ => None,
    };
    tracing::debug!(%framework, ?version, dir = %dir.display(), "detected the app");
    Ok(Detection { framework, version })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(framework: Option<Framework>, command: Option<&str>) -> BuildOptions {
        BuildOptions { framework, command: command.map(str::to_owned) }
    }

    #[test]
    fn majors() {
        assert_eq!(major("15.1.0"), Some(15));
        assert_eq!(major("^14.2.3"), Some(14));
        assert_eq!(major(">= 16"), Some(16));
        assert_eq!(major("latest"), None);
        assert_eq!(major("npm:next@13"), None);
    }

    #[test]
    fn detects_and_explains() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let e = detect(dir, &opts(None, None)).unwrap_err().to_string();
        assert!(e.contains("--framework") && e.contains("--command") && e.contains("index.html"), "{e}");
        assert_eq!(detect(dir, &opts(None, Some("node s.js"))).unwrap().framework, Framework::Custom);
        assert!(matches!(detect(dir, &opts(Some(Framework::Custom), None)), Err(BuildError::CustomWithoutCommand)));

        fs::write(dir.join("index.html"), "<p>hi</p>").unwrap();
        assert_eq!(detect(dir, &opts(None, None)).unwrap().framework, Framework::Static);
        assert!(matches!(detect(dir, &opts(Some(Framework::Nextjs), None)), Err(BuildError::NotThatFramework { .. })));

        fs::write(dir.join("package.json"), r#"{"dependencies":{"next":"^15.0.0"}}"#).unwrap();
        let d = detect(dir, &opts(None, None)).unwrap();
        assert_eq!(d, Detection { framework: Framework::Nextjs, version: Some("^15.0.0".into()) });
        assert_eq!(detect(dir, &opts(Some(Framework::Static), None)).unwrap().framework, Framework::Static);

        fs::create_dir_all(dir.join("node_modules/next")).unwrap();
        fs::write(dir.join("node_modules/next/package.json"), r#"{"name":"next","version":"13.5.6"}"#).unwrap();
        let e = detect(dir, &opts(None, None)).unwrap_err().to_string();
        assert!(e.contains("13.5.6") && e.contains("14"), "{e}");
    }
}
