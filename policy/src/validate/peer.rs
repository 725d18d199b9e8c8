//! Policy peers as the API server validates them: selectors or one ipBlock,
//! whose CIDR parses and whose exceptions lie strictly inside it.

use ipnet::IpNet;
use weft_datastore::k8s_openapi::api::networking::v1::{IPBlock, NetworkPolicyPeer};

use super::FieldError;
use super::selector::check_selector;

/// `from` or `to` of one rule.
pub(super) fn check_peers(
    field: &str,
    peers: Option<&[NetworkPolicyPeer]>,
) -> Result<(), FieldError> {
    for (i, peer) in peers.into_iter().flatten().enumerate() {
        let here = format!("{field}[{i}]");
        let has_selector = peer.pod_selector.is_some() || peer.namespace_selector.is_some();
        match &peer.ip_block {
            Some(_) if has_selector => {
                return Err(FieldError::new(
                    here,
                    "ipBlock cannot be combined with podSelector or namespaceSelector",
                ));
            }
            Some(block) => check_ip_block(&format!("{here}.ipBlock"), block)?,
            None if !has_selector => {
                return Err(FieldError::new(
                    here,
                    "a peer needs podSelector, namespaceSelector or ipBlock",
                ));
            }
            None => {}
        }
        if let Some(selector) = &peer.pod_selector {
            check_selector(&format!("{here}.podSelector"), selector)?;
        }
        if let Some(selector) = &peer.namespace_selector {
            check_selector(&format!("{here}.namespaceSelector"), selector)?;
        }
    }
    Ok(())
}

fn check_ip_block(field: &str, block: &IPBlock) -> Result<(), FieldError> {
    // Host bits are allowed (10.0.0.7/8 means 10.0.0.0/8), as the API
    // server allows them.
    let cidr = parse_cidr(&format!("{field}.cidr"), &block.cidr)?.trunc();
    for (i, text) in block.except.iter().flatten().enumerate() {
        let here = format!("{field}.except[{i}]");
        let except = parse_cidr(&here, text)?;
        let strict_subset = cidr.contains(&except) && except.prefix_len() > cidr.prefix_len();
        if !strict_subset {
            return Err(FieldError::new(
                here,
                format!("{text} must be a strict subset of cidr {}", block.cidr),
            ));
        }
    }
    Ok(())
}

fn parse_cidr(field: &str, text: &str) -> Result<IpNet, FieldError> {
    text.parse().map_err(|_| {
        FieldError::new(
            field,
            format!("{text:?} is not a CIDR like 10.0.0.0/8 or fd00::/64"),
        )
    })
}

#[cfg(test)]
mod tests {
    use crate::validate::tests::{field_of, policy};
    use crate::validate::validate_policy;

    fn from_block(block: &str) -> String {
        format!("{{ingress: [{{from: [{{ipBlock: {block}}}]}}]}}")
    }

    #[test]
    fn ip_blocks_need_cidrs_with_inner_exceptions() {
        assert_eq!(
            field_of(&from_block("{cidr: 10.0.0.0}")),
            "spec.ingress[0].from[0].ipBlock.cidr"
        );
        assert_eq!(
            field_of(&from_block("{cidr: 10.0.0.0/16, except: [10.0.0.0/33]}")),
            "spec.ingress[0].from[0].ipBlock.except[0]"
        );
        for outside in ["10.1.0.0/24", "10.0.0.0/16", "10.0.0.0/8", "'fd00::/64'"] {
            let block = format!("{{cidr: 10.0.0.0/16, except: [10.0.1.0/24, {outside}]}}");
            assert_eq!(
                field_of(&from_block(&block)),
                "spec.ingress[0].from[0].ipBlock.except[1]",
                "{outside}"
            );
        }
        for inside in [
            "{cidr: 'fd00::/48', except: ['fd00::/64']}",
            "{cidr: 10.0.0.7/16, except: [10.0.255.0/24]}",
        ] {
            let p = policy(&from_block(inside));
            assert_eq!(validate_policy(&p), Ok(()), "{inside}");
        }
    }

    #[test]
    fn peers_are_selectors_or_an_ip_block() {
        assert_eq!(field_of("{egress: [{to: [{}]}]}"), "spec.egress[0].to[0]");
        assert_eq!(
            field_of("{egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]}"),
            "spec.egress[0].to[0]"
        );
        assert_eq!(
            field_of("{egress: [{to: [{podSelector: {matchLabels: {app: '-'}}}]}]}"),
            "spec.egress[0].to[0].podSelector.matchLabels[app]"
        );
        assert_eq!(
            field_of(
                "{egress: [{to: [{namespaceSelector: {matchExpressions: [{key: a, operator: Exists, values: [x]}]}}]}]}"
            ),
            "spec.egress[0].to[0].namespaceSelector.matchExpressions[0].values"
        );
    }
}
