//! The on-disk store through its public API, on temporary directories.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Barrier};

use ipnet::IpNet;
use weft_ipam::{AttachmentKey, IpamError, IpamStore};

/// What stores before the per-boot ones wrote.
const LEGACY_STATE_FILE: &str = "allocations.json";

/// The temp file a write of `store`'s state goes through.
fn temp_file(store: &IpamStore) -> std::path::PathBuf {
    let state = store.state_path();
    let name = state.file_name().unwrap().to_string_lossy();
    state.with_file_name(format!(".{name}.tmp"))
}

fn key(id: &str) -> AttachmentKey {
    AttachmentKey {
        container_id: id.into(),
        ifname: "eth0".into(),
    }
}
fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}
fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
fn reserve(store: &IpamStore, subnet: &str, id: &str) -> Result<Vec<IpAddr>, IpamError> {
    store
        .reserve(&[net(subnet)], &key(id), &format!("veth-{id}"))
        .map(|a| a.ips)
}

#[test]
fn open_creates_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("var/lib/weft/ipam");
    let store = IpamStore::open(&path).unwrap();
    assert!(path.is_dir());
    assert_eq!(store.list().unwrap(), vec![]);
}

#[test]
fn reservations_survive_reopening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let first = IpamStore::open(dir.path()).unwrap();
    let a = first
        .reserve(&[net("10.0.0.0/24"), net("fd00::/64")], &key("a"), "veth-a")
        .unwrap();
    let reopened = IpamStore::open(dir.path()).unwrap();
    assert_eq!(reopened.get(&key("a")).unwrap(), Some(a.clone()));
    assert_eq!(reopened.list().unwrap(), vec![a]);
    // The cursor was persisted too: round-robin continues after .2.
    assert_eq!(
        reserve(&reopened, "10.0.0.0/24", "b").unwrap(),
        [ip("10.0.0.3")]
    );
}

#[test]
fn reserve_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let store = IpamStore::open(dir.path()).unwrap();
    let first = reserve(&store, "10.0.0.0/24", "a").unwrap();
    assert_eq!(reserve(&store, "10.0.0.0/24", "a").unwrap(), first);
    assert_eq!(store.list().unwrap().len(), 1);
}

#[test]
fn release_is_idempotent_and_frees_the_address_for_later() {
    let dir = tempfile::tempdir().unwrap();
    let store = IpamStore::open(dir.path()).unwrap();
    let subnet = "10.0.0.0/30"; // a single assignable address
    let a = reserve(&store, subnet, "a").unwrap();
    assert!(matches!(
        reserve(&store, subnet, "b"),
        Err(IpamError::Exhausted { .. })
    ));
    assert_eq!(
        store.release(&key("a")).unwrap().map(|a| a.ips),
        Some(a.clone())
    );
    assert_eq!(store.release(&key("a")).unwrap(), None);
    assert_eq!(store.get(&key("a")).unwrap(), None);
    assert_eq!(reserve(&store, subnet, "b").unwrap(), a);
}

#[test]
fn gc_releases_what_is_not_valid() {
    let dir = tempfile::tempdir().unwrap();
    let store = IpamStore::open(dir.path()).unwrap();
    for id in ["a", "b", "c"] {
        reserve(&store, "10.0.0.0/24", id).unwrap();
    }
    let valid: HashSet<_> = [key("b")].into_iter().collect();
    let mut released: Vec<_> = store
        .gc(&valid)
        .unwrap()
        .into_iter()
        .map(|a| a.host_ifname)
        .collect();
    released.sort();
    assert_eq!(released, ["veth-a", "veth-c"]);
    let left: Vec<_> = store.list().unwrap().into_iter().map(|a| a.key).collect();
    assert_eq!(left, [key("b")]);
    assert_eq!(store.gc(&valid).unwrap(), vec![]);
}

#[test]
fn concurrent_reserves_get_distinct_addresses_and_none_is_lost() {
    const WORKERS: usize = 64;
    let dir = tempfile::tempdir().unwrap();
    let barrier = Arc::new(Barrier::new(WORKERS));
    let workers: Vec<_> = (0..WORKERS)
        .map(|n| {
            let dir = dir.path().to_path_buf();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                // Each worker opens its own store, like separate plugin processes.
                let store = IpamStore::open(&dir).unwrap();
                barrier.wait();
                reserve(&store, "10.0.0.0/24", &format!("c{n}")).unwrap()
            })
        })
        .collect();
    let handed_out: Vec<IpAddr> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let distinct: HashSet<_> = handed_out.iter().collect();
    assert_eq!(distinct.len(), WORKERS);
    let stored: HashSet<_> = IpamStore::open(dir.path())
        .unwrap()
        .list()
        .unwrap()
        .into_iter()
        .flat_map(|a| a.ips)
        .collect();
    assert_eq!(stored, handed_out.into_iter().collect());
}

