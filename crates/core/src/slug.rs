//! Slugs: the lower-case, hyphen-separated identifiers of projects and
//! environments (`[a-z0-9]+(-[a-z0-9]+)*`).

use std::fmt;

/// Why a string is not a valid slug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    /// The slug is empty.
    #[error("the {kind} slug is empty; use lower-case letters, digits and hyphens, e.g. `my-app`")]
    Empty {
        /// What the slug names (`project`, `environment`).
        kind: &'static str,
    },
    /// The slug has a character outside `[a-z0-9-]`.
    #[error(
        "the {kind} slug `{slug}` contains `{ch}`; only lower-case letters, digits and single hyphens are allowed, e.g. `my-app`"
    )]
    BadChar {
        /// What the slug names.
        kind: &'static str,
        /// The rejected slug.
        slug: String,
        /// The first offending character.
        ch: char,
    },
    /// The slug starts or ends with a hyphen, or has two in a row.
    #[error(
        "the {kind} slug `{slug}` has a leading, trailing or doubled hyphen; hyphens may only separate letters and digits"
    )]
    BadHyphen {
        /// What the slug names.
        kind: &'static str,
        /// The rejected slug.
        slug: String,
    },
    /// An environment slug whose last segment is all digits would read as a
    /// deployment number in host names.
    #[error(
        "the environment slug `{slug}` ends in the all-digit segment `{segment}`, which would read as deployment {segment} in URLs; end it with a letter, e.g. `{suggestion}`"
    )]
    TrailingNumber {
        /// The rejected slug.
        slug: String,
        /// The all-digit last segment.
        segment: String,
        /// A valid alternative.
        suggestion: String,
    },
}

/// Checks the common slug grammar `[a-z0-9]+(-[a-z0-9]+)*`.
fn check(kind: &'static str, s: &str) -> Result<(), SlugError> {
    if s.is_empty() {
        return Err(SlugError::Empty { kind });
    }
    if let Some(ch) = s.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
        return Err(SlugError::BadChar { kind, slug: s.to_owned(), ch });
    }
    if s.starts_with('-') || s.ends_with('-') || s.contains("--") {
        return Err(SlugError::BadHyphen { kind, slug: s.to_owned() });
    }
    Ok(())
}

/// A validated project slug.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProjectSlug(String);

impl ProjectSlug {
    /// Validates `s` as a project slug.
    pub fn new(s: &str) -> Result<Self, SlugError> {
        check("project", s)?;
        Ok(Self(s.to_owned()))
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A validated environment slug: a slug whose last segment is not all digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvSlug(String);

impl EnvSlug {
    /// Validates `s` as an environment slug.
    pub fn new(s: &str) -> Result<Self, SlugError> {
        check("environment", s)?;
        // `check` guarantees at least one non-empty segment.
        let last = s.rsplit('-').next().unwrap_or(s);
        if last.bytes().all(|b| b.is_ascii_digit()) {
            let head = &s[..s.len() - last.len()];
            return Err(SlugError::TrailingNumber {
                slug: s.to_owned(),
                segment: last.to_owned(),
                suggestion: format!("{head}v{last}"),
            });
        }
        Ok(Self(s.to_owned()))
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProjectSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for EnvSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_slugs() {
        for s in ["a", "hello", "my-app", "a1-b2-c3", "0day"] {
            assert_eq!(ProjectSlug::new(s).unwrap().as_str(), s);
        }
        for s in ["prod", "pr-12a", "v2", "2x", "staging-eu"] {
            assert_eq!(EnvSlug::new(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn rejects_bad_grammar() {
        assert!(matches!(ProjectSlug::new(""), Err(SlugError::Empty { .. })));
        assert!(matches!(ProjectSlug::new("My-App"), Err(SlugError::BadChar { ch: 'M', .. })));
        assert!(matches!(ProjectSlug::new("my_app"), Err(SlugError::BadChar { ch: '_', .. })));
        assert!(matches!(ProjectSlug::new("my.app"), Err(SlugError::BadChar { ch: '.', .. })));
        for s in ["-a", "a-", "a--b"] {
            assert!(matches!(ProjectSlug::new(s), Err(SlugError::BadHyphen { .. })), "{s}");
        }
    }

    #[test]
    fn env_must_not_end_in_digits() {
        let err = EnvSlug::new("prod-2").unwrap_err();
        assert!(matches!(&err, SlugError::TrailingNumber { segment, .. } if segment == "2"));
        assert!(err.to_string().contains("prod-v2"), "{err}");
        assert!(EnvSlug::new("42").is_err());
        // Digits are fine inside or mixed with letters.
        assert!(EnvSlug::new("2-prod").is_ok());
        assert!(EnvSlug::new("prod-2b").is_ok());
    }
}
