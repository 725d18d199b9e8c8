//! Acting on ADD and DEL: record the endpoint durably, program it, and only
//! then acknowledge. Blocking (fsync, programmer), so callers run it on a
//! blocking thread; work on one key is serialised, different keys run in
//! parallel.

use std::sync::{Arc, Mutex, MutexGuard};

use weft_api::{Endpoint, EndpointKey, ErrorKind};

use crate::endpoints::key_locks::KeyLocks;
use crate::endpoints::programmer::{EndpointProgrammer, ProgramError};
use crate::endpoints::registry::EndpointRegistry;
use crate::endpoints::store::{EndpointStore, StoreError};
use crate::metrics::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("recording endpoint: {0}")]
    Store(#[from] StoreError),
    #[error("programming endpoint {container_id}/{ifname}: {source}")]
    Program {
        container_id: String,
        ifname: String,
        source: ProgramError,
    },
}

impl EndpointError {
    /// What the plugin is told: the programmer knows why it failed; a
    /// record that cannot be written is weftd's own failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EndpointError::Store(_) => ErrorKind::Internal,
            EndpointError::Program { source, .. } => source.kind,
        }
    }
}

pub struct EndpointService {
    registry: Mutex<EndpointRegistry>,
    store: EndpointStore,
    programmer: Arc<dyn EndpointProgrammer>,
    key_locks: KeyLocks,
    metrics: Metrics,
}

impl EndpointService {
    pub fn new(
        registry: EndpointRegistry,
        store: EndpointStore,
        programmer: Arc<dyn EndpointProgrammer>,
        metrics: Metrics,
    ) -> Self {
        metrics.set_endpoints(registry.len());
        Self {
            registry: Mutex::new(registry),
            store,
            programmer,
            key_locks: KeyLocks::default(),
            metrics,
        }
    }

    /// Records `endpoint` (replacing one with the same key) and programs it.
    /// The record comes first so that whatever got programmed is known after
    /// a crash; if programming fails the record is withdrawn again.
    pub fn add(&self, endpoint: Endpoint) -> Result<(), EndpointError> {
        let _key_guard = self.key_locks.lock(&endpoint.key);
        self.store.save(&endpoint)?;
        self.update_registry(|registry| registry.insert(endpoint.clone()));
        if let Err(source) = self.programmer.program(&endpoint) {
            self.update_registry(|registry| registry.remove(&endpoint.key));
            if let Err(e) = self.store.remove(&endpoint.key) {
                tracing::warn!(error = %e, "withdrawing the record of an unprogrammed endpoint");
            }
            return Err(EndpointError::Program {
                container_id: endpoint.key.container_id,
                ifname: endpoint.key.ifname,
                source,
            });
        }
        Ok(())
    }

    /// Unprograms and forgets the endpoint with `key`; Ok when it is unknown.
    pub fn del(&self, key: &EndpointKey) -> Result<(), EndpointError> {
        let _key_guard = self.key_locks.lock(key);
        let known = self.registry().get(key).cloned();
        if let Some(endpoint) = &known {
            self.programmer
                .unprogram(endpoint)
                .map_err(|source| EndpointError::Program {
                    container_id: key.container_id.clone(),
                    ifname: key.ifname.clone(),
                    source,
                })?;
        }
        self.store.remove(key)?;
        self.update_registry(|registry| registry.remove(key));
        Ok(())
    }

    /// A snapshot of the known endpoints, in key order.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        self.registry().iter().cloned().collect()
    }

    fn update_registry<T>(&self, change: impl FnOnce(&mut EndpointRegistry) -> T) -> T {
        let mut registry = self.registry();
        let outcome = change(&mut registry);
        self.metrics.set_endpoints(registry.len());
        outcome
    }

    fn registry(&self) -> MutexGuard<'_, EndpointRegistry> {
        // Registry changes are single map operations that cannot be torn.
        self.registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::endpoints::registry::tests::endpoint;
    use crate::endpoints::store::endpoints_dir;

    /// Programs everything except endpoints whose host interface is
    /// "broken" (no such interface) or "unready" (no snapshot yet).
    pub(crate) struct FailingProgrammer;

    impl EndpointProgrammer for FailingProgrammer {
        fn program(&self, endpoint: &Endpoint) -> Result<(), ProgramError> {
            match endpoint.host_ifname.as_str() {
                "broken" => Err(ProgramError::new(
                    ErrorKind::InvalidRequest,
                    "no such interface",
                )),
                "unready" => Err(ProgramError::new(ErrorKind::NotReady, "no snapshot yet")),
                _ => Ok(()),
            }
        }

        fn unprogram(&self, endpoint: &Endpoint) -> Result<(), ProgramError> {
            self.program(endpoint)
        }
    }

    pub(crate) fn service(dir: &tempfile::TempDir) -> EndpointService {
        let store = EndpointStore::new(endpoints_dir(dir.path()));
        store.create_dir().unwrap();
        let loaded = store.load().unwrap().endpoints;
        EndpointService::new(
            EndpointRegistry::from_endpoints(loaded),
            store,
            Arc::new(FailingProgrammer),
            Metrics::default(),
        )
    }

    #[test]
    fn added_endpoints_are_persisted_and_deleted_ones_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let svc = service(&dir);
        svc.add(endpoint("a", "10.0.0.2/32")).unwrap();
        svc.add(endpoint("b", "10.0.0.3/32")).unwrap();
        svc.del(&endpoint("a", "10.0.0.2/32").key).unwrap();
        svc.del(&endpoint("unknown", "10.0.0.9/32").key).unwrap();
        assert_eq!(svc.endpoints(), vec![endpoint("b", "10.0.0.3/32")]);
        assert_eq!(
            service(&dir).endpoints(),
            vec![endpoint("b", "10.0.0.3/32")]
        );
    }

    #[test]
    fn a_failed_program_leaves_no_record() {
        let dir = tempfile::tempdir().unwrap();
        let svc = service(&dir);
        let mut broken = endpoint("a", "10.0.0.2/32");
        broken.host_ifname = "broken".into();
        let err = svc.add(broken).unwrap_err();
        assert!(err.to_string().contains("no such interface"), "{err}");
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert!(svc.endpoints().is_empty());
        assert!(service(&dir).endpoints().is_empty());
    }

    #[test]
    fn a_record_that_cannot_be_written_is_an_internal_error() {
        let dir = tempfile::tempdir().unwrap();
        let svc = service(&dir);
        std::fs::remove_dir_all(endpoints_dir(dir.path())).unwrap();
        let err = svc.add(endpoint("a", "10.0.0.2/32")).unwrap_err();
        assert!(matches!(err, EndpointError::Store(_)), "{err}");
        assert_eq!(err.kind(), ErrorKind::Internal);
    }

    #[test]
    fn a_failed_unprogram_keeps_the_endpoint_for_a_retry() {
        let dir = tempfile::tempdir().unwrap();
        let svc = service(&dir);
        let mut ep = endpoint("a", "10.0.0.2/32");
        svc.add(ep.clone()).unwrap();
        ep.host_ifname = "broken".into();
        svc.update_registry(|registry| registry.insert(ep.clone()));
        assert!(svc.del(&ep.key).is_err());
        assert_eq!(svc.endpoints().len(), 1);
    }
}
