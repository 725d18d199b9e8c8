//! Crash-safe replacement of a whole file: after a crash at any point the
//! file holds either its old or its new content, never a mix.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::IpamError;

/// The temp file a write goes through. It is fixed (not unique) so that a
/// leftover from a crash is overwritten by the next write instead of piling
/// up; writers of one file must therefore be serialised by the caller.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Writes `contents` to a temp file, fsyncs it, renames it over `path` and
/// fsyncs the directory so the rename itself survives a power loss.
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), IpamError> {
    let temp = temp_path(path);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temp)
        .map_err(IpamError::io(&temp))?;
    file.write_all(contents).map_err(IpamError::io(&temp))?;
    file.sync_all().map_err(IpamError::io(&temp))?;
    drop(file);
    std::fs::rename(&temp, path).map_err(IpamError::io(path))?;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(IpamError::io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert!(!temp_path(&path).exists());
    }

    #[test]
    fn overwrites_a_leftover_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(temp_path(&path), b"a much longer half-written leftover").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn reports_the_path_that_failed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("state.json");
        match write_atomic(&path, b"x") {
            Err(IpamError::Io { path: failed, .. }) => assert_eq!(failed, temp_path(&path)),
            other => panic!("expected an Io error, got {other:?}"),
        }
    }
}
