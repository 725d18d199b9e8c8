//! Builds Weft's eBPF programs (ebpf/programs) with their pinned nightly and
//! bpf-linker, and hands the object to the daemon through OUT_DIR, so a plain
//! `cargo build` of the workspace produces a weftd that embeds them.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let programs = manifest_dir.join("../ebpf/programs");
    let common = manifest_dir.join("../ebpf/common");
    for path in [
        programs.join("src"),
        programs.join("Cargo.toml"),
        programs.join("rust-toolchain.toml"),
        common.join("src"),
        common.join("Cargo.toml"),
    ] {
        println!("cargo:rerun-if-changed={}", path.display());
    }

    let toolchain = std::fs::read_to_string(programs.join("rust-toolchain.toml"))
        .expect("ebpf/programs/rust-toolchain.toml is readable");
    let channel = toolchain
        .lines()
        .find_map(|l| l.trim().strip_prefix("channel = "))
        .map(|c| c.trim_matches('"').to_string())
        .expect("rust-toolchain.toml names a channel");

    let mut cargo = Command::new("rustup");
    cargo
        .args(["run", &channel, "cargo", "build", "--release"])
        .current_dir(&programs);
    // The outer cargo's settings (target dir, wrappers like clippy-driver,
    // host rustflags, toolchain override) must not leak into the BPF build.
    for var in [
        "RUSTUP_TOOLCHAIN",
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
        "CARGO",
    ] {
        cargo.env_remove(var);
    }
    let status = cargo
        .status()
        .expect("rustup is installed (run `make deps`)");
    assert!(
        status.success(),
        "building ebpf/programs failed; `make deps` installs the nightly and bpf-linker it needs"
    );

    let object = programs.join("target/bpfel-unknown-none/release/weft-ebpf");
    let out =
        PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("weft-ebpf.o");
    std::fs::copy(&object, &out).expect("the eBPF object was built");
}
