//! Label selectors (`matchLabels` + `matchExpressions`) checked and turned
//! into requirements once, then matched against label sets, with the
//! semantics of Kubernetes' `metav1.LabelSelectorAsSelector`.

use std::collections::{BTreeMap, BTreeSet};

use weft_datastore::k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::problem::Issue;

/// A valid label selector. The empty (default) selector matches every label set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Selector {
    requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    /// The label is present with one of the values (also what `matchLabels` means).
    In(String, BTreeSet<String>),
    /// The label is absent, or present with none of the values.
    NotIn(String, BTreeSet<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Selector {
    /// Checks `selector` like the API server does: `In`/`NotIn` need values,
    /// `Exists`/`DoesNotExist` take none, and no other operator exists.
    pub(crate) fn parse(selector: &LabelSelector) -> Result<Selector, Issue> {
        let labels = selector.match_labels.iter().flatten();
        let mut requirements: Vec<Requirement> = labels
            .map(|(key, value)| Requirement::In(key.clone(), BTreeSet::from([value.clone()])))
            .collect();
        for expression in selector.match_expressions.iter().flatten() {
            let key = expression.key.clone();
            let values: BTreeSet<String> = expression.values.iter().flatten().cloned().collect();
            let requirement = match expression.operator.as_str() {
                "In" | "NotIn" if values.is_empty() => {
                    return Err(Issue::SelectorValuesMissing(key));
                }
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    return Err(Issue::SelectorValuesNotAllowed(key));
                }
                "In" => Requirement::In(key, values),
                "NotIn" => Requirement::NotIn(key, values),
                "Exists" => Requirement::Exists(key),
                "DoesNotExist" => Requirement::DoesNotExist(key),
                other => return Err(Issue::UnknownSelectorOperator(other.to_owned())),
            };
            requirements.push(requirement);
        }
        Ok(Selector { requirements })
    }

    /// Whether a set with `labels` is selected: every requirement holds.
    pub(crate) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements
            .iter()
            .all(|requirement| match requirement {
                Requirement::In(key, values) => labels.get(key).is_some_and(|v| values.contains(v)),
                Requirement::NotIn(key, values) => {
                    labels.get(key).is_none_or(|v| !values.contains(v))
                }
                Requirement::Exists(key) => labels.contains_key(key),
                Requirement::DoesNotExist(key) => !labels.contains_key(key),
            })
    }

    /// (key, value) pairs every selected label set has: the single-valued
    /// `In` requirements (`matchLabels`). An index of label sets by pair
    /// narrows the candidates to check with [`Selector::matches`].
    pub(crate) fn required_labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.requirements
            .iter()
            .filter_map(|requirement| match requirement {
                Requirement::In(key, values) if values.len() == 1 => {
                    values.first().map(|value| (key.as_str(), value.as_str()))
                }
                _ => None,
            })
    }
}

#[cfg(test)]
mod tests {
    use weft_datastore::k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expression(key: &str, operator: &str, values: &[&str]) -> LabelSelector {
        LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: key.into(),
                operator: operator.into(),
                values: (!values.is_empty())
                    .then(|| values.iter().map(|v| v.to_string()).collect()),
            }]),
        }
    }

    fn matches(selector: &LabelSelector, pairs: &[(&str, &str)]) -> bool {
        Selector::parse(selector).unwrap().matches(&labels(pairs))
    }

    #[test]
    fn empty_selector_matches_everything() {
        let empty = LabelSelector::default();
        assert!(matches(&empty, &[]));
        assert!(matches(&empty, &[("pod", "a")]));
    }

    #[test]
    fn match_labels_need_every_pair() {
        let selector = LabelSelector {
            match_labels: Some(labels(&[("pod", "a"), ("tier", "web")])),
            match_expressions: None,
        };
        assert!(matches(
            &selector,
            &[("pod", "a"), ("tier", "web"), ("x", "y")]
        ));
        assert!(!matches(&selector, &[("pod", "a")]));
        assert!(!matches(&selector, &[("pod", "b"), ("tier", "web")]));
    }

    #[test]
    fn match_labels_and_expressions_are_anded() {
        let mut selector = expression("tier", "NotIn", &["db"]);
        selector.match_labels = Some(labels(&[("pod", "a")]));
        assert!(matches(&selector, &[("pod", "a")]));
        assert!(!matches(&selector, &[("pod", "a"), ("tier", "db")]));
        assert!(!matches(&selector, &[("pod", "b")]));
    }

    #[test]
    fn operators_follow_kubernetes() {
        let within = expression("pod", "In", &["b", "c"]);
        assert!(matches(&within, &[("pod", "b")]));
        assert!(!matches(&within, &[("pod", "a")]));
        assert!(!matches(&within, &[]));

        let outside = expression("pod", "NotIn", &["b", "c"]);
        assert!(matches(&outside, &[("pod", "a")]));
        assert!(
            matches(&outside, &[]),
            "NotIn holds when the label is absent"
        );
        assert!(!matches(&outside, &[("pod", "c")]));

        let exists = expression("pod", "Exists", &[]);
        assert!(matches(&exists, &[("pod", "")]));
        assert!(!matches(&exists, &[("other", "a")]));

        let absent = expression("pod", "DoesNotExist", &[]);
        assert!(matches(&absent, &[("other", "a")]));
        assert!(!matches(&absent, &[("pod", "a")]));
    }

    #[test]
    fn invalid_selectors_are_rejected() {
        assert_eq!(
            Selector::parse(&expression("pod", "In", &[])),
            Err(Issue::SelectorValuesMissing("pod".into()))
        );
        assert_eq!(
            Selector::parse(&expression("pod", "Exists", &["a"])),
            Err(Issue::SelectorValuesNotAllowed("pod".into()))
        );
        assert_eq!(
            Selector::parse(&expression("pod", "in", &["a"])),
            Err(Issue::UnknownSelectorOperator("in".into()))
        );
    }

    #[test]
    fn required_labels_are_the_single_valued_in_requirements() {
        let mut selector = expression("tier", "In", &["a", "b"]);
        selector.match_labels = Some(BTreeMap::from([("app".into(), "web".into())]));
        let parsed = Selector::parse(&selector).unwrap();
        assert_eq!(
            parsed.required_labels().collect::<Vec<_>>(),
            vec![("app", "web")]
        );
        let single = Selector::parse(&expression("tier", "In", &["a"])).unwrap();
        assert_eq!(
            single.required_labels().collect::<Vec<_>>(),
            vec![("tier", "a")]
        );
        let none = Selector::parse(&expression("tier", "Exists", &[])).unwrap();
        assert_eq!(none.required_labels().count(), 0);
    }
}
