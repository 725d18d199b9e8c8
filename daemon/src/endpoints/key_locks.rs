//! Serialises work on one endpoint key while different keys run in parallel:
//! a fixed set of mutexes picked by the key's hash, so memory stays bounded
//! however many keys come and go.

use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Mutex, MutexGuard};

const STRIPES: usize = 64;

#[derive(Debug)]
pub struct KeyLocks {
    hasher: RandomState,
    stripes: Vec<Mutex<()>>,
}

impl Default for KeyLocks {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }
}

impl KeyLocks {
    /// Blocks until no other holder works on `key` (or a key sharing its stripe).
    pub fn lock<K: Hash>(&self, key: &K) -> MutexGuard<'_, ()> {
        let stripe = self.stripe_of(key);
        // The guarded value is (): a holder that panicked left nothing torn.
        self.stripes[stripe]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn stripe_of<K: Hash>(&self, key: &K) -> usize {
        // The modulo keeps the value below STRIPES, so the cast cannot truncate.
        (self.hasher.hash_one(key) % STRIPES as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_key_always_maps_to_the_same_stripe() {
        let locks = KeyLocks::default();
        assert_eq!(locks.stripe_of(&"abc"), locks.stripe_of(&"abc"));
    }

    #[test]
    fn a_second_holder_of_the_same_key_waits() {
        let locks = KeyLocks::default();
        let held = locks.lock(&"abc");
        assert!(locks.stripes[locks.stripe_of(&"abc")].try_lock().is_err());
        drop(held);
        assert!(locks.stripes[locks.stripe_of(&"abc")].try_lock().is_ok());
    }
}
