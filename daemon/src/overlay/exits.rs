//! The node's exits: every interface a pod's packet can leave the node's
//! stack by other than a pod veth (the underlay, weft.vxlan, any other NIC).
//! Weft's node programs run on each, because a new flow's egress verdict is
//! decided where it leaves, after kube-proxy's DNAT.

use weft_api::HOST_VETH_PREFIX;

use super::model::DEFAULT_VXLAN_DEVICE;

/// Whether interface `name` of the node's netns is an exit: not the
/// loopback, not a pod veth (`weft` + hash; their own programs decide).
pub fn is_node_exit(name: &str) -> bool {
    name != "lo" && (!name.starts_with(HOST_VETH_PREFIX) || name == DEFAULT_VXLAN_DEVICE)
}

/// The exits among `names` (all interfaces of the node's netns).
pub fn node_exits(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut exits: Vec<String> = names
        .into_iter()
        .filter(|name| is_node_exit(name))
        .collect();
    exits.sort();
    exits.dedup();
    exits
}

/// The exits of the calling thread's network namespace, as they are now.
pub fn current_node_exits() -> std::io::Result<Vec<String>> {
    let interfaces = nix::net::if_::if_nameindex().map_err(std::io::Error::from)?;
    let names = interfaces
        .iter()
        .map(|interface| interface.name().to_string_lossy().into_owned());
    Ok(node_exits(names))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_are_every_interface_but_loopback_and_pod_veths() {
        let names = [
            "lo",
            "eth0",
            "weft.vxlan",
            "weft3fa9c0d1e2b",
            "eth1",
            "eth0",
        ];
        assert_eq!(
            node_exits(names.map(String::from)),
            vec!["eth0", "eth1", "weft.vxlan"]
        );
    }
}
