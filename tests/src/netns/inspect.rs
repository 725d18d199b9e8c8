//! What a test namespace holds, as `ip -j` reports it: links with their
//! attributes, a link's addresses, route destinations.

use serde_json::Value;

use super::Netns;

impl Netns {
    /// Every link, as `ip -j link show` describes it (`ifname`, `mtu`,
    /// `address`, `flags`, ...).
    pub fn link_details(&self) -> Vec<Value> {
        json(&self.ip(&["-j", "link", "show"]))
    }

    /// The link called `ifname`, if there is one.
    pub fn link(&self, ifname: &str) -> Option<Value> {
        self.link_details()
            .into_iter()
            .find(|link| link["ifname"] == ifname)
    }

    /// Addresses of `ifname` as "ip/prefix".
    pub fn addresses(&self, ifname: &str) -> Vec<String> {
        let links = json(&self.ip(&["-j", "addr", "show", "dev", ifname]));
        let Some(link) = links.first() else {
            return Vec::new();
        };
        link["addr_info"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| format!("{}/{}", a["local"].as_str().unwrap_or("?"), a["prefixlen"]))
            .collect()
    }

    /// Route destinations of one family ("-4" or "-6") in the main table.
    pub fn route_destinations(&self, family: &str) -> Vec<String> {
        json(&self.ip(&[family, "-j", "route", "show"]))
            .iter()
            .filter_map(|route| route["dst"].as_str())
            .map(str::to_owned)
            .collect()
    }
}

fn json(text: &str) -> Vec<Value> {
    serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("ip -j printed no JSON list ({e}): {text}"))
}
