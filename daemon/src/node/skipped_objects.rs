//! Datastore objects the snapshot had to skip (malformed, unreadable,
//! duplicate), logged once each: a broken object stays broken across many
//! snapshots, and one warning per version of it is what an operator needs.

use std::sync::Arc;

use tokio::sync::watch;
use weft_datastore::{ClusterSnapshot, ObjectError};

/// The skipped objects already reported (pure).
#[derive(Debug, Default)]
pub struct SkippedObjects {
    reported: Vec<ObjectError>,
}

impl SkippedObjects {
    /// The errors of `current` not reported before; forgets the ones gone,
    /// so an object broken again later is reported again.
    pub fn news<'a>(&mut self, current: &'a [ObjectError]) -> Vec<&'a ObjectError> {
        let news = current
            .iter()
            .filter(|error| !self.reported.contains(error))
            .collect();
        self.reported = current.to_vec();
        news
    }
}

/// Logs every newly skipped object of every snapshot, until the watch ends.
pub async fn log_skipped_objects(mut snapshots: watch::Receiver<Arc<ClusterSnapshot>>) {
    let mut skipped = SkippedObjects::default();
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        for error in skipped.news(&snapshot.errors) {
            tracing::warn!(%error, "skipping a datastore object");
        }
        if snapshots.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_datastore::ObjectProblem;

    fn unreadable(file: &str) -> ObjectError {
        ObjectError {
            file: file.into(),
            problem: ObjectProblem::Unreadable("permission denied".into()),
        }
    }

    #[test]
    fn each_error_is_news_once_while_it_lasts() {
        let mut skipped = SkippedObjects::default();
        let (a, b) = (unreadable("pods/a.yaml"), unreadable("pods/b.yaml"));
        let only_a = std::slice::from_ref(&a);
        assert_eq!(skipped.news(only_a), vec![&a]);
        assert!(skipped.news(only_a).is_empty());
        let both = [a.clone(), b.clone()];
        assert_eq!(skipped.news(&both), vec![&b]);
        assert!(skipped.news(&[]).is_empty());
        assert_eq!(skipped.news(only_a), vec![&a], "broken again");
    }
}
