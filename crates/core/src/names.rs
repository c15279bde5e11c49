//! Names derived from slugs: Lambda function names, aliases and the host
//! label of each deployment, with the length limits of DNS and Lambda.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use crate::slug::{EnvSlug, ProjectSlug, SlugError};

/// Longest DNS label (RFC 1035).
pub const MAX_DNS_LABEL: usize = 63;
/// Longest Lambda function name.
pub const MAX_FUNCTION_NAME: usize = 64;
/// Deployment numbers reserved in the DNS label check (`-99999`).
const RESERVED_NUMBER_DIGITS: usize = 5;
/// Alias of the live deployment of an environment.
pub const CURRENT_ALIAS: &str = "current";
/// Prefix of the per-deployment aliases (`deployment-<N>`).
pub const DEPLOYMENT_ALIAS_PREFIX: &str = "deployment-";

/// Why a project/environment pair or a prefix cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// One of the slugs is invalid.
    #[error(transparent)]
    Slug(#[from] SlugError),
    /// `<project>-<env>-<N>` would not fit one DNS label.
    #[error("`{label}` is {len} bytes; with room for a deployment number (`-{max}`) it must fit a 63-byte DNS label, so shorten the project or environment slug by {excess} bytes", max = "9".repeat(RESERVED_NUMBER_DIGITS))]
    LabelTooLong {
        /// The `<project>-<env>` label.
        label: String,
        /// Its length.
        len: usize,
        /// How many bytes must go.
        excess: usize,
    },
    /// `<prefix>-<project>-<env>` would not fit a Lambda function name.
    #[error(
        "the function name `{name}` is {len} bytes, over Lambda's limit of 64; shorten the project or environment slug by {excess} bytes"
    )]
    FunctionNameTooLong {
        /// The function name.
        name: String,
        /// Its length.
        len: usize,
        /// How many bytes must go.
        excess: usize,
    },
    /// The function prefix is not slugs joined by `_`, or too long.
    #[error(
        "the function prefix `{0}` must be lower-case letters, digits and single hyphens (slugs, optionally joined by `_`), at most 60 bytes"
    )]
    BadPrefix(String),
}

/// Longest function prefix: room is left for the shortest `-<project>-<env>`.
const MAX_PREFIX: usize = MAX_FUNCTION_NAME - "-a-b".len();
/// Longest readable per-backend prefix (`ownstak_<org>_<backend>`); longer
/// org and backend slugs get a hashed one, so that every environment keeps
/// at least 31 bytes of function name.
const MAX_DERIVED_PREFIX: usize = 32;

/// The prefix of every function a backend manages.
///
/// Slugs joined by `_` (`ownstak`, `ownstak_acme_prod`): a slug never
/// contains `_`, so `<prefix>-` of one backend never starts the function
/// names of another backend with another per-backend prefix, and a host
/// label (a slug) can never name a function outside the proxy's prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunctionPrefix(String);