#[test]
fn concurrent_reserves_and_releases_through_one_shared_store() {
    const WORKERS: usize = 16;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(IpamStore::open(dir.path()).unwrap());
    let workers: Vec<_> = (0..WORKERS)
        .map(|n| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for round in 0..8 {
                    let id = format!("c{n}-{round}");
                    reserve(&store, "10.0.0.0/24", &id).unwrap();
                    if round % 2 == 0 {
                        store.release(&key(&id)).unwrap().unwrap();
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let left = store.list().unwrap();
    assert_eq!(left.len(), WORKERS * 4);
    let distinct: HashSet<_> = left.iter().flat_map(|a| a.ips.iter()).collect();
    assert_eq!(distinct.len(), left.len());
}

#[test]
fn corrupt_state_is_reported_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = IpamStore::open(dir.path()).unwrap();
    let state = store.state_path().to_path_buf();
    std::fs::write(&state, b"{\"version\":1,\"attachments\":[").unwrap();
    assert!(matches!(store.list(), Err(IpamError::Corrupt { path, .. }) if path == state));
    assert!(matches!(
        reserve(&store, "10.0.0.0/24", "a"),
        Err(IpamError::Corrupt { .. })
    ));
    assert!(matches!(
        store.release(&key("a")),
        Err(IpamError::Corrupt { .. })
    ));
    assert_eq!(
        std::fs::read(&state).unwrap(),
        b"{\"version\":1,\"attachments\":["
    );
}

#[test]
fn a_leftover_temp_file_alone_means_an_empty_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = IpamStore::open(dir.path()).unwrap();
    std::fs::write(temp_file(&store), b"{\"half-writ").unwrap();
    assert_eq!(store.list().unwrap(), vec![]);
    assert_eq!(
        reserve(&store, "10.0.0.0/24", "a").unwrap(),
        [ip("10.0.0.2")]
    );
    assert!(!temp_file(&store).exists());
}

#[test]
fn a_leftover_temp_file_beside_the_state_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let store = IpamStore::open(dir.path()).unwrap();
    let a = reserve(&store, "10.0.0.0/24", "a").unwrap();
    write_garbage(&temp_file(&store));
    assert_eq!(store.get(&key("a")).unwrap().map(|a| a.ips), Some(a));
    assert_eq!(
        reserve(&store, "10.0.0.0/24", "b").unwrap(),
        [ip("10.0.0.3")]
    );
    assert_eq!(store.list().unwrap().len(), 2);
}

fn write_garbage(path: &Path) {
    std::fs::write(path, b"\0\0garbage from a crash mid-write").unwrap();
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "lock")
        .collect();
    names.sort();
    names
}

#[test]
fn a_new_boot_starts_empty_and_its_first_write_removes_the_earlier_boots_state() {
    let dir = tempfile::tempdir().unwrap();
    let before = IpamStore::open_for_boot(dir.path(), "boot-1").unwrap();
    reserve(&before, "10.0.0.0/24", "a").unwrap();
    let torn = dir.path().join("allocations.boot-0.json");
    std::fs::write(&torn, b"{\"version\":1,\"attach").unwrap();

    let after = IpamStore::open_for_boot(dir.path(), "boot-2").unwrap();
    assert_eq!(
        after.list().unwrap(),
        vec![],
        "pods do not survive a reboot"
    );
    assert_eq!(
        reserve(&after, "10.0.0.0/24", "b").unwrap(),
        [ip("10.0.0.2")]
    );
    assert_eq!(files_in(dir.path()), ["allocations.boot-2.json"]);
}

#[test]
fn a_store_from_before_per_boot_files_is_adopted_until_the_first_write_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let old = IpamStore::open_for_boot(dir.path(), "boot-1").unwrap();
    let a = reserve(&old, "10.0.0.0/24", "a").unwrap();
    std::fs::rename(old.state_path(), dir.path().join(LEGACY_STATE_FILE)).unwrap();

    let store = IpamStore::open_for_boot(dir.path(), "boot-1").unwrap();
    assert_eq!(store.get(&key("a")).unwrap().map(|a| a.ips), Some(a));
    assert_eq!(
        reserve(&store, "10.0.0.0/24", "b").unwrap(),
        [ip("10.0.0.3")],
        "the running pods keep their addresses across the upgrade"
    );
    assert_eq!(files_in(dir.path()), ["allocations.boot-1.json"]);
    assert_eq!(store.list().unwrap().len(), 2);
}

#[test]
fn this_kernels_store_is_named_after_its_boot_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = IpamStore::open(dir.path()).unwrap();
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    assert_eq!(
        store.state_path(),
        dir.path()
            .join(format!("allocations.{}.json", boot_id.trim()))
    );
}
