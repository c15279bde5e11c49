//! The pool of environments: reuse of warm ones, a per-function limit on
//! concurrent environments, and reaping of idle ones.

use std::collections::{HashMap, VecDeque};
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
    /// How long an invocation that finds every environment of its version
    /// busy waits for one to come free before starting another. Starting
    /// an environment costs a cold start and a process; on one machine a
    /// warm one is nearly always free sooner. Zero starts one at once (as
    /// AWS does).
    pub warm_wait: Duration,
}

/// The longest an invocation waits for a busy environment (while others
/// start or the processors are saturated) before it starts one anyway: a
/// function may be waiting for another invocation of itself.
const WAIT_LIMIT: Duration = Duration::from_secs(1);

/// No environment became free within the queue timeout.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("Rate Exceeded.")]
pub struct Throttled;

type EnvKey = (String, String, String);

/// Passes a busy slot to a waiting invocation: with a warm environment, or
/// `None` to start a fresh one.
type Handoff = tokio::sync::oneshot::Sender<Option<Environment>>;

#[derive(Default)]
struct Inner {
    idle: HashMap<EnvKey, Vec<Environment>>,
    limits: HashMap<String, Arc<Semaphore>>,
    /// Environments of each version that are running an invocation.
    busy: HashMap<EnvKey, usize>,
    /// Environments of the version being started (until their first invocation ends).
    starting: HashMap<EnvKey, usize>,
    /// Invocations waiting for a busy environment of the version, oldest first.
    waiters: HashMap<EnvKey, VecDeque<Handoff>>,
}

/// Environments of all functions.
pub struct Pool {
    config: PoolConfig,
    inner: Mutex<Inner>,
    next_id: AtomicU64,
    closed: std::sync::atomic::AtomicBool,
    cpu: super::cpu::CpuLoad,
}

