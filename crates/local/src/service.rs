//! The service object shared by all API handlers.

use std::sync::Arc;

use bytes::Bytes;

use crate::arn::ArnBuilder;
use crate::code::CodeStore;
use crate::config::LocalConfig;
use crate::sandbox::{InvokeRequest, Outcome, Pool, PoolConfig};
use crate::store::{Store, StoreError};

/// State, code, environments and settings of the local Lambda service.
pub struct Service {
    /// The settings it was started with.
    pub config: LocalConfig,
    /// Functions, versions and aliases.
    pub store: Store,
    /// Unpacked code.
    pub code: CodeStore,
    /// Running environments.
    pub pool: Arc<Pool>,
    /// ARN formatting for this region and account.
    pub arns: ArnBuilder,
    /// The parameters of the SSM endpoint (variables and secrets).
    pub(crate) parameters: Arc<crate::ssm::ParameterStore>,
}

impl Service {
    /// Opens the data directory (private to its owner: created 0700, or
    /// tightened if an older version left it open) and prepares the pool
    /// (with its reaper).
    pub fn open(config: LocalConfig) -> Result<Arc<Self>, StoreError> {
        crate::private::private_dir(&config.data_dir)?;
        let store = Store::open(&config.db_path())?;
        let parameters = Arc::new(crate::ssm::ParameterStore::open(&config.parameters_path())?);
        let code = CodeStore::new(config.code_dir());
        code.clean_partial();
        let pool = Pool::new(PoolConfig {
            max_environments: config.max_environments,
            queue_timeout: config.queue_timeout,
            init_timeout: config.init_timeout,
            idle_timeout: config.idle_timeout,
            max_response: config.max_payload_bytes,
            warm_wait: config.warm_wait,
        });
        pool.spawn_reaper();
        let arns = ArnBuilder::new(&config.region, &config.account_id);
        Ok(Arc::new(Self { config, store, code, pool, arns, parameters }))
    }

    /// The log file of a function.
    pub fn log_path(&self, function: &str) -> std::path::PathBuf {
        self.config.log_dir().join(format!("{function}.log"))
    }

    /// Invokes `function` at `qualifier` in process, as the Invoke and
    /// InvokeWithResponseStream operations do once they have read their
    /// request: the embedded backend's proxy calls this instead of sending
    /// HTTP to itself. `payload` must be a JSON event.
    pub async fn invoke(&self, function: &str, qualifier: &str, payload: Bytes) -> Result<Outcome, InvokeError> {
        if payload.len() > self.config.max_payload_bytes {
            return Err(InvokeError::TooLarge(self.config.max_payload_bytes));
        }
        let f = self.store.get(function).ok_or_else(|| InvokeError::NotFound(function.to_owned()))?;
        let version = f.resolve(Some(qualifier)).cloned().ok_or_else(|| InvokeError::NotFound(function.to_owned()))?;
        let spec = crate::api::invoke::spec(self, &f, &version, Some(qualifier));
        let request_id = uuid::Uuid::new_v4().to_string();
        self.pool.invoke(InvokeRequest { spec, request_id, payload }).await.map_err(|_| InvokeError::Throttled)
    }

    /// The version `alias` of `function` points at; `None` when either is missing.
    pub fn alias_version(&self, function: &str, alias: &str) -> Option<String> {
        self.store.get(function).and_then(|f| f.resolve(Some(alias)).map(|v| v.version.clone()))
    }
}

/// Why [`Service::invoke`] did not run the function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    /// The function, or the version or alias, does not exist.
    #[error("function not found: {0}")]
    NotFound(String),
    /// Every environment the function may run was busy past the queue timeout.
    #[error("Rate Exceeded.")]
    Throttled,
    /// The event is larger than the invoke payload limit.
    #[error("Request must be smaller than {0} bytes for the InvokeFunction operation")]
    TooLarge(usize),
}
