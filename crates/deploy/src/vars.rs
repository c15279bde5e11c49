//! An environment's variables (`ownstak env set/unset/list`): the rules
//! for their names, dotenv files, and the file an older ownstak kept a
//! local backend's variables in (now read once and moved into the
//! backend's parameter store, see `env_store`). A deploy copies them into
//! the function's configuration, so every deployment keeps the values it
//! was deployed with (a published version's configuration never changes)
//! and promote and rollback run a deployment with its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::DeployError;

/// The longest variable name accepted.
pub const MAX_KEY_LEN: usize = 128;

/// Names that Lambda, the runtime or ownstak set themselves.
const RESERVED: &[&str] = &["_HANDLER", "_X_AMZN_TRACE_ID", "PORT", "TZ"];
/// Prefixes of names that Lambda or ownstak set themselves.
const RESERVED_PREFIXES: &[&str] = &["AWS_", "LAMBDA_", "OWNSTAK_"];

/// Checks a variable name: a letter or `_`, then letters, digits and `_`,
/// at most [`MAX_KEY_LEN`], and none of the names Lambda or ownstak set.
pub fn check_variable_name(key: &str) -> Result<(), DeployError> {
    let mut bytes = key.bytes();
    let well_formed = key.len() <= MAX_KEY_LEN
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !well_formed {
        return Err(DeployError::InvalidVariable(format!(
            "`{key}` is not a valid variable name: start with a letter or `_`, then letters, digits and `_` (at most {MAX_KEY_LEN})"
        )));
    }
    let upper = key.to_ascii_uppercase();
    if RESERVED.contains(&upper.as_str()) || RESERVED_PREFIXES.iter().any(|p| upper.starts_with(p)) {
        return Err(DeployError::InvalidVariable(format!(
            "`{key}` is reserved: Lambda, ownstak-runtime or ownstak set it (names starting with AWS_, LAMBDA_ or OWNSTAK_, and _HANDLER, _X_AMZN_TRACE_ID, PORT, TZ)"
        )));
    }
    Ok(())
}

/// Splits a `KEY=VALUE` argument and checks the name.
pub fn parse_assignment(arg: &str) -> Result<(String, String), DeployError> {
    let (key, value) = arg.split_once('=').ok_or_else(|| {
        DeployError::InvalidVariable(format!("`{arg}` is not KEY=VALUE (an empty value is written KEY=)"))
    })?;
    check_variable_name(key)?;
    Ok((key.to_owned(), value.to_owned()))
}

/// Reads a dotenv-style file (`origin` names it in errors): `KEY=VALUE`
/// lines, blank lines and `#` comments, an optional `export ` before the
/// name, and a value in matching single or double quotes taken as is.
pub fn parse_env_file(text: &str, origin: &str) -> Result<BTreeMap<String, String>, DeployError> {
    let mut vars = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let line = match line.split_once('=') {
            Some((key, value)) => format!("{}={value}", key.trim_end()),
            None => line.to_owned(),
        };
        let line = line.as_str();
        let at = |e: DeployError| DeployError::InvalidVariable(format!("{origin}:{}: {e}", i + 1));
        let (key, value) = parse_assignment(line).map_err(at)?;
        let value = value.trim();
        let unquoted = ['"', '\''].iter().find_map(|q| value.strip_prefix(*q)?.strip_suffix(*q));
        vars.insert(key, unquoted.unwrap_or(value).to_owned());
    }
    Ok(vars)
}

/// The variables of one environment on a local backend as an older ownstak
/// kept them: a JSON object in `<data dir>/env/<function>.json`, readable
/// by its owner only.
#[derive(Debug, Clone)]
pub struct LocalVariables {
    path: PathBuf,
}

impl LocalVariables {
    /// The store of `function` under a local backend's data directory.
    pub fn new(data_dir: &Path, function: &str) -> Self {
        Self { path: data_dir.join("env").join(format!("{function}.json")) }
    }

    /// The variables; none before the first `env set`.
    pub fn load(&self) -> Result<BTreeMap<String, String>, DeployError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                DeployError::InvalidVariable(format!("{} is not a variables file: {e}", self.path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(io(&self.path, e)),
        }
    }

    /// Replaces the variables (written to a new file, then renamed over
    /// the old one, so a reader never sees half of it).
    pub fn save(&self, vars: &BTreeMap<String, String>) -> Result<(), DeployError> {
        use std::io::Write as _;
        use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| io(dir, e))?;
        let tmp = self.path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(vars).map_err(|e| DeployError::InvalidVariable(e.to_string()))?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io(&tmp, e))?;
        file.write_all(&text).and_then(|()| file.sync_all()).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| io(&self.path, e))
    }
}

impl LocalVariables {
    /// Deletes the file (once its variables moved into the backend's store);
    /// a missing file is fine.
    pub fn remove(&self) -> Result<(), DeployError> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&self.path, e)),
            _ => Ok(()),
        }
    }
}

fn io(path: &Path, e: std::io::Error) -> DeployError {
    DeployError::InvalidVariable(format!("cannot use the variables file {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for ok in ["API_URL", "_private", "a1", "DATABASE_URL"] {
            check_variable_name(ok).unwrap();
        }
        for bad in ["", "1A", "A-B", "A B", "É", &"A".repeat(129)] {
            assert!(check_variable_name(bad).unwrap_err().to_string().contains("not a valid"), "{bad:?}");
        }
        for reserved in
            ["AWS_REGION", "aws_secret_access_key", "_HANDLER", "LAMBDA_TASK_ROOT", "OWNSTAK_DEPLOYMENT_ID", "PORT"]
        {
            assert!(check_variable_name(reserved).unwrap_err().to_string().contains("reserved"), "{reserved}");
        }
        assert_eq!(parse_assignment("A=b=c").unwrap(), ("A".into(), "b=c".into()));
        assert_eq!(parse_assignment("EMPTY=").unwrap(), ("EMPTY".into(), String::new()));
        assert!(parse_assignment("NOVALUE").is_err());
    }

    #[test]
    fn env_files_are_read_line_by_line() {
        let text = "# a comment\n\nA=1\nexport B = two words \nC=\"quoted # not a comment\"\nD='x'\nE=\n";
        let vars = parse_env_file(text, ".env").unwrap();
        let expected: BTreeMap<String, String> =
            [("A", "1"), ("B", "two words"), ("C", "quoted # not a comment"), ("D", "x"), ("E", "")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(vars, expected);
        let err = parse_env_file("A=1\nAWS_REGION=x\n", ".env").unwrap_err().to_string();
        assert!(err.starts_with(".env:2: ") && err.contains("reserved"), "{err}");
        assert!(parse_env_file("just words\n", "f").unwrap_err().to_string().starts_with("f:1: "));
    }

    #[test]
    fn the_local_store_is_private_and_round_trips() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let store = LocalVariables::new(dir.path(), "ownstak-a-b");
        assert!(store.load().unwrap().is_empty());
        let vars = BTreeMap::from([("A".to_owned(), "1".to_owned()), ("B".to_owned(), "two words".to_owned())]);
        store.save(&vars).unwrap();
        assert_eq!(store.load().unwrap(), vars);
        let mode = std::fs::metadata(dir.path().join("env/ownstak-a-b.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
