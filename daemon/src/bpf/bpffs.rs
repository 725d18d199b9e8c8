//! Putting weftd's pin directory on a bpffs: pins live only there, and a
//! weftd started where nothing mounted one (under `ip netns exec`, which
//! remounts /sys; a bare host) mounts its own, as Cilium does. Deciding
//! where is pure; the probe and the mount are a thin shell.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use nix::sys::statfs::{BPF_FS_MAGIC, FsType, statfs};

use super::BpfError;

/// Where the kernel's sysfs offers bpffs its mount point.
const SYSFS_BPF_ROOT: &str = "/sys/fs/bpf";

/// Where a bpffs must be mounted for `bpf_dir` to be on one, given the
/// filesystem type of its nearest existing ancestor (or of itself);
/// `None` when it is a bpffs already. A dir under /sys/fs/bpf gets its
/// bpffs at /sys/fs/bpf, where every bpf tool looks; any other gets one
/// of its own.
pub fn bpffs_mount_point(bpf_dir: &Path, nearest_fs: FsType) -> Option<PathBuf> {
    if nearest_fs == BPF_FS_MAGIC {
        None
    } else if bpf_dir.starts_with(SYSFS_BPF_ROOT) {
        Some(PathBuf::from(SYSFS_BPF_ROOT))
    } else {
        Some(bpf_dir.to_path_buf())
    }
}

/// Makes `bpf_dir`, on a bpffs, mounting one where [`bpffs_mount_point`]
/// says. Returns where it mounted one, if it did.
pub fn ensure_bpffs(bpf_dir: &Path) -> Result<Option<PathBuf>, BpfError> {
    let mount_point = bpffs_mount_point(bpf_dir, nearest_fs_type(bpf_dir)?);
    if let Some(target) = &mount_point {
        std::fs::create_dir_all(target).map_err(BpfError::io(target))?;
        mount(
            Some("bpf"),
            target,
            Some("bpf"),
            MsFlags::empty(),
            None::<&str>,
        )
        .map_err(|source| BpfError::MountBpffs {
            path: target.clone(),
            source,
        })?;
        tracing::info!(path = %target.display(), bpf_dir = %bpf_dir.display(), "mounted a bpffs for the pin directory");
    }
    std::fs::create_dir_all(bpf_dir).map_err(BpfError::io(bpf_dir))?;
    Ok(mount_point)
}

/// The filesystem type of `path`, or of its nearest ancestor that exists.
fn nearest_fs_type(path: &Path) -> Result<FsType, BpfError> {
    for ancestor in path.ancestors() {
        // A relative path's last ancestor is "": the working directory.
        let probe = if ancestor.as_os_str().is_empty() {
            Path::new(".")
        } else {
            ancestor
        };
        match statfs(probe) {
            Ok(fs) => return Ok(fs.filesystem_type()),
            Err(Errno::ENOENT) => continue,
            Err(errno) => return Err(BpfError::io(probe)(errno.into())),
        }
    }
    Err(BpfError::io(path)(Errno::ENOENT.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::statfs::{SYSFS_MAGIC, TMPFS_MAGIC};

    #[test]
    fn a_dir_on_a_bpffs_needs_no_mount() {
        for dir in ["/sys/fs/bpf/weft", "/srv/pins/weft"] {
            assert_eq!(bpffs_mount_point(Path::new(dir), BPF_FS_MAGIC), None);
        }
    }

    #[test]
    fn under_sys_fs_bpf_the_bpffs_goes_on_sys_fs_bpf() {
        for dir in [
            "/sys/fs/bpf",
            "/sys/fs/bpf/weft",
            "/sys/fs/bpf/./weft-lab/t1/n2",
        ] {
            assert_eq!(
                bpffs_mount_point(Path::new(dir), SYSFS_MAGIC),
                Some(PathBuf::from("/sys/fs/bpf")),
                "{dir}"
            );
        }
    }

    #[test]
    fn elsewhere_the_bpffs_goes_on_the_dir_itself() {
        for dir in ["/tmp/x/pins", "/sys/fs/bpfish/weft", "/run/weft/bpf"] {
            assert_eq!(
                bpffs_mount_point(Path::new(dir), TMPFS_MAGIC),
                Some(PathBuf::from(dir)),
                "{dir}"
            );
        }
    }

    #[test]
    fn the_nearest_existing_ancestor_says_which_filesystem_a_new_dir_is_on() {
        let root = tempfile::tempdir().unwrap();
        let here = statfs(root.path()).unwrap().filesystem_type();
        let missing = root.path().join("a/b/c");
        assert_eq!(nearest_fs_type(&missing).unwrap(), here);
        assert_eq!(nearest_fs_type(root.path()).unwrap(), here);
    }
}
