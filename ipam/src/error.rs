//! The errors IPAM reports to its callers (the CNI plugin and weftd).

use std::path::PathBuf;

use ipnet::IpNet;

#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    /// Every assignable address of the subnet is reserved (or the subnet is
    /// too small to have any: /31, /32, /127, /128).
    #[error("no free address left in {subnet}")]
    Exhausted { subnet: IpNet },
    /// A file or directory operation failed; `path` is what was being touched.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file exists but its content cannot be trusted; nothing is dropped or
    /// rewritten so that no reservation is silently lost.
    #[error("{} is corrupt: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    /// `reserve` was called without any subnet to allocate from.
    #[error("no pod subnet to allocate from")]
    NoSubnet,
}

impl IpamError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
