//! Rust code inside a test namespace: `setns` moves only the calling thread,
//! so the code gets a thread of its own that enters the namespace first and
//! ends with the code, leaving every other thread where it was.

use std::thread::{self, JoinHandle};

use nix::sched::{CloneFlags, setns};

use super::Netns;

impl Netns {
    /// Runs `job` inside the namespace and returns what it returns; `job`
    /// may borrow from the caller.
    pub fn run<T: Send>(&self, job: impl FnOnce() -> T + Send) -> T {
        let netns = self.file();
        thread::scope(|scope| {
            scope
                .spawn(move || {
                    enter(&netns);
                    job()
                })
                .join()
                .expect("the namespace thread")
        })
    }

    /// Starts `job` inside the namespace and returns at once, for work that
    /// runs while the caller does something else (a server it connects to).
    pub fn spawn<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        let netns = self.file();
        thread::spawn(move || {
            enter(&netns);
            job()
        })
    }
}

fn enter(netns: &std::fs::File) {
    setns(netns, CloneFlags::CLONE_NEWNET).expect("enter the namespace");
}
