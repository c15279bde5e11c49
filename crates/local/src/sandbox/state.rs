//! What one environment shares between the invocation task that owns it,
//! its Runtime API handlers and the watcher of its process: where the
//! environment is in its life and which invocation it holds, under one
//! lock. Every decision about an invocation (taken by the runtime, refused
//! because the process is gone, failed at init) is made here, so no two
//! parties can disagree about it, whatever the timing.

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use ownstak_core::lambda::error_type;
use tokio::sync::{Notify, mpsc};

use super::{FunctionFailure, Outcome};

/// Where an environment is in its life.
#[derive(Debug)]
enum Lifecycle {
    /// The process runs; its runtime has not taken an invocation yet.
    Initializing,
    /// The process runs and its runtime has taken an invocation before.
    Warm,
    /// The runtime reported an init error, which answers every invocation
    /// from now on; the environment is never reused.
    InitFailed(FunctionFailure),
    /// The process is gone (`status` says how); `warm` tells whether its
    /// runtime had taken an invocation before.
    Exited { status: String, warm: bool },
}

impl Lifecycle {
    /// Why an invocation offered now is not run here; `None` while the
    /// environment can take it.
    fn refusal(&self, request_id: &str) -> Option<Refusal> {
        match self {
            Lifecycle::Initializing | Lifecycle::Warm => None,
            Lifecycle::InitFailed(failure) => Some(Refusal::Failed(failure.clone())),
            Lifecycle::Exited { warm: true, .. } => Some(Refusal::NotTaken),
            Lifecycle::Exited { status, warm: false } => Some(Refusal::Failed(exit_failure(request_id, status))),
        }
    }
}

/// Why an environment did not run an invocation.
#[derive(Debug, Clone)]
pub(super) enum Refusal {
    /// The process of a warm environment is gone and the invocation never
    /// reached it: it may safely run in a fresh environment.
    NotTaken,
    /// The environment failed before it could run anything (an init error,
    /// or a process that exited during init): this is the invocation's outcome.
    Failed(FunctionFailure),
}

/// What an invocation task hears about its invocation, in this order:
/// `Taken`, then `Outcome`, then `Finished` (or a single `Refused`).
#[derive(Debug)]
pub(super) enum Progress {
    /// The runtime took the invocation (`invocation/next` answered with it).
    Taken,
    /// How the invocation ended, or that its response is streaming.
    Outcome(Outcome),
    /// The runtime is done with the invocation (a stream was read to its end).
    Finished,
    /// The invocation was never taken.
    Refused(Refusal),
}

/// An invocation as `invocation/next` hands it to the runtime.
#[derive(Debug)]
pub(super) struct NextInvocation {
    pub request_id: String,
    pub payload: Bytes,
    pub invoked_arn: String,
    pub timeout: Duration,
}

/// The invocation an environment holds.
#[derive(Debug)]
enum Hand {
    Empty,
    /// Offered to the runtime, which has not asked for it yet.
    Offered(NextInvocation, mpsc::UnboundedSender<Progress>),
    /// Taken by the runtime, whose result has not been posted yet.
    Active {
        request_id: String,
        progress: mpsc::UnboundedSender<Progress>,
    },
}

#[derive(Debug)]
struct Inner {
    lifecycle: Lifecycle,
    hand: Hand,
}

/// The shared state of one environment.
#[derive(Debug)]
pub(super) struct EnvState {
    inner: Mutex<Inner>,
    /// Wakes a runtime waiting in `invocation/next`.
    wake: Notify,
    /// Largest response the runtime may post.
    pub max_response: usize,
}

/// Where a runtime posts the result of the invocation it took.
#[derive(Debug)]
pub(super) struct Reply(mpsc::UnboundedSender<Progress>);

impl Reply {
    /// Gives the invocation's outcome (a stream goes on until [`Reply::finish`]).
    pub(super) fn outcome(&self, outcome: Outcome) {
        // The invocation task may have given up (a timeout); nothing to tell then.
        let _ = self.0.send(Progress::Outcome(outcome));
    }

    /// Says the runtime is done with the invocation.
    pub(super) fn finish(self) {
        let _ = self.0.send(Progress::Finished);
    }

    /// Gives a final outcome and finishes.
    pub(super) fn complete(self, outcome: Outcome) {
        self.outcome(outcome);
        self.finish();
    }
}

