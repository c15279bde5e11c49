//! Who an environment's function belongs to.
//!
//! Every function carries the tags `ownstak:project`, `ownstak:env`,
//! `ownstak:backend` and `ownstak:org`, set when it is created. `deploy`,
//! `promote` and `deployments` act on a function only when its tags name
//! the project, environment, backend and organization of the command: two
//! pairs like `a-b`/`c` and `a`/`b-c` make the same function name, and two
//! backends may share an account. A function made before these tags (no
//! backend or organization tag, and no project or environment tag that
//! disagrees) is adopted by the next deploy, which adds them.

use std::collections::HashMap;

use ownstak_core::{BackendInfo, EnvironmentName};

use crate::client::Endpoint;
use crate::error::{DeployError, sdk};

/// Tag naming the function's project.
pub const TAG_PROJECT: &str = "ownstak:project";
/// Tag naming the function's environment.
pub const TAG_ENV: &str = "ownstak:env";
/// Tag naming the backend that deploys the function.
pub const TAG_BACKEND: &str = "ownstak:backend";
/// Tag naming that backend's organization.
pub const TAG_ORG: &str = "ownstak:org";

/// The backend a command acts for, as its functions' `ownstak:backend` and
/// `ownstak:org` tags name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendId {
    /// The backend slug.
    pub backend: String,
    /// The organization slug.
    pub org: String,
}

impl BackendId {
    /// The backend of a backend's facts.
    pub fn of(info: &BackendInfo) -> Self {
        Self { backend: info.backend.clone(), org: info.org.clone() }
    }

