//! What /proc says about a process: peak and current resident memory, and
//! the CPU time it has used.

use std::time::Duration;

use anyhow::{Context, anyhow};

/// VmHWM and VmRSS of `pid`, in KiB.
pub fn memory_kib(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    Ok((
        status_field(&status, "VmHWM").ok_or_else(|| anyhow!("no VmHWM for {pid}"))?,
        status_field(&status, "VmRSS").ok_or_else(|| anyhow!("no VmRSS for {pid}"))?,
    ))
}

/// User plus system CPU time of all of `pid`'s threads.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let ticks = cpu_ticks(&stat).ok_or_else(|| anyhow!("unreadable /proc/{pid}/stat"))?;
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Ok(Duration::from_secs_f64(
        ticks as f64 / per_second.max(1) as f64,
    ))
}

/// A `Name:   1234 kB` line of /proc/PID/status.
fn status_field(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// utime + stime (fields 14 and 15) of /proc/PID/stat; the command name in
/// parentheses may contain spaces, so fields are counted after its `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name, field 3 (state) is index 0: utime is field 14.
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_memory_fields() {
        let status = "Name:\tweftd\nVmHWM:\t   12345 kB\nVmRSS:\t    9000 kB\n";
        assert_eq!(status_field(status, "VmHWM"), Some(12345));
        assert_eq!(status_field(status, "VmRSS"), Some(9000));
        assert_eq!(status_field(status, "VmPeak"), None);
    }

    #[test]
    fn reads_cpu_ticks_past_a_spaced_name() {
        let stat = "42 (we ft) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 4 0 100 0 0";
        assert_eq!(cpu_ticks(stat), Some(12));
    }
}
