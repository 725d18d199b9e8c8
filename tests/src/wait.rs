//! Waiting for an observable condition, bounded: the tests' only way to
//! wait for something another process does in the background.

use std::time::{Duration, Instant};

/// Polls `condition` every 10 ms until it holds or `limit` passes; returns
/// whether it held.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits up to 5 s for `condition`, panicking with `what` when it never held.
pub fn wait_until(what: &str, condition: impl FnMut() -> bool) {
    assert!(
        eventually(Duration::from_secs(5), condition),
        "{what}: not the case after 5 s"
    );
}
