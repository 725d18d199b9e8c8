//! A policy map with no room for a new profile: weftd's writer fails
//! closed (the endpoints switching to it are allowed nothing where they are
//! isolated), says what it could not store, and catches up once there is
//! room. (A full conntrack table is in the crate root's tests: its LRU
//! makes room.)

use weft_ebpf_common::{
    DIRECTION_INGRESS, ENFORCE_INGRESS, FIRST_COMPUTED_IDENTITY, MAX_POLICY_ENTRIES, POLICY_ALLOW,
    PROFILE_NONE, PolicyKey, PolicyValue, REASON_ALLOWED_BY_POLICY, REASON_DROPPED_BY_POLICY,
    TO_POD_PROGRAM,
};
use weft_policy::maps::{EndpointValue, endpoint_key, policy_key};
use weft_policy::{Changes, MapChanges};

use crate::a_serves_r_on_80;
use crate::support::frames::{Flow, SYN, TCP};
use crate::support::programs::{
    A, FAMILIES, Family, Programs, R, TC_ACT_OK, TC_ACT_SHOT, TO_A, port,
};

/// Another node's worth of profiles, as far as the map is concerned.
const FILLER_PROFILE: u32 = 0x00F1_11E5;
/// The profile A moves to: R may call it on 80 and 443.
const NEW_PROFILE: u32 = 0x0000_0E11;

const ALLOW: PolicyValue = PolicyValue {
    flags: POLICY_ALLOW,
};

fn policy_writes(upsert: Vec<(PolicyKey, PolicyValue)>, remove: Vec<PolicyKey>) -> MapChanges {
    MapChanges {
        identities: Changes::default(),
        endpoints: Changes::default(),
        policy: Changes { upsert, remove },
    }
}

fn filler(n: u32) -> PolicyKey {
    policy_key(
        FILLER_PROFILE,
        FIRST_COMPUTED_IDENTITY + n,
        DIRECTION_INGRESS,
        TCP,
        port(80),
    )
}

/// A's new profile and A's endpoints switched to it.
fn a_moves_to_the_new_profile() -> MapChanges {
    let rules = [80, 443].map(|number| {
        let key = policy_key(
            NEW_PROFILE,
            R.identity,
            DIRECTION_INGRESS,
            TCP,
            port(number),
        );
        (key, ALLOW)
    });
    let endpoint = EndpointValue {
        profile: NEW_PROFILE,
        flags: ENFORCE_INGRESS,
    };
    MapChanges {
        identities: Changes::default(),
        endpoints: Changes {
            upsert: FAMILIES
                .iter()
                .map(|family| (endpoint_key(A.ip(*family)), endpoint))
                .collect(),
            remove: vec![],
        },
        policy: Changes {
            upsert: rules.to_vec(),
            remove: vec![],
        },
    }
}

fn r_calls_a(programs: &Programs, on: u16) -> i32 {
    let flow = Flow::tcp(R.at(Family::V4, 40000 + on), A.at(Family::V4, on));
    programs
        .run(TO_POD_PROGRAM, &flow.frame(TO_A, SYN), 0)
        .action
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn a_full_policy_map_fails_closed_and_catches_up_once_there_is_room() {
    let mut programs = Programs::load();
    programs.enforce(A, ENFORCE_INGRESS);
    programs.allow(&[a_serves_r_on_80()]);
    assert_eq!(r_calls_a(&programs, 80), TC_ACT_OK);
    programs.counted();

    let held = programs
        .datapath
        .policy_maps()
        .expect("read the policy maps")
        .policy
        .len();
    let room = MAX_POLICY_ENTRIES - u32::try_from(held).expect("a map's size");
    let fillers: Vec<_> = (0..room).map(|n| (filler(n), ALLOW)).collect();
    programs
        .datapath
        .apply_policy(&policy_writes(fillers, vec![]))
        .expect("the map takes entries up to its capacity");

    let refused = programs
        .datapath
        .apply_policy(&a_moves_to_the_new_profile())
        .expect_err("no room for A's new profile");
    let message = refused.to_string();
    assert!(
        message.contains("2 in WEFT_POLICY") && message.contains("2 isolated endpoints"),
        "says what it could not store and what that costs: {message}"
    );
    let endpoints = programs
        .datapath
        .policy_maps()
        .expect("read the policy maps")
        .endpoints;
    assert_eq!(
        endpoints.get(&endpoint_key(A.ip(Family::V4))),
        Some(&EndpointValue {
            profile: PROFILE_NONE,
            flags: ENFORCE_INGRESS
        }),
        "A is still isolated, under no profile rather than half of one"
    );
    assert_eq!(
        r_calls_a(&programs, 80),
        TC_ACT_SHOT,
        "what the old profile allowed is not allowed any more"
    );
    assert_eq!(r_calls_a(&programs, 443), TC_ACT_SHOT);
    assert_eq!(
        programs.counted(),
        [REASON_DROPPED_BY_POLICY, REASON_DROPPED_BY_POLICY]
    );

    programs
        .datapath
        .apply_policy(&policy_writes(vec![], (0..8).map(filler).collect()))
        .expect("remove a few fillers");
    programs
        .datapath
        .apply_policy(&a_moves_to_the_new_profile())
        .expect("room again: the same write succeeds");
    assert_eq!(r_calls_a(&programs, 80), TC_ACT_OK);
    assert_eq!(r_calls_a(&programs, 443), TC_ACT_OK);
    assert_eq!(
        programs.counted(),
        [REASON_ALLOWED_BY_POLICY, REASON_ALLOWED_BY_POLICY]
    );
}
