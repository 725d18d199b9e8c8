//! Stable numbers for identities and profiles: derived from a hash of what
//! they stand for, so they survive restarts, other objects coming and going,
//! and compiler runs on other nodes; the map diff after a change stays small.
//! Collisions are resolved by probing upward in a fixed order.

use std::collections::HashSet;

use sha2::{Digest, Sha256};

/// Feeds a canonical, length-prefixed byte form of a value into SHA-256.
#[derive(Default)]
pub(crate) struct StableHasher(Sha256);

impl StableHasher {
    pub(crate) fn u8(&mut self, value: u8) -> &mut Self {
        self.0.update([value]);
        self
    }

    pub(crate) fn u16(&mut self, value: u16) -> &mut Self {
        self.0.update(value.to_le_bytes());
        self
    }

    pub(crate) fn u32(&mut self, value: u32) -> &mut Self {
        self.0.update(value.to_le_bytes());
        self
    }

    pub(crate) fn len(&mut self, len: usize) -> &mut Self {
        self.0.update((len as u64).to_le_bytes());
        self
    }

    pub(crate) fn str(&mut self, text: &str) -> &mut Self {
        self.len(text.len());
        self.0.update(text.as_bytes());
        self
    }

    pub(crate) fn finish(self) -> u32 {
        let digest = self.0.finalize();
        u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]])
    }
}

/// One number per hash, in order: `first + hash mod (the range size)`, or the
/// next free one above it (wrapping to `first`). Callers pass hashes in a
/// deterministic order (sorted by what they stand for), so equal inputs give
/// equal numbers.
pub(crate) fn assign_numbers(hashes: impl IntoIterator<Item = u32>, first: u32) -> Vec<u32> {
    let span = u64::from(u32::MAX - first) + 1;
    let mut taken = HashSet::new();
    hashes
        .into_iter()
        .map(|hash| {
            // Lossless: the remainder is below span, so first + it <= u32::MAX.
            let mut number = first + (u64::from(hash) % span) as u32;
            while !taken.insert(number) {
                number = if number == u32::MAX {
                    first
                } else {
                    number + 1
                };
            }
            number
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_come_from_hashes_and_collisions_probe_upward() {
        assert_eq!(assign_numbers([5, 9, 5, 6], 256), vec![261, 265, 262, 263]);
    }

    #[test]
    fn probing_wraps_to_the_first_number() {
        assert_eq!(
            assign_numbers([u32::MAX - 256, u32::MAX - 256], 256),
            vec![u32::MAX, 256]
        );
    }

    #[test]
    fn hashes_are_stable_and_length_prefixed() {
        let hash = |parts: &[&str]| {
            let mut hasher = StableHasher::default();
            for part in parts {
                hasher.str(part);
            }
            hasher.finish()
        };
        assert_eq!(hash(&["ab", "c"]), hash(&["ab", "c"]));
        assert_ne!(hash(&["ab", "c"]), hash(&["a", "bc"]));
        // Pinned: a change here renumbers every identity on upgrade.
        assert_eq!(hash(&["weft"]), 902_237_328);
    }
}
