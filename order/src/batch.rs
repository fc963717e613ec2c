//! Group commit: writes of one kind that arrive while earlier ones are being written go to
//! Postgres together, as one statement and so one commit. Alone, a write goes at once; under
//! load, one commit serves every request that queued meanwhile.

use std::future::Future;
use std::sync::Arc;

use common::error::may_have_applied;
use common::ApiError;
use tokio::sync::{mpsc, oneshot, Mutex};

type Reply<R> = oneshot::Sender<Result<R, WriteError>>;
type Job<T, R> = (T, Reply<R>);

/// Why an item got no result from its group's write.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The write failed (or the writers are gone), as sqlx reports it.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The write succeeded, so its transaction committed, but returned a result count unlike
    /// its item count: a bug in the write. Which items it applied is unknown, so each item gets
    /// this, and none is written again.
    #[error("a group write committed but returned {results} results for {items} items: each item's outcome is unknown")]
    Miscounted { items: usize, results: usize },
    /// The session of a group's write ended under it ([`may_have_applied`]): its COMMIT may
    /// have been made durable, so each item gets this, and none is written again.
    #[error("a group write's session ended under it ({0}): each item's outcome is unknown")]
    Lost(String),
}

impl From<WriteError> for ApiError {
    fn from(error: WriteError) -> Self {
        match error {
            WriteError::Database(e) => e.into(),
            // Committed, so applied or not: the contract's 504 outcome_unknown, which sends the
            // client to repeat with its key or read the order. Logged where it was found.
            WriteError::Miscounted { .. } | WriteError::Lost(_) => ApiError::OutcomeUnknown(
                "the request may or may not have been applied; repeat it with the same \
                 Idempotency-Key, or read the resource"
                    .to_owned(),
            ),
        }
    }
}

/// Queues items for `write`, which stores a group and returns one result per item, in order.
pub struct Batcher<T, R> {
    queue: mpsc::Sender<Job<T, R>>,
}

impl<T, R> Clone for Batcher<T, R> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<T, R> Batcher<T, R>
where
    T: Clone + Send + Sync + 'static,
    R: Send + 'static,
{
    /// Starts `writers` tasks, so that many groups (of at most `max` items each) can be
    /// written at once; they stop when the last `Batcher` clone is dropped. `write` gets the
    /// group shared, so retrying its items one by one needs no copy of them up front.
    pub fn new<W, F>(writers: usize, max: usize, write: W) -> Self
    where
        W: Fn(Arc<[T]>) -> F + Send + Sync + 'static,
        F: Future<Output = sqlx::Result<Vec<R>>> + Send + 'static,
    {
        let (queue, receiver) = mpsc::channel(writers * max);
        let receiver = Arc::new(Mutex::new(receiver));
        let write = Arc::new(write);
        for _ in 0..writers {
            let receiver = receiver.clone();
            let write = write.clone();
            tokio::spawn(async move {
                loop {
                    // Waits for the first item, then takes all that are queued behind it.
                    let mut jobs = Vec::with_capacity(max);
                    if receiver.lock().await.recv_many(&mut jobs, max).await == 0 {
                        return;
                    }
                    write_group(&*write, jobs).await;
                }
            });
        }
        Self { queue }
    }

    /// Writes `item` with whatever else is queued, and returns its own result.
    pub async fn submit(&self, item: T) -> Result<R, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((item, reply))
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        answer.await.map_err(|_| sqlx::Error::WorkerCrashed)?
    }
}

/// Writes a group; when that fails, writes its items one by one so that one bad item fails
/// only the requests it concerns. A group that may have been written is never written again:
/// one miscounted (see [`WriteError::Miscounted`]), or one whose session ended under it
/// ([`common::error::may_have_applied`]: its COMMIT may have been made durable), whose items
/// are answered as of unknown outcome.
async fn write_group<T, R, W, F>(write: &W, jobs: Vec<Job<T, R>>)
where
    T: Clone,
    W: Fn(Arc<[T]>) -> F,
    F: Future<Output = sqlx::Result<Vec<R>>>,
{
    let (items, replies): (Vec<T>, Vec<_>) = jobs.into_iter().unzip();
    let items: Arc<[T]> = items.into();
    match write_counted(write, items.clone()).await {
        Err(WriteError::Database(e)) if items.len() > 1 && may_have_applied(&e) => {
            tracing::error!(error = %e, items = items.len(), "group write lost with its session: each item's outcome is unknown");
            for reply in replies {
                let _ = reply.send(Err(WriteError::Lost(e.to_string())));
            }
        }
        Err(WriteError::Database(e)) if items.len() > 1 => {
            tracing::warn!(error = %e, items = items.len(), "group write failed, writing its items one by one");
            for (item, reply) in items.iter().zip(replies) {
                let written = write_counted(write, Arc::from([item.clone()])).await;
                answer(vec![reply], written);
            }
        }
        written => answer(replies, written),
    }
}

