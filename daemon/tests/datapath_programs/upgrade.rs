//! What an older weftd left in the pins works with this build: an
//! any-protocol policy entry of the older encoding (its prefix through the
//! protocol byte) is rewritten when weftd opens the pins, so the programs'
//! single lookup per peer finds it.

use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Map, MapData};
use weft_ebpf_common::{
    DIRECTION_INGRESS, ENFORCE_INGRESS, IDENTITY_ANY, POLICY_ALLOW, POLICY_KEY_ANY_PROTOCOL_BITS,
    POLICY_KEY_FIXED_BITS, POLICY_MAP, PROTOCOL_ANY, PolicyKeyData, PolicyValue,
    REASON_ALLOWED_BY_POLICY, REASON_DROPPED_BY_POLICY, TO_POD_PROGRAM,
};
use weftd::bpf::Datapath;

use crate::support::frames::{Flow, SYN};
use crate::support::programs::{A, Family, Programs, R, TC_ACT_OK, TC_ACT_SHOT, TO_A};

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn an_any_protocol_entry_of_the_older_encoding_is_rewritten_on_open() {
    let mut programs = Programs::load();
    programs.enforce(A, ENFORCE_INGRESS);
    let older = Key::new(
        POLICY_KEY_FIXED_BITS,
        PolicyKeyData {
            profile: A.profile,
            identity: IDENTITY_ANY,
            direction: DIRECTION_INGRESS,
            protocol: PROTOCOL_ANY,
            port: [0; 2],
        },
    );
    let pin = MapData::from_pin(programs.pin_dir().join(POLICY_MAP)).expect("open the policy map");
    let mut policy =
        LpmTrie::<_, PolicyKeyData, PolicyValue>::try_from(Map::LpmTrie(pin)).expect("an LPM trie");
    let allow = PolicyValue {
        flags: POLICY_ALLOW,
    };
    policy
        .insert(&older, allow, 0)
        .expect("write the older entry");
    programs.counted();
    let flow = Flow::tcp(R.at(Family::V4, 40000), A.at(Family::V4, 80));
    let run = programs.run(TO_POD_PROGRAM, &flow.frame(TO_A, SYN), 0);
    assert_eq!(run.action, TC_ACT_SHOT, "this build's lookup misses it");
    assert_eq!(programs.counted(), [REASON_DROPPED_BY_POLICY]);

    let _upgraded = Datapath::open(programs.pin_dir()).expect("weftd opens the pins");
    let run = programs.run(TO_POD_PROGRAM, &flow.frame(TO_A, SYN), 0);
    assert_eq!(
        run.action, TC_ACT_OK,
        "rewritten, it allows any peer anything"
    );
    assert_eq!(programs.counted(), [REASON_ALLOWED_BY_POLICY]);
    let keys: Vec<u32> = policy
        .keys()
        .map(|key| key.expect("read a key").prefix_len())
        .collect();
    assert_eq!(
        keys,
        [POLICY_KEY_ANY_PROTOCOL_BITS],
        "the older entry is gone"
    );
}
