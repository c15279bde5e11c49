//! The pool of environments: reuse of warm ones, a per-function limit on
//! concurrent environments, and reaping of idle ones.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ownstak_core::lambda::error_type;
use tokio::sync::{Semaphore, oneshot};

use super::environment::{Delivery, Environment, NotTaken};
use super::{FunctionSpec, InvokeRequest, Outcome};

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

/// The environments of one version of a function are interchangeable
/// only for the same code and configuration (its revision).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct VersionKey {
    function: String,
    version: String,
    revision_id: String,
}

impl VersionKey {
    fn of(spec: &FunctionSpec) -> Self {
        Self { function: spec.function.clone(), version: spec.version.clone(), revision_id: spec.revision_id.clone() }
    }
}

/// Passes a busy slot to a waiting invocation: with a warm environment, or
/// `None` to start a fresh one.
type Handoff = oneshot::Sender<(BusySlot, Option<Environment>)>;

/// The environments of one version and the invocations using them.
#[derive(Default)]
struct Version {
    /// Environments waiting for an invocation, most recently used last.
    idle: Vec<Environment>,
    /// Busy slots: invocations holding an environment (or starting one).
    busy: usize,
    /// Environments being started, until their runtime takes an invocation.
    starting: usize,
    /// Invocations waiting for a busy environment, oldest first.
    waiters: VecDeque<Handoff>,
}

impl Version {
    fn is_unused(&self) -> bool {
        self.idle.is_empty() && self.busy == 0 && self.starting == 0 && self.waiters.is_empty()
    }
}

#[derive(Default)]
struct Inner {
    versions: HashMap<VersionKey, Version>,
    /// The per-function limit on environments running at once.
    limits: HashMap<String, Arc<Semaphore>>,
}

impl Inner {
    fn version(&mut self, key: &VersionKey) -> &mut Version {
        self.versions.entry(key.clone()).or_default()
    }

    /// Forgets a version with nothing left in it, so the map does not grow.
    fn tidy(&mut self, key: &VersionKey) {
        if self.versions.get(key).is_some_and(Version::is_unused) {
            self.versions.remove(key);
        }
    }
}

/// Environments of all functions.
pub struct Pool {
    config: PoolConfig,
    inner: Mutex<Inner>,
    next_id: AtomicU64,
    closed: AtomicBool,
    cpu: super::cpu::CpuLoad,
}

