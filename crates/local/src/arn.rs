//! Function names, ARNs and qualifiers as they appear in API paths.

use crate::error::ApiError;

/// A function reference from a request path: `name`, `name:qualifier`,
/// `arn:aws:lambda:region:account:function:name[:qualifier]` or
/// `account:function:name[:qualifier]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FunctionRef {
    /// The bare function name.
    pub name: String,
    /// A qualifier embedded in the reference.
    pub qualifier: Option<String>,
}

impl FunctionRef {
    /// Parses a reference, rejecting names Lambda would reject.
    pub(crate) fn parse(raw: &str) -> Result<Self, ApiError> {
        let parts: Vec<&str> = raw.split(':').collect();
        let (name, qualifier) = match parts.as_slice() {
            [name] => (*name, None),
            [name, q] => (*name, Some(*q)),
            [_acct, "function", name] => (*name, None),
            [_acct, "function", name, q] => (*name, Some(*q)),
            ["arn", _, "lambda", _region, _acct, "function", name] => (*name, None),
            ["arn", _, "lambda", _region, _acct, "function", name, q] => (*name, Some(*q)),
            _ => {
                return Err(ApiError::invalid(format!(
                    "1 validation error detected: Value '{raw}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{{2}}(-gov)?-[a-z]+-\\d{{1}}:)?(\\d{{12}}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
                )));
            }
        };
        check_name(name)?;
        if let Some(q) = qualifier {
            check_qualifier(q)?;
        }
        Ok(Self { name: name.to_owned(), qualifier: qualifier.map(str::to_owned) })
    }

    /// Combines the embedded qualifier with a `Qualifier` query parameter;
    /// they must agree when both are given.
    pub(crate) fn with_query(self, query: Option<&str>) -> Result<(String, Option<String>), ApiError> {
        match (self.qualifier, query.filter(|q| !q.is_empty())) {
            (Some(a), Some(b)) if a != b => Err(ApiError::invalid(format!(
                "The derived qualifier from the function name does not match the specified qualifier ({a} vs {b})."
            ))),
            (Some(a), _) => Ok((self.name, Some(a))),
            (None, Some(b)) => {
                check_qualifier(b)?;
                Ok((self.name, Some(b.to_owned())))
            }
            (None, None) => Ok((self.name, None)),
        }
    }
}

/// Checks a bare function name: 1–64 of `[a-zA-Z0-9-_]`.
pub(crate) fn check_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::invalid(format!(
            "1 validation error detected: Value '{name}' at 'functionName' failed to satisfy constraint: Member must be 1 to 64 characters of [a-zA-Z0-9-_]"
        )));
    }
    Ok(())
}

/// Checks a qualifier: `$LATEST` or 1–128 of `[a-zA-Z0-9-_]`.
pub(crate) fn check_qualifier(q: &str) -> Result<(), ApiError> {
    if q == "$LATEST"
        || (!q.is_empty() && q.len() <= 128 && q.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "1 validation error detected: Value '{q}' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)"
        )))
    }
}

/// Builds ARNs for one region and account.
#[derive(Debug, Clone)]
pub struct ArnBuilder {
    prefix: String,
}

impl ArnBuilder {
    /// ARNs under `arn:aws:lambda:<region>:<account>:function:`.
    pub fn new(region: &str, account: &str) -> Self {
        Self { prefix: format!("arn:aws:lambda:{region}:{account}:function:") }
    }

    /// The unqualified function ARN.
    pub fn function(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The ARN qualified with a version or alias.
    pub fn qualified(&self, name: &str, qualifier: &str) -> String {
        format!("{}{name}:{qualifier}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_reference_form() {
        let cases = [
            ("f", "f", None),
            ("f:3", "f", Some("3")),
            ("f:$LATEST", "f", Some("$LATEST")),
            ("123456789012:function:f", "f", None),
            ("arn:aws:lambda:us-east-1:123456789012:function:f", "f", None),
            ("arn:aws:lambda:us-east-1:123456789012:function:f:live", "f", Some("live")),
        ];
        for (raw, name, q) in cases {
            let r = FunctionRef::parse(raw).unwrap();
            assert_eq!((r.name.as_str(), r.qualifier.as_deref()), (name, q), "{raw}");
        }
        for bad in ["", "a b", "f:x:y:z", &"x".repeat(65), "f:bad!"] {
            assert!(FunctionRef::parse(bad).is_err(), "{bad}");
        }
        let r = FunctionRef::parse("f:1").unwrap();
        assert!(r.clone().with_query(Some("2")).is_err());
        assert_eq!(r.with_query(Some("1")).unwrap(), ("f".to_owned(), Some("1".to_owned())));
    }
}
