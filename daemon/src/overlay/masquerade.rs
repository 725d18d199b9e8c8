//! Masquerade of traffic leaving the cluster: the nftables table `inet weft`
//! holds one nat postrouting chain that rewrites the source of packets from
//! the cluster CIDRs to anywhere outside them to the outgoing interface's
//! address (the node IP). Pod-to-pod traffic never matches. The ruleset is
//! built by a pure function and swapped in whole, in one nft transaction.

use std::borrow::Cow;

use ipnet::IpNet;
use nftables::batch::Batch;
use nftables::expr::{Expression, NamedExpression, Payload, PayloadField, Prefix, SetItem};
use nftables::schema::{Chain, NfListObject, Nftables, Rule, Table};
use nftables::stmt::{Match, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use super::error::OverlayError;

/// The table Weft owns; nothing else of the ruleset is touched.
pub const NFT_TABLE: &str = "weft";
const NAT_CHAIN: &str = "postrouting";
/// `srcnat`, where masquerading belongs.
const SRCNAT_PRIORITY: i32 = 100;

/// The nft transaction that makes Weft's table exactly this: add the table
/// (so that deleting it cannot fail), delete it with whatever it held, and
/// create it again with the chain and one rule per address family present.
pub fn masquerade_ruleset(cluster_cidrs: &[IpNet]) -> Nftables<'static> {
    let table = || Table {
        family: NfFamily::INet,
        name: NFT_TABLE.into(),
        handle: None,
    };
    let mut batch = Batch::new();
    batch.add(NfListObject::Table(table()));
    batch.delete(NfListObject::Table(table()));
    batch.add(NfListObject::Table(table()));
    batch.add(NfListObject::Chain(Chain {
        family: NfFamily::INet,
        table: NFT_TABLE.into(),
        name: NAT_CHAIN.into(),
        _type: Some(NfChainType::NAT),
        hook: Some(NfHook::Postrouting),
        prio: Some(SRCNAT_PRIORITY),
        policy: Some(NfChainPolicy::Accept),
        ..Chain::default()
    }));
    let (v4, v6): (Vec<IpNet>, Vec<IpNet>) = cluster_cidrs
        .iter()
        .partition(|cidr| matches!(cidr, IpNet::V4(_)));
    for (protocol, cidrs) in [("ip", v4), ("ip6", v6)] {
        if !cidrs.is_empty() {
            batch.add(NfListObject::Rule(masquerade_rule(protocol, &cidrs)));
        }
    }
    batch.to_nftables()
}

/// `<protocol> saddr { cidrs } <protocol> daddr != { cidrs } masquerade`.
fn masquerade_rule(protocol: &'static str, cidrs: &[IpNet]) -> Rule<'static> {
    let field = |name: &'static str| {
        Expression::Named(NamedExpression::Payload(Payload::PayloadField(
            PayloadField {
                protocol: protocol.into(),
                field: name.into(),
            },
        )))
    };
    let cluster = || {
        Expression::Named(NamedExpression::Set(
            cidrs
                .iter()
                .map(|cidr| {
                    SetItem::Element(Expression::Named(NamedExpression::Prefix(Prefix {
                        addr: Box::new(Expression::String(cidr.network().to_string().into())),
                        len: u32::from(cidr.prefix_len()),
                    })))
                })
                .collect(),
        ))
    };
    Rule {
        family: NfFamily::INet,
        table: NFT_TABLE.into(),
        chain: NAT_CHAIN.into(),
        expr: Cow::Owned(vec![
            Statement::Match(Match {
                left: field("saddr"),
                right: cluster(),
                op: Operator::EQ,
            }),
            Statement::Match(Match {
                left: field("daddr"),
                right: cluster(),
                op: Operator::NEQ,
            }),
            Statement::Masquerade(None),
        ]),
        comment: Some("pods to outside the cluster leave with the node's address".into()),
        ..Rule::default()
    }
}

/// Replaces Weft's table in the calling thread's network namespace (`nft`
/// runs as a child, which inherits it).
pub async fn apply_masquerade(cluster_cidrs: &[IpNet]) -> Result<(), OverlayError> {
    nftables::helper::apply_ruleset_async(&masquerade_ruleset(cluster_cidrs)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cidrs(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|c| c.parse().unwrap()).collect()
    }

    fn prefix(addr: &str, len: u32) -> serde_json::Value {
        json!({"prefix": {"addr": addr, "len": len}})
    }

    #[test]
    fn the_table_is_replaced_whole_with_one_masquerade_rule_per_family() {
        let ruleset = masquerade_ruleset(&cidrs(&[
            "10.244.0.0/16",
            "10.96.0.0/12",
            "fd00:10:244::/56",
        ]));
        let json = serde_json::to_value(&ruleset).unwrap();
        let table = json!({"family": "inet", "name": "weft"});
        let commands = json["nftables"].as_array().unwrap();
        assert_eq!(commands[0], json!({"add": {"table": table}}));
        assert_eq!(commands[1], json!({"delete": {"table": table}}));
        assert_eq!(commands[2], json!({"add": {"table": table}}));
        assert_eq!(
            commands[3],
            json!({"add": {"chain": {
                "family": "inet", "table": "weft", "name": "postrouting",
                "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"
            }}})
        );
        let v4_set = json!({"set": [prefix("10.244.0.0", 16), prefix("10.96.0.0", 12)]});
        assert_eq!(
            commands[4]["add"]["rule"]["expr"],
            json!([
                {"match": {"left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": v4_set, "op": "=="}},
                {"match": {"left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": v4_set, "op": "!="}},
                {"masquerade": null}
            ])
        );
        assert_eq!(
            commands[5]["add"]["rule"]["expr"][0]["match"]["right"],
            json!({"set": [prefix("fd00:10:244::", 56)]})
        );
        assert_eq!(commands.len(), 6);
    }

    #[test]
    fn without_cluster_cidrs_the_chain_stays_empty() {
        let json = serde_json::to_value(masquerade_ruleset(&[])).unwrap();
        assert_eq!(json["nftables"].as_array().unwrap().len(), 4);
    }
}
