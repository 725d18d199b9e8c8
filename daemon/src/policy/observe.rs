//! Verdict events from the datapath's ring buffer, named and streamed to
//! `weftctl observe` clients as JSON lines. Drops are always reported; the
//! datapath reports allowed new flows only while some client asks for them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::broadcast;
use weft_ebpf_common::{DIRECTION_EGRESS, FAMILY_IPV4, VerdictEvent, reason_name};

use super::enforcer::PolicyEnforcer;
use crate::bpf::EventRing;

/// Events a slow client may fall behind by before it misses some.
const OBSERVE_BACKLOG: usize = 4096;

/// One verdict as `weftctl observe` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedFlow {
    /// Wall-clock time weftd read the event, in milliseconds since the epoch.
    pub time_ms: u64,
    pub node: String,
    /// "allowed" or "dropped".
    pub verdict: String,
    pub reason: String,
    /// "ingress" (toward the pod) or "egress" (from it).
    pub direction: String,
    /// The local pod, "namespace/name", when known.
    pub pod: Option<String>,
    /// The other end, "namespace/name", when it is a known pod.
    pub peer: Option<String>,
    pub peer_identity: u32,
    pub protocol: String,
    pub src: IpAddr,
    pub src_port: u16,
    pub dst: IpAddr,
    pub dst_port: u16,
}

fn protocol_name(protocol: u8) -> String {
    match protocol {
        1 => "ICMP".into(),
        6 => "TCP".into(),
        17 => "UDP".into(),
        58 => "ICMPv6".into(),
        132 => "SCTP".into(),
        other => other.to_string(),
    }
}

fn address(family: u8, bytes: [u8; 16]) -> IpAddr {
    if family == FAMILY_IPV4 {
        IpAddr::from([bytes[0], bytes[1], bytes[2], bytes[3]])
    } else {
        IpAddr::from(bytes)
    }
}

/// Names `event` with `pods` (address -> "namespace/name").
pub fn observed_flow(
    event: &VerdictEvent,
    pods: &BTreeMap<IpAddr, String>,
    node: &str,
    time_ms: u64,
) -> ObservedFlow {
    let (verdict, reason) = reason_name(event.reason);
    let (src, dst) = (
        address(event.family, event.src),
        address(event.family, event.dst),
    );
    let egress = event.direction == DIRECTION_EGRESS;
    let (local, peer) = if egress { (src, dst) } else { (dst, src) };
    ObservedFlow {
        time_ms,
        node: node.to_owned(),
        verdict: verdict.into(),
        reason: reason.into(),
        direction: if egress { "egress" } else { "ingress" }.into(),
        pod: pods.get(&local).cloned(),
        peer: pods.get(&peer).cloned(),
        peer_identity: event.peer_identity,
        protocol: protocol_name(event.protocol),
        src,
        src_port: u16::from_be_bytes(event.src_port),
        dst,
        dst_port: u16::from_be_bytes(event.dst_port),
    }
}

/// Fans events out to observers and tells the datapath whether anyone
/// wants allowed flows.
pub struct ObserveHub {
    flows: broadcast::Sender<Arc<ObservedFlow>>,
    allow_watchers: AtomicUsize,
    enforcer: Arc<PolicyEnforcer>,
}

/// One observer; allowed flows stop being reported when the last observer
/// that asked for them goes.
pub struct Observer {
    pub flows: broadcast::Receiver<Arc<ObservedFlow>>,
    pub allows: bool,
    hub: Arc<ObserveHub>,
}

impl ObserveHub {
    pub fn new(enforcer: Arc<PolicyEnforcer>) -> Arc<Self> {
        Arc::new(ObserveHub {
            flows: broadcast::channel(OBSERVE_BACKLOG).0,
            allow_watchers: AtomicUsize::new(0),
            enforcer,
        })
    }

    pub fn subscribe(self: &Arc<Self>, allows: bool) -> Observer {
        if allows && self.allow_watchers.fetch_add(1, Ordering::AcqRel) == 0 {
            self.report_allows(true);
        }
        Observer {
            flows: self.flows.subscribe(),
            allows,
            hub: self.clone(),
        }
    }

    fn report_allows(&self, on: bool) {
        if let Err(e) = self.enforcer.set_report_allows(on) {
            tracing::warn!(error = %e, "switching allowed-flow events");
        }
    }

    /// Reads the ring until weftd stops.
    pub async fn run(self: Arc<Self>, ring: EventRing, node: String) {
        // SAFETY: the ring owns its map fd and returns the same fd for as
        // long as it lives, and the AsyncFd owns the ring.
        let registered = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) };
        let mut ring = match registered {
            Ok(ring) => ring,
            Err(e) => {
                tracing::error!(error = %e, "cannot watch the verdict event ring");
                return;
            }
        };
        loop {
            let mut guard = match ring.readable_mut().await {
                Ok(guard) => guard,
                Err(e) => {
                    tracing::error!(error = %e, "the verdict event ring failed");
                    return;
                }
            };
            let pods = self.enforcer.pod_names();
            let time_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or_default();
            while let Some(event) = guard.get_inner_mut().next() {
                // No receivers is fine: nobody is observing.
                let _ = self
                    .flows
                    .send(Arc::new(observed_flow(&event, &pods, &node, time_ms)));
            }
            guard.clear_ready();
        }
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        if self.allows && self.hub.allow_watchers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.hub.report_allows(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_ebpf_common::{DIRECTION_INGRESS, REASON_DROPPED_BY_POLICY};

    #[test]
    fn events_name_the_local_pod_and_the_peer_by_direction() {
        let mut event = VerdictEvent {
            reason: REASON_DROPPED_BY_POLICY,
            direction: DIRECTION_INGRESS,
            family: FAMILY_IPV4,
            protocol: 6,
            src_port: 40000u16.to_be_bytes(),
            dst_port: 80u16.to_be_bytes(),
            peer_identity: 300,
            ..VerdictEvent::default()
        };
        event.src[..4].copy_from_slice(&[10, 0, 1, 2]);
        event.dst[..4].copy_from_slice(&[10, 0, 2, 3]);
        let pods = BTreeMap::from([
            ("10.0.1.2".parse().unwrap(), "x/a".to_owned()),
            ("10.0.2.3".parse().unwrap(), "y/b".to_owned()),
        ]);
        let flow = observed_flow(&event, &pods, "n1", 7);
        assert_eq!(
            (flow.verdict.as_str(), flow.reason.as_str()),
            ("dropped", "policy")
        );
        assert_eq!(flow.direction, "ingress");
        assert_eq!(flow.pod.as_deref(), Some("y/b"));
        assert_eq!(flow.peer.as_deref(), Some("x/a"));
        assert_eq!(
            (flow.protocol.as_str(), flow.src_port, flow.dst_port),
            ("TCP", 40000, 80)
        );
        event.direction = DIRECTION_EGRESS;
        let flow = observed_flow(&event, &pods, "n1", 7);
        assert_eq!(flow.pod.as_deref(), Some("x/a"));
        assert_eq!(flow.peer.as_deref(), Some("y/b"));
    }
}