impl FunctionPrefix {
    /// Validates a prefix: slugs joined by `_`, at most 60 bytes.
    pub fn new(s: &str) -> Result<Self, NameError> {
        let ok = s.len() <= MAX_PREFIX && s.split('_').all(|part| ProjectSlug::new(part).is_ok());
        if !ok {
            return Err(NameError::BadPrefix(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }

    /// The per-backend prefix of a new AWS backend: `ownstak_<org>_<backend>`,
    /// or `ownstak_<16 hex digits>` (a stable hash of both) when that would
    /// be over 32 bytes. Two backends in one account so never share
    /// function names, and neither shares them with backends on the
    /// original prefix `ownstak`.
    pub fn for_backend(org: &str, backend: &str) -> Self {
        let readable = format!("ownstak_{org}_{backend}");
        if readable.len() <= MAX_DERIVED_PREFIX && Self::new(&readable).is_ok() {
            return Self(readable);
        }
        // FNV-1a (64 bit): stable across versions and machines.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in org.bytes().chain(std::iter::once(b'/')).chain(backend.bytes()) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Self(format!("ownstak_{hash:016x}"))
    }

    /// The prefix as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The function name for a `<project>-<env>` label.
    pub fn function_for_label(&self, label: &str) -> String {
        format!("{}-{label}", self.0)
    }
}

impl Default for FunctionPrefix {
    fn default() -> Self {
        Self("ownstak".to_owned())
    }
}

impl fmt::Display for FunctionPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A deployment number: 1, 2, 3… within one environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeploymentNumber(NonZeroU32);

impl DeploymentNumber {
    /// The first deployment of an environment.
    pub const FIRST: Self = Self(NonZeroU32::MIN);

    /// Wraps a number; `None` for zero.
    pub fn new(n: u32) -> Option<Self> {
        NonZeroU32::new(n).map(Self)
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0.get()
    }

    /// The number after this one, if it exists.
    pub fn next(self) -> Option<Self> {
        self.0.checked_add(1).map(Self)
    }

    /// The alias naming this deployment (`deployment-<N>`).
    pub fn alias(self) -> String {
        format!("{DEPLOYMENT_ALIAS_PREFIX}{}", self.0)
    }

    /// Reads a deployment alias name back (`deployment-7` → 7).
    pub fn from_alias(alias: &str) -> Option<Self> {
        let digits = alias.strip_prefix(DEPLOYMENT_ALIAS_PREFIX)?;
        parse_canonical_number(digits)
    }
}

impl fmt::Display for DeploymentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for DeploymentNumber {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_canonical_number(s).ok_or_else(|| format!("`{s}` is not a deployment number (1, 2, 3…)"))
    }
}

/// Parses digits without sign or leading zeros into a non-zero number.
pub(crate) fn parse_canonical_number(digits: &str) -> Option<DeploymentNumber> {
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u32>().ok().and_then(DeploymentNumber::new)
}

/// Which alias of an environment's function a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qualifier {
    /// The live deployment (`current`).
    Current,
    /// One deployment (`deployment-<N>`).
    Deployment(DeploymentNumber),
}

impl Qualifier {
    /// The Lambda alias name.
    pub fn alias(self) -> String {
        match self {
            Qualifier::Current => CURRENT_ALIAS.to_owned(),
            Qualifier::Deployment(n) => n.alias(),
        }
    }
}

impl fmt::Display for Qualifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Qualifier::Current => f.write_str(CURRENT_ALIAS),
            Qualifier::Deployment(n) => write!(f, "{DEPLOYMENT_ALIAS_PREFIX}{n}"),
        }
    }
}

/// A project environment whose names fit every limit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EnvironmentName {
    project: ProjectSlug,
    env: EnvSlug,
    function: String,
}

impl EnvironmentName {
    /// Validates a project and environment for the given function prefix,
    /// checking the DNS label and Lambda name limits.
    pub fn new(prefix: &FunctionPrefix, project: &str, env: &str) -> Result<Self, NameError> {
        let project = ProjectSlug::new(project)?;
        let env = EnvSlug::new(env)?;
        let label = format!("{project}-{env}");
        let max_label = MAX_DNS_LABEL - 1 - RESERVED_NUMBER_DIGITS;
        if label.len() > max_label {
            return Err(NameError::LabelTooLong { len: label.len(), excess: label.len() - max_label, label });
        }
        let function = prefix.function_for_label(&label);
        if function.len() > MAX_FUNCTION_NAME {
            return Err(NameError::FunctionNameTooLong {
                len: function.len(),
                excess: function.len() - MAX_FUNCTION_NAME,
                name: function,
            });
        }
        Ok(Self { project, env, function })
    }

    /// The project slug.
    pub fn project(&self) -> &ProjectSlug {
        &self.project
    }

    /// The environment slug.
    pub fn env(&self) -> &EnvSlug {
        &self.env
    }

    /// The Lambda function name (`<prefix>-<project>-<env>`).
    pub fn function(&self) -> &str {
        &self.function
    }

