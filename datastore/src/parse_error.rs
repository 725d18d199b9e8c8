//! Why one document of a YAML/JSON stream is not a valid object.

use crate::kind::Kind;

/// Why one document of a YAML/JSON stream is not a valid object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("document {document}: {problem}")]
pub struct ParseError {
    /// 1-based position of the document among the stream's non-empty documents.
    pub document: usize,
    pub problem: ParseProblem,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseProblem {
    #[error("not valid YAML or JSON: {0}")]
    Syntax(String),
    #[error("not an object: expected a mapping with apiVersion and kind")]
    NotAnObject,
    #[error("missing {0}")]
    MissingField(&'static str),
    #[error(
        "unsupported kind {kind:?} of apiVersion {api_version:?} (supported: v1 Node, Namespace, Pod, ConfigMap; networking.k8s.io/v1 NetworkPolicy)"
    )]
    UnknownKind { api_version: String, kind: String },
    #[error("missing metadata.name")]
    MissingName,
    #[error("invalid {field} {value:?}: {why}")]
    InvalidName {
        field: &'static str,
        value: String,
        why: String,
    },
    #[error("not a valid {kind}: {path}: {message}")]
    Schema {
        kind: Kind,
        path: String,
        message: String,
    },
    #[error("not a valid {kind}: unknown field(s) {}", paths.join(", "))]
    UnknownFields { kind: Kind, paths: Vec<String> },
}