impl Pool {
    /// An empty pool.
    pub fn new(config: PoolConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            inner: Mutex::new(Inner::default()),
            next_id: AtomicU64::new(1),
            closed: Default::default(),
            cpu: super::cpu::CpuLoad::default(),
        })
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The maps stay consistent: every change is a single insert or remove.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one invocation in a warm or new environment. The work goes on
    /// in its own task, so a caller that gives up does not kill the
    /// environment mid-invocation.
    pub async fn invoke(
        self: &Arc<Self>,
        spec: FunctionSpec,
        request_id: String,
        payload: Bytes,
    ) -> Result<Outcome, Throttled> {
        let limit = {
            let mut inner = self.inner();
            inner
                .limits
                .entry(spec.function.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(self.config.max_environments)))
                .clone()
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
            let mut warm = pool.take_warm(&key).await;
            // This invocation starts an environment: it counts as starting
            // until the runtime takes the invocation (its init is over).
            let mut starting = warm.is_none().then(|| Starting { pool: pool.clone(), key: key.clone() });
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
                                pool.not_busy(&key);
                                drop(starting);
                                deliver.give(Outcome::Failure(failure));
                                deliver.release();
                                return;
                            }
                        }
                    }
                };
                match env
                    .invoke(&spec, &request_id, payload.clone(), pool.config.init_timeout, &mut deliver, &mut starting)
                    .await
                {
                    Ok(()) => break env,
                    Err(NotTaken) => {
                        tracing::debug!(env = env.id, function = %spec.function, "warm environment had exited; retrying in a fresh one");
                    }
                }
            };
            drop(starting);
            pool.give_back(key, env, &spec.function);
            drop(permit);
            deliver.release();
        });
        Ok(outcome.await.unwrap_or_else(|_| {
            Outcome::Failure(super::FunctionFailure::platform(
                "Runtime.Unknown",
                "the invocation ended without an outcome",
            ))
        }))
    }

    /// A warm environment of `key`, waiting up to the warm wait for a busy
    /// one to come free; `None` means a new one must start. Either way the
    /// caller now holds one of the version's busy slots until
    /// [`Pool::give_back`] (or [`Pool::not_busy`] if the start fails).
    async fn take_warm(&self, key: &EnvKey) -> Option<Environment> {
        let mut handoff = {
            let mut inner = self.inner();
            if let Some(env) = take_idle(&mut inner, key) {
                *inner.busy.entry(key.clone()).or_default() += 1;
                return Some(env);
            }
            if inner.busy.get(key).copied().unwrap_or(0) == 0 || self.config.warm_wait.is_zero() {
                *inner.busy.entry(key.clone()).or_default() += 1;
                *inner.starting.entry(key.clone()).or_default() += 1;
                return None;
            }
            let (tx, rx) = tokio::sync::oneshot::channel();
            inner.waiters.entry(key.clone()).or_default().push_back(tx);
            rx
        };
        // Waiters are served in arrival order; a handed-over slot comes with
        // its environment, or with `None` when that one could not be reused.
        // The wait goes on (up to a bound) while another environment of the
        // version is starting — it will serve the queue soon, and a burst
        // must not start one environment per waiting invocation at once —
        // or while the processors are saturated, when another environment
        // would only take turns with the busy ones.
        let waiting_since = tokio::time::Instant::now();
        loop {
            match tokio::time::timeout(self.config.warm_wait, &mut handoff).await {
                Ok(Ok(env)) => return env,
                Ok(Err(_)) => break,
                Err(_) if waiting_since.elapsed() >= WAIT_LIMIT => break,
                Err(_) => {
                    let another_starting = self.inner().starting.contains_key(key);
                    // Read outside the pool's lock: it is a file read.
                    if !another_starting && !self.cpu.saturated() {
                        break;
                    }
                }
            }
        }
        let mut inner = self.inner();
        // A handoff may have landed after the timeout; under the lock no more can.
        if let Ok(env) = handoff.try_recv() {
            return env;
        }
        handoff.close();
        *inner.busy.entry(key.clone()).or_default() += 1;
        *inner.starting.entry(key.clone()).or_default() += 1;
        tracing::debug!(function = %key.0, waited_ms = waiting_since.elapsed().as_millis() as u64, busy = inner.busy.get(key).copied().unwrap_or(0), "no environment came free; starting another");
        None
    }

    /// Ends an invocation's use of `env`: the slot passes to the longest
    /// waiting invocation if any (with the environment when it can run
    /// another); otherwise the environment goes back to the idle list, or
    /// is stopped when it cannot be reused.
    fn give_back(&self, key: EnvKey, env: Environment, function: &str) {
        let mut inner = self.inner();
        let mut env = if env.reusable() && !self.closed.load(Ordering::SeqCst) {
            Some(env)
        } else {
            tracing::debug!(env = env.id, %function, "environment discarded");
            drop(env);
            None
        };
        if let Some(waiters) = inner.waiters.get_mut(&key) {
            while let Some(waiter) = waiters.pop_front() {
                match waiter.send(env) {
                    Ok(()) => return,
                    // That invocation stopped waiting; try the next one.
                    Err(back) => env = back,
                }
            }
            inner.waiters.remove(&key);
        }
        decrement_busy(&mut inner, &key);
        if let Some(env) = env {
            inner.idle.entry(key).or_default().push(env);
        }
    }

    /// Ends the count of an environment that was starting (see [`Starting`]).
    fn started(&self, key: &EnvKey) {
        let mut inner = self.inner();
        if let Some(n) = inner.starting.get_mut(key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                inner.starting.remove(key);
            }
        }
    }

    /// Ends a busy count whose environment never started.
    fn not_busy(&self, key: &EnvKey) {
        decrement_busy(&mut self.inner(), key);
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
                let (keep, old): (Vec<_>, Vec<_>) =
                    list.drain(..).partition(|e| e.reusable() && e.last_used.elapsed() < timeout);
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

/// Pops the most recently used environment of `key` that can still run.
fn take_idle(inner: &mut Inner, key: &EnvKey) -> Option<Environment> {
    let list = inner.idle.get_mut(key)?;
    while let Some(env) = list.pop() {
        if env.reusable() {
            return Some(env);
        }
    }
    None
}

fn decrement_busy(inner: &mut Inner, key: &EnvKey) {
    if let Some(n) = inner.busy.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            inner.busy.remove(key);
        }
    }
}

/// Counts an environment of a version as starting while it lives: waiting
/// invocations of that version then wait for it rather than start more.
/// Dropped when the runtime takes its first invocation, or when the start fails.
pub(super) struct Starting {
    pool: Arc<Pool>,
    key: EnvKey,
}

impl Drop for Starting {
    fn drop(&mut self) {
        self.pool.started(&self.key);
    }
}
