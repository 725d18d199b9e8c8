//! Reading link dumps (pure): a link's MTU, and which links are host veths
//! the plugin's DEL retired (set down and marked, left for deletion).

use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use weft_api::{HOST_VETH_PREFIX, RETIRED_VETH_ALIAS};

/// The MTU a link reports.
pub fn link_mtu(link: &LinkMessage) -> Option<u32> {
    link.attributes.iter().find_map(|attr| match attr {
        LinkAttribute::Mtu(mtu) => Some(*mtu),
        _ => None,
    })
}

/// Names of the weft host veths among `links` that carry the retired mark;
/// a link of another name with the same alias is not weft's to delete.
pub fn retired_veth_names(links: &[LinkMessage]) -> Vec<String> {
    links
        .iter()
        .filter(|link| {
            link.attributes.iter().any(
                |attr| matches!(attr, LinkAttribute::IfAlias(alias) if alias == RETIRED_VETH_ALIAS),
            )
        })
        .filter_map(|link| {
            link.attributes.iter().find_map(|attr| match attr {
                LinkAttribute::IfName(name) if name.starts_with(HOST_VETH_PREFIX) => {
                    Some(name.clone())
                }
                _ => None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(name: &str, alias: Option<&str>) -> LinkMessage {
        let mut link = LinkMessage::default();
        link.attributes.push(LinkAttribute::IfName(name.into()));
        if let Some(alias) = alias {
            link.attributes.push(LinkAttribute::IfAlias(alias.into()));
        }
        link
    }

    #[test]
    fn only_retired_weft_veths_are_reaped() {
        let links = [
            link("weft0123456789a", Some(RETIRED_VETH_ALIAS)),
            link("weftabcdefabcde", None),
            link("eth0", Some(RETIRED_VETH_ALIAS)),
            link("weft.vxlan", Some("something else")),
        ];
        assert_eq!(retired_veth_names(&links), vec!["weft0123456789a"]);
    }

    #[test]
    fn link_mtu_reads_the_attribute() {
        let mut link = LinkMessage::default();
        assert_eq!(link_mtu(&link), None);
        link.attributes.push(LinkAttribute::Mtu(9000));
        assert_eq!(link_mtu(&link), Some(9000));
    }
}
