//! Crash-safe file writes: after a crash at any point a file holds its old
//! or its new content, never a mix, and a change has survived a power loss
//! once the call that made it returns.
//!
//! [`write_atomic`] replaces one file ([`replace`]: without making the
//! rename durable; [`replace_unsynced`]: without syncing anything, for
//! records only a restart of their own process reads). A batch that must prepare every file
//! before changing any uses [`stage`] for each, then [`StagedFile::commit`]
//! and [`sync_dir`] on the directories it touched.
//!
//! Every file's temp file is fixed (`.<name>.tmp` beside it) so that a
//! leftover from a crash is overwritten by the next write instead of piling
//! up; writers of one file must therefore be serialised by the caller.

mod staged;

use std::fs::File;
use std::io;
use std::path::Path;

pub use staged::{StagedFile, stage};

/// Replaces `path` with `contents`: stages a temp file, renames it over
/// `path` and fsyncs the directory so the rename itself is durable. `mode`
/// sets the file's permission bits exactly (not masked by the umask).
pub fn write_atomic(path: &Path, contents: &[u8], mode: Option<u32>) -> io::Result<()> {
    stage(path, contents, mode)?.commit()?;
    sync_dir(parent_dir(path))
}

/// Replaces `path` with `contents` like [`write_atomic`], but leaves the
/// rename to reach the disk in its own time: after a power loss `path`
/// holds its old or its new content, whole. For state that a reboot makes
/// stale anyway (what pod network namespaces, which never survive one,
/// hold), where one directory fsync per change is time lost.
pub fn replace(path: &Path, contents: &[u8], mode: Option<u32>) -> io::Result<()> {
    stage(path, contents, mode)?.commit()
}

/// Replaces `path` with `contents` for its own process's restarts only:
/// readers never see a partial file (the rename), but nothing is synced,
/// so after a power loss `path` may hold its old or new content, nothing,
/// or be gone. For records a reboot makes stale anyway, whose reader skips
/// what it cannot decode: two fsyncs fewer on every change.
pub fn replace_unsynced(path: &Path, contents: &[u8], mode: Option<u32>) -> io::Result<()> {
    staged::stage_with(path, contents, mode, false)?.commit()
}

/// Removes `path` without making the removal durable (see
/// [`replace_unsynced`]); a file already gone is fine.
pub fn remove_unsynced(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Removes `path` and makes the removal durable; a file already gone is fine.
pub fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => sync_dir(parent_dir(path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Fsyncs a directory so renames, creations and removals in it survive a
/// power loss.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The directory holding `path`; a bare file name lives in the current one.
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn write_replaces_content_with_the_requested_mode_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        write_atomic(&path, b"old", Some(0o600)).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        write_atomic(&path, b"new", Some(0o644)).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(mode_of(&path), 0o644);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn replace_swaps_whole_contents_and_leaves_no_temp_file() {
        type Replace = fn(&Path, &[u8], Option<u32>) -> io::Result<()>;
        for replace in [replace as Replace, replace_unsynced] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("state.json");
            replace(&path, b"old", None).unwrap();
            replace(&path, b"new", Some(0o600)).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), b"new");
            assert_eq!(mode_of(&path), 0o600);
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        }
    }

    #[test]
    fn write_overwrites_a_leftover_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(
            dir.path().join(".state.json.tmp"),
            b"a much longer half-written leftover",
        )
        .unwrap();
        write_atomic(&path, b"new", None).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn write_does_not_create_a_missing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("state.json");
        let err = write_atomic(&path, b"x", None).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(!path.parent().unwrap().exists());
    }

    #[test]
    fn a_bare_file_name_lives_in_the_current_directory() {
        assert_eq!(parent_dir(Path::new("f.json")), Path::new("."));
        assert_eq!(parent_dir(Path::new("d/f.json")), Path::new("d"));
    }

    #[test]
    fn remove_deletes_the_file_and_a_missing_one_is_fine() {
        for remove in [remove, remove_unsynced] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("gone");
            remove(&path).unwrap();
            std::fs::write(&path, b"x").unwrap();
            remove(&path).unwrap();
            assert!(!path.exists());
        }
    }

    #[test]
    fn remove_reports_other_failures() {
        let dir = tempfile::tempdir().unwrap();
        // A directory cannot be removed as a file.
        assert!(remove(dir.path()).is_err());
        assert!(remove_unsynced(dir.path()).is_err());
    }

    #[test]
    fn sync_dir_reports_a_missing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let err = sync_dir(&dir.path().join("missing")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
