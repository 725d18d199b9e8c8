//! A pod interface's part of the datapath: its record (MAC, addresses and
//! slot, for anti-spoofing and pending egress verdicts; host veth and MAC
//! by address, for host routing) and the filters of the pod programs on
//! its host veth; and taking over what a previous weftd left.

use std::collections::BTreeMap;
use std::net::IpAddr;

use weft_api::Endpoint;
use weft_ebpf_common::PodInterface;

use super::datapath::PolicyDatapath;
use super::desired::Endpoints;
use super::error::EnforcerError;
use super::pod_interface::{host_mac, pod_interface};
use super::slots::SlotTable;

/// Record first, then filters: the programs find the record of every
/// packet they see.
pub fn wire_interface(
    datapath: &mut dyn PolicyDatapath,
    slots: &mut SlotTable,
    endpoint: &Endpoint,
    ifindex: u32,
) -> Result<(), EnforcerError> {
    let host_mac = host_mac(endpoint)?;
    let slot = slots.slot_for(ifindex)?;
    let pod = pod_interface(endpoint, slot)?;
    datapath.set_pod_interface(ifindex, &pod, host_mac)?;
    datapath.attach_pod(&endpoint.host_ifname)?;
    Ok(())
}

/// Filters first, then the record (found by address: the interface itself
/// may be gone).
pub fn forget_interface(
    datapath: &mut dyn PolicyDatapath,
    slots: &mut SlotTable,
    endpoint: &Endpoint,
) -> Result<(), EnforcerError> {
    datapath.detach_pod(&endpoint.host_ifname)?;
    let ips: Vec<IpAddr> = endpoint.ips.iter().map(|net| net.addr()).collect();
    for (ifindex, pod) in datapath.pod_interfaces()? {
        if pod.addresses().any(|ip| ips.contains(&ip)) {
            datapath.remove_pod_interface(ifindex)?;
            slots.release(ifindex);
        }
    }
    Ok(())
}

/// After a restart: forgets the `interfaces` no recorded endpoint has, and
/// re-wires the recorded ones so they run this weftd's programs (the old
/// filters are replaced in place, so they never go unguarded).
pub fn adopt_interfaces(
    datapath: &mut dyn PolicyDatapath,
    slots: &mut SlotTable,
    interfaces: &BTreeMap<u32, PodInterface>,
    endpoints: &Endpoints,
) -> Result<(), EnforcerError> {
    let recorded: Vec<IpAddr> = endpoints
        .values()
        .flat_map(|e| e.ips.iter().map(|net| net.addr()))
        .collect();
    for (ifindex, pod) in interfaces {
        if !pod.addresses().any(|ip| recorded.contains(&ip)) {
            datapath.remove_pod_interface(*ifindex)?;
            slots.release(*ifindex);
        }
    }
    for endpoint in endpoints.values() {
        match datapath.interface_index(&endpoint.host_ifname) {
            Ok(ifindex) => wire_interface(datapath, slots, endpoint, ifindex)?,
            Err(e) => tracing::info!(
                ifname = %endpoint.host_ifname,
                error = %e,
                "a recorded endpoint's interface is gone; not re-attaching"
            ),
        }
    }
    Ok(())
}
