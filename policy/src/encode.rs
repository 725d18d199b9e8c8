//! The compiled policy as the three maps' entries (see [`crate::maps`]).

use std::collections::BTreeMap;

use crate::compiled::{CompiledPolicy, ProfileId};
use crate::maps::{
    EndpointKey, EndpointValue, IDENTITY_ANY, IdentityValue, IpKey, POLICY_ALLOW, PROTOCOL_ANY,
    PolicyKey, PolicyValue, endpoint_key, ip_key, policy_key,
};
use crate::ports::{PortPrefix, port_prefixes};
use crate::rules::{Peer, Profile, Traffic};

/// The full content of the identity, endpoint and policy maps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapContents {
    pub identities: BTreeMap<IpKey, IdentityValue>,
    pub endpoints: BTreeMap<EndpointKey, EndpointValue>,
    pub policy: BTreeMap<PolicyKey, PolicyValue>,
}

impl CompiledPolicy {
    /// What the maps should hold. Profiles are written once however many
    /// endpoints use them; a port range costs one entry per aligned prefix.
    pub fn map_contents(&self) -> MapContents {
        let identities = self
            .prefixes
            .iter()
            .map(|(prefix, identity)| {
                let value = IdentityValue {
                    identity: *identity,
                };
                (ip_key(*prefix), value)
            })
            .collect();
        let endpoints = self
            .endpoints
            .values()
            .flat_map(|endpoint| {
                let value = EndpointValue {
                    profile: endpoint.profile,
                    flags: endpoint.flags(),
                };
                endpoint
                    .ips
                    .iter()
                    .map(move |ip| (endpoint_key(*ip), value))
            })
            .collect();
        // Inserted one by one: collecting would sort a copy of all of them.
        let mut policy = BTreeMap::new();
        for (number, profile) in &self.profiles {
            policy.extend(profile.map_entries(*number));
        }
        MapContents {
            identities,
            endpoints,
            policy,
        }
    }
}

impl Profile {
    /// The policy map entries of this profile under `number`.
    pub fn map_entries(
        &self,
        number: ProfileId,
    ) -> impl Iterator<Item = (PolicyKey, PolicyValue)> + '_ {
        let allow = PolicyValue {
            flags: POLICY_ALLOW,
        };
        self.rules.iter().flat_map(move |rule| {
            let identity = match rule.peer {
                Peer::Any => IDENTITY_ANY,
                Peer::Identity(identity) => identity,
            };
            let direction = rule.direction.code();
            let (protocol, ports) = match rule.traffic {
                Traffic::Any => (PROTOCOL_ANY, vec![PortPrefix { value: 0, len: 0 }]),
                Traffic::Ports {
                    protocol,
                    first,
                    last,
                } => (protocol.number(), port_prefixes(first, last)),
            };
            ports.into_iter().map(move |port| {
                let key = policy_key(number, identity, direction, protocol, port);
                (key, allow)
            })
        })
    }
}
