//! The node's pod network as weftd publishes it under its run directory for
//! the CNI plugin to read on every ADD: the second half of the contract
//! between them, beside the endpoint socket.

use std::io;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// File name of the node network description inside weftd's run directory.
pub const NODE_NETWORK_FILE: &str = "node-network.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeNetwork {
    pub node_name: String,
    /// The node's pod subnets, at most one per address family.
    pub pod_cidrs: Vec<IpNet>,
    /// MTU for pod interfaces; `None` leaves the kernel default.
    pub mtu: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum NodeNetworkError {
    /// The file does not exist: weftd has not published the node network yet.
    #[error("{} does not exist", path.display())]
    Missing { path: PathBuf },
    #[error("reading {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{} is corrupt: {source}", path.display())]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("writing {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
}

impl NodeNetwork {
    /// Reads the file.
    pub fn load(path: &Path) -> Result<Self, NodeNetworkError> {
        let bytes = std::fs::read(path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => NodeNetworkError::Missing {
                path: path.to_path_buf(),
            },
            _ => NodeNetworkError::Read {
                path: path.to_path_buf(),
                source,
            },
        })?;
        serde_json::from_slice(&bytes).map_err(|source| NodeNetworkError::Corrupt {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Replaces the file atomically. Only one process (weftd) may write it.
    pub fn write_atomic(&self, path: &Path) -> Result<(), NodeNetworkError> {
        // Strings, addresses and numbers only: encoding cannot fail.
        let mut json = serde_json::to_vec_pretty(self).expect("NodeNetwork encodes to JSON");
        json.push(b'\n');
        weft_durable::write_atomic(path, &json, None).map_err(|source| NodeNetworkError::Write {
            path: path.to_path_buf(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NodeNetwork {
        NodeNetwork {
            node_name: "node-a".into(),
            pod_cidrs: vec![
                "10.244.1.0/24".parse().unwrap(),
                "fd00:1::/64".parse().unwrap(),
            ],
            mtu: Some(1450),
        }
    }

    #[test]
    fn round_trips_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NODE_NETWORK_FILE);
        sample().write_atomic(&path).unwrap();
        assert_eq!(NodeNetwork::load(&path).unwrap(), sample());
    }

    #[test]
    fn uses_camel_case_field_names() {
        let json = serde_json::to_value(sample()).unwrap();
        assert_eq!(json["nodeName"], "node-a");
        assert_eq!(json["podCidrs"][0], "10.244.1.0/24");
        assert_eq!(json["mtu"], 1450);
    }

    #[test]
    fn a_missing_file_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NODE_NETWORK_FILE);
        match NodeNetwork::load(&path) {
            Err(NodeNetworkError::Missing { path: p }) => assert_eq!(p, path),
            other => panic!("expected Missing, got {other:?}"),
        }
    }

    #[test]
    fn an_unreadable_file_is_a_read_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        // A directory exists but cannot be read as a file.
        match NodeNetwork::load(dir.path()) {
            Err(NodeNetworkError::Read { path, .. }) => assert_eq!(path, dir.path()),
            other => panic!("expected a Read error, got {other:?}"),
        }
    }

    #[test]
    fn a_failed_write_is_a_write_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join(NODE_NETWORK_FILE);
        match sample().write_atomic(&path) {
            Err(NodeNetworkError::Write { path: p, source }) => {
                assert_eq!(p, path);
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("expected a Write error, got {other:?}"),
        }
    }

    #[test]
    fn malformed_file_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NODE_NETWORK_FILE);
        std::fs::write(&path, r#"{"nodeName":"a","podCidrs":["not a cidr"]}"#).unwrap();
        assert!(matches!(
            NodeNetwork::load(&path),
            Err(NodeNetworkError::Corrupt { .. })
        ));
    }
}
