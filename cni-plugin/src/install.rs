//! `weft install DIR`: copies the running plugin binary into a CNI bin
//! directory (the DaemonSet's init container runs it against the host's
//! /opt/cni/bin). Written beside the target and renamed over it, so a
//! runtime exec'ing `weft` during an upgrade gets the old binary or the new
//! one, never half of one. Only without CNI_COMMAND: a runtime's calls are
//! never mistaken for it.

use std::path::{Path, PathBuf};

/// File name of the plugin in a CNI bin directory (the conflist's `type`).
pub const PLUGIN_FILE: &str = "weft";

/// Mode of the installed binary: executable by every runtime.
const PLUGIN_MODE: u32 = 0o755;

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("usage: weft install DIR (copies this binary to DIR/weft) or weft version")]
    Usage,
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The target directory when `args` (after the program name) ask for an
/// install, `None` when they do not, an error when they do so wrongly.
pub fn install_request(args: &[String]) -> Option<Result<PathBuf, InstallError>> {
    match args {
        [] => None,
        [verb, dir] if verb == "install" => Some(Ok(PathBuf::from(dir))),
        _ => Some(Err(InstallError::Usage)),
    }
}

/// Copies `binary` to `dir`/weft atomically; returns the installed path.
pub fn install(binary: &Path, dir: &Path) -> Result<PathBuf, InstallError> {
    let contents = std::fs::read(binary).map_err(|source| InstallError::Read {
        path: binary.to_path_buf(),
        source,
    })?;
    let target = dir.join(PLUGIN_FILE);
    weft_durable::write_atomic(&target, &contents, Some(PLUGIN_MODE)).map_err(|source| {
        InstallError::Write {
            path: target.clone(),
            source,
        }
    })?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn only_install_dir_asks_for_an_install() {
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(install_request(&args(&[])).is_none());
        assert_eq!(
            install_request(&args(&["install", "/host/opt/cni/bin"]))
                .unwrap()
                .unwrap(),
            PathBuf::from("/host/opt/cni/bin")
        );
        for wrong in [&["install"][..], &["install", "a", "b"], &["remove", "a"]] {
            assert!(matches!(
                install_request(&args(wrong)),
                Some(Err(InstallError::Usage))
            ));
        }
    }

    #[test]
    fn installs_an_executable_copy_replacing_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("new");
        std::fs::write(&source, b"new binary").unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::fs::write(bin.join(PLUGIN_FILE), b"old binary").unwrap();
        let installed = install(&source, &bin).unwrap();
        assert_eq!(std::fs::read(&installed).unwrap(), b"new binary");
        let mode = std::fs::metadata(&installed).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        let left: Vec<_> = std::fs::read_dir(&bin).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn a_missing_directory_is_a_write_error() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("new");
        std::fs::write(&source, b"x").unwrap();
        let error = install(&source, &dir.path().join("absent")).unwrap_err();
        assert!(matches!(error, InstallError::Write { .. }), "{error}");
    }
}
