//! Slots: small numbers for this node's pod interfaces, carried in the skb
//! mark while a packet's egress verdict is pending (15 bits, so not the
//! ifindex). Adopted from the pinned interface map after a restart.

use std::collections::{BTreeMap, BTreeSet};

use weft_ebpf_common::{MAX_SLOTS, PodInterface};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("all pod interface slots of this node are in use")]
pub struct SlotsExhausted;

/// Which slot each pod interface (by ifindex) holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotTable {
    by_ifindex: BTreeMap<u32, u32>,
    used: BTreeSet<u32>,
    /// Slots are 1..end.
    end: u32,
}

impl Default for SlotTable {
    fn default() -> Self {
        SlotTable::with_end(MAX_SLOTS)
    }
}

impl SlotTable {
    fn with_end(end: u32) -> Self {
        SlotTable {
            by_ifindex: BTreeMap::new(),
            used: BTreeSet::new(),
            end,
        }
    }

    /// The slots the pinned interface map holds.
    pub fn from_interfaces(interfaces: &BTreeMap<u32, PodInterface>) -> Self {
        let mut table = SlotTable::default();
        for (ifindex, pod) in interfaces {
            table.by_ifindex.insert(*ifindex, pod.slot);
            table.used.insert(pod.slot);
        }
        table
    }

    /// The interface's slot: the one it holds, else the lowest free one.
    pub fn slot_for(&mut self, ifindex: u32) -> Result<u32, SlotsExhausted> {
        if let Some(slot) = self.by_ifindex.get(&ifindex) {
            return Ok(*slot);
        }
        let slot = (1..self.end)
            .find(|slot| !self.used.contains(slot))
            .ok_or(SlotsExhausted)?;
        self.by_ifindex.insert(ifindex, slot);
        self.used.insert(slot);
        Ok(slot)
    }

    /// Frees the interface's slot; returns it if it had one.
    pub fn release(&mut self, ifindex: u32) -> Option<u32> {
        let slot = self.by_ifindex.remove(&ifindex)?;
        self.used.remove(&slot);
        Some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_start_at_one_are_stable_and_reused_after_release() {
        let mut slots = SlotTable::default();
        assert_eq!(slots.slot_for(10), Ok(1));
        assert_eq!(slots.slot_for(11), Ok(2));
        assert_eq!(slots.slot_for(10), Ok(1));
        assert_eq!(slots.release(10), Some(1));
        assert_eq!(slots.slot_for(12), Ok(1));
        assert_eq!(slots.release(99), None);
    }

    #[test]
    fn adopted_slots_are_kept_and_skipped() {
        let pod = |slot| PodInterface {
            slot,
            ..PodInterface::default()
        };
        let mut slots = SlotTable::from_interfaces(&BTreeMap::from([(5, pod(1)), (6, pod(3))]));
        assert_eq!(slots.slot_for(6), Ok(3));
        assert_eq!(slots.slot_for(7), Ok(2));
        assert_eq!(slots.slot_for(8), Ok(4));
    }

    #[test]
    fn a_full_table_is_an_error() {
        let mut slots = SlotTable::with_end(4);
        for ifindex in 1..4 {
            slots.slot_for(ifindex).unwrap();
        }
        assert_eq!(slots.slot_for(9), Err(SlotsExhausted));
        slots.release(2);
        assert_eq!(slots.slot_for(9), Ok(2));
    }

    #[test]
    fn the_mark_holds_every_slot() {
        let slot = MAX_SLOTS - 1;
        let mark = slot << weft_ebpf_common::MARK_SLOT_SHIFT;
        assert_eq!(mark >> weft_ebpf_common::MARK_SLOT_SHIFT, slot);
        assert_eq!(mark & !weft_ebpf_common::MARK_SLOT_MASK, 0);
    }
}
