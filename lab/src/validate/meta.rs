//! Kubernetes' rules for object names and labels (label syntax is
//! weft-policy's, which selectors need too).

use std::collections::BTreeMap;

use weft_policy::{check_label_key, check_label_value};

use super::FieldError;

pub fn check_labels(
    field: &str,
    labels: Option<&BTreeMap<String, String>>,
) -> Result<(), FieldError> {
    for (key, value) in labels.into_iter().flatten() {
        check_label_key(field, key)?;
        check_label_value(&format!("{field}[{key}]"), value)?;
    }
    Ok(())
}

pub fn check_dns_label(field: &str, name: &str) -> Result<(), FieldError> {
    if weft_policy::is_dns_label(name) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!(
                "{name:?} is not a DNS label (at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit)"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_need_valid_keys_and_values() {
        let check = |key: &str, value: &str| {
            let labels = BTreeMap::from([(key.to_owned(), value.to_owned())]);
            check_labels("metadata.labels", Some(&labels)).map_err(|e| e.field)
        };
        assert_eq!(check("app", ""), Ok(()));
        assert_eq!(check("example.com/app", "v1.2_x-Y"), Ok(()));
        assert_eq!(check("a b", "x"), Err("metadata.labels".to_owned()));
        assert_eq!(check("a", "-"), Err("metadata.labels[a]".to_owned()));
        assert_eq!(check_labels("metadata.labels", None), Ok(()));
    }
}
