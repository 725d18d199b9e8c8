//! Endpoints on disk: one JSON file per endpoint under
//! `<state-dir>/endpoints/`, each replaced atomically, so a restarted weftd
//! knows the endpoints it had acknowledged. Nothing is fsynced: the records
//! serve weftd's restarts, whose files the page cache holds. A power loss
//! reboots the node, and pod network namespaces never survive a reboot, so
//! every record is stale then whatever the disk kept; one it cannot
//! decode is skipped (`Loaded::unreadable`).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use weft_api::{Endpoint, EndpointKey};

/// Endpoint files hold what weftd tells nobody but root.
const ENDPOINT_FILE_MODE: u32 = 0o600;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("endpoint store {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("endpoint file {path} is unreadable: {source}")]
    Decode {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("encoding endpoint failed: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The endpoints directory inside a state dir.
pub fn endpoints_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("endpoints")
}

/// File name of an endpoint: a digest of its key, because container IDs and
/// interface names are chosen by others and need not be safe file names.
pub fn endpoint_file_name(key: &EndpointKey) -> String {
    let mut digest = Sha256::new();
    digest.update(key.container_id.as_bytes());
    digest.update([0u8]);
    digest.update(key.ifname.as_bytes());
    let hex: String = digest
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("{hex}.json")
}

/// What `EndpointStore::load` found: the endpoints and the files it skipped.
#[derive(Debug, Default)]
pub struct Loaded {
    pub endpoints: Vec<Endpoint>,
    pub unreadable: Vec<StoreError>,
}

#[derive(Debug, Clone)]
pub struct EndpointStore {
    dir: PathBuf,
}

impl EndpointStore {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn create_dir(&self) -> Result<(), StoreError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| self.io_error(&self.dir, source))
    }

    /// Records `endpoint`, replacing the record with the same key.
    pub fn save(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        let path = self.path_of(&endpoint.key);
        let content = serde_json::to_vec_pretty(endpoint)?;
        weft_durable::replace_unsynced(&path, &content, Some(ENDPOINT_FILE_MODE))
            .map_err(|source| self.io_error(&path, source))
    }

    /// Forgets the endpoint with `key`; fine when there is no record.
    pub fn remove(&self, key: &EndpointKey) -> Result<(), StoreError> {
        let path = self.path_of(key);
        weft_durable::remove_unsynced(&path).map_err(|source| self.io_error(&path, source))
    }

    /// Reads every endpoint record; a missing directory holds none. Records
    /// that do not decode are reported in `unreadable`, not fatal, so one bad
    /// file cannot keep the node's network down.
    pub fn load(&self) -> Result<Loaded, StoreError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::default()),
            Err(source) => return Err(self.io_error(&self.dir, source)),
        };
        let mut loaded = Loaded::default();
        for entry in entries {
            let path = entry
                .map_err(|source| self.io_error(&self.dir, source))?
                .path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            match read_endpoint(&path) {
                Ok(endpoint) => loaded.endpoints.push(endpoint),
                Err(e) => loaded.unreadable.push(e),
            }
        }
        loaded.endpoints.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(loaded)
    }

    fn path_of(&self, key: &EndpointKey) -> PathBuf {
        self.dir.join(endpoint_file_name(key))
    }

    fn io_error(&self, path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

fn read_endpoint(path: &Path) -> Result<Endpoint, StoreError> {
    let content = std::fs::read(path).map_err(|source| StoreError::Io {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_slice(&content).map_err(|source| StoreError::Decode {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoints::registry::tests::endpoint;

    fn store() -> (tempfile::TempDir, EndpointStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = EndpointStore::new(endpoints_dir(dir.path()));
        store.create_dir().unwrap();
        (dir, store)
    }

    #[test]
    fn saved_endpoints_load_back_and_removed_ones_do_not() {
        let (_dir, store) = store();
        store.save(&endpoint("b", "10.0.0.3/32")).unwrap();
        store.save(&endpoint("a", "10.0.0.2/32")).unwrap();
        store.save(&endpoint("a", "10.0.0.4/32")).unwrap();
        store.remove(&endpoint("b", "10.0.0.3/32").key).unwrap();
        store.remove(&endpoint("never", "10.0.0.9/32").key).unwrap();
        let loaded = store.load().unwrap();
        assert_eq!(loaded.endpoints, vec![endpoint("a", "10.0.0.4/32")]);
        assert!(loaded.unreadable.is_empty());
    }

    #[test]
    fn a_missing_dir_holds_no_endpoints() {
        let dir = tempfile::tempdir().unwrap();
        let store = EndpointStore::new(dir.path().join("nothing"));
        assert!(store.load().unwrap().endpoints.is_empty());
    }

    #[test]
    fn unreadable_records_are_reported_and_others_still_load() {
        let (_dir, store) = store();
        store.save(&endpoint("a", "10.0.0.2/32")).unwrap();
        std::fs::write(store.dir().join("broken.json"), b"{").unwrap();
        std::fs::write(store.dir().join(".x.json.tmp"), b"partial").unwrap();
        let loaded = store.load().unwrap();
        assert_eq!(loaded.endpoints, vec![endpoint("a", "10.0.0.2/32")]);
        assert_eq!(loaded.unreadable.len(), 1);
        assert!(loaded.unreadable[0].to_string().contains("broken.json"));
    }

    #[test]
    fn file_names_are_safe_and_tell_keys_apart() {
        let odd = EndpointKey {
            container_id: "../../etc".into(),
            ifname: "x/y".into(),
        };
        let name = endpoint_file_name(&odd);
        assert!(name.ends_with(".json") && !name.contains('/'));
        let shifted = EndpointKey {
            container_id: "../../et".into(),
            ifname: "cx/y".into(),
        };
        assert_ne!(name, endpoint_file_name(&shifted));
    }
}
