//! The one way a query fails: the kernel's netlink answer was an error.

/// A netlink request that failed, with what it was for.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct QueryError {
    pub what: String,
    pub source: rtnetlink::Error,
}

impl QueryError {
    /// Wraps a netlink failure with what was being done.
    pub(crate) fn of(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> Self {
        let what = what.into();
        move |source| Self { what, source }
    }
}
