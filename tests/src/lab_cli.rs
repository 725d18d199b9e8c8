//! Running `weft-lab` for the lab benchmarks: a command of a named lab,
//! with optional stdin, its stdout on success and its stderr as the error.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

pub fn run_weft_lab(
    bin: &Path,
    lab: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> anyhow::Result<String> {
    let mut child = Command::new(bin)
        .args(["--name", lab])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running weft-lab")?;
    let mut input = child.stdin.take().context("weft-lab's stdin is piped")?;
    if let Some(text) = stdin {
        input.write_all(text.as_bytes())?;
    }
    drop(input);
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "weft-lab {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
