//! Locates the workspace's built binaries next to the running test.

use std::path::PathBuf;

/// Path of a workspace binary (`weft`, `weftd`, ...) of the same profile as
/// the running executable: tests run from target/<profile>/deps, benchmark
/// binaries from target/<profile>.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    let mut profile_dir = exe.parent().expect("an executable lives in a directory");
    if profile_dir.ends_with("deps") {
        profile_dir = profile_dir
            .parent()
            .expect("deps lives in target/<profile>");
    }
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace` first (make test does)",
        path.display()
    );
    path
}
