//! Label selectors as the API server validates them: valid keys and values,
//! and `matchExpressions` whose operator fits its values.

use weft_datastore::k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::FieldError;
use super::names::{check_label_key, check_label_value};

pub(super) fn check_selector(field: &str, selector: &LabelSelector) -> Result<(), FieldError> {
    for (key, value) in selector.match_labels.iter().flatten() {
        check_label_key(&format!("{field}.matchLabels"), key)?;
        check_label_value(&format!("{field}.matchLabels[{key}]"), value)?;
    }
    for (i, requirement) in selector.match_expressions.iter().flatten().enumerate() {
        let here = format!("{field}.matchExpressions[{i}]");
        check_label_key(&format!("{here}.key"), &requirement.key)?;
        let values = requirement.values.as_deref().unwrap_or_default();
        match requirement.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err(FieldError::new(
                    format!("{here}.values"),
                    format!("operator {} needs at least one value", requirement.operator),
                ));
            }
            "In" | "NotIn" => {
                for (j, value) in values.iter().enumerate() {
                    check_label_value(&format!("{here}.values[{j}]"), value)?;
                }
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                return Err(FieldError::new(
                    format!("{here}.values"),
                    format!("operator {} takes no values", requirement.operator),
                ));
            }
            "Exists" | "DoesNotExist" => {}
            other => {
                return Err(FieldError::new(
                    format!("{here}.operator"),
                    format!("{other:?} is not In, NotIn, Exists or DoesNotExist"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use weft_datastore::k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    fn expression(key: &str, operator: &str, values: Option<Vec<&str>>) -> LabelSelector {
        LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: key.into(),
                operator: operator.into(),
                values: values.map(|v| v.into_iter().map(String::from).collect()),
            }]),
            match_labels: None,
        }
    }

    fn field_of(selector: &LabelSelector) -> String {
        check_selector("s", selector).unwrap_err().field
    }

    #[test]
    fn set_operators_need_valid_values() {
        assert!(check_selector("s", &expression("tier", "In", Some(vec!["db"]))).is_ok());
        assert!(check_selector("s", &expression("tier", "NotIn", Some(vec!["a", "b"]))).is_ok());
        assert_eq!(
            field_of(&expression("tier", "In", Some(vec![]))),
            "s.matchExpressions[0].values"
        );
        assert_eq!(
            field_of(&expression("tier", "NotIn", None)),
            "s.matchExpressions[0].values"
        );
        assert_eq!(
            field_of(&expression("tier", "In", Some(vec!["a", "a b"]))),
            "s.matchExpressions[0].values[1]"
        );
    }

    #[test]
    fn existence_operators_take_no_values() {
        assert!(check_selector("s", &expression("tier", "Exists", None)).is_ok());
        assert!(check_selector("s", &expression("tier", "DoesNotExist", Some(vec![]))).is_ok());
        assert_eq!(
            field_of(&expression("tier", "Exists", Some(vec!["x"]))),
            "s.matchExpressions[0].values"
        );
    }

    #[test]
    fn unknown_operators_and_bad_keys_or_labels_are_rejected() {
        assert_eq!(
            field_of(&expression("tier", "Gt", Some(vec!["1"]))),
            "s.matchExpressions[0].operator"
        );
        assert_eq!(
            field_of(&expression("-tier", "Exists", None)),
            "s.matchExpressions[0].key"
        );
        let labels = |key: &str, value: &str| LabelSelector {
            match_labels: Some([(key.into(), value.into())].into()),
            match_expressions: None,
        };
        assert_eq!(field_of(&labels("app", "a b")), "s.matchLabels[app]");
        assert_eq!(field_of(&labels("a b", "app")), "s.matchLabels");
        assert!(check_selector("s", &LabelSelector::default()).is_ok());
    }
}
