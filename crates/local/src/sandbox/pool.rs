//! The pool of environments: reuse of warm ones, a per-function limit on
//! concurrent environments, and reaping of idle ones.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Semaphore;

use super::environment::{Delivery, Environment, NotTaken};
use super::{FunctionSpec, Outcome};

/// Limits of the pool.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Most environments per function running invocations at once.
    pub max_environments: usize,
    /// How long an invocation waits for a free slot before throttling.
    pub queue_timeout: Duration,
    /// How long a new environment may take to ask for its first invocation.
    pub init_timeout: Duration,
    /// Idle environments older than this are stopped.
    pub idle_timeout: Duration,
    /// Largest response a runtime may post.
    pub max_response: usize,
}

/// No environment became free within the queue timeout.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("Rate Exceeded.")]
pub struct Throttled;

type EnvKey = (String, String, String);

#[derive(Default)]
struct Inner {
    idle: HashMap<EnvKey, Vec<Environment>>,
    limits: HashMap<String, Arc<Semaphore>>,
}

/// Environments of all functions.
pub struct Pool {
    config: PoolConfig,
    inner: Mutex<Inner>,
    next_id: AtomicU64,
    closed: std::sync::atomic::AtomicBool,
}

impl Pool {
    /// An empty pool.
    pub fn new(config: PoolConfig) -> Arc<Self> {
        Arc::new(Self { config, inner: Mutex::new(Inner::default()), next_id: AtomicU64::new(1), closed: Default::default() })
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The maps stay consistent: every change is a single insert or remove.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one invocation in a warm or new environment. The work goes on
    /// in its own task, so a caller that gives up does not kill the
    /// environment mid-invocation.
    pub async fn invoke(self: &Arc<Self>, spec: FunctionSpec, request_id: String, payload: Bytes) -> Result<Outcome, Throttled> {
        let limit = {
            let mut inner = self.inner();
            inner.limits.entry(spec.function.clone()).or_insert_with(|| Arc::new(Semaphore::new(self.config.max_environments))).clone()
        };
        let permit = tokio::time::timeout(self.config.queue_timeout, limit.acquire_owned())
            .await
            .map_err(|_| Throttled)?
            .map_err(|_| Throttled)?;
        let pool = self.clone();
        let (deliver, outcome) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let key: EnvKey = (spec.function.clone(), spec.version.clone(), spec.revision_id.clone());
            let mut deliver = Delivery::new(deliver);
            let mut warm = pool.take_idle(&key);
            // At most one retry: a warm environment that turned out dead is
            // replaced by a fresh one, which never hands the invocation back.
            let env = loop {
                let mut env = match warm.take() {
                    Some(env) => env,
                    None => {
                        let id = pool.next_id.fetch_add(1, Ordering::Relaxed);
                        match Environment::spawn(id, &spec, pool.config.max_response).await {
                            Ok(env) => env,
                            Err(failure) => {
                                deliver.give(Outcome::Failure(failure));
                                deliver.release();
                                return;
                            }
                        }
                    }
                };
                match env.invoke(&spec, &request_id, payload.clone(), pool.config.init_timeout, &mut deliver).await {
                    Ok(()) => break env,
                    Err(NotTaken) => {
                        tracing::debug!(env = env.id, function = %spec.function, "warm environment had exited; retrying in a fresh one");
                    }
                }
            };
            if env.reusable() && !pool.closed.load(Ordering::SeqCst) {
                pool.inner().idle.entry(key).or_default().push(env);
            } else {
                tracing::debug!(env = env.id, function = %spec.function, "environment discarded");
                drop(env);
            }
            drop(permit);
            deliver.release();
        });
        Ok(outcome.await.unwrap_or_else(|_| {
            Outcome::Failure(super::FunctionFailure::platform("Runtime.Unknown", "the invocation ended without an outcome"))
        }))
    }

    fn take_idle(&self, key: &EnvKey) -> Option<Environment> {
        let mut inner = self.inner();
        let list = inner.idle.get_mut(key)?;
        while let Some(env) = list.pop() {
            if env.reusable() {
                return Some(env);
            }
        }
        None
    }

    /// Stops idle environments of a function (after it is deleted or changed).
    pub fn retire(&self, function: &str) {
        let removed: Vec<_> = {
            let mut inner = self.inner();
            let keys: Vec<EnvKey> = inner.idle.keys().filter(|k| k.0 == function).cloned().collect();
            keys.into_iter().filter_map(|k| inner.idle.remove(&k)).collect()
        };
        drop(removed);
    }

    /// Stops environments idle for longer than the idle timeout.
    pub fn reap(&self) -> usize {
        let timeout = self.config.idle_timeout;
        let mut stopped = Vec::new();
        {
            let mut inner = self.inner();
            for list in inner.idle.values_mut() {
                let (keep, old): (Vec<_>, Vec<_>) = list.drain(..).partition(|e| e.reusable() && e.last_used.elapsed() < timeout);
                *list = keep;
                stopped.extend(old);
            }
            inner.idle.retain(|_, l| !l.is_empty());
        }
        let n = stopped.len();
        drop(stopped);
        n
    }

    /// Runs [`Pool::reap`] periodically until the pool is dropped.
    pub fn spawn_reaper(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let every = (self.config.idle_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(10));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(pool) = weak.upgrade() else { break };
                let n = pool.reap();
                if n > 0 {
                    tracing::debug!(stopped = n, "reaped idle environments");
                }
            }
        });
    }

    /// Number of idle environments, for status output and tests.
    pub fn idle_count(&self) -> usize {
        self.inner().idle.values().map(Vec::len).sum()
    }

    /// Stops every idle environment; busy ones stop when their invocation ends.
    pub fn shutdown(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let all: Vec<_> = self.inner().idle.drain().collect();
        drop(all);
    }
}
