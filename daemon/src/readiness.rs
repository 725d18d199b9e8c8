//! Whether weftd is ready to serve ADDs, and why not, and which datastore
//! revision it has put into effect: shared by the API's Status reply and
//! /readyz.

use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use weft_api::Response;

#[derive(Debug)]
pub struct Readiness {
    /// `None` when ready, else what is still missing.
    not_ready: RwLock<Option<String>>,
    /// 0 until the first datastore snapshot is fully reconciled.
    applied_revision: AtomicU64,
}

impl Readiness {
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            not_ready: RwLock::new(Some(reason.into())),
            applied_revision: AtomicU64::new(0),
        }
    }

    /// Records that everything up to datastore `revision` is in effect.
    pub fn set_applied_revision(&self, revision: u64) {
        self.applied_revision.store(revision, Ordering::Release);
    }

    pub fn applied_revision(&self) -> Option<u64> {
        match self.applied_revision.load(Ordering::Acquire) {
            0 => None,
            revision => Some(revision),
        }
    }

    pub fn set_ready(&self) {
        *self.write() = None;
    }

    pub fn set_not_ready(&self, reason: impl Into<String>) {
        *self.write() = Some(reason.into());
    }

    pub fn is_ready(&self) -> bool {
        self.reason().is_none()
    }

    pub fn reason(&self) -> Option<String> {
        self.not_ready
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The API's answer to `Request::Status`.
    pub fn status_response(&self) -> Response {
        let reason = self.reason();
        Response::Status {
            ready: reason.is_none(),
            reason,
            applied_revision: self.applied_revision(),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Option<String>> {
        // A plain Option<String> cannot be left half-written by a panicking writer.
        self.not_ready
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_readiness() {
        let readiness = Readiness::new("starting");
        assert_eq!(
            readiness.status_response(),
            Response::Status {
                ready: false,
                reason: Some("starting".into()),
                applied_revision: None,
            }
        );
        readiness.set_ready();
        assert!(readiness.is_ready());
        assert_eq!(
            readiness.status_response(),
            Response::Status {
                ready: true,
                reason: None,
                applied_revision: None,
            }
        );
        readiness.set_applied_revision(7);
        assert!(matches!(
            readiness.status_response(),
            Response::Status {
                applied_revision: Some(7),
                ..
            }
        ));
        readiness.set_not_ready("shutting down");
        assert_eq!(readiness.reason().as_deref(), Some("shutting down"));
    }
}
