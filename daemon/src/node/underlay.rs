//! Asking the kernel (rtnetlink) for the MTU of the interface that carries
//! the default route; the choice itself is in `mtu`.

use std::net::{Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt;
use netlink_packet_route::route::RouteMessage;
use rtnetlink::RouteMessageBuilder;

use crate::node::mtu::{default_route_ifindex, link_mtu};

#[derive(Debug, thiserror::Error)]
pub enum UnderlayError {
    #[error("opening rtnetlink: {0}")]
    Connect(std::io::Error),
    #[error("rtnetlink: {0}")]
    Netlink(#[from] rtnetlink::Error),
}

/// The default-route interface's MTU (IPv4 routes first, then IPv6);
/// `None` when the node has no default route.
pub async fn default_route_mtu() -> Result<Option<u32>, UnderlayError> {
    let (connection, handle, _) = rtnetlink::new_connection().map_err(UnderlayError::Connect)?;
    let connection = tokio::spawn(connection);
    let mtu = query(&handle).await;
    connection.abort();
    mtu
}

async fn query(handle: &rtnetlink::Handle) -> Result<Option<u32>, UnderlayError> {
    let dumps = [
        RouteMessageBuilder::<Ipv4Addr>::new().build(),
        RouteMessageBuilder::<Ipv6Addr>::new().build(),
    ];
    for dump in dumps {
        let routes: Vec<RouteMessage> = handle.route().get(dump).execute().try_collect().await?;
        let Some(ifindex) = default_route_ifindex(&routes) else {
            continue;
        };
        let links: Vec<_> = handle
            .link()
            .get()
            .match_index(ifindex)
            .execute()
            .try_collect()
            .await?;
        if let Some(mtu) = links.iter().find_map(link_mtu) {
            return Ok(Some(mtu));
        }
    }
    Ok(None)
}
