//! Errors of kernel operations, with enough context to say which step failed.

use std::path::PathBuf;

/// `-errno` values netlink answers with that callers act on.
pub(crate) const EEXIST: i32 = 17;
pub(crate) const ENODEV: i32 = 19;

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("{what}: {source}")]
    Netlink {
        what: String,
        source: rtnetlink::Error,
    },
    #[error(transparent)]
    Query(#[from] weft_netlink::QueryError),
    #[error("opening a netlink socket: {0}")]
    Socket(std::io::Error),
    #[error("starting the netlink event loop: {0}")]
    Runtime(std::io::Error),
    #[error("duplicating the pod netns handle: {0}")]
    NetnsFd(std::io::Error),
    #[error("entering the pod network namespace: {0}")]
    Setns(nix::Error),
    #[error("pod namespace thread: {0}")]
    Thread(String),
    #[error("writing {}: {source}", path.display())]
    Sysctl {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl KernelError {
    /// Wraps a netlink failure with what was being done.
    pub(crate) fn netlink(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> Self {
        let what = what.into();
        move |source| KernelError::Netlink { what, source }
    }
}

/// The errno of a netlink NACK, as a positive number.
pub(crate) fn errno(err: &rtnetlink::Error) -> Option<i32> {
    match err {
        rtnetlink::Error::NetlinkError(message) => Some(message.raw_code().abs()),
        _ => None,
    }
}