    /// The tags a function of `env` on this backend carries.
    pub fn tags(&self, env: &EnvironmentName) -> HashMap<String, String> {
        [
            (TAG_PROJECT, env.project().as_str()),
            (TAG_ENV, env.env().as_str()),
            (TAG_BACKEND, self.backend.as_str()),
            (TAG_ORG, self.org.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

/// The owner a function's tags name; parts are missing on functions made
/// before ownership tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunctionOwner {
    /// `ownstak:project`.
    pub project: Option<String>,
    /// `ownstak:env`.
    pub env: Option<String>,
    /// `ownstak:backend`.
    pub backend: Option<String>,
    /// `ownstak:org`.
    pub org: Option<String>,
}

impl FunctionOwner {
    /// Reads the ownership tags of a function's tags.
    pub fn from_tags(tags: &HashMap<String, String>) -> Self {
        let get = |k: &str| tags.get(k).cloned();
        Self { project: get(TAG_PROJECT), env: get(TAG_ENV), backend: get(TAG_BACKEND), org: get(TAG_ORG) }
    }

    /// How messages name the owner, e.g. ``project `a-b`, environment `c` (backend `local` of organization `dev`)``.
    pub fn describe(&self) -> String {
        let name = |v: &Option<String>| v.as_deref().map_or_else(|| "(unknown)".to_owned(), |v| format!("`{v}`"));
        let mut text = format!("project {}, environment {}", name(&self.project), name(&self.env));
        if self.backend.is_some() || self.org.is_some() {
            text.push_str(&format!(" (backend {} of organization {})", name(&self.backend), name(&self.org)));
        }
        text
    }
}

/// What a function's tags say about a command's claim on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Its tags name the command's project, environment and backend.
    Owned,
    /// It was made before ownership tags (none disagrees); a deploy adopts it.
    Unclaimed,
}

/// Checks a function's owner against the command's; a function of another
/// project, environment or backend is refused, with the owner and the way
/// out in the error.
pub fn check_owner(
    function: &str,
    owner: &FunctionOwner,
    env: &EnvironmentName,
    backend: &BackendId,
) -> Result<Claim, DeployError> {
    let wanted = FunctionOwner {
        project: Some(env.project().as_str().to_owned()),
        env: Some(env.env().as_str().to_owned()),
        backend: Some(backend.backend.clone()),
        org: Some(backend.org.clone()),
    };
    let differs = |have: &Option<String>, want: &Option<String>| have.is_some() && have != want;
    let other_env = differs(&owner.project, &wanted.project) || differs(&owner.env, &wanted.env);
    let other_backend = differs(&owner.backend, &wanted.backend) || differs(&owner.org, &wanted.org);
    if other_env || other_backend {
        let hint = if other_env {
            "pick another project or environment name (--project/--env)".to_owned()
        } else {
            let (b, o) = (owner.backend.as_deref().unwrap_or("?"), owner.org.as_deref().unwrap_or("?"));
            format!(
                "deploy it through backend `{b}` of organization `{o}` (for an AWS backend: --backend {b} --org {o}), or pick another project or environment name for this backend"
            )
        };
        return Err(DeployError::NotOwner {
            function: function.to_owned(),
            owner: owner.describe(),
            wanted: wanted.describe(),
            hint,
        });
    }
    if owner.backend.is_some() && owner.org.is_some() && owner.project.is_some() && owner.env.is_some() {
        Ok(Claim::Owned)
    } else {
        Ok(Claim::Unclaimed)
    }
}

/// A function's tags. GetFunction returns them only to callers allowed
/// `lambda:ListTags`, so when it shows none they are asked for with
/// ListTags, which fails loudly instead of hiding them.
pub(crate) async fn function_tags(
    client: &aws_sdk_lambda::Client,
    ep: &Endpoint,
    arn: &str,
    from_get_function: Option<&HashMap<String, String>>,
) -> Result<HashMap<String, String>, DeployError> {
    if let Some(tags) = from_get_function.filter(|t| !t.is_empty()) {
        return Ok(tags.clone());
    }
    let listed = client.list_tags().resource(arn).send().await.map_err(sdk("ListTags", ep))?;
    Ok(listed.tags().cloned().unwrap_or_default())
}

/// Reads a function's owner and checks it (see [`check_owner`]); `None`
/// when the function does not exist.
pub(crate) async fn read_owner(
    client: &aws_sdk_lambda::Client,
    ep: &Endpoint,
    env: &EnvironmentName,
    backend: &BackendId,
) -> Result<Option<(Claim, String)>, DeployError> {
    let function = env.function();
    let got = match client.get_function().function_name(function).send().await {
        Ok(got) => got,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => return Ok(None),
        Err(e) => return Err(sdk("GetFunction", ep)(e)),
    };
    let arn = got.configuration().and_then(|c| c.function_arn()).unwrap_or(function).to_owned();
    let tags = function_tags(client, ep, &arn, got.tags()).await?;
    let claim = check_owner(function, &FunctionOwner::from_tags(&tags), env, backend)?;
    Ok(Some((claim, arn)))
}

/// Adds the ownership tags to a function made before them, then checks
/// that they are the ones it carries now.
pub(crate) async fn adopt(
    client: &aws_sdk_lambda::Client,
    ep: &Endpoint,
    env: &EnvironmentName,
    backend: &BackendId,
    arn: &str,
) -> Result<(), DeployError> {
    let function = env.function();
    tracing::warn!(
        %function,
        "function {function} has no ownership tags (it was made by an older ownstak); adopting it for project `{}`, environment `{}` of backend `{}` (organization `{}`)",
        env.project(),
        env.env(),
        backend.backend,
        backend.org
    );
    client
        .tag_resource()
        .resource(arn)
        .set_tags(Some(backend.tags(env)))
        .send()
        .await
        .map_err(sdk("TagResource", ep))?;
    let tags = function_tags(client, ep, arn, None).await?;
    match check_owner(function, &FunctionOwner::from_tags(&tags), env, backend)? {
        Claim::Owned => Ok(()),
        Claim::Unclaimed => Err(DeployError::NotOwner {
            function: function.to_owned(),
            owner: FunctionOwner::from_tags(&tags).describe(),
            wanted: format!("project `{}`, environment `{}`", env.project(), env.env()),
            hint: "its ownership tags could not be set; check that the credentials may call lambda:TagResource"
                .to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use ownstak_core::FunctionPrefix;

    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> FunctionOwner {
        FunctionOwner::from_tags(&pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    #[test]
    fn owners_are_checked_tag_by_tag() {
        let env = EnvironmentName::new(&FunctionPrefix::default(), "a", "b-c").unwrap();
        let here = BackendId { backend: "local".into(), org: "dev".into() };
        let full = |p: &str, e: &str, b: &str, o: &str| {
            tags(&[(TAG_PROJECT, p), (TAG_ENV, e), (TAG_BACKEND, b), (TAG_ORG, o)])
        };
        assert_eq!(check_owner("f", &full("a", "b-c", "local", "dev"), &env, &here).unwrap(), Claim::Owned);
        // Made before ownership tags: adopted.
        assert_eq!(check_owner("f", &tags(&[]), &env, &here).unwrap(), Claim::Unclaimed);
        assert_eq!(
            check_owner("f", &tags(&[(TAG_PROJECT, "a"), (TAG_ENV, "b-c")]), &env, &here).unwrap(),
            Claim::Unclaimed
        );

        // Another project whose name makes the same function name.
        let err = check_owner("ownstak-a-b-c", &full("a-b", "c", "local", "dev"), &env, &here).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("ownstak-a-b-c")
                && text.contains("project `a-b`, environment `c` (backend `local` of organization `dev`)")
                && text.contains("pick another project or environment name"),
            "{text}"
        );
        // The same, made by an older ownstak (project and environment tags only).
        let err = check_owner("f", &tags(&[(TAG_PROJECT, "a-b"), (TAG_ENV, "c")]), &env, &here).unwrap_err();
        assert!(err.to_string().contains("project `a-b`, environment `c`"), "{err}");
        // Another backend or organization.
        let err = check_owner("f", &full("a", "b-c", "prod", "dev"), &env, &here).unwrap_err();
        assert!(err.to_string().contains("--backend prod --org dev"), "{err}");
        let err = check_owner("f", &full("a", "b-c", "local", "acme"), &env, &here).unwrap_err();
        assert!(err.to_string().contains("organization `acme`"), "{err}");
    }
}
