//! Runs a request's DataLoader batches inside the request's own task, so that batching is
//! deterministic: a batch holds exactly the keys every resolver asked for before the request had to
//! wait. With loaders spawned onto the runtime instead, a batch fires after a timer, and on a busy
//! machine it fires while sibling resolvers are still queueing keys, splitting one statement into many.
//!
//! The loaders are created with a zero delay and a spawner that queues their work here; [`drive`] polls
//! the request, and whenever it waits with no load in flight, starts every queued load at once (a
//! wave). The statements a request runs therefore depend on the shape of the query and the data, not on
//! timing or page size.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;

/// Loader work queued by the loaders of one request.
#[derive(Clone, Default)]
pub struct Batches(Arc<Mutex<Vec<BoxFuture<'static, ()>>>>);

impl Batches {
    /// The spawner handed to each DataLoader.
    pub fn spawner(&self) -> impl Fn(BoxFuture<'static, ()>) + Send + Sync + 'static {
        let queue = self.0.clone();
        move |task| queue.lock().unwrap_or_else(PoisonError::into_inner).push(task)
    }

    fn take(&self) -> Vec<BoxFuture<'static, ()>> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Wakes the request's task, and remembers that it was woken.
struct Flag {
    woken: AtomicBool,
    task: Mutex<Waker>,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.task.lock().unwrap_or_else(PoisonError::into_inner).wake_by_ref();
    }
}

/// Polls `request` to completion, running the loads its loaders queue whenever it waits.
pub async fn drive<F: Future>(batches: Batches, request: F) -> F::Output {
    let mut request = pin!(request);
    let mut loads = FuturesUnordered::new();
    let flag = Arc::new(Flag { woken: AtomicBool::new(false), task: Mutex::new(Waker::noop().clone()) });
    let waker = Waker::from(flag.clone());
    std::future::poll_fn(move |cx| {
        flag.task.lock().unwrap_or_else(PoisonError::into_inner).clone_from(cx.waker());
        loop {
            // A request that woke itself while being polled (async-graphql yields every few dozen list
            // items; tokio yields when a task's budget runs out) has not finished asking for keys yet.
            // Its wake has already rescheduled this task: yield to the runtime, which also renews the
            // budget, and poll it again before loading anything. Looping here instead would spin.
            flag.woken.store(false, Ordering::SeqCst);
            if let Poll::Ready(output) = request.as_mut().poll(&mut Context::from_waker(&waker)) {
                return Poll::Ready(output);
            }
            if flag.woken.load(Ordering::SeqCst) {
                return Poll::Pending;
            }
            let mut finished = false;
            while let Poll::Ready(Some(())) = loads.poll_next_unpin(cx) {
                finished = true;
            }
            if finished {
                continue;
            }
            // Loads run in waves: the next wave starts only when the last one has delivered everything,
            // so which keys share a batch never depends on which statement happened to answer first.
            if !loads.is_empty() {
                return Poll::Pending;
            }
            let queued = batches.take();
            if queued.is_empty() {
                // The request waits on a statement of its own (a root page, a count).
                return Poll::Pending;
            }
            loads.extend(queued);
        }
    })
    .await
}