/// Sends each item its result: its own, or the group's error.
fn answer<R>(replies: Vec<Reply<R>>, written: Result<Vec<R>, WriteError>) {
    match written {
        Ok(results) => {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(Ok(result));
            }
        }
        Err(WriteError::Miscounted { items, results }) => {
            for reply in replies {
                let _ = reply.send(Err(WriteError::Miscounted { items, results }));
            }
        }
        // A failed write of one item (a failed group is written again item by item).
        Err(e) => {
            if let Some(reply) = replies.into_iter().next() {
                let _ = reply.send(Err(e));
            }
        }
    }
}

/// `write` of `items`, with one result per item.
async fn write_counted<T, R, W, F>(write: &W, items: Arc<[T]>) -> Result<Vec<R>, WriteError>
where
    W: Fn(Arc<[T]>) -> F,
    F: Future<Output = sqlx::Result<Vec<R>>>,
{
    let results = write(items.clone()).await?;
    if results.len() != items.len() {
        let (items, results) = (items.len(), results.len());
        tracing::error!(
            items,
            results,
            "a group write committed but returned a result count unlike its item count: \
             each item's outcome is unknown, none is written again"
        );
        return Err(WriteError::Miscounted { items, results });
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn items_queued_during_a_write_go_together_and_each_gets_its_own_result() {
        let groups = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = groups.clone();
        let batcher = Batcher::new(1, 100, move |items: Arc<[u32]>| {
            seen.lock().expect("groups").push(items.to_vec());
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(items.iter().map(|i| i * 10).collect())
            }
        });
        let first = tokio::spawn({
            let batcher = batcher.clone();
            async move { batcher.submit(0).await }
        });
        // The first item is being written (for 20 ms) while the others arrive.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let rest = futures::future::join_all((1..20).map(|i| batcher.submit(i))).await;
        let results: Vec<u32> = std::iter::once(first.await.expect("first item's task"))
            .chain(rest)
            .map(|r| r.expect("written"))
            .collect();
        assert_eq!(results, (0..20).map(|i| i * 10).collect::<Vec<_>>());
        let groups = groups.lock().expect("groups");
        // The first item was written alone at once; the other 19 queued behind it.
        assert_eq!(groups.len(), 2, "{groups:?}");
        assert_eq!(groups[0], vec![0]);
        assert_eq!(groups[1], (1..20).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_failing_item_fails_only_its_own_request() {
        let writes = Arc::new(AtomicUsize::new(0));
        let counted = writes.clone();
        let batcher = Batcher::new(1, 100, move |items: Arc<[u32]>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                if items.contains(&13) {
                    Err(sqlx::Error::RowNotFound)
                } else {
                    Ok(items.to_vec())
                }
            }
        });
        let results = futures::future::join_all((10..16).map(|i| batcher.submit(i))).await;
        for (i, result) in (10..16).zip(results) {
            match result {
                Ok(got) => assert_eq!(got, i),
                Err(_) => assert_eq!(i, 13),
            }
        }
        // 10 alone, then 11..=15 together (failed), then each of those five alone.
        assert_eq!(writes.load(Ordering::SeqCst), 7);
    }

    #[tokio::test]
    async fn a_group_written_but_miscounted_is_unknown_to_each_item_and_not_written_again() {
        let writes = Arc::new(AtomicUsize::new(0));
        let counted = writes.clone();
        let batcher = Batcher::new(1, 100, move |items: Arc<[u32]>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                // Drops an item's result, as a buggy write might.
                Ok(items
                    .iter()
                    .skip(usize::from(items.len() > 1))
                    .copied()
                    .collect())
            }
        });
        let first = batcher.submit(0).await;
        assert_eq!(first.expect("alone"), 0);
        let results = futures::future::join_all((1..6).map(|i| batcher.submit(i))).await;
        for result in results {
            match result {
                Err(e @ WriteError::Miscounted { .. }) => assert!(
                    matches!(ApiError::from(e), ApiError::OutcomeUnknown(_)),
                    "answered 504 outcome_unknown"
                ),
                other => panic!("not miscounted: {other:?}"),
            }
        }
        // 0 alone, then 1..=5 together (committed, miscounted) and never one by one.
        assert_eq!(writes.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_group_whose_session_ended_under_it_is_unknown_to_each_item_and_not_written_again() {
        let writes = Arc::new(AtomicUsize::new(0));
        let counted = writes.clone();
        let batcher = Batcher::new(1, 100, move |items: Arc<[u32]>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                if items.len() > 1 {
                    // The connection broke with no answer: the COMMIT may have been made durable.
                    Err(sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into()))
                } else {
                    Ok(items.to_vec())
                }
            }
        });
        let first = batcher.submit(0).await;
        assert_eq!(first.expect("alone"), 0);
        let results = futures::future::join_all((1..6).map(|i| batcher.submit(i))).await;
        for result in results {
            let e = result.expect_err("the group's error");
            assert!(
                matches!(ApiError::from(e), ApiError::OutcomeUnknown(_)),
                "answered 504 outcome_unknown"
            );
        }
        // 0 alone, then 1..=5 together (lost) and never one by one: that could write them twice.
        assert_eq!(writes.load(Ordering::SeqCst), 2);
    }
}
