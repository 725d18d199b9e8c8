//! Endpoint entries when the policy or identity map has no room for a
//! write: fail closed. An isolated endpoint whose profile's entries were
//! not all stored is pointed at [`PROFILE_NONE`] instead, so its traffic in
//! the directions it is isolated in is dropped (as policy) rather than
//! judged by half a profile. When an identity could not be stored, every
//! isolated endpoint is, since any rule may be about the missing peer or
//! the missing `except` prefix. Endpoints no policy isolates are left as
//! they are: nothing about them depends on the maps.

use std::collections::BTreeSet;

use crate::maps::{EndpointKey, EndpointValue, PROFILE_NONE};

/// What a write could not store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refused {
    /// Profiles with at least one policy entry not stored.
    pub profiles: BTreeSet<u32>,
    /// At least one identity prefix was not stored.
    pub identities: bool,
}

impl Refused {
    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty() && !self.identities
    }
}

/// `endpoints` as they may be written given `refused`; the entries that
/// change are the ones to write.
pub fn fail_closed(
    endpoints: impl IntoIterator<Item = (EndpointKey, EndpointValue)>,
    refused: &Refused,
) -> Vec<(EndpointKey, EndpointValue)> {
    endpoints
        .into_iter()
        .map(|(key, value)| {
            let starved = value.flags != 0
                && (refused.identities || refused.profiles.contains(&value.profile));
            let value = if starved {
                EndpointValue {
                    profile: PROFILE_NONE,
                    ..value
                }
            } else {
                value
            };
            (key, value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::maps::{ENFORCE_EGRESS, ENFORCE_INGRESS, endpoint_key};

    fn key(ip: &str) -> EndpointKey {
        endpoint_key(ip.parse::<IpAddr>().unwrap())
    }

    fn entries() -> Vec<(EndpointKey, EndpointValue)> {
        vec![
            (
                key("10.0.0.1"),
                EndpointValue {
                    profile: 7,
                    flags: ENFORCE_INGRESS,
                },
            ),
            (
                key("10.0.0.2"),
                EndpointValue {
                    profile: 8,
                    flags: ENFORCE_INGRESS | ENFORCE_EGRESS,
                },
            ),
            (
                key("10.0.0.3"),
                EndpointValue {
                    profile: PROFILE_NONE,
                    flags: 0,
                },
            ),
        ]
    }

    #[test]
    fn an_endpoint_of_a_profile_not_fully_stored_is_allowed_nothing_where_isolated() {
        let refused = Refused {
            profiles: BTreeSet::from([7]),
            identities: false,
        };
        let written = fail_closed(entries(), &refused);
        assert_eq!(
            written[0].1,
            EndpointValue {
                profile: PROFILE_NONE,
                flags: ENFORCE_INGRESS
            },
            "still isolated for ingress only: its egress was never policed"
        );
        assert_eq!(written[1..], entries()[1..], "profile 8 is whole");
    }

    #[test]
    fn a_missing_identity_starves_every_isolated_endpoint_and_no_other() {
        let refused = Refused {
            profiles: BTreeSet::new(),
            identities: true,
        };
        let written = fail_closed(entries(), &refused);
        assert_eq!(written[0].1.profile, PROFILE_NONE);
        assert_eq!(written[1].1.profile, PROFILE_NONE);
        assert_eq!(written[1].1.flags, ENFORCE_INGRESS | ENFORCE_EGRESS);
        assert_eq!(written[2], entries()[2], "not isolated: nothing to deny");
    }

    #[test]
    fn nothing_refused_writes_the_entries_as_they_are() {
        assert!(Refused::default().is_empty());
        assert_eq!(fail_closed(entries(), &Refused::default()), entries());
    }
}
