//! Service rules shaped like kube-proxy's iptables mode, for a node's nat
//! table: KUBE-SERVICES jumped from PREROUTING and OUTPUT, one KUBE-SVC
//! chain per service port that marks sources outside the cluster CIDR for
//! masquerading and jumps to one KUBE-SEP chain DNATing to the backend.
//! Written as `iptables-restore --noflush` input; `removal` undoes it.

use std::fmt::Write;
use std::net::Ipv4Addr;

/// One ClusterIP service port with a single backend pod.
#[derive(Debug, Clone)]
pub struct Service {
    /// Upper case, short: chain names are KUBE-SVC-<NAME>-<PROTO>.
    pub name: &'static str,
    pub cluster_ip: Ipv4Addr,
    pub port: u16,
    pub backend: Ipv4Addr,
    pub target_port: u16,
}

const PROTOCOLS: [&str; 2] = ["tcp", "udp"];
/// kube-proxy's own chains.
const BASE_CHAINS: [&str; 3] = ["KUBE-SERVICES", "KUBE-MARK-MASQ", "KUBE-POSTROUTING"];
/// The jumps from the built-in chains into kube-proxy's.
const JUMPS: [&str; 3] = [
    "PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
    "OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
    "POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING",
];

fn service_chains(service: &Service, protocol: &str) -> (String, String) {
    let suffix = format!("{}-{}", service.name, protocol.to_uppercase());
    (format!("KUBE-SVC-{suffix}"), format!("KUBE-SEP-{suffix}"))
}

fn all_chains(services: &[Service]) -> Vec<String> {
    let mut chains: Vec<String> = BASE_CHAINS.iter().map(|c| (*c).to_owned()).collect();
    for service in services {
        for protocol in PROTOCOLS {
            let (svc, sep) = service_chains(service, protocol);
            chains.extend([svc, sep]);
        }
    }
    chains
}

/// The nat table rules for `services`, TCP and UDP each.
pub fn rules(services: &[Service], cluster_cidr: &str) -> String {
    let mut text = String::from("*nat\n");
    for chain in all_chains(services) {
        writeln!(text, ":{chain} - [0:0]").expect("writing to a String");
    }
    for jump in JUMPS {
        writeln!(text, "-A {jump}").expect("writing to a String");
    }
    text.push_str(
        "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n\
         -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n\
         -A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n\
         -A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n",
    );
    for service in services {
        for protocol in PROTOCOLS {
            let (svc, sep) = service_chains(service, protocol);
            let Service {
                cluster_ip,
                port,
                backend,
                target_port,
                ..
            } = service;
            let matches = format!("-d {cluster_ip}/32 -p {protocol} -m {protocol} --dport {port}");
            writeln!(text, "-A KUBE-SERVICES {matches} -j {svc}").expect("writing to a String");
            writeln!(
                text,
                "-A {svc} ! -s {cluster_cidr} {matches} -j KUBE-MARK-MASQ"
            )
            .expect("writing to a String");
            writeln!(text, "-A {svc} -j {sep}").expect("writing to a String");
            writeln!(text, "-A {sep} -s {backend}/32 -j KUBE-MARK-MASQ")
                .expect("writing to a String");
            writeln!(
                text,
                "-A {sep} -p {protocol} -m {protocol} -j DNAT --to-destination {backend}:{target_port}"
            )
            .expect("writing to a String");
        }
    }
    text.push_str("COMMIT\n");
    text
}

/// Undoes `rules`: drops the jumps, then empties and deletes every chain.
pub fn removal(services: &[Service]) -> String {
    let mut text = String::from("*nat\n");
    for jump in JUMPS {
        writeln!(text, "-D {jump}").expect("writing to a String");
    }
    let chains = all_chains(services);
    for chain in &chains {
        writeln!(text, ":{chain} - [0:0]").expect("writing to a String");
    }
    for chain in &chains {
        writeln!(text, "-X {chain}").expect("writing to a String");
    }
    text.push_str("COMMIT\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> Service {
        Service {
            name: "NEAR",
            cluster_ip: Ipv4Addr::new(10, 96, 0, 10),
            port: 80,
            backend: Ipv4Addr::new(10, 244, 1, 5),
            target_port: 80,
        }
    }

    #[test]
    fn a_service_dnats_to_its_backend_and_masquerades_outside_sources() {
        let text = rules(&[service()], "10.244.0.0/16");
        for line in [
            "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
            "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
            "-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m udp --dport 80 -j KUBE-SVC-NEAR-UDP",
            "-A KUBE-SVC-NEAR-TCP ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j KUBE-MARK-MASQ",
            "-A KUBE-SVC-NEAR-TCP -j KUBE-SEP-NEAR-TCP",
            "-A KUBE-SEP-NEAR-TCP -p tcp -m tcp -j DNAT --to-destination 10.244.1.5:80",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(text.starts_with("*nat\n:KUBE-SERVICES - [0:0]\n"));
        assert!(text.ends_with("COMMIT\n"));
    }

    #[test]
    fn removal_deletes_the_jumps_before_the_chains() {
        let text = removal(&[service()]);
        let jump = text.find("-D PREROUTING").unwrap();
        let flush = text.find(":KUBE-SVC-NEAR-TCP").unwrap();
        let delete = text.find("-X KUBE-SEP-NEAR-UDP").unwrap();
        assert!(jump < flush && flush < delete, "{text}");
    }
}
