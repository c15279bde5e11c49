//! Uploading the static files of a build (`ownstak build`) to the
//! backend's asset store once the deployment's version is published.

use std::path::{Path, PathBuf};

use ownstak_assets::{AssetStore, PreparedUpload, StoreConfig, UploadPlan, UploadProgress, UploadReport};
use ownstak_build::{ASSETS_DIR, BUILD_FILE, BuildOutput, COMPUTE_DIR, PERMANENT_DIR, RouteMatch};
use ownstak_core::BackendInfo;

use crate::error::DeployError;

/// The build output a deployed directory is the `compute/` of, with its
/// `.ownstak` directory; `None` when the directory is not one.
pub fn find_build_output(deployed_dir: &Path) -> Result<Option<(PathBuf, BuildOutput)>, DeployError> {
    let Ok(dir) = std::path::absolute(deployed_dir) else { return Ok(None) };
    if dir.file_name().is_none_or(|n| n != COMPUTE_DIR) {
        return Ok(None);
    }
    let Some(out_dir) = dir.parent() else { return Ok(None) };
    let build_file = out_dir.join(BUILD_FILE);
    let text = match std::fs::read(&build_file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(DeployError::Project { path: build_file.display().to_string(), message: e.to_string() }),
    };
    let build: BuildOutput = serde_json::from_slice(&text)
        .map_err(|e| DeployError::Project { path: build_file.display().to_string(), message: e.to_string() })?;
    Ok(Some((out_dir.to_owned(), build)))
}

/// The upload plan of a build whose `.ownstak` directory is `out_dir` (the
/// directory on disk wins over the one recorded in `build.json`).
pub fn asset_plan(out_dir: &Path, build: &BuildOutput) -> UploadPlan {
    let part = |dir: &str, files: u64| -> Option<PathBuf> { (files > 0).then(|| out_dir.join(dir)) };
    let permanent_prefix = build.routes.iter().find_map(|r| match &r.matches {
        RouteMatch::Prefix(p) if r.dir == PERMANENT_DIR => Some(p.clone()),
        _ => None,
    });
    // Asset routes are `<base><top-level entry>` (a path, or a prefix ending in `/`).
    let assets_base = build
        .routes
        .iter()
        .filter(|r| r.dir == ASSETS_DIR)
        .find_map(|r| {
            let p = match &r.matches {
                RouteMatch::Prefix(p) => p.trim_end_matches('/'),
                RouteMatch::Path(p) => p.as_str(),
            };
            p.rfind('/').map(|i| p[..=i].to_owned())
        })
        .unwrap_or_else(|| "/".to_owned());
    UploadPlan {
        permanent_dir: part(&build.permanent.dir, build.permanent.size.files),
        permanent_prefix,
        assets_dir: part(&build.assets.dir, build.assets.size.files),
        assets_base,
    }
}

/// Uploads prepared files (see [`ownstak_assets::prepare_upload`]) for
/// `version` of `function` to the asset store of the local backend at
/// `endpoint` (signing with its key pair); `None` when the backend has no
/// store (the function then serves the files itself).
pub async fn upload_assets(
    info: &BackendInfo,
    endpoint: &crate::Endpoint,
    function: &str,
    version: &str,
    prepared: &PreparedUpload,
    progress: impl FnMut(&UploadProgress),
) -> Result<Option<UploadReport>, DeployError> {
    let Some(store) = local_asset_store(info, endpoint).await else {
        tracing::info!("the backend has no asset store; the function serves the static files");
        return Ok(None);
    };
    Ok(Some(upload_assets_to(&store, function, version, prepared, progress).await?))
}

/// The asset store a local backend reports in its facts, signed for with
/// the key pair of `endpoint`; `None` when it has none.
pub async fn local_asset_store(info: &BackendInfo, endpoint: &crate::Endpoint) -> Option<AssetStore> {
    let (Some(store_endpoint), Some(bucket)) = (&info.assets_endpoint, &info.assets_bucket) else { return None };
    let mut config = StoreConfig::local(store_endpoint.clone(), bucket.clone());
    if let crate::Endpoint::Local { keys, .. } = endpoint {
        config = config.with_credentials(keys.clone());
    }
    Some(AssetStore::new(config).await)
}

/// Uploads prepared files for `version` of `function` to a given store (an
/// AWS backend's assets bucket).
pub async fn upload_assets_to(
    store: &AssetStore,
    function: &str,
    version: &str,
    prepared: &PreparedUpload,
    progress: impl FnMut(&UploadProgress),
) -> Result<UploadReport, DeployError> {
    Ok(store.upload_prepared(function, version, prepared, progress).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_only_build_outputs() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(find_build_output(tmp.path()).unwrap().is_none());
        let compute = tmp.path().join(".ownstak").join(COMPUTE_DIR);
        std::fs::create_dir_all(&compute).unwrap();
        assert!(find_build_output(&compute).unwrap().is_none(), "a compute/ without build.json is not a build");
    }
}
