//! weftd's log lines placed on the benchmark's clock: milliseconds since a
//! moment, from the UTC time of day tracing stamps on every line.

use std::time::{SystemTime, UNIX_EPOCH};

const DAY_MICROS: i64 = 86_400 * 1_000_000;

/// Microseconds since UTC midnight of `at`.
pub fn micros_of_day(at: SystemTime) -> i64 {
    let since_epoch = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    (since_epoch.as_micros() % DAY_MICROS as u128) as i64
}

/// The lines stamped at or after `start` (micros of day), each with its
/// offset in ms, ANSI colours removed.
pub fn lines_since(log: &str, start: i64) -> Vec<(f64, String)> {
    log.lines()
        .map(strip_ansi)
        .filter_map(|line| {
            let stamp = line.split_whitespace().next()?;
            let offset = (micros_of_stamp(stamp)? - start).rem_euclid(DAY_MICROS);
            // A line from before `start` wraps around to nearly a day.
            (offset < DAY_MICROS / 2).then(|| (offset as f64 / 1000.0, line.clone()))
        })
        .collect()
}

/// `2026-05-20T04:34:58.123456Z` -> microseconds since midnight.
fn micros_of_stamp(stamp: &str) -> Option<i64> {
    let time = stamp.split_once('T')?.1.strip_suffix('Z')?;
    let mut parts = time.splitn(3, ':');
    let hours: i64 = parts.next()?.parse().ok()?;
    let minutes: i64 = parts.next()?.parse().ok()?;
    let seconds: f64 = parts.next()?.parse().ok()?;
    Some((hours * 3600 + minutes * 60) * 1_000_000 + (seconds * 1e6).round() as i64)
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_lines_after_the_start() {
        let log = "2026-05-20T04:34:58.100000Z  INFO a: before\n\
                   2026-05-20T04:34:58.350500Z  INFO b: \u{1b}[3mafter\u{1b}[0m\n\
                   not a log line\n";
        let start = micros_of_stamp("2026-05-20T04:34:58.200000Z").unwrap();
        let lines = lines_since(log, start);
        assert_eq!(lines.len(), 1);
        assert!((lines[0].0 - 150.5).abs() < 1e-6, "{lines:?}");
        assert_eq!(lines[0].1, "2026-05-20T04:34:58.350500Z  INFO b: after");
    }

    #[test]
    fn stamps_are_read_as_time_of_day() {
        assert_eq!(
            micros_of_stamp("2026-01-01T01:00:01.5Z"),
            Some(3_601_500_000)
        );
        assert_eq!(micros_of_stamp("garbage"), None);
        assert_eq!(
            micros_of_day(UNIX_EPOCH + std::time::Duration::from_secs(86_401)),
            1_000_000
        );
    }
}
