//! `weft install DIR` as the DaemonSet's init container runs it (no root
//! needed): the installed plugin is this binary, byte for byte; a runtime's
//! call (CNI_COMMAND set) is never taken for an install.

use std::process::Command;

const WEFT: &str = env!("CARGO_BIN_EXE_weft");

#[test]
fn install_copies_this_binary_into_the_cni_bin_dir() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(WEFT)
        .args(["install"])
        .arg(dir.path())
        .env_remove("CNI_COMMAND")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "stdout stays for CNI JSON");
    let installed = std::fs::read(dir.path().join("weft")).unwrap();
    assert!(
        installed == std::fs::read(WEFT).unwrap(),
        "a byte-for-byte copy"
    );
}

#[test]
fn a_bad_install_request_fails_with_usage_and_a_runtime_call_is_not_one() {
    let out = Command::new(WEFT)
        .args(["install"])
        .env_remove("CNI_COMMAND")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: weft install DIR"));

    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(WEFT)
        .args(["install"])
        .arg(dir.path())
        .env("CNI_COMMAND", "VERSION")
        .output()
        .unwrap();
    assert!(out.status.success());
    let version: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(version["supportedVersions"].is_array(), "{version}");
    assert!(!dir.path().join("weft").exists());
}
