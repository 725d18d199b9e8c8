//! The CNI result: one version-independent model, read from a `prevResult`
//! of any supported version and rendered exactly as the requested version
//! spells it (0.3.x/0.4.0 IPs carry "version"; 1.1.0 adds interface "mtu"
//! and the extra route fields).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::version::CniVersion;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CniResult {
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    #[serde(default)]
    pub ips: Vec<IpConfig>,
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub dns: Dns,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Interface {
    pub name: String,
    pub mac: Option<String>,
    /// Only rendered for 1.1.0 and later.
    pub mtu: Option<u32>,
    /// The netns path for interfaces inside the pod; `None` on the host.
    pub sandbox: Option<String>,
    /// Only rendered for 1.1.0 and later.
    pub socket_path: Option<String>,
    /// Only rendered for 1.1.0 and later.
    #[serde(rename = "pciID")]
    pub pci_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IpConfig {
    /// Address with the prefix it is configured with (e.g. 10.0.0.5/32).
    pub address: IpNet,
    pub gateway: Option<IpAddr>,
    /// Index into `interfaces`.
    pub interface: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Route {
    pub dst: IpNet,
    pub gw: Option<IpAddr>,
    // The remaining fields exist since 1.1.0 and are only rendered there.
    pub mtu: Option<u32>,
    pub advmss: Option<u32>,
    pub priority: Option<u32>,
    pub table: Option<u32>,
    pub scope: Option<u32>,
}

impl Route {
    pub fn via(dst: IpNet, gw: IpAddr) -> Route {
        Route {
            dst,
            gw: Some(gw),
            mtu: None,
            advmss: None,
            priority: None,
            table: None,
            scope: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Dns {
    pub fn is_empty(&self) -> bool {
        *self == Dns::default()
    }
}

impl CniResult {
    /// Chains `ours` after this (previous plugins') result: their entries
    /// stay first and untouched, ours follow with interface indexes shifted
    /// to point at our interfaces. Their DNS wins when they set any.
    pub fn append(&mut self, ours: CniResult) {
        let offset = self.interfaces.len();
        self.interfaces.extend(ours.interfaces);
        self.ips.extend(ours.ips.into_iter().map(|ip| IpConfig {
            interface: ip.interface.map(|index| index + offset),
            ..ip
        }));
        self.routes.extend(ours.routes);
        if self.dns.is_empty() {
            self.dns = ours.dns;
        }
    }

    /// The result JSON exactly as `version` defines it.
    pub fn to_json(&self, version: CniVersion) -> String {
        let view = ResultView {
            cni_version: version,
            interfaces: self
                .interfaces
                .iter()
                .map(|i| InterfaceView::new(i, version))
                .collect(),
            ips: self.ips.iter().map(|ip| IpView::new(ip, version)).collect(),
            routes: self
                .routes
                .iter()
                .map(|r| RouteView::new(r, version))
                .collect(),
            dns: &self.dns,
        };
        // Strings, numbers and addresses only: encoding cannot fail.
        serde_json::to_string(&view).unwrap_or_default()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResultView<'a> {
    cni_version: CniVersion,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    interfaces: Vec<InterfaceView<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ips: Vec<IpView<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<RouteView<'a>>,
    dns: &'a Dns,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InterfaceView<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    mac: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mtu: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sandbox: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    socket_path: Option<&'a str>,
    #[serde(rename = "pciID", skip_serializing_if = "Option::is_none")]
    pci_id: Option<&'a str>,
}

impl<'a> InterfaceView<'a> {
    fn new(interface: &'a Interface, version: CniVersion) -> Self {
        let v1_1 = version.has_interface_mtu();
        InterfaceView {
            name: &interface.name,
            mac: interface.mac.as_deref(),
            mtu: interface.mtu.filter(|_| v1_1),
            sandbox: interface.sandbox.as_deref(),
            socket_path: interface.socket_path.as_deref().filter(|_| v1_1),
            pci_id: interface.pci_id.as_deref().filter(|_| v1_1),
        }
    }
}

#[derive(Serialize)]
struct IpView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'static str>,
    address: &'a IpNet,
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway: Option<&'a IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interface: Option<usize>,
}

impl<'a> IpView<'a> {
    fn new(ip: &'a IpConfig, version: CniVersion) -> Self {
        let family = match ip.address {
            IpNet::V4(_) => "4",
            IpNet::V6(_) => "6",
        };
        IpView {
            version: version.ips_carry_version().then_some(family),
            address: &ip.address,
            gateway: ip.gateway.as_ref(),
            interface: ip.interface,
        }
    }
}

#[derive(Serialize)]
struct RouteView<'a> {
    dst: &'a IpNet,
    #[serde(skip_serializing_if = "Option::is_none")]
    gw: Option<&'a IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mtu: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    advmss: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    priority: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    table: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<u32>,
}

impl<'a> RouteView<'a> {
    fn new(route: &'a Route, version: CniVersion) -> Self {
        let only_1_1 = |value: Option<u32>| value.filter(|_| version.has_interface_mtu());
        RouteView {
            dst: &route.dst,
            gw: route.gw.as_ref(),
            mtu: only_1_1(route.mtu),
            advmss: only_1_1(route.advmss),
            priority: only_1_1(route.priority),
            table: only_1_1(route.table),
            scope: only_1_1(route.scope),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn sample() -> CniResult {
        CniResult {
            interfaces: vec![
                Interface {
                    name: "weft0123456789a".into(),
                    mac: Some("02:00:00:00:00:01".into()),
                    ..Interface::default()
                },
                Interface {
                    name: "eth0".into(),
                    mac: Some("06:00:00:00:00:02".into()),
                    mtu: Some(1450),
                    sandbox: Some("/run/netns/p".into()),
                    ..Interface::default()
                },
            ],
            ips: vec![
                IpConfig {
                    address: "10.1.0.5/32".parse().unwrap(),
                    gateway: Some("169.254.1.1".parse().unwrap()),
                    interface: Some(1),
                },
                IpConfig {
                    address: "fd00::5/128".parse().unwrap(),
                    gateway: Some("fe80::1".parse().unwrap()),
                    interface: Some(1),
                },
            ],
            routes: vec![
                Route::via("0.0.0.0/0".parse().unwrap(), "169.254.1.1".parse().unwrap()),
                Route::via("::/0".parse().unwrap(), "fe80::1".parse().unwrap()),
            ],
            dns: Dns::default(),
        }
    }

    fn rendered(result: &CniResult, version: CniVersion) -> Value {
        serde_json::from_str(&result.to_json(version)).unwrap()
    }

    fn golden(version: &str, ip_version: bool, mtu: bool) -> Value {
        let mut pod =
            json!({"name": "eth0", "mac": "06:00:00:00:00:02", "sandbox": "/run/netns/p"});
        if mtu {
            pod["mtu"] = json!(1450);
        }
        let mut ip4 = json!({"address": "10.1.0.5/32", "gateway": "169.254.1.1", "interface": 1});
        let mut ip6 = json!({"address": "fd00::5/128", "gateway": "fe80::1", "interface": 1});
        if ip_version {
            ip4["version"] = json!("4");
            ip6["version"] = json!("6");
        }
        json!({
            "cniVersion": version,
            "interfaces": [{"name": "weft0123456789a", "mac": "02:00:00:00:00:01"}, pod],
            "ips": [ip4, ip6],
            "routes": [{"dst": "0.0.0.0/0", "gw": "169.254.1.1"}, {"dst": "::/0", "gw": "fe80::1"}],
            "dns": {}
        })
    }

    #[test]
    fn renders_0_3_x_and_0_4_0_with_ip_versions_and_no_mtu() {
        for version in [CniVersion::V0_3_0, CniVersion::V0_3_1, CniVersion::V0_4_0] {
            assert_eq!(
                rendered(&sample(), version),
                golden(version.as_str(), true, false)
            );
        }
    }

    #[test]
    fn renders_1_0_0_without_ip_versions_or_mtu() {
        assert_eq!(
            rendered(&sample(), CniVersion::V1_0_0),
            golden("1.0.0", false, false)
        );
    }

    #[test]
    fn renders_1_1_0_with_interface_mtu() {
        assert_eq!(
            rendered(&sample(), CniVersion::V1_1_0),
            golden("1.1.0", false, true)
        );
    }

    #[test]
    fn renders_1_1_0_route_fields_only_for_1_1_0() {
        let mut result = sample();
        result.routes[0].table = Some(100);
        assert_eq!(
            rendered(&result, CniVersion::V1_1_0)["routes"][0]["table"],
            100
        );
        assert!(
            rendered(&result, CniVersion::V1_0_0)["routes"][0]
                .get("table")
                .is_none()
        );
    }

    #[test]
    fn renders_dns_fields_that_are_set() {
        let mut result = sample();
        result.dns.nameservers = vec!["10.96.0.10".into()];
        result.dns.search = vec!["svc.cluster.local".into()];
        assert_eq!(
            rendered(&result, CniVersion::V1_0_0)["dns"],
            json!({"nameservers": ["10.96.0.10"], "search": ["svc.cluster.local"]})
        );
    }

    #[test]
    fn reads_results_of_every_version() {
        for version in CniVersion::ALL {
            let parsed: CniResult = serde_json::from_str(&sample().to_json(version)).unwrap();
            let mut expected = sample();
            if !version.has_interface_mtu() {
                expected.interfaces[1].mtu = None;
            }
            assert_eq!(parsed, expected, "{version}");
        }
    }

    #[test]
    fn appending_keeps_previous_entries_and_shifts_interface_indexes() {
        let mut chained: CniResult = serde_json::from_value(json!({
            "interfaces": [{"name": "dummy0"}],
            "ips": [{"address": "192.0.2.7/24", "interface": 0}],
            "routes": [{"dst": "192.0.2.0/24"}],
            "dns": {"nameservers": ["192.0.2.53"]}
        }))
        .unwrap();
        let mut ours = sample();
        ours.dns.nameservers = vec!["10.96.0.10".into()];
        chained.append(ours);

        let names: Vec<_> = chained.interfaces.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["dummy0", "weft0123456789a", "eth0"]);
        let indexes: Vec<_> = chained.ips.iter().map(|ip| ip.interface).collect();
        assert_eq!(indexes, [Some(0), Some(2), Some(2)]);
        assert_eq!(chained.routes.len(), 3);
        assert_eq!(chained.dns.nameservers, ["192.0.2.53"]);
    }

    #[test]
    fn appending_to_an_empty_result_takes_our_dns() {
        let mut chained = CniResult::default();
        let mut ours = sample();
        ours.dns.domain = Some("cluster.local".into());
        chained.append(ours.clone());
        assert_eq!(chained, ours);
    }
}
