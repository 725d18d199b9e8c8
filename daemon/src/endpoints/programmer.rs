//! The hook that makes an endpoint's datapath ready before weftd answers the
//! plugin's ADD (attach policy programs, fill its policy maps), and undoes it
//! on DEL. Called on a blocking thread, one call per key at a time.

use weft_api::{Endpoint, ErrorKind};

/// A failure to (un)program, with the kind of failure the plugin is told.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ProgramError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ProgramError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

pub trait EndpointProgrammer: Send + Sync {
    /// Makes `endpoint` ready to send and receive; called before ADD is
    /// acknowledged, also for a repeated ADD of the same key.
    fn program(&self, endpoint: &Endpoint) -> Result<(), ProgramError>;

    /// Undoes `program` for a known endpoint; must succeed when the host
    /// interface is already gone.
    fn unprogram(&self, endpoint: &Endpoint) -> Result<(), ProgramError>;
}