impl EnvState {
    /// The state of a process that has just started.
    pub(super) fn new(max_response: usize) -> Self {
        Self {
            inner: Mutex::new(Inner { lifecycle: Lifecycle::Initializing, hand: Hand::Empty }),
            wake: Notify::new(),
            max_response,
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every change below is a complete assignment; a panic cannot leave half of one.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the environment can take another invocation.
    pub(super) fn reusable(&self) -> bool {
        matches!(self.inner().lifecycle, Lifecycle::Warm)
    }

    /// Whether the environment has never taken an invocation (its next one is a cold start).
    pub(super) fn cold(&self) -> bool {
        matches!(self.inner().lifecycle, Lifecycle::Initializing)
    }

    /// Hands `invocation` to the runtime; what becomes of it arrives on the
    /// returned receiver. A closed environment refuses at once.
    pub(super) fn offer(&self, invocation: NextInvocation) -> Result<mpsc::UnboundedReceiver<Progress>, Refusal> {
        let mut inner = self.inner();
        if let Some(refusal) = inner.lifecycle.refusal(&invocation.request_id) {
            return Err(refusal);
        }
        debug_assert!(matches!(inner.hand, Hand::Empty), "one invocation at a time per environment");
        let (tx, rx) = mpsc::unbounded_channel();
        inner.hand = Hand::Offered(invocation, tx);
        drop(inner);
        self.wake.notify_one();
        Ok(rx)
    }

    /// Waits for an offered invocation and takes it, for `invocation/next`;
    /// `None` once the environment is closed.
    pub(super) async fn next(&self) -> Option<NextInvocation> {
        loop {
            {
                let mut inner = self.inner();
                if matches!(inner.lifecycle, Lifecycle::InitFailed(_) | Lifecycle::Exited { .. }) {
                    return None;
                }
                if let Hand::Offered(..) = inner.hand {
                    let Hand::Offered(invocation, progress) = std::mem::replace(&mut inner.hand, Hand::Empty) else {
                        unreachable!("matched just above, under the same lock")
                    };
                    let _ = progress.send(Progress::Taken);
                    inner.hand = Hand::Active { request_id: invocation.request_id.clone(), progress };
                    inner.lifecycle = Lifecycle::Warm;
                    return Some(invocation);
                }
            }
            // `notify_one` keeps a permit when nobody waits, so an offer
            // made between the check above and this wait is not missed.
            self.wake.notified().await;
        }
    }

    /// Takes the active invocation with `request_id`, for posting its result.
    pub(super) fn take_active(&self, request_id: &str) -> Option<Reply> {
        let mut inner = self.inner();
        match &inner.hand {
            Hand::Active { request_id: id, .. } if id == request_id => {}
            _ => return None,
        }
        match std::mem::replace(&mut inner.hand, Hand::Empty) {
            Hand::Active { progress, .. } => Some(Reply(progress)),
            _ => unreachable!("matched just above, under the same lock"),
        }
    }

    /// The runtime reported an init error: it answers the invocation in
    /// hand and every later one, and the environment is never reused.
    pub(super) fn init_failed(&self, failure: FunctionFailure) {
        let mut inner = self.inner();
        inner.lifecycle = Lifecycle::InitFailed(failure.clone());
        match std::mem::replace(&mut inner.hand, Hand::Empty) {
            Hand::Empty => {}
            Hand::Offered(_, progress) => {
                let _ = progress.send(Progress::Refused(Refusal::Failed(failure)));
            }
            Hand::Active { progress, .. } => Reply(progress).complete(Outcome::Failure(failure)),
        }
        drop(inner);
        self.wake.notify_one();
    }

    /// The process is gone (it exited, described by `status`, or was
    /// stopped). An invocation the runtime took fails with
    /// `Runtime.ExitError`; one it never took runs elsewhere when the
    /// environment was warm, and fails when it was still initializing.
    pub(super) fn exited(&self, status: &str) {
        let mut inner = self.inner();
        match &inner.lifecycle {
            Lifecycle::Initializing => inner.lifecycle = Lifecycle::Exited { status: status.to_owned(), warm: false },
            Lifecycle::Warm => inner.lifecycle = Lifecycle::Exited { status: status.to_owned(), warm: true },
            // An init error stays the answer; a second exit changes nothing.
            Lifecycle::InitFailed(_) | Lifecycle::Exited { .. } => {}
        }
        match std::mem::replace(&mut inner.hand, Hand::Empty) {
            Hand::Empty => {}
            Hand::Offered(invocation, progress) => {
                if let Some(refusal) = inner.lifecycle.refusal(&invocation.request_id) {
                    let _ = progress.send(Progress::Refused(refusal));
                }
            }
            Hand::Active { request_id, progress } => {
                Reply(progress).complete(Outcome::Failure(exit_failure(&request_id, status)));
            }
        }
        drop(inner);
        self.wake.notify_one();
    }
}

/// The failure of an invocation whose runtime exited.
pub(super) fn exit_failure(request_id: &str, status: &str) -> FunctionFailure {
    FunctionFailure::platform(
        error_type::RUNTIME_EXIT_ERROR,
        format!("RequestId: {request_id} Error: Runtime exited with error: {status}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation(id: &str) -> NextInvocation {
        NextInvocation {
            request_id: id.to_owned(),
            payload: Bytes::from_static(b"{}"),
            invoked_arn: "arn".to_owned(),
            timeout: Duration::from_secs(3),
        }
    }

    fn refusal(rx: &mut mpsc::UnboundedReceiver<Progress>) -> Option<Refusal> {
        match rx.try_recv() {
            Ok(Progress::Refused(r)) => Some(r),
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_warm_environment_that_exits_never_takes_the_offered_invocation() {
        let state = EnvState::new(1024);
        let mut rx = state.offer(invocation("a")).unwrap();
        assert_eq!(state.next().await.unwrap().request_id, "a");
        assert!(matches!(rx.try_recv(), Ok(Progress::Taken)));
        state.take_active("a").unwrap().complete(Outcome::Success(Bytes::new()));
        assert!(state.reusable());

        // The next invocation is offered; the process exits before asking for it.
        let mut rx = state.offer(invocation("b")).unwrap();
        state.exited("exit status 1");
        assert!(matches!(refusal(&mut rx), Some(Refusal::NotTaken)));
        assert!(!state.reusable());
        // And any later offer is refused the same way, before reaching anything.
        assert!(matches!(state.offer(invocation("c")), Err(Refusal::NotTaken)));
        assert!(state.next().await.is_none(), "a closed environment hands out nothing");
    }

    #[tokio::test]
    async fn an_environment_that_exits_during_init_fails_its_invocation() {
        let state = EnvState::new(1024);
        let mut rx = state.offer(invocation("a")).unwrap();
        state.exited("exit status 3");
        match refusal(&mut rx) {
            Some(Refusal::Failed(f)) => {
                assert_eq!(f.error_type, error_type::RUNTIME_EXIT_ERROR);
                assert!(String::from_utf8_lossy(&f.payload).contains("RequestId: a"));
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_init_error_answers_the_offered_and_every_later_invocation() {
        let state = EnvState::new(1024);
        let mut rx = state.offer(invocation("a")).unwrap();
        state.init_failed(FunctionFailure::platform("Runtime.ImportModuleError", "boom"));
        assert!(matches!(refusal(&mut rx), Some(Refusal::Failed(f)) if f.error_type == "Runtime.ImportModuleError"));
        state.exited("exit status 1");
        assert!(
            matches!(state.offer(invocation("b")), Err(Refusal::Failed(f)) if f.error_type == "Runtime.ImportModuleError")
        );
    }

    #[tokio::test]
    async fn a_taken_invocation_fails_with_exit_error_when_the_process_dies() {
        let state = EnvState::new(1024);
        let mut rx = state.offer(invocation("a")).unwrap();
        state.next().await.unwrap();
        assert!(matches!(rx.try_recv(), Ok(Progress::Taken)));
        state.exited("signal 9");
        match rx.try_recv() {
            Ok(Progress::Outcome(Outcome::Failure(f))) => assert_eq!(f.error_type, error_type::RUNTIME_EXIT_ERROR),
            other => panic!("expected an exit failure, got {other:?}"),
        }
        assert!(matches!(rx.try_recv(), Ok(Progress::Finished)));
        assert!(state.take_active("a").is_none(), "an answered invocation cannot be answered again");
    }
}
