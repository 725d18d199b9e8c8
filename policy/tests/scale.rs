//! The performance goal's input size: 10,000 pods and 1,000 policies,
//! compiled and encoded sanely (untimed: the time and memory are measured by
//! `cargo run --release -p weft-policy --example compile_bench`).

mod support;

use weft_policy::{ClusterInputs, compile};

#[test]
fn ten_thousand_pods_and_a_thousand_policies_compile() {
    let snapshot = support::synthetic::cluster(100, 100, 10).records();
    assert_eq!(
        (snapshot.pods.len(), snapshot.policies.len()),
        (10_000, 1_000)
    );
    let compiled = compile(&ClusterInputs::new(&snapshot));
    assert_eq!(compiled.problems, vec![]);
    assert_eq!(compiled.endpoints.len(), 10_000);
    assert!(
        compiled
            .endpoints
            .values()
            .all(|e| !e.ingress_policies.is_empty())
    );
    // Replicas share identities and profiles.
    assert!(
        compiled.identities.len() <= 1_000 + 200,
        "{}",
        compiled.identities.len()
    );
    assert!(
        compiled.profiles.len() <= 1_000,
        "{}",
        compiled.profiles.len()
    );
    let maps = compiled.map_contents();
    assert_eq!(maps.endpoints.len(), 10_000);
    assert_eq!(
        compile(&ClusterInputs::new(&snapshot)),
        compiled,
        "deterministic"
    );
    println!(
        "identities {}, profiles {}, identity entries {}, policy entries {}",
        compiled.identities.len(),
        compiled.profiles.len(),
        maps.identities.len(),
        maps.policy.len()
    );
}
