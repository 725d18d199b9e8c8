//! The loop every weftd reconciler runs on: level-triggered (the latest
//! input in, the node converged to it), requeued on error with capped
//! exponential backoff and jitter, resynced now and then, with its own
//! readiness contribution and metrics. Each concern (overlay, masquerade,
//! policy, the node's publication) is one [`Reconciler`], so one failing
//! concern never holds the others back.

mod backoff;
mod runner;

pub use backoff::Backoff;
pub use runner::{Reconciler, RunnerSettings, spawn_reconciler, spawn_reconciler_on_first_news};
