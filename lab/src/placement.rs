//! The lab's scheduler: a pod with spec.nodeName goes there; others go to
//! the node with the fewest pods (ties: the first node), counting every pod
//! of the same file that names its node and those placed before them.

use std::collections::BTreeMap;

/// Chooses a node for each pod in order. `requested[i]` is pod i's
/// spec.nodeName; `load` counts the pods already on each node. With no
/// nodes at all an unplaced pod gets "" (a lab always has a node).
pub fn place(
    nodes: &[String],
    load: &BTreeMap<String, usize>,
    requested: &[Option<String>],
) -> Vec<String> {
    let mut load: Vec<usize> = nodes
        .iter()
        .map(|n| load.get(n).copied().unwrap_or(0))
        .collect();
    for wanted in requested.iter().flatten() {
        if let Some(i) = nodes.iter().position(|n| n == wanted) {
            load[i] += 1;
        }
    }
    requested
        .iter()
        .map(|wanted| match wanted {
            Some(node) => node.clone(),
            // min_by_key keeps the first of equal loads.
            None => match (0..nodes.len()).min_by_key(|&i| load[i]) {
                Some(i) => {
                    load[i] += 1;
                    nodes[i].clone()
                }
                None => String::new(),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes() -> Vec<String> {
        vec!["n1".into(), "n2".into(), "n3".into()]
    }

    #[test]
    fn pods_spread_round_robin_over_empty_nodes() {
        let placed = place(&nodes(), &BTreeMap::new(), &[None, None, None, None]);
        assert_eq!(placed, vec!["n1", "n2", "n3", "n1"]);
    }

    #[test]
    fn pods_go_to_the_least_loaded_node() {
        let load = [
            ("n1".to_string(), 2),
            ("n2".to_string(), 0),
            ("n3".to_string(), 1),
        ]
        .into();
        let placed = place(&nodes(), &load, &[None, None, None]);
        assert_eq!(placed, vec!["n2", "n2", "n3"]);
    }

    #[test]
    fn pods_naming_a_node_count_before_the_others_are_placed() {
        let placed = place(
            &nodes(),
            &BTreeMap::new(),
            &[None, None, None, Some("n3".into())],
        );
        assert_eq!(placed, vec!["n1", "n2", "n1", "n3"]);
    }

    #[test]
    fn requested_nodes_are_kept_and_counted() {
        let placed = place(
            &nodes(),
            &BTreeMap::new(),
            &[Some("n1".into()), None, Some("n3".into()), None],
        );
        assert_eq!(placed, vec!["n1", "n2", "n3", "n1"]);
    }
}
