//! Crash-safe file replacement in two steps, so a batch can prepare every
//! file before changing any: `stage` writes and fsyncs a hidden temp file
//! beside the target; `commit` renames it over the target. A staged file
//! that is dropped uncommitted is removed. After a crash a target holds its
//! old or its new content, never a mix.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::StoreError;

#[must_use = "a staged file is removed unless committed"]
pub(crate) struct StagedFile {
    temp: PathBuf,
    target: PathBuf,
    committed: bool,
}

/// The temp file for `target`: hidden (readers skip it) and fixed, so a
/// leftover from a crash is overwritten by the next write. Writers of one
/// target must therefore be serialised (the store lock does it).
fn temp_path(target: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(target.file_name().unwrap_or_default());
    name.push(".tmp");
    target.with_file_name(name)
}

/// Writes `contents` to the temp file of `target` and fsyncs it, creating
/// the target's directory if needed.
pub(crate) fn stage(target: &Path, contents: &[u8]) -> Result<StagedFile, StoreError> {
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(StoreError::io(dir))?;
    }
    let staged = StagedFile {
        temp: temp_path(target),
        target: target.to_owned(),
        committed: false,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&staged.temp)
        .map_err(StoreError::io(&staged.temp))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(StoreError::io(&staged.temp))?;
    Ok(staged)
}

impl StagedFile {
    pub(crate) fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the temp file over the target. The rename is durable once the
    /// target's directory is synced ([`sync_dir`]).
    pub(crate) fn commit(mut self) -> Result<(), StoreError> {
        std::fs::rename(&self.temp, &self.target).map_err(StoreError::io(&self.target))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: a leftover is hidden and overwritten by the next write.
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Removes `path`; a file already gone is fine.
pub(crate) fn remove(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StoreError::io(path)(e)),
        _ => Ok(()),
    }
}

/// Fsyncs a directory so renames, creations and removals in it survive a power loss.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(StoreError::io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_replaces_the_target_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/a.yaml");
        stage(&target, b"old").unwrap().commit().unwrap();
        stage(&target, b"new").unwrap().commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert!(!temp_path(&target).exists());
        assert!(
            temp_path(&target)
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with('.')
        );
    }

    #[test]
    fn a_dropped_stage_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.yaml");
        std::fs::write(&target, b"old").unwrap();
        drop(stage(&target, b"new").unwrap());
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        assert!(!temp_path(&target).exists());
    }

    #[test]
    fn overwrites_a_leftover_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.yaml");
        std::fs::write(temp_path(&target), b"a much longer half-written leftover").unwrap();
        stage(&target, b"new").unwrap().commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
    }

    #[test]
    fn removing_a_missing_file_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        remove(&dir.path().join("gone.yaml")).unwrap();
    }
}
