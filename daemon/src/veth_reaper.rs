//! Deletes the host veths the CNI plugin's DEL retired (set down and marked
//! with `RETIRED_VETH_ALIAS`): unregistering a device waits for an RCU grace
//! period, which DEL leaves to weftd. Woken by every EndpointDel, and at
//! start for veths retired while weftd was down.

use std::sync::Arc;

use futures::TryStreamExt;
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use rtnetlink::Handle;
use tokio::sync::Notify;
use weft_api::{HOST_VETH_PREFIX, RETIRED_VETH_ALIAS};

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

/// Runs until the process ends: one sweep now, then one per wake-up.
pub async fn run(handle: Handle, wake: Arc<Notify>) {
    loop {
        if let Err(e) = sweep(&handle).await {
            tracing::warn!(error = %e, "deleting retired veths failed");
        }
        wake.notified().await;
    }
}

async fn sweep(handle: &Handle) -> Result<(), rtnetlink::Error> {
    let links: Vec<LinkMessage> = handle.link().get().execute().try_collect().await?;
    for (name, index) in retired_veths(&links) {
        // Gone already (the pod netns went first) is as good as deleted.
        if let Err(e) = handle.link().del(index).execute().await {
            tracing::debug!(link = %name, error = %e, "retired veth not deleted");
        }
    }
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
