//! Port ranges as power-of-two-aligned prefixes, so one LPM lookup on the
//! packet's port finds any range: `first..=last` becomes at most 30 prefixes.

/// A set of ports sharing the top `len` bits with `value` (low bits zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortPrefix {
    pub value: u16,
    /// 0 (every port) ..= 16 (exactly `value`).
    pub len: u8,
}

impl PortPrefix {
    pub fn contains(self, port: u16) -> bool {
        let mask = u16::MAX.checked_shl(16 - u32::from(self.len)).unwrap_or(0);
        port & mask == self.value
    }
}

/// The fewest aligned prefixes that together are exactly `first..=last`.
pub fn port_prefixes(first: u16, last: u16) -> Vec<PortPrefix> {
    let mut prefixes = Vec::new();
    let (mut start, end) = (u32::from(first), u32::from(last) + 1);
    while start < end {
        // The largest block aligned at `start` that does not pass `end`.
        let mut size = if start == 0 {
            1 << 16
        } else {
            1 << start.trailing_zeros()
        };
        while start + size > end {
            size >>= 1;
        }
        prefixes.push(PortPrefix {
            // Lossless: start < end <= 65536 and start is a port here.
            value: start as u16,
            len: (16 - size.trailing_zeros()) as u8,
        });
        start += size;
    }
    prefixes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covered(prefixes: &[PortPrefix]) -> Vec<u16> {
        (0..=u16::MAX)
            .filter(|port| prefixes.iter().any(|p| p.contains(*port)))
            .collect()
    }

    #[test]
    fn single_ports_and_the_full_range_are_one_prefix() {
        assert_eq!(
            port_prefixes(80, 80),
            vec![PortPrefix { value: 80, len: 16 }]
        );
        assert_eq!(
            port_prefixes(0, u16::MAX),
            vec![PortPrefix { value: 0, len: 0 }]
        );
        assert_eq!(
            port_prefixes(80, 81),
            vec![PortPrefix { value: 80, len: 15 }]
        );
    }

    #[test]
    fn ranges_are_covered_exactly_by_disjoint_prefixes() {
        let ranges = [
            (1, 65534),
            (1, u16::MAX),
            (0, 65534),
            (81, 81),
            (79, 1025),
            (1024, 2047),
            (32767, 32768),
            (65535, 65535),
        ];
        for (first, last) in ranges {
            let prefixes = port_prefixes(first, last);
            assert!(prefixes.len() <= 30, "{first}-{last}: {}", prefixes.len());
            let ports = covered(&prefixes);
            assert_eq!(ports, (first..=last).collect::<Vec<_>>(), "{first}-{last}");
            let sizes: u32 = prefixes.iter().map(|p| 1 << (16 - p.len)).sum();
            assert_eq!(
                sizes,
                u32::from(last - first) + 1,
                "overlap in {first}-{last}"
            );
        }
        assert_eq!(port_prefixes(1, 65534).len(), 30, "the worst case");
    }

    #[test]
    fn no_range_needs_more_than_thirty_prefixes() {
        for first in (0..=u16::MAX).step_by(251) {
            for last in (first..=u16::MAX).step_by(257) {
                assert!(port_prefixes(first, last).len() <= 30);
            }
        }
    }
}
