//! The compiler's output in logical form: identities, the address prefixes
//! that carry them, endpoints with the policies isolating them, and the
//! profiles (allow rules) endpoints point to.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use crate::identity::{Identity, IdentityId};
use crate::inputs::ObjectName;
use crate::problem::Problem;
use crate::rules::{Direction, Profile};

/// A profile's number, shared by the endpoints with equal rules.
pub type ProfileId = u32;

/// Everything the policy maps should hold, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompiledPolicy {
    /// Computed identities (the reserved world and host are not listed).
    pub identities: BTreeMap<IdentityId, Identity>,
    /// Identity LPM content: pod addresses, host addresses, ipBlock prefixes.
    pub prefixes: BTreeMap<IpNet, IdentityId>,
    /// The pods in scope (with or without addresses yet).
    pub endpoints: BTreeMap<ObjectName, EndpointPolicy>,
    pub profiles: BTreeMap<ProfileId, Profile>,
    /// What was skipped, sorted.
    pub problems: Vec<Problem>,
}

/// One local pod's policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointPolicy {
    /// Its addresses; without any it has no map entries yet.
    pub ips: Vec<IpAddr>,
    /// Policies that select the pod and isolate it for ingress.
    pub ingress_policies: Vec<ObjectName>,
    /// Policies that select the pod and isolate it for egress.
    pub egress_policies: Vec<ObjectName>,
    pub profile: ProfileId,
}

impl EndpointPolicy {
    /// Whether some policy isolates the pod in `direction`; if none does,
    /// everything passes that way.
    pub fn enforces(&self, direction: Direction) -> bool {
        match direction {
            Direction::Ingress => !self.ingress_policies.is_empty(),
            Direction::Egress => !self.egress_policies.is_empty(),
        }
    }

    /// `EndpointValue::flags`.
    pub fn flags(&self) -> u32 {
        Direction::ALL
            .into_iter()
            .filter(|d| self.enforces(*d))
            .map(Direction::enforce_flag)
            .fold(0, |flags, flag| flags | flag)
    }
}

impl CompiledPolicy {
    /// The profile of endpoint `name`.
    pub fn profile_of(&self, name: &ObjectName) -> Option<&Profile> {
        let endpoint = self.endpoints.get(name)?;
        self.profiles.get(&endpoint.profile)
    }
}
