//! Runs one reconciler for as long as its input lives: a pass on every new
//! input and on news of the node's exits, a pass after a failure once the
//! backoff has passed (or sooner, on news), and a resync pass now and then
//! so hand-made changes to the node heal. Each pass is counted and timed, and its outcome goes into the
//! reconciler's readiness contribution.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use weft_datastore::Revisions;

use super::backoff::Backoff;
use crate::metrics::Metrics;
use crate::readiness::Readiness;

/// One concern of the node, converged to the latest input by `reconcile`.
pub trait Reconciler: Send + 'static {
    type Input: Send + Sync + 'static;

    /// The name in logs, metrics (`reconciler` label) and readiness.
    fn name(&self) -> &'static str;

    /// The datastore revisions `input` stands for, if it comes from the
    /// datastore: a success puts them in effect for this concern.
    fn revision(&self, input: &Self::Input) -> Option<Revisions>;

    /// Makes the node match `input`; idempotent, so it may run any time.
    fn reconcile(
        &mut self,
        input: Arc<Self::Input>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// What every runner shares.
#[derive(Clone)]
pub struct RunnerSettings {
    pub readiness: Arc<Readiness>,
    pub metrics: Metrics,
    pub backoff: Backoff,
    /// A pass runs at least this often, news or not.
    pub resync: Duration,
    /// Moves when an exit of the node appears, changes or goes
    /// (`node::device_news`): weft.vxlan deleted, a new uplink.
    pub exit_news: watch::Receiver<u64>,
}

/// Registers `reconciler` with readiness (so weftd is not ready before its
/// first success) and runs it on a task of its own.
pub fn spawn_reconciler<R: Reconciler>(
    reconciler: R,
    inputs: watch::Receiver<Arc<R::Input>>,
    settings: RunnerSettings,
) -> JoinHandle<()> {
    settings.readiness.register_reconciler(reconciler.name());
    tokio::spawn(run(reconciler, inputs, settings))
}

/// Like [`spawn_reconciler`], for an input whose first value is only a
/// placeholder: the first pass waits for the first real value.
pub fn spawn_reconciler_on_first_news<R: Reconciler>(
    reconciler: R,
    mut inputs: watch::Receiver<Arc<R::Input>>,
    settings: RunnerSettings,
) -> JoinHandle<()> {
    settings.readiness.register_reconciler(reconciler.name());
    tokio::spawn(async move {
        if inputs.changed().await.is_ok() {
            run(reconciler, inputs, settings).await;
        }
    })
}

async fn run<R: Reconciler>(
    mut reconciler: R,
    mut inputs: watch::Receiver<Arc<R::Input>>,
    settings: RunnerSettings,
) {
    let name = reconciler.name();
    let mut failures: u32 = 0;
    let mut exit_news = settings.exit_news.clone();
    let mut exits_watched = true;
    loop {
        let input = inputs.borrow_and_update().clone();
        let revision = reconciler.revision(&input);
        let started = Instant::now();
        let outcome = reconciler.reconcile(input).await;
        settings
            .metrics
            .observe_reconcile(name, outcome.is_ok(), started.elapsed());
        let wait = match outcome {
            Ok(()) => {
                if failures > 0 {
                    tracing::info!(reconciler = name, failures, "reconciled again");
                }
                failures = 0;
                settings.readiness.reconciled(name, revision);
                settings.resync
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                let delay = settings.backoff.delay(failures, fastrand::f64());
                let error = format!("{error:#}");
                tracing::warn!(
                    reconciler = name,
                    failures,
                    retry_in = ?delay,
                    %error,
                    "reconcile failed"
                );
                settings.readiness.reconcile_failed(name, error);
                delay
            }
        };
        tokio::select! {
            changed = inputs.changed() => if changed.is_err() {
                tracing::error!(reconciler = name, "its input ended; stopping");
                settings.readiness.reconcile_failed(name, "its input ended".into());
                return;
            },
            // Without news (the watch ended), resyncs still heal the node.
            news = exit_news.changed(), if exits_watched => exits_watched = news.is_ok(),
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use weft_datastore::KindRevisions;

    /// Fails while its shared switch says so; records every input it saw.
    struct Scripted {
        failing: Arc<Mutex<bool>>,
        seen: Arc<Mutex<Vec<u64>>>,
    }

    impl Reconciler for Scripted {
        type Input = u64;

        fn name(&self) -> &'static str {
            "scripted"
        }

        fn revision(&self, input: &u64) -> Option<Revisions> {
            Some(Revisions {
                revision: *input,
                kinds: KindRevisions::uniform(*input),
            })
        }

        async fn reconcile(&mut self, input: Arc<u64>) -> anyhow::Result<()> {
            self.seen.lock().unwrap().push(*input);
            if *self.failing.lock().unwrap() {
                anyhow::bail!("scripted failure at {input}");
            }
            Ok(())
        }
    }

    fn settings(
        readiness: &Arc<Readiness>,
        metrics: &Metrics,
        exit_news: watch::Receiver<u64>,
    ) -> RunnerSettings {
        RunnerSettings {
            readiness: readiness.clone(),
            metrics: metrics.clone(),
            backoff: Backoff {
                initial: Duration::from_millis(10),
                max: Duration::from_millis(40),
            },
            resync: Duration::from_secs(3600),
            exit_news,
        }
    }

    /// Exit news that never comes.
    fn no_news() -> watch::Receiver<u64> {
        watch::channel(0).1
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_requeues_with_backoff_until_it_succeeds() {
        let readiness = Arc::new(Readiness::new("starting"));
        let metrics = Metrics::default();
        let failing = Arc::new(Mutex::new(true));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (_tx, rx) = watch::channel(Arc::new(7));
        let reconciler = Scripted {
            failing: failing.clone(),
            seen: seen.clone(),
        };
        let task = spawn_reconciler(reconciler, rx, settings(&readiness, &metrics, no_news()));
        readiness.set_started();
        // Paused time jumps from timer to timer: five retries pass at once.
        while seen.lock().unwrap().len() < 5 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(!readiness.is_ready());
        let reason = readiness.reason().unwrap();
        assert!(reason.contains("scripted failure at 7"), "{reason}");
        *failing.lock().unwrap() = false;
        readiness.converged().await;
        assert!(readiness.is_ready());
        assert_eq!(readiness.applied_revision(), Some(7));
        let text = metrics.encode().unwrap();
        assert!(
            text.contains("weft_reconcile_total{reconciler=\"scripted\",result=\"error\"} 5"),
            "{text}"
        );
        assert!(
            text.contains("weft_reconcile_total{reconciler=\"scripted\",result=\"ok\"} 1"),
            "{text}"
        );
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn news_runs_a_pass_at_once_and_a_closed_input_stops_the_runner() {
        let readiness = Arc::new(Readiness::new("starting"));
        let metrics = Metrics::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = watch::channel(Arc::new(1));
        let reconciler = Scripted {
            failing: Arc::new(Mutex::new(false)),
            seen: seen.clone(),
        };
        let task = spawn_reconciler(reconciler, rx, settings(&readiness, &metrics, no_news()));
        readiness.set_started();
        readiness.converged().await;
        tx.send(Arc::new(2)).unwrap();
        tx.send(Arc::new(3)).unwrap();
        while readiness.applied_revision() != Some(3) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(
            seen.lock().unwrap().last(),
            Some(&3),
            "the latest input wins"
        );
        drop(tx);
        task.await.unwrap();
        let status = &readiness.reconcilers()["scripted"];
        assert_eq!(status.error.as_deref(), Some("its input ended"));
    }

    #[tokio::test(start_paused = true)]
    async fn news_of_an_exit_runs_a_pass_on_the_same_input_at_once() {
        let readiness = Arc::new(Readiness::new("starting"));
        let metrics = Metrics::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (_tx, rx) = watch::channel(Arc::new(4));
        let (news, exit_news) = watch::channel(0);
        let reconciler = Scripted {
            failing: Arc::new(Mutex::new(false)),
            seen: seen.clone(),
        };
        let task = spawn_reconciler(reconciler, rx, settings(&readiness, &metrics, exit_news));
        readiness.set_started();
        readiness.converged().await;
        let started = tokio::time::Instant::now();
        news.send_modify(|count| *count += 1);
        while seen.lock().unwrap().len() < 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(*seen.lock().unwrap(), [4, 4]);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "not the resync's hour"
        );
        drop(news);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(
            seen.lock().unwrap().len() <= 3,
            "a watch that ended is not news on every turn"
        );
        task.abort();
    }
}
