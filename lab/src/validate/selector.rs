//! Label selectors as the API server validates them: valid keys and values,
//! and `matchExpressions` whose operator fits its values.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::FieldError;
use super::meta::{check_label_key, check_label_value};

pub fn check_selector(field: &str, selector: &LabelSelector) -> Result<(), FieldError> {
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
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn expression(operator: &str, values: Option<Vec<&str>>) -> LabelSelector {
        LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: operator.into(),
                values: values.map(|v| v.into_iter().map(String::from).collect()),
            }]),
            match_labels: None,
        }
    }

    #[test]
    fn set_operators_need_values() {
        assert!(check_selector("s", &expression("In", Some(vec!["db"]))).is_ok());
        assert!(check_selector("s", &expression("NotIn", Some(vec!["a", "b"]))).is_ok());
        let err = check_selector("s", &expression("In", Some(vec![]))).unwrap_err();
        assert_eq!(err.field, "s.matchExpressions[0].values");
        assert!(check_selector("s", &expression("NotIn", None)).is_err());
        assert!(check_selector("s", &expression("In", Some(vec!["a b"]))).is_err());
    }

    #[test]
    fn existence_operators_take_no_values() {
        assert!(check_selector("s", &expression("Exists", None)).is_ok());
        assert!(check_selector("s", &expression("DoesNotExist", Some(vec![]))).is_ok());
        assert!(check_selector("s", &expression("Exists", Some(vec!["x"]))).is_err());
    }

    #[test]
    fn unknown_operators_and_bad_labels_are_rejected() {
        let err = check_selector("s", &expression("Gt", Some(vec!["1"]))).unwrap_err();
        assert_eq!(err.field, "s.matchExpressions[0].operator");
        let bad_label = LabelSelector {
            match_labels: Some([("app".into(), "a b".into())].into()),
            match_expressions: None,
        };
        assert!(check_selector("s", &bad_label).is_err());
        assert!(check_selector("s", &LabelSelector::default()).is_ok());
    }
}
