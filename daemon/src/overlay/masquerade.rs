//! Weft's nftables table `inet weft`: one nat postrouting chain that
//! rewrites the source of packets from the cluster CIDRs to anywhere
//! outside them to the outgoing interface's address (the node IP), so
//! pod-to-pod traffic never matches; and one filter forward chain that
//! drops a pod's packet whose egress verdict is still pending (its slot in
//! the mark) when it would leave by an interface without Weft's programs
//! (one that appeared since weftd last attached them), where nothing would
//! decide it. The ruleset is built by a pure function
//! and swapped in whole, in one nft transaction.

use std::borrow::Cow;

use ipnet::IpNet;
use nftables::batch::Batch;
use nftables::expr::{
    BinaryOperation, Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix,
    SetItem,
};
use nftables::schema::{Chain, NfListObject, Nftables, Rule, Table};
use nftables::stmt::{Match, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use weft_ebpf_common::MARK_SLOT_MASK;

use super::error::OverlayError;

/// The table Weft owns; nothing else of the ruleset is touched.
pub const NFT_TABLE: &str = "weft";
const NAT_CHAIN: &str = "postrouting";
/// `srcnat`, where masquerading belongs.
const SRCNAT_PRIORITY: i32 = 100;
const GUARD_CHAIN: &str = "forward";
const FILTER_PRIORITY: i32 = 0;
/// Pod veths (`weft` + hash) carry Weft's programs.
const POD_VETHS: &str = "weft*";

/// The nft transaction that makes Weft's table exactly this: add the table
/// (so that deleting it cannot fail), delete it with whatever it held, and
/// create it again with the nat chain and one rule per address family
/// present, and the guard that lets pending flows leave only by pod veths
/// and `exits` (the node exits that carry Weft's node programs).
pub fn masquerade_ruleset(cluster_cidrs: &[IpNet], exits: &[String]) -> Nftables<'static> {
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
    batch.add(NfListObject::Chain(Chain {
        family: NfFamily::INet,
        table: NFT_TABLE.into(),
        name: GUARD_CHAIN.into(),
        _type: Some(NfChainType::Filter),
        hook: Some(NfHook::Forward),
        prio: Some(FILTER_PRIORITY),
        policy: Some(NfChainPolicy::Accept),
        ..Chain::default()
    }));
    batch.add(NfListObject::Rule(unhooked_exit_rule(exits)));
    batch.to_nftables()
}

/// `meta mark & MARK_SLOT_MASK != 0 oifname != "weft*" oifname != { exits } drop`.
fn unhooked_exit_rule(exits: &[String]) -> Rule<'static> {
    let meta = |key| Expression::Named(NamedExpression::Meta(Meta { key }));
    let pending = Expression::BinaryOperation(Box::new(BinaryOperation::AND(
        meta(MetaKey::Mark),
        Expression::Number(MARK_SLOT_MASK),
    )));
    let not_out_by = |right: Expression<'static>| {
        Statement::Match(Match {
            left: meta(MetaKey::Oifname),
            right,
            op: Operator::NEQ,
        })
    };
    let mut expr = vec![Statement::Match(Match {
        left: pending,
        right: Expression::Number(0),
        op: Operator::NEQ,
    })];
    expr.push(not_out_by(Expression::String(POD_VETHS.into())));
    if !exits.is_empty() {
        let names = exits
            .iter()
            .map(|name| SetItem::Element(Expression::String(name.clone().into())))
            .collect();
        expr.push(not_out_by(Expression::Named(NamedExpression::Set(names))));
    }
    expr.push(Statement::Drop(None));
    Rule {
        family: NfFamily::INet,
        table: NFT_TABLE.into(),
        chain: GUARD_CHAIN.into(),
        expr: Cow::Owned(expr),
        comment: Some("a pod's new flow leaves only where its egress policy is decided".into()),
        ..Rule::default()
    }
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
pub async fn apply_masquerade(
    cluster_cidrs: &[IpNet],
    exits: &[String],
) -> Result<(), OverlayError> {
    nftables::helper::apply_ruleset_async(&masquerade_ruleset(cluster_cidrs, exits)).await?;
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
        let ruleset = masquerade_ruleset(
            &cidrs(&["10.244.0.0/16", "10.96.0.0/12", "fd00:10:244::/56"]),
            &[],
        );
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
        assert_eq!(commands.len(), 8);
    }

    #[test]
    fn pending_pod_flows_may_leave_only_by_pod_veths_and_hooked_exits() {
        let exits = ["eth0".to_owned(), "weft.vxlan".to_owned()];
        let json = serde_json::to_value(masquerade_ruleset(&[], &exits)).unwrap();
        let commands = json["nftables"].as_array().unwrap();
        assert_eq!(
            commands[4],
            json!({"add": {"chain": {
                "family": "inet", "table": "weft", "name": "forward",
                "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"
            }}})
        );
        let oifname = |right: serde_json::Value| json!({"match": {"left": {"meta": {"key": "oifname"}}, "right": right, "op": "!="}});
        assert_eq!(
            commands[5]["add"]["rule"]["expr"],
            json!([
                {"match": {"left": {"&": [{"meta": {"key": "mark"}}, 0xfffe_0000u32]}, "right": 0, "op": "!="}},
                oifname(json!("weft*")),
                oifname(json!({"set": ["eth0", "weft.vxlan"]})),
                {"drop": null}
            ])
        );
    }

    #[test]
    fn without_cluster_cidrs_the_nat_chain_stays_empty() {
        let json = serde_json::to_value(masquerade_ruleset(&[], &[])).unwrap();
        assert_eq!(json["nftables"].as_array().unwrap().len(), 6);
    }
}
