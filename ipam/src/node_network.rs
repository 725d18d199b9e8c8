//! The node's pod network as weftd publishes it under its run directory for
//! the CNI plugin to read on every ADD.

use std::path::Path;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::IpamError;

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

impl NodeNetwork {
    /// Reads the file. A missing file is an `Io` error with kind `NotFound`
    /// (weftd has not published the node network yet); unparsable content
    /// is `Corrupt`.
    pub fn load(path: &Path) -> Result<Self, IpamError> {
        let bytes = std::fs::read(path).map_err(IpamError::io(path))?;
        serde_json::from_slice(&bytes).map_err(|err| IpamError::Corrupt {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })
    }

    /// Replaces the file atomically. Only one process (weftd) may write it.
    pub fn write_atomic(&self, path: &Path) -> Result<(), IpamError> {
        // Strings, addresses and numbers only: encoding cannot fail.
        let mut json = serde_json::to_vec_pretty(self).expect("NodeNetwork encodes to JSON");
        json.push(b'\n');
        weft_durable::write_atomic(path, &json, None).map_err(IpamError::io(path))
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
    fn missing_file_is_a_not_found_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NODE_NETWORK_FILE);
        match NodeNetwork::load(&path) {
            Err(IpamError::Io { path: p, source }) => {
                assert_eq!(p, path);
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("expected NotFound, got {other:?}"),
        }
    }

    #[test]
    fn a_failed_write_is_an_io_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join(NODE_NETWORK_FILE);
        match sample().write_atomic(&path) {
            Err(IpamError::Io { path: p, source }) => {
                assert_eq!(p, path);
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("expected an Io error, got {other:?}"),
        }
    }

    #[test]
    fn malformed_file_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NODE_NETWORK_FILE);
        std::fs::write(&path, r#"{"nodeName":"a","podCidrs":["not a cidr"]}"#).unwrap();
        assert!(matches!(
            NodeNetwork::load(&path),
            Err(IpamError::Corrupt { .. })
        ));
    }
}
