//! Weft's nftables table `inet weft`: one nat postrouting chain that
//! rewrites the source of packets from the cluster CIDRs to anywhere
//! outside them to the outgoing interface's address (the node IP), so
//! pod-to-pod traffic never matches; and one filter forward chain that
//! drops a pod's packet whose egress verdict is still pending (its slot in
//! the mark) when it would leave by an interface without Weft's programs
//! (one that appeared since weftd last attached them), where nothing would
//! decide it; and, where the node sends or takes VXLAN, two raw chains
//! that keep its UDP packets out of conntrack: each pod flow's outer
//! packets get a source port of their own, so tracking them would cost
//! every node a conntrack entry (and a NAT lookup) per cross-node flow,
//! for nothing (the pod flow inside is what policy and kube-proxy see).
//! The ruleset is built by a pure function and swapped in whole, in one
//! nft transaction.

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
use serde_json::Value;
use weft_ebpf_common::MARK_SLOT_MASK;

use super::error::OverlayError;

/// The table Weft owns; nothing else of the ruleset is touched.
pub const NFT_TABLE: &str = "weft";
const NAT_CHAIN: &str = "postrouting";
/// `srcnat`, where masquerading belongs.
const SRCNAT_PRIORITY: i32 = 100;
const GUARD_CHAIN: &str = "forward";
const FILTER_PRIORITY: i32 = 0;
const TUNNEL_IN_CHAIN: &str = "tunnel-in";
const TUNNEL_OUT_CHAIN: &str = "tunnel-out";
/// `raw`: before conntrack looks at the packet.
const RAW_PRIORITY: i32 = -300;
/// Pod veths (`weft` + hash) carry Weft's programs.
const POD_VETHS: &str = "weft*";

/// The nft transaction that makes Weft's table exactly this: add the table
/// (so that deleting it cannot fail), delete it with whatever it held, and
/// create it again with the nat chain and one rule per address family
/// present, and the guard that lets pending flows leave only by pod veths
/// and `exits` (the node exits that carry Weft's node programs); with a
/// `vxlan_port`, the raw chains that leave VXLAN packets untracked. As
/// the JSON nft reads.
pub fn masquerade_ruleset(
    cluster_cidrs: &[IpNet],
    exits: &[String],
    vxlan_port: Option<u16>,
) -> serde_json::Result<Value> {
    let mut json = serde_json::to_value(ruleset(cluster_cidrs, exits, vxlan_port))?;
    spell_notrack_as_nft_reads_it(&mut json);
    Ok(json)
}

fn ruleset(
    cluster_cidrs: &[IpNet],
    exits: &[String],
    vxlan_port: Option<u16>,
) -> Nftables<'static> {
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
    if let Some(port) = vxlan_port {
        for (name, hook) in [
            (TUNNEL_IN_CHAIN, NfHook::Prerouting),
            (TUNNEL_OUT_CHAIN, NfHook::Output),
        ] {
            batch.add(NfListObject::Chain(Chain {
                family: NfFamily::INet,
                table: NFT_TABLE.into(),
                name: name.into(),
                _type: Some(NfChainType::Filter),
                hook: Some(hook),
                prio: Some(RAW_PRIORITY),
                policy: Some(NfChainPolicy::Accept),
                ..Chain::default()
            }));
            batch.add(NfListObject::Rule(untracked_vxlan_rule(name, port)));
        }
    }
    batch.to_nftables()
}

/// nftables 0.6.3 writes `Statement::Notrack` as the bare string
/// `"notrack"`, which nft refuses; nft reads `{"notrack": null}`.
fn spell_notrack_as_nft_reads_it(json: &mut Value) {
    let Some(commands) = json.get_mut("nftables").and_then(Value::as_array_mut) else {
        return;
    };
    let statements = commands.iter_mut().filter_map(|command| {
        command
            .pointer_mut("/add/rule/expr")
            .and_then(Value::as_array_mut)
    });
    for statement in statements.flatten() {
        if statement.as_str() == Some("notrack") {
            *statement = serde_json::json!({ "notrack": null });
        }
    }
}

/// `udp dport <port> notrack`, in `chain`.
fn untracked_vxlan_rule(chain: &'static str, port: u16) -> Rule<'static> {
    let dport = Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: "udp".into(),
            field: "dport".into(),
        },
    )));
    Rule {
        family: NfFamily::INet,
        table: NFT_TABLE.into(),
        chain: chain.into(),
        expr: Cow::Owned(vec![
            Statement::Match(Match {
                left: dport,
                right: Expression::Number(u32::from(port)),
                op: Operator::EQ,
            }),
            Statement::Notrack,
        ]),
        comment: Some("VXLAN packets: the pod flows inside are what is tracked".into()),
        ..Rule::default()
    }
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
    vxlan_port: Option<u16>,
) -> Result<(), OverlayError> {
    let ruleset = masquerade_ruleset(cluster_cidrs, exits, vxlan_port)?.to_string();
    nftables::helper::apply_ruleset_raw_async(
        &ruleset,
        nftables::helper::DEFAULT_NFT,
        nftables::helper::DEFAULT_ARGS,
    )
    .await?;
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
        let json = masquerade_ruleset(
            &cidrs(&["10.244.0.0/16", "10.96.0.0/12", "fd00:10:244::/56"]),
            &[],
            None,
        )
        .unwrap();
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
        let json = masquerade_ruleset(&[], &exits, None).unwrap();
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
        let json = masquerade_ruleset(&[], &[], None).unwrap();
        assert_eq!(json["nftables"].as_array().unwrap().len(), 6);
    }

    #[test]
    fn vxlan_packets_skip_conntrack_both_ways_when_the_node_uses_vxlan() {
        let json = masquerade_ruleset(&[], &[], Some(4789)).unwrap();
        let commands = json["nftables"].as_array().unwrap();
        assert_eq!(commands.len(), 10);
        let untracked = json!([
            {"match": {"left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 4789, "op": "=="}},
            {"notrack": null}
        ]);
        for (at, name, hook) in [(6, "tunnel-in", "prerouting"), (8, "tunnel-out", "output")] {
            assert_eq!(
                commands[at],
                json!({"add": {"chain": {
                    "family": "inet", "table": "weft", "name": name,
                    "type": "filter", "hook": hook, "prio": -300, "policy": "accept"
                }}})
            );
            assert_eq!(commands[at + 1]["add"]["rule"]["chain"], name);
            assert_eq!(commands[at + 1]["add"]["rule"]["expr"], untracked);
        }
    }
}
