//! Kubernetes' syntax for label keys and values and for port names, which
//! selectors and named ports use (and so do the objects they select).

use super::FieldError;

/// Label keys: an optional DNS-subdomain prefix and '/', then a name of at
/// most 63 characters.
pub fn check_label_key(field: &str, key: &str) -> Result<(), FieldError> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && !is_dns_subdomain(prefix)
    {
        return Err(FieldError::new(
            field,
            format!("{key:?}: the prefix must be a DNS subdomain like example.com"),
        ));
    }
    if name.is_empty() || name.len() > 63 || !is_qualified_name_part(name) {
        return Err(FieldError::new(
            field,
            format!(
                "{key:?}: the name part must be 1-63 characters of [A-Za-z0-9-_.], starting and ending with a letter or digit"
            ),
        ));
    }
    Ok(())
}

/// Label values: empty, or at most 63 characters like a key's name part.
pub fn check_label_value(field: &str, value: &str) -> Result<(), FieldError> {
    if value.is_empty() || (value.len() <= 63 && is_qualified_name_part(value)) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!(
                "{value:?}: a label value must be empty or 1-63 characters of [A-Za-z0-9-_.], starting and ending with a letter or digit"
            ),
        ))
    }
}

/// IANA service names, which named ports use: at most 15 lowercase
/// letters, digits and single '-', with at least one letter.
pub fn check_port_name(field: &str, name: &str) -> Result<(), FieldError> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.bytes().any(|b| b.is_ascii_lowercase())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!(
                "{name:?} is not a port name (at most 15 lowercase letters, digits and single '-', with at least one letter)"
            ),
        ))
    }
}

fn is_qualified_name_part(text: &str) -> bool {
    let bytes = text.as_bytes();
    let alnum = |b: &u8| b.is_ascii_alphanumeric();
    bytes
        .iter()
        .all(|b| alnum(b) || matches!(b, b'-' | b'_' | b'.'))
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
}

fn is_dns_subdomain(text: &str) -> bool {
    text.len() <= 253 && text.split('.').all(is_dns_label)
}

/// An RFC 1123 label: at most 63 lowercase letters, digits or '-',
/// starting and ending with a letter or digit.
pub fn is_dns_label(text: &str) -> bool {
    let bytes = text.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.iter().all(|b| alnum(b) || *b == b'-')
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels_follow_rfc_1123() {
        assert!(is_dns_label("a"));
        assert!(is_dns_label("0abc-9"));
        assert!(is_dns_label(&"a".repeat(63)));
        assert!(!is_dns_label(&"a".repeat(64)));
        assert!(!is_dns_label("ab-"));
        assert!(!is_dns_label("aB"));
    }

    #[test]
    fn label_keys_may_have_a_dns_prefix() {
        for good in ["app", "App.v1_x", "kubernetes.io/metadata.name", "a/b"] {
            assert!(check_label_key("f", good).is_ok(), "{good}");
        }
        let long_prefix = format!("{}/a", ["a"; 128].join("."));
        for bad in [
            "",
            "-a",
            "a-",
            "Example.com/a",
            "a/",
            "/a",
            "ex-.com/a",
            &long_prefix,
            &"k".repeat(64),
        ] {
            let err = check_label_key("f", bad).unwrap_err();
            assert_eq!(err.field, "f", "{bad}");
        }
    }

    #[test]
    fn label_values_may_be_empty() {
        assert!(check_label_value("f", "").is_ok());
        assert!(check_label_value("f", "v1.2_x-Y").is_ok());
        assert!(check_label_value("f", &"v".repeat(63)).is_ok());
        for bad in ["a b", "a/b", "-a", "a.", &"v".repeat(64)] {
            assert!(check_label_value("f", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn port_names_follow_iana_service_names() {
        for good in ["http", "h2c", "redis-6379", "a"] {
            assert!(check_port_name("f", good).is_ok(), "{good}");
        }
        for bad in ["", "80", "Http", "-a", "a-", "a--b", "abcdefghijklmnop"] {
            assert!(check_port_name("f", bad).is_err(), "{bad}");
        }
    }
}
