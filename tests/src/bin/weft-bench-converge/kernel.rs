//! Counting what weftd has programmed in the node netns: its routes via the
//! VXLAN device (protocol 87), the device's permanent neighbours and its
//! FDB entries with a remote.

use crate::netns::NsPath;

pub const DEVICE: &str = "weft.vxlan";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Programmed {
    pub routes: usize,
    pub neighbours: usize,
    pub fdb: usize,
}

impl Programmed {
    pub fn all_at_least(&self, count: usize) -> bool {
        self.routes >= count && self.neighbours >= count && self.fdb >= count
    }
}

pub fn count(node: &NsPath) -> anyhow::Result<Programmed> {
    let device_exists = node
        .run("ip", &["-o", "link", "show"])?
        .lines()
        .any(|l| l.split(": ").nth(1) == Some(DEVICE));
    if !device_exists {
        return Ok(Programmed::default());
    }
    Ok(Programmed {
        routes: lines(
            &node.run("ip", &["-o", "route", "show", "proto", "87", "dev", DEVICE])?,
            "",
        ),
        neighbours: lines(
            &node.run("ip", &["neigh", "show", "dev", DEVICE])?,
            "PERMANENT",
        ),
        fdb: lines(
            &node.run("bridge", &["fdb", "show", "dev", DEVICE])?,
            " dst ",
        ),
    })
}

/// Lines of `text` containing `needle`.
fn lines(text: &str, needle: &str) -> usize {
    text.lines().filter(|l| l.contains(needle)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_matching_lines() {
        let fdb =
            "0e:00:00:00:00:01 dst 198.18.1.1 self permanent\n66:6b:8b:b8:4c:e7 self permanent\n";
        assert_eq!(lines(fdb, " dst "), 1);
        assert_eq!(lines("a\nb\n", ""), 2);
        assert_eq!(lines("", ""), 0);
    }
}
