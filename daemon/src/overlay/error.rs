//! Errors of the node network shell.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("{action}: {source}")]
    Netlink {
        action: String,
        #[source]
        source: rtnetlink::Error,
    },
    #[error("interface {0:?} not found")]
    NoSuchInterface(String),
    #[error("no underlay interface: no default route and no interface with a global IPv4 address")]
    NoUnderlayInterface,
    #[error("underlay interface {0:?} has no global IPv4 address")]
    NoUnderlayAddress(String),
    #[error("underlay interface {0:?} reports no MTU")]
    NoUnderlayMtu(String),
    #[error("writing {path}: {source}", path = path.display())]
    Sysctl {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("applying the masquerade rules: {0}")]
    Masquerade(#[from] nftables::helper::NftablesError),
    #[error("encoding the masquerade rules: {0}")]
    MasqueradeJson(#[from] serde_json::Error),
    #[error("{} change(s) failed: {}", .0.len(), ApplyFailures(.0))]
    Apply(Vec<ApplyFailure>),
}

/// One change of a plan the kernel refused.
#[derive(Debug)]
pub struct ApplyFailure {
    pub change: String,
    pub error: OverlayError,
}

impl fmt::Display for ApplyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.change, self.error)
    }
}

struct ApplyFailures<'a>(&'a [ApplyFailure]);

impl fmt::Display for ApplyFailures<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, failure) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{failure}")?;
        }
        Ok(())
    }
}

/// Wraps a netlink error with what was being done.
pub(crate) fn netlink(action: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> OverlayError {
    let action = action.into();
    move |source| OverlayError::Netlink { action, source }
}