    /// The first host label for a qualifier: `<project>-<env>` or
    /// `<project>-<env>-<N>`.
    pub fn host_label(&self, qualifier: Qualifier) -> String {
        match qualifier {
            Qualifier::Current => format!("{}-{}", self.project, self.env),
            Qualifier::Deployment(n) => format!("{}-{}-{n}", self.project, self.env),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_names() {
        let e = EnvironmentName::new(&FunctionPrefix::default(), "hello", "prod").unwrap();
        assert_eq!(e.function(), "ownstak-hello-prod");
        let n = DeploymentNumber::new(2).unwrap();
        assert_eq!(e.host_label(Qualifier::Deployment(n)), "hello-prod-2");
        assert_eq!(e.host_label(Qualifier::Current), "hello-prod");
        assert_eq!(Qualifier::Deployment(n).alias(), "deployment-2");
        assert_eq!(DeploymentNumber::from_alias("deployment-17").map(|n| n.get()), Some(17));
        for bad in ["deployment-0", "deployment-01", "deployment-", "current", "deployment-x"] {
            assert_eq!(DeploymentNumber::from_alias(bad), None, "{bad}");
        }
    }

    #[test]
    fn checks_label_and_function_limits() {
        let p = FunctionPrefix::default();
        // `ownstak-` + 56 bytes is exactly Lambda's 64.
        assert!(EnvironmentName::new(&p, &"a".repeat(51), "prod").is_ok());
        let err = EnvironmentName::new(&p, &"a".repeat(52), "prod").unwrap_err();
        assert!(matches!(err, NameError::FunctionNameTooLong { excess: 1, .. }), "{err}");
        assert!(err.to_string().contains("Lambda"));
        // With a short prefix the DNS label is the binding limit: 57 bytes
        // leave room for `-99999`.
        let short = FunctionPrefix::new("o").unwrap();
        assert!(EnvironmentName::new(&short, &"a".repeat(52), "prod").is_ok());
        let err = EnvironmentName::new(&short, &"a".repeat(53), "prod").unwrap_err();
        assert!(matches!(err, NameError::LabelTooLong { excess: 1, .. }), "{err}");
        assert!(err.to_string().contains("DNS label"));
        assert!(matches!(EnvironmentName::new(&p, "hello", "prod-3"), Err(NameError::Slug(_))));
        assert!(FunctionPrefix::new("Bad_Prefix").is_err());
    }

    #[test]
    fn per_backend_prefixes_are_distinct_and_leave_room() {
        for ok in ["ownstak", "ownstak_acme_prod", "a_b-c_d"] {
            assert!(FunctionPrefix::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "_x", "x_", "x__y", "x-_y", "Own", &"a".repeat(61)] {
            assert!(FunctionPrefix::new(bad).is_err(), "{bad}");
        }
        let p = FunctionPrefix::for_backend("acme", "prod");
        assert_eq!(p.as_str(), "ownstak_acme_prod");
        // Another backend's prefix, and the original one, never start its names.
        let env = EnvironmentName::new(&p, "web", "prod").unwrap();
        assert_eq!(env.function(), "ownstak_acme_prod-web-prod");
        for other in [FunctionPrefix::default(), FunctionPrefix::for_backend("acme", "prod-eu")] {
            assert!(!env.function().starts_with(&format!("{other}-")), "{other}");
        }
        assert_ne!(FunctionPrefix::for_backend("acme-prod", "x"), FunctionPrefix::for_backend("acme", "prod-x"));
        // Long slugs get a short, stable, valid prefix; the DNS label limit
        // still binds before the function name limit for 31-byte labels.
        let long = FunctionPrefix::for_backend(&"o".repeat(40), &"b".repeat(40));
        assert_eq!(long.as_str().len(), 24);
        assert_eq!(long, FunctionPrefix::for_backend(&"o".repeat(40), &"b".repeat(40)));
        assert!(FunctionPrefix::new(long.as_str()).is_ok());
        assert_ne!(long, FunctionPrefix::for_backend(&"o".repeat(40), &"c".repeat(40)));
        let derived = FunctionPrefix::for_backend(&"o".repeat(12), &"b".repeat(11));
        assert_eq!(derived.as_str().len(), 32);
        assert!(EnvironmentName::new(&derived, &"a".repeat(26), "prod").is_ok());
        let err = EnvironmentName::new(&derived, &"a".repeat(27), "prod").unwrap_err();
        assert!(matches!(err, NameError::FunctionNameTooLong { excess: 1, .. }), "{err}");
    }
}
