//! A process's resident memory from /proc/PID/status: now (VmRSS, and its
//! anonymous and file-backed parts) and the peak (VmHWM), which the
//! benchmark resets at the start of each phase (`clear_refs` 5), so each
//! phase's peak is its own.

use std::fs;

use anyhow::Context;

/// Resident memory in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Memory {
    pub rss: u64,
    /// Heap and other anonymous memory.
    pub anon: u64,
    /// Mapped files: the binary and its libraries.
    pub file: u64,
    /// The peak of `rss` since the process started or the last reset.
    pub peak: u64,
}

/// The fields of /proc/PID/status; `None` when one is missing.
pub fn parse_status(text: &str) -> Option<Memory> {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let value = line.strip_prefix(name)?.strip_prefix(':')?;
            value.split_whitespace().next()?.parse::<u64>().ok()
        })
    };
    Some(Memory {
        rss: field("VmRSS")?,
        anon: field("RssAnon")?,
        file: field("RssFile")?,
        peak: field("VmHWM")?,
    })
}

pub fn read(pid: i32) -> anyhow::Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_status(&text).with_context(|| format!("{path} has no VmRSS, RssAnon, RssFile or VmHWM"))
}

/// Sets the process's peak (VmHWM) to its current RSS.
pub fn reset_peak(pid: i32) -> anyhow::Result<()> {
    let path = format!("/proc/{pid}/clear_refs");
    fs::write(&path, "5").with_context(|| format!("writing 5 to {path}"))
}

/// KiB as MiB with one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tweftd\nVmPeak:\t  900000 kB\nVmHWM:\t   61440 kB\n\
        VmRSS:\t   51200 kB\nRssAnon:\t   40960 kB\nRssFile:\t   10240 kB\nRssShmem:\t       0 kB\n";

    #[test]
    fn reads_rss_its_parts_and_the_peak() {
        assert_eq!(
            parse_status(STATUS),
            Some(Memory {
                rss: 51200,
                anon: 40960,
                file: 10240,
                peak: 61440
            })
        );
        assert_eq!(parse_status("Name:\tx\nVmRSS:\t1 kB\n"), None);
        assert_eq!(mib(51200), "50.0");
    }

    #[test]
    fn reads_this_process() {
        let me = read(std::process::id() as i32).unwrap();
        assert!(me.rss > 0 && me.peak >= me.rss, "{me:?}");
    }
}
