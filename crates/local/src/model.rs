//! The records the service keeps: functions, their versions and aliases.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::arn::ArnBuilder;

/// The qualifier of the unpublished, mutable version.
pub(crate) const LATEST: &str = "$LATEST";

/// One version of a function: `$LATEST` or a published number. Published
/// versions never change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// `$LATEST` or `1`, `2`, …
    pub version: String,
    /// Free text.
    pub description: String,
    /// `provided.al2023` and the like.
    pub runtime: String,
    /// The execution role ARN.
    pub role: String,
    /// The handler string passed as `_HANDLER`.
    pub handler: String,
    /// Seconds an invocation may run.
    pub timeout: u32,
    /// Memory in MB, reported to the function.
    pub memory_size: u32,
    /// Environment variables of the function.
    pub environment: BTreeMap<String, String>,
    /// Instruction set names.
    pub architectures: Vec<String>,
    /// Base64 SHA-256 of the deployment package.
    pub code_sha256: String,
    /// Size of the deployment package in bytes.
    pub code_size: u64,
    /// Hex SHA-256 naming the unpacked code directory.
    pub code_id: String,
    /// `LastModified` timestamp.
    pub last_modified: String,
    /// Changes whenever the version's code or configuration changes.
    pub revision_id: String,
}

impl VersionRecord {
    /// Whether two versions would run the same code with the same settings.
    pub fn same_content(&self, other: &VersionRecord) -> bool {
        self.code_sha256 == other.code_sha256
            && self.runtime == other.runtime
            && self.role == other.role
            && self.handler == other.handler
            && self.timeout == other.timeout
            && self.memory_size == other.memory_size
            && self.environment == other.environment
            && self.architectures == other.architectures
    }

    /// The `FunctionConfiguration` JSON shape of the Lambda API.
    pub fn configuration(&self, function: &str, arns: &ArnBuilder) -> Value {
        let arn =
            if self.version == LATEST { arns.function(function) } else { arns.qualified(function, &self.version) };
        json!({
            "FunctionName": function,
            "FunctionArn": arn,
            "Runtime": self.runtime,
            "Role": self.role,
            "Handler": self.handler,
            "CodeSize": self.code_size,
            "Description": self.description,
            "Timeout": self.timeout,
            "MemorySize": self.memory_size,
            "LastModified": self.last_modified,
            "CodeSha256": self.code_sha256,
            "Version": self.version,
            "Environment": { "Variables": self.environment },
            "TracingConfig": { "Mode": "PassThrough" },
            "RevisionId": self.revision_id,
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "PackageType": "Zip",
            "Architectures": self.architectures,
            "EphemeralStorage": { "Size": 512 },
        })
    }
}

/// A named pointer to a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasRecord {
    /// The alias name.
    pub name: String,
    /// The version it points at.
    pub function_version: String,
    /// Free text.
    pub description: String,
    /// Changes whenever the alias changes.
    pub revision_id: String,
}

impl AliasRecord {
    /// The `AliasConfiguration` JSON shape of the Lambda API.
    pub fn configuration(&self, function: &str, arns: &ArnBuilder) -> Value {
        json!({
            "AliasArn": arns.qualified(function, &self.name),
            "Name": self.name,
            "FunctionVersion": self.function_version,
            "Description": self.description,
            "RevisionId": self.revision_id,
        })
    }
}

/// A function with all its versions and aliases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRecord {
    /// The function name.
    pub name: String,
    /// The mutable version.
    pub latest: VersionRecord,
    /// Published versions by number.
    pub versions: BTreeMap<u64, VersionRecord>,
    /// Aliases by name.
    pub aliases: BTreeMap<String, AliasRecord>,
    /// Tags given at creation.
    pub tags: BTreeMap<String, String>,
    /// The number the next published version gets; numbers are never reused.
    pub next_version: u64,
}

impl FunctionRecord {
    /// Resolves a qualifier (`None`, `$LATEST`, a number or an alias) to a
    /// version record and the name of the version it resolved to.
    pub fn resolve(&self, qualifier: Option<&str>) -> Option<&VersionRecord> {
        match qualifier {
            None | Some(LATEST) => Some(&self.latest),
            Some(q) if q.bytes().all(|b| b.is_ascii_digit()) => {
                q.parse::<u64>().ok().and_then(|n| self.versions.get(&n))
            }
            Some(alias) => {
                let target = &self.aliases.get(alias)?.function_version;
                if target == LATEST {
                    Some(&self.latest)
                } else {
                    target.parse::<u64>().ok().and_then(|n| self.versions.get(&n))
                }
            }
        }
    }
}

/// A fresh revision id.
pub(crate) fn new_revision_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
