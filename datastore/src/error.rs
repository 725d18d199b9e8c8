//! Errors: why a stored file was skipped, and why a datastore operation
//! failed (why a document is not a valid object is `parse_error`).

use std::io;
use std::path::PathBuf;

use crate::object::ObjectKey;
use crate::parse_error::{ParseError, ParseProblem};

/// A file or object of the store that was skipped; the rest of the store is
/// still read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {problem}", file.display())]
pub struct ObjectError {
    /// The file, relative to the store's root.
    pub file: PathBuf,
    pub problem: ObjectProblem,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectProblem {
    #[error("{0}")]
    Parse(ParseError),
    #[error("cannot read: {0}")]
    Unreadable(String),
    #[error("{key} is defined twice; ignored here, the one in {} is used", kept.display())]
    Duplicate { key: ObjectKey, kept: PathBuf },
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0} not found")]
    NotFound(ObjectKey),
    #[error("{0} already exists")]
    AlreadyExists(ObjectKey),
    #[error("{key} was changed meanwhile: stored resourceVersion {stored:?}, given {given:?}")]
    Conflict {
        key: ObjectKey,
        stored: Option<String>,
        given: Option<String>,
    },
    #[error("invalid object {key}: {problem}")]
    Invalid {
        key: ObjectKey,
        problem: ParseProblem,
    },
    #[error("cannot encode {key} as YAML: {message}")]
    Encode { key: ObjectKey, message: String },
    #[error("{key} is defined in the hand-written file {}; edit or remove that file instead", file.display())]
    HandWritten { key: ObjectKey, file: PathBuf },
    #[error("{}: expected a revision number, found {content:?}", path.display())]
    BadRevision { path: PathBuf, content: String },
    #[error("watching {} needs a tokio runtime", path.display())]
    NoRuntime { path: PathBuf },
    #[error("cannot watch {}: {source}", path.display())]
    Watch {
        path: PathBuf,
        #[source]
        source: notify::Error,
    },
}

impl StoreError {
    /// For `map_err`: an I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io { path, source }
    }
}
