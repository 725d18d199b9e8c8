//! Deletes the host veths the CNI plugin's DEL retired (set down, marked
//! with `RETIRED_VETH_ALIAS`, moved to `RETIRED_VETH_GROUP`): unregistering
//! a device waits for an RCU grace period holding the RTNL lock, which DEL
//! leaves to weftd. Deleting the whole group at once pays that wait once
//! for every veth retired since the last sweep, and sweeps at most once per
//! `COALESCE` so a burst of DELs does not stall every ADD behind it. Woken
//! by EndpointDel, and at start for veths retired while weftd was down.

use std::sync::Arc;

use std::time::Duration;

use futures::TryStreamExt;
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use rtnetlink::{Handle, LinkUnspec};
use tokio::sync::Notify;
use weft_api::{HOST_VETH_PREFIX, RETIRED_VETH_ALIAS, RETIRED_VETH_GROUP};

/// (name, ifindex) of the retired host veths among `links` (pure).
pub fn retired_veths(links: &[LinkMessage]) -> Vec<(String, u32)> {
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
                    Some((name.clone(), link.header.index))
                }
                _ => None,
            })
        })
        .collect()
}

/// Wake-ups within this long of one another share one sweep.
const COALESCE: Duration = Duration::from_millis(500);

/// Runs until the process ends: one sweep now, then one per burst of
/// wake-ups.
pub async fn run(handle: Handle, wake: Arc<Notify>) {
    loop {
        if let Err(e) = sweep(&handle).await {
            tracing::warn!(error = %e, "deleting retired veths failed");
        }
        wake.notified().await;
        tokio::time::sleep(COALESCE).await;
    }
}

async fn sweep(handle: &Handle) -> Result<(), rtnetlink::Error> {
    let links: Vec<LinkMessage> = handle.link().get().execute().try_collect().await?;
    let retired = retired_veths(&links);
    if retired.is_empty() {
        return Ok(());
    }
    // Index 0 with a group attribute deletes every link of the group in one
    // unregister batch.
    let group = LinkUnspec::new_with_index(0)
        .link_group(RETIRED_VETH_GROUP)
        .build();
    handle.link().del_with_message(group).execute().await?;
    tracing::debug!(count = retired.len(), "deleted retired veths");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(name: &str, alias: Option<&str>) -> LinkMessage {
        let mut link = LinkMessage::default();
        link.header.index = 7;
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
        assert_eq!(
            retired_veths(&links),
            vec![("weft0123456789a".to_string(), 7)]
        );
    }
}
