//! The first half of a crash-safe replacement: a staged file is the new
//! content written and fsynced to a hidden temp file beside its target,
//! waiting to be renamed over it.

use std::fs::{OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// New content for `target`, durable in its temp file but not yet in place.
#[must_use = "a staged file is removed unless committed"]
#[derive(Debug)]
pub struct StagedFile {
    temp: PathBuf,
    target: PathBuf,
    committed: bool,
}

/// Writes `contents` to the temp file of `target` and fsyncs it. `mode`
/// sets the permission bits exactly, before any content is written;
/// `None` leaves the usual default (0o666 less the umask). The target's
/// directory must exist.
pub fn stage(target: &Path, contents: &[u8], mode: Option<u32>) -> io::Result<StagedFile> {
    stage_with(target, contents, mode, true)
}

/// [`stage`], fsyncing the temp file only when `sync`.
pub(crate) fn stage_with(
    target: &Path,
    contents: &[u8],
    mode: Option<u32>,
    sync: bool,
) -> io::Result<StagedFile> {
    let staged = StagedFile {
        temp: temp_path(target)?,
        target: target.to_owned(),
        committed: false,
    };
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    if let Some(mode) = mode {
        options.mode(mode);
    }
    let mut file = options.open(&staged.temp)?;
    if let Some(mode) = mode {
        // The creation mode is masked by the umask, and a leftover temp file
        // keeps whatever mode it had.
        file.set_permissions(Permissions::from_mode(mode))?;
    }
    file.write_all(contents)?;
    if sync {
        file.sync_all()?;
    }
    Ok(staged)
}

impl StagedFile {
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the temp file over the target. The rename is durable once the
    /// target's directory is synced ([`crate::sync_dir`]).
    pub fn commit(mut self) -> io::Result<()> {
        std::fs::rename(&self.temp, &self.target)?;
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

/// The temp file for `target`: hidden, so directory readers that skip
/// dot-files never see a half-written file, and fixed, so a leftover from a
/// crash is overwritten by the next write.
fn temp_path(target: &Path) -> io::Result<PathBuf> {
    let name = target.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not name a file", target.display()),
        )
    })?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(".tmp");
    Ok(target.with_file_name(temp_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_temp_file_is_hidden_beside_the_target() {
        assert_eq!(
            temp_path(Path::new("/s/pods/x/a.yaml")).unwrap(),
            Path::new("/s/pods/x/.a.yaml.tmp")
        );
    }

    #[test]
    fn a_target_without_a_file_name_is_refused() {
        let err = stage(Path::new("/"), b"x", None).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn commit_replaces_the_target_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.yaml");
        stage(&target, b"old", None).unwrap().commit().unwrap();
        let staged = stage(&target, b"new", None).unwrap();
        assert_eq!(staged.target(), target);
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        staged.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert!(!temp_path(&target).unwrap().exists());
    }

    #[test]
    fn a_dropped_stage_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.yaml");
        std::fs::write(&target, b"old").unwrap();
        drop(stage(&target, b"new", None).unwrap());
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn overwrites_a_leftover_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.yaml");
        std::fs::write(
            temp_path(&target).unwrap(),
            b"a much longer half-written leftover",
        )
        .unwrap();
        stage(&target, b"new", None).unwrap().commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
    }

    #[test]
    fn the_mode_is_applied_even_over_a_leftover_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.json");
        let temp = temp_path(&target).unwrap();
        std::fs::write(&temp, b"leftover").unwrap();
        std::fs::set_permissions(&temp, Permissions::from_mode(0o640)).unwrap();
        stage(&target, b"new", Some(0o604))
            .unwrap()
            .commit()
            .unwrap();
        assert_eq!(mode_of(&target), 0o604);
    }
}