impl Pool {
    /// An empty pool.
    pub fn new(config: PoolConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            inner: Mutex::new(Inner::default()),
            next_id: AtomicU64::new(1),
            closed: AtomicBool::new(false),
            cpu: super::cpu::CpuLoad::default(),
        })
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every change under this lock is a complete update of plain counters and lists.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one invocation in a warm or new environment. The work goes on
    /// in its own task, so a caller that gives up does not kill the
    /// environment mid-invocation.
    pub async fn invoke(self: &Arc<Self>, req: InvokeRequest) -> Result<Outcome, Throttled> {
        let limit = {
            let mut inner = self.inner();
            inner
                .limits
                .entry(req.spec.function.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(self.config.max_environments)))
                .clone()
        };
        let permit = tokio::time::timeout(self.config.queue_timeout, limit.acquire_owned())
            .await
            .map_err(|_| Throttled)?
            .map_err(|_| Throttled)?;
        let pool = self.clone();
        let (deliver, outcome) = oneshot::channel();
        tokio::spawn(async move {
            let mut deliver = Delivery::new(deliver);
            pool.run(&req, &mut deliver).await;
            drop(permit);
            deliver.release();
        });
        Ok(outcome.await.unwrap_or_else(|_| {
            Outcome::Failure(super::FunctionFailure::platform(
                error_type::RUNTIME_UNKNOWN,
                "the invocation ended without an outcome",
            ))
        }))
    }

    /// Runs `req` to its end in one environment, accounting for its slots.
    async fn run(self: &Arc<Self>, req: &InvokeRequest, deliver: &mut Delivery) {
        let key = VersionKey::of(&req.spec);
        let (slot, mut warm) = self.assign(&key).await;
        // At most one retry: a warm environment that turned out dead is
        // replaced by a fresh one, which never hands the invocation back.
        loop {
            // An invocation that starts an environment counts it as starting
            // until the runtime takes the invocation (its init is over).
            let mut starting = warm.is_none().then(|| StartingSlot::new(self, &key));
            let mut env = match warm.take() {
                Some(env) => env,
                None => {
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    match Environment::spawn(id, &req.spec, self.config.max_response).await {
                        Ok(env) => env,
                        Err(failure) => return deliver.give(Outcome::Failure(failure)),
                    }
                }
            };
            match env.invoke(req, self.config.init_timeout, deliver, || drop(starting.take())).await {
                Ok(()) => return self.give_back(slot, env),
                Err(NotTaken) => {
                    tracing::debug!(env = env.id, function = %key.function, "warm environment had exited; retrying in a fresh one");
                }
            }
        }
    }

    /// A busy slot of `key`, with a warm environment, or with `None` when
    /// a new one must start. A busy environment may come free within the
    /// warm wait; the invocation then takes it instead of starting one.
    async fn assign(self: &Arc<Self>, key: &VersionKey) -> (BusySlot, Option<Environment>) {
        let mut handoff = {
            let mut inner = self.inner();
            let version = inner.version(key);
            if let Some(env) = take_idle(version) {
                version.busy += 1;
                return (BusySlot::new(self, key), Some(env));
            }
            if version.busy == 0 || self.config.warm_wait.is_zero() {
                version.busy += 1;
                return (BusySlot::new(self, key), None);
            }
            let (tx, rx) = oneshot::channel();
            version.waiters.push_back(tx);
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
                Ok(Ok(handed)) => return handed,
                Ok(Err(_)) => break,
                Err(_) if waiting_since.elapsed() >= WAIT_LIMIT => break,
                Err(_) => {
                    let another_starting = self.inner().versions.get(key).is_some_and(|v| v.starting > 0);
                    // Read outside the pool's lock: it is a file read.
                    if !another_starting && !self.cpu.saturated() {
                        break;
                    }
                }
            }
        }
        let mut inner = self.inner();
        // A handoff may have landed after the timeout; under the lock no more can.
        if let Ok(handed) = handoff.try_recv() {
            return handed;
        }
        handoff.close();
        let version = inner.version(key);
        version.busy += 1;
        tracing::debug!(function = %key.function, waited_ms = waiting_since.elapsed().as_millis() as u64, busy = version.busy, "no environment came free; starting another");
        (BusySlot::new(self, key), None)
    }

    /// Ends an invocation's use of `env`: the slot passes to the longest
    /// waiting invocation if any (with the environment when it can run
    /// another); otherwise the environment goes back to the idle list, or
    /// is stopped when it cannot be reused.
    fn give_back(&self, slot: BusySlot, env: Environment) {
        let env = if env.reusable() && !self.closed.load(Ordering::SeqCst) {
            Some(env)
        } else {
            tracing::debug!(env = env.id, function = %slot.key.function, "environment discarded");
            None
        };
        let mut inner = self.inner();
        let version = inner.version(&slot.key);
        let mut handed = (slot, env);
        while let Some(waiter) = version.waiters.pop_front() {
            match waiter.send(handed) {
                Ok(()) => return,
                // That invocation stopped waiting; try the next one.
                Err(back) => handed = back,
            }
        }
        let (slot, env) = handed;
        if let Some(env) = env {
            version.idle.push(env);
        }
        slot.release(&mut inner);
    }

    /// Stops idle environments of a function (after it is deleted or changed).
    pub fn retire(&self, function: &str) {
        let removed: Vec<Environment> = {
            let mut inner = self.inner();
            inner
                .versions
                .iter_mut()
                .filter(|(k, _)| k.function == function)
                .flat_map(|(_, v)| std::mem::take(&mut v.idle))
                .collect()
        };
        // Dropped outside the lock: stopping a process group sends signals.
        drop(removed);
    }

    /// Stops environments idle for longer than the idle timeout.
    pub fn reap(&self) -> usize {
        let timeout = self.config.idle_timeout;
        let mut stopped = Vec::new();
        {
            let mut inner = self.inner();
            for version in inner.versions.values_mut() {
                let (keep, old): (Vec<_>, Vec<_>) =
                    version.idle.drain(..).partition(|e| e.reusable() && e.last_used.elapsed() < timeout);
                version.idle = keep;
                stopped.extend(old);
            }
            inner.versions.retain(|_, v| !v.is_unused());
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
        self.inner().versions.values().map(|v| v.idle.len()).sum()
    }

    /// Stops every idle environment; busy ones stop when their invocation ends.
    pub fn shutdown(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let all: Vec<Environment> =
            self.inner().versions.values_mut().flat_map(|v| std::mem::take(&mut v.idle)).collect();
        drop(all);
    }
}

/// Pops the most recently used environment that can still run.
fn take_idle(version: &mut Version) -> Option<Environment> {
    while let Some(env) = version.idle.pop() {
        if env.reusable() {
            return Some(env);
        }
    }
    None
}

/// One of a version's busy slots: held by an invocation from the moment it
/// is given a warm environment, or decides to start one, until it gives the
/// environment back (the slot may then pass on to a waiting invocation).
/// Dropping it frees the slot.
struct BusySlot {
    pool: Arc<Pool>,
    key: VersionKey,
    held: bool,
}

impl BusySlot {
    /// A slot already counted in the version's `busy`.
    fn new(pool: &Arc<Pool>, key: &VersionKey) -> Self {
        Self { pool: pool.clone(), key: key.clone(), held: true }
    }

    /// Frees the slot under a lock the caller already holds.
    fn release(mut self, inner: &mut Inner) {
        self.held = false;
        let version = inner.version(&self.key);
        version.busy = version.busy.saturating_sub(1);
        inner.tidy(&self.key);
    }
}

impl Drop for BusySlot {
    fn drop(&mut self) {
        if self.held {
            self.held = false;
            let pool = self.pool.clone();
            let mut inner = pool.inner();
            let version = inner.version(&self.key);
            version.busy = version.busy.saturating_sub(1);
            inner.tidy(&self.key);
        }
    }
}

/// Counts an environment of a version as starting while it lives, so that
/// waiting invocations of that version wait for it rather than start more.
/// Dropped when the runtime takes its first invocation, or when the start fails.
struct StartingSlot {
    pool: Arc<Pool>,
    key: VersionKey,
}

impl StartingSlot {
    fn new(pool: &Arc<Pool>, key: &VersionKey) -> Self {
        pool.inner().version(key).starting += 1;
        Self { pool: pool.clone(), key: key.clone() }
    }
}

impl Drop for StartingSlot {
    fn drop(&mut self) {
        let mut inner = self.pool.inner();
        let version = inner.version(&self.key);
        version.starting = version.starting.saturating_sub(1);
        inner.tidy(&self.key);
    }
}
