//! Deletes the host veths the CNI plugin's DEL retired (set down, marked
//! with `RETIRED_VETH_ALIAS`, moved to `RETIRED_VETH_GROUP`): unregistering
//! a device waits for an RCU grace period holding the RTNL lock, which DEL
//! leaves to weftd. Deleting the whole group at once pays that wait once
//! for every veth retired since the last sweep, and sweeps at most once per
//! `COALESCE` so a burst of DELs does not stall every ADD behind it. Woken
//! by EndpointDel, and at start for veths retired while weftd was down.

use std::sync::Arc;
use std::time::Duration;

use rtnetlink::{Handle, LinkUnspec};
use tokio::sync::Notify;
use weft_api::RETIRED_VETH_GROUP;

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

#[derive(Debug, thiserror::Error)]
enum SweepError {
    #[error(transparent)]
    List(#[from] weft_netlink::QueryError),
    #[error("deleting the retired veth group: {0}")]
    Delete(#[from] rtnetlink::Error),
}

async fn sweep(handle: &Handle) -> Result<(), SweepError> {
    let retired = weft_netlink::retired_veths(handle).await?;
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
