//! The CNI network configuration list weftd drops into the CNI conf dir once
//! it serves: kubelet takes the node as network-ready when it appears.

use serde_json::{Value, json};

/// File name inside the CNI conf dir; "10-" sorts it before most others.
pub const CONFLIST_FILE: &str = "10-weft.conflist";

/// Where the `weft` plugin finds what weftd provides on this node (paths as
/// text: the conflist is JSON, so they must be UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflistInputs<'a> {
    pub daemon_socket: &'a str,
    pub node_network_file: &'a str,
    pub ipam_dir: &'a str,
    pub mtu: u32,
}

/// The conflist: the weft plugin chained with portmap for hostPort support.
pub fn render_conflist(inputs: &ConflistInputs<'_>) -> Value {
    json!({
        "cniVersion": "1.1.0",
        "cniVersions": ["0.3.1", "0.4.0", "1.0.0", "1.1.0"],
        "name": "weft",
        "plugins": [
            {
                "type": "weft",
                "daemonSocket": inputs.daemon_socket,
                "nodeNetworkFile": inputs.node_network_file,
                "ipamDir": inputs.ipam_dir,
                "mtu": inputs.mtu,
            },
            {
                "type": "portmap",
                "capabilities": { "portMappings": true },
                "snat": true,
            },
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_weft_then_portmap_with_the_node_paths() {
        let rendered = render_conflist(&ConflistInputs {
            daemon_socket: "/run/weft/weftd.sock",
            node_network_file: "/run/weft/node-network.json",
            ipam_dir: "/var/lib/weft/ipam",
            mtu: 1450,
        });
        let expected: Value = serde_json::from_str(
            r#"{"cniVersion":"1.1.0","cniVersions":["0.3.1","0.4.0","1.0.0","1.1.0"],"name":"weft",
               "plugins":[{"type":"weft","daemonSocket":"/run/weft/weftd.sock",
                           "nodeNetworkFile":"/run/weft/node-network.json",
                           "ipamDir":"/var/lib/weft/ipam","mtu":1450},
                          {"type":"portmap","capabilities":{"portMappings":true},"snat":true}]}"#,
        )
        .unwrap();
        assert_eq!(rendered, expected);
    }
}
