//! ipBlock "CIDR groups" and the prefixes that stand for them in the
//! identity LPM map.
//!
//! Every distinct (cidr, except) that a policy uses is a group. The listed
//! prefixes are all groups' cidrs and excepts. Claim: for an address `a`, let
//! `P` be the most specific listed prefix containing `a`; then `a` is in group
//! (C, E) iff C ⊇ P and no e in E has e ⊇ P. Proof: C is listed, so if a ∈ C
//! then C and P both contain `a`, are nested (prefixes), and P is the most
//! specific, so P ⊆ C; conversely C ⊇ P ∋ a. The same holds for each e. Hence
//! mapping each listed prefix to "its" group set and letting an LPM lookup
//! find P gives every address exactly its group membership, and addresses
//! under no listed prefix are in no group.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

/// One ipBlock: `cidr` minus the `except` prefixes (sorted, inside `cidr`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct IpBlockGroup {
    pub cidr: IpNet,
    pub except: Vec<IpNet>,
}

impl IpBlockGroup {
    pub(crate) fn new(cidr: IpNet, mut except: Vec<IpNet>) -> Self {
        except.sort();
        except.dedup();
        IpBlockGroup { cidr, except }
    }

    /// Whether every address of `prefix` is in the group.
    pub fn contains_prefix(&self, prefix: &IpNet) -> bool {
        self.cidr.contains(prefix) && !self.except.iter().any(|e| e.contains(prefix))
    }

    /// Whether `address` is in the group.
    pub fn contains(&self, address: IpAddr) -> bool {
        self.contains_prefix(&IpNet::from(address))
    }
}

/// The groups, and for each listed prefix the groups (indices) containing it.
#[derive(Debug, Clone, Default)]
pub(crate) struct PrefixTable {
    pub groups: Vec<IpBlockGroup>,
    pub prefixes: BTreeMap<IpNet, Vec<usize>>,
    /// Prefix lengths present per family (IPv4, IPv6), longest first, so a
    /// lookup tries only those.
    lengths: [Vec<u8>; 2],
}

impl PrefixTable {
    pub(crate) fn new(groups: BTreeSet<IpBlockGroup>) -> Self {
        let groups: Vec<IpBlockGroup> = groups.into_iter().collect();
        let listed: BTreeSet<IpNet> = groups
            .iter()
            .flat_map(|g| std::iter::once(g.cidr).chain(g.except.iter().copied()))
            .collect();
        let prefixes: BTreeMap<IpNet, Vec<usize>> = listed
            .into_iter()
            .map(|prefix| {
                let containing = (0..groups.len()).filter(|&i| groups[i].contains_prefix(&prefix));
                (prefix, containing.collect())
            })
            .collect();
        let lengths_of = |v4: bool| {
            let family = prefixes.keys().filter(|p| p.addr().is_ipv4() == v4);
            let lengths: BTreeSet<u8> = family.map(IpNet::prefix_len).collect();
            lengths.into_iter().rev().collect()
        };
        let lengths = [lengths_of(true), lengths_of(false)];
        PrefixTable {
            groups,
            prefixes,
            lengths,
        }
    }

    /// The groups containing `address`, found the way the datapath finds
    /// them: through the most specific listed prefix.
    pub(crate) fn groups_of(&self, address: IpAddr) -> &[usize] {
        let lengths = &self.lengths[usize::from(address.is_ipv6())];
        lengths
            .iter()
            .find_map(|len| {
                let prefix = IpNet::new(address, *len).ok()?.trunc();
                self.prefixes.get(&prefix)
            })
            .map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    /// All prefixes inside 10.0.0.0/28 (lengths 28..=32), 31 of them.
    fn small_universe() -> Vec<IpNet> {
        (28..=32)
            .flat_map(|len| {
                let size = 1u32 << (32 - len);
                (0..16 / size).map(move |i| {
                    let base = u32::from(std::net::Ipv4Addr::new(10, 0, 0, 0)) + i * size;
                    IpNet::new(std::net::Ipv4Addr::from(base).into(), len as u8).unwrap()
                })
            })
            .collect()
    }

    /// The claim of the module doc, checked exhaustively on a small universe:
    /// every group of one cidr with up to two excepts, and every pair of such
    /// groups, for every address inside and just outside the universe.
    #[test]
    fn most_specific_listed_prefix_gives_exact_membership() {
        let universe = small_universe();
        let mut single_groups = Vec::new();
        for cidr in &universe {
            let inside: Vec<IpNet> = universe
                .iter()
                .copied()
                .filter(|e| cidr.contains(e) && e.prefix_len() > cidr.prefix_len())
                .collect();
            single_groups.push(IpBlockGroup::new(*cidr, vec![]));
            for (i, a) in inside.iter().enumerate() {
                single_groups.push(IpBlockGroup::new(*cidr, vec![*a]));
                for b in &inside[i + 1..] {
                    single_groups.push(IpBlockGroup::new(*cidr, vec![*a, *b]));
                }
            }
        }
        let addresses: Vec<IpAddr> = (0..=17u8)
            .map(|last| std::net::Ipv4Addr::new(10, 0, 0, last).into())
            .collect();
        let mut checked = 0;
        for (i, first) in single_groups.iter().enumerate() {
            for second in single_groups[i..].iter().step_by(7) {
                let set = BTreeSet::from([first.clone(), second.clone()]);
                let table = PrefixTable::new(set);
                for address in &addresses {
                    let expected: Vec<usize> = (0..table.groups.len())
                        .filter(|&g| table.groups[g].contains(*address))
                        .collect();
                    assert_eq!(table.groups_of(*address), expected, "{address} {table:?}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 100_000, "checked {checked}");
    }

    #[test]
    fn families_never_mix() {
        let table = PrefixTable::new(BTreeSet::from([
            IpBlockGroup::new(net("::/0"), vec![]),
            IpBlockGroup::new(net("0.0.0.0/0"), vec![net("10.0.0.0/8")]),
        ]));
        let v4 = table.groups_of("192.0.2.1".parse().unwrap());
        assert_eq!(v4.len(), 1);
        assert_eq!(table.groups[v4[0]].cidr, net("0.0.0.0/0"));
        assert!(table.groups_of("10.1.2.3".parse().unwrap()).is_empty());
        let v6 = table.groups_of("2001:db8::1".parse().unwrap());
        assert_eq!(table.groups[v6[0]].cidr, net("::/0"));
    }
}
