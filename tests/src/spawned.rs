//! A process a test started, killed by its PID (and reaped) when dropped.

use std::process::Child;

pub struct Spawned(pub Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
