//! Errors of weftd's eBPF datapath: loading, maps, links and their pins;
//! and which map errors only say an entry is not there.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    #[error("loading the eBPF object failed: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("eBPF program {name}: {source}")]
    Program {
        name: &'static str,
        source: aya::programs::ProgramError,
    },
    #[error("eBPF map {name}: {source}")]
    Map {
        name: &'static str,
        source: aya::maps::MapError,
    },
    #[error("the eBPF object has no {0}")]
    Missing(&'static str),
    #[error("eBPF link of {name}: {source}")]
    Link {
        name: &'static str,
        source: aya::programs::links::LinkError,
    },
    #[error("pinning at {path}: {source}")]
    Pin {
        path: PathBuf,
        source: aya::pin::PinError,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("mounting a bpffs at {path}: {source}")]
    MountBpffs {
        path: PathBuf,
        source: nix::errno::Errno,
    },
    #[error("pod slot {0} is outside 1..{max}", max = weft_ebpf_common::MAX_SLOTS)]
    InvalidSlot(u32),
    #[error(
        "map {name} pinned by a previous weftd is {found}, this weftd needs {expected}: \
         remove the pins (weft-lab down / uninstall) to start over"
    )]
    IncompatiblePin {
        name: &'static str,
        expected: super::map_shapes::MapShape,
        found: super::map_shapes::MapShape,
    },
    #[error(
        "the policy maps are full: {not_stored} entries not stored; {starved} isolated \
         endpoints are allowed nothing until there is room"
    )]
    MapsFull { not_stored: String, starved: usize },
    #[error("the event ring was already taken")]
    EventsTaken,
}

impl BpfError {
    pub(super) fn map(name: &'static str) -> impl FnOnce(aya::maps::MapError) -> Self {
        move |source| Self::Map { name, source }
    }

    pub(super) fn program(name: &'static str) -> impl FnOnce(aya::programs::ProgramError) -> Self {
        move |source| Self::Program { name, source }
    }

    pub(super) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}

/// The kernel had no such entry (ENOENT from a lookup or delete).
pub(super) fn is_missing(error: &aya::maps::MapError) -> bool {
    match error {
        aya::maps::MapError::KeyNotFound | aya::maps::MapError::ElementNotFound => true,
        aya::maps::MapError::SyscallError(syscall) => {
            syscall.io_error.kind() == std::io::ErrorKind::NotFound
        }
        _ => false,
    }
}

/// The map had no room for a new entry: E2BIG from a full hash map,
/// ENOSPC from a full LPM trie.
pub(super) fn is_full(error: &aya::maps::MapError) -> bool {
    match error {
        aya::maps::MapError::SyscallError(syscall) => matches!(
            syscall.io_error.raw_os_error(),
            Some(libc_errno) if libc_errno == nix::libc::E2BIG || libc_errno == nix::libc::ENOSPC
        ),
        _ => false,
    }
}

/// Deleting what is already gone succeeds: removals are idempotent.
pub(super) fn ignore_missing(
    result: Result<(), aya::maps::MapError>,
) -> Result<(), aya::maps::MapError> {
    match result {
        Err(error) if is_missing(&error) => Ok(()),
        other => other,
    }
}
