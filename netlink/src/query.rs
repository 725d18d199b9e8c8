//! The thin async side: dump what the pickers need over an
//! `rtnetlink::Handle` (in whatever netns its socket was opened) and hand
//! it to them.

use futures::TryStreamExt;
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::route::RouteMessage;
use rtnetlink::Handle;

use crate::error::QueryError;
use crate::links::{link_mtu, retired_veth_names};
use crate::routes::default_route_ifindex;

/// The MTU of the interface the main table's default route leaves by (see
/// [`default_route_ifindex`]); `None` without a default route.
pub async fn default_route_mtu(handle: &Handle) -> Result<Option<u32>, QueryError> {
    // An unspecified address family dumps the routes of every family.
    let routes: Vec<RouteMessage> = handle
        .route()
        .get(RouteMessage::default())
        .execute()
        .try_collect()
        .await
        .map_err(QueryError::of("listing routes"))?;
    let Some(ifindex) = default_route_ifindex(&routes) else {
        return Ok(None);
    };
    let link = handle
        .link()
        .get()
        .match_index(ifindex)
        .execute()
        .try_next()
        .await
        .map_err(QueryError::of(format!("looking up link {ifindex}")))?;
    Ok(link.as_ref().and_then(link_mtu))
}

/// Names of the weft host veths in the handle's netns that DEL retired.
pub async fn retired_veths(handle: &Handle) -> Result<Vec<String>, QueryError> {
    let links: Vec<LinkMessage> = handle
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(QueryError::of("listing links"))?;
    Ok(retired_veth_names(&links))
}
