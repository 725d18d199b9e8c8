//! News of the node's exits for its reconcilers: a count that moves each
//! time an exit (weft.vxlan, the underlay, any other NIC) appears, changes
//! or goes. The overlay then makes weft.vxlan and its routes again, and the
//! policy reconciler puts the node programs on a new exit, at once rather
//! than at their next resync. Pod veths, which come and go with every pod,
//! are not news.

use futures::StreamExt;
use rtnetlink::constants::RTMGRP_LINK;
use rtnetlink::packet_core::NetlinkPayload;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};
use rtnetlink::sys::{AsyncSocket, SocketAddr};
use tokio::sync::watch;

use crate::overlay::is_node_exit;

/// Listens to the kernel's link notifications on a netlink socket of its
/// own, in a task of its own. The count ends (its sender drops) if the
/// socket does.
pub fn watch_node_exits() -> std::io::Result<watch::Receiver<u64>> {
    let (mut connection, _handle, mut notifications) = rtnetlink::new_connection()?;
    connection
        .socket_mut()
        .socket_mut()
        .bind(&SocketAddr::new(0, RTMGRP_LINK))?;
    tokio::spawn(connection);
    let (news, count) = watch::channel(0);
    tokio::spawn(async move {
        while let Some((message, _)) = notifications.next().await {
            let link = match message.payload {
                NetlinkPayload::InnerMessage(
                    RouteNetlinkMessage::NewLink(link) | RouteNetlinkMessage::DelLink(link),
                ) => link,
                _ => continue,
            };
            if let Some(exit) = exit_named(&link) {
                tracing::debug!(exit, "a node exit changed");
                news.send_modify(|count| *count += 1);
            }
        }
        tracing::warn!("the link notifications ended; exits heal at the next resync");
    });
    Ok(count)
}

/// The name of the exit `link` is about, if it is one.
fn exit_named(link: &LinkMessage) -> Option<&str> {
    link.attributes
        .iter()
        .find_map(|attribute| match attribute {
            LinkAttribute::IfName(name) if is_node_exit(name) => Some(name.as_str()),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(name: &str) -> LinkMessage {
        let mut link = LinkMessage::default();
        link.attributes.push(LinkAttribute::IfName(name.to_owned()));
        link
    }

    #[test]
    fn exits_are_news_and_pod_veths_and_loopback_are_not() {
        assert_eq!(exit_named(&link("weft.vxlan")), Some("weft.vxlan"));
        assert_eq!(exit_named(&link("eth1")), Some("eth1"));
        assert_eq!(exit_named(&link("weft3fa9c0d1e2b")), None);
        assert_eq!(exit_named(&link("lo")), None);
        assert_eq!(exit_named(&LinkMessage::default()), None, "no name");
    }
}
