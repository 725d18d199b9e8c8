//! weftd's build as `Request::Version` reports it: crate version, API
//! version and the sha256 of the eBPF object it loads, so that `weftctl
//! version` tells which datapath a node runs.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use weft_api::BuildInfo;

use crate::bpf::EBPF_OBJECT;

/// Hashed on first use only: the object is hundreds of kilobytes and most
/// weftd runs are never asked.
pub fn weftd_build() -> &'static BuildInfo {
    static BUILD: OnceLock<BuildInfo> = OnceLock::new();
    BUILD.get_or_init(|| BuildInfo {
        ebpf_object_sha256: Some(sha256_hex(EBPF_OBJECT)),
        ..BuildInfo::new(env!("CARGO_PKG_VERSION"))
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_the_objects_sha256_in_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let build = weftd_build();
        assert_eq!(build.api, weft_api::API_VERSION);
        assert_eq!(
            build.ebpf_object_sha256.as_deref(),
            Some(sha256_hex(EBPF_OBJECT).as_str())
        );
    }
}
