//! weftd mounts the bpffs its pin directory needs. Each case runs on a
//! thread of its own in a fresh mount namespace with every mount private,
//! so the host's mounts never change and the namespace, with what was
//! mounted in it, goes when the thread ends. Root.

use std::path::Path;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use nix::sys::statfs::{BPF_FS_MAGIC, FsType, SYSFS_MAGIC, statfs};
use weft_tests::unique_name;
use weftd::bpf::ensure_bpffs;

/// Runs `case` in a mount namespace of its own: `unshare` gives the calling
/// thread alone a new one, which ends with the thread.
fn in_private_mount_namespace(case: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        unshare(CloneFlags::CLONE_NEWNS).expect("unshare the mount namespace");
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .expect("make every mount private");
        case();
    })
    .join()
    .expect("the case passes");
}

fn fs_type(path: &Path) -> FsType {
    statfs(path).expect("statfs").filesystem_type()
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn a_pin_dir_on_a_tmpfs_gets_a_bpffs_of_its_own() {
    let root = tempfile::tempdir().unwrap();
    let tmp = root.path().to_path_buf();
    in_private_mount_namespace(move || {
        mount(
            Some("tmpfs"),
            &tmp,
            Some("tmpfs"),
            MsFlags::empty(),
            None::<&str>,
        )
        .expect("mount a tmpfs");
        let pins = tmp.join("pins/n1");
        assert_eq!(ensure_bpffs(&pins).unwrap(), Some(pins.clone()));
        assert_eq!(fs_type(&pins), BPF_FS_MAGIC);
        assert_eq!(ensure_bpffs(&pins).unwrap(), None, "mounted once");
        let links = pins.join("links");
        assert_eq!(ensure_bpffs(&links).unwrap(), None);
        assert!(links.is_dir());
    });
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn under_a_sys_fs_bpf_without_bpffs_the_bpffs_goes_on_sys_fs_bpf() {
    let sys_fs_bpf = Path::new("/sys/fs/bpf");
    let pins = sys_fs_bpf.join(unique_name("bpffs"));
    let inside = pins.clone();
    in_private_mount_namespace(move || {
        // What `ip netns exec` leaves: sysfs's bare /sys/fs/bpf.
        for _ in 0..8 {
            if fs_type(sys_fs_bpf) != BPF_FS_MAGIC {
                break;
            }
            umount2(sys_fs_bpf, MntFlags::MNT_DETACH).expect("unmount /sys/fs/bpf");
        }
        assert_eq!(fs_type(sys_fs_bpf), SYSFS_MAGIC);
        assert_eq!(
            ensure_bpffs(&inside).unwrap(),
            Some(sys_fs_bpf.to_path_buf())
        );
        assert_eq!(fs_type(sys_fs_bpf), BPF_FS_MAGIC);
        assert!(inside.is_dir());
    });
    assert!(!pins.exists(), "the host's /sys/fs/bpf is untouched");
}
