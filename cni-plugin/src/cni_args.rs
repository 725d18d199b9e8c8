//! Parsing `CNI_ARGS` (`K=V;K=V`): the Kubernetes pod identity the runtime
//! passes along, with the reference library's rules for unknown keys.

/// The keys weft understands; everything else is an error unless
/// `IgnoreUnknown` is true.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodArgs {
    /// `K8S_POD_NAMESPACE`
    pub namespace: Option<String>,
    /// `K8S_POD_NAME`
    pub name: Option<String>,
    /// `K8S_POD_INFRA_CONTAINER_ID`
    pub infra_container_id: Option<String>,
    /// `K8S_POD_UID`
    pub uid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CniArgsError {
    #[error("CNI_ARGS: {0:?} is not a KEY=VALUE pair")]
    InvalidPair(String),
    #[error("CNI_ARGS: IgnoreUnknown must be 1, 0, true or false, not {0:?}")]
    InvalidIgnoreUnknown(String),
    #[error("CNI_ARGS: unknown keys {} (set IgnoreUnknown=1 to allow them)", .0.join(", "))]
    UnknownKeys(Vec<String>),
}

impl PodArgs {
    pub fn parse(text: &str) -> Result<PodArgs, CniArgsError> {
        let mut args = PodArgs::default();
        let mut ignore_unknown = false;
        let mut unknown = Vec::new();
        // Empty segments (a trailing ';') carry nothing and are skipped.
        for pair in text.split(';').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .filter(|(key, value)| !key.is_empty() && !value.contains('='))
                .ok_or_else(|| CniArgsError::InvalidPair(pair.to_string()))?;
            let value = (!value.is_empty()).then(|| value.to_string());
            match key {
                "K8S_POD_NAMESPACE" => args.namespace = value,
                "K8S_POD_NAME" => args.name = value,
                "K8S_POD_INFRA_CONTAINER_ID" => args.infra_container_id = value,
                "K8S_POD_UID" => args.uid = value,
                "IgnoreUnknown" => ignore_unknown = parse_bool(value.as_deref().unwrap_or(""))?,
                other => unknown.push(other.to_string()),
            }
        }
        if !ignore_unknown && !unknown.is_empty() {
            return Err(CniArgsError::UnknownKeys(unknown));
        }
        Ok(args)
    }
}

fn parse_bool(text: &str) -> Result<bool, CniArgsError> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(CniArgsError::InvalidIgnoreUnknown(text.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_args_mean_no_pod_identity() {
        assert_eq!(PodArgs::parse(""), Ok(PodArgs::default()));
    }

    #[test]
    fn reads_the_kubernetes_keys() {
        let args = PodArgs::parse(
            "K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-1",
        )
        .unwrap();
        assert_eq!(
            args,
            PodArgs {
                namespace: Some("default".into()),
                name: Some("web-0".into()),
                infra_container_id: Some("abc".into()),
                uid: Some("u-1".into()),
            }
        );
    }

    #[test]
    fn unknown_keys_are_an_error() {
        assert_eq!(
            PodArgs::parse("K8S_POD_NAME=a;FOO=1;BAR=2"),
            Err(CniArgsError::UnknownKeys(vec!["FOO".into(), "BAR".into()]))
        );
    }

    #[test]
    fn ignore_unknown_allows_unknown_keys_wherever_it_appears() {
        for text in [
            "FOO=1;IgnoreUnknown=1;K8S_POD_NAME=a",
            "IgnoreUnknown=true;FOO=1;K8S_POD_NAME=a",
            "IgnoreUnknown=TRUE;FOO=1;K8S_POD_NAME=a",
        ] {
            assert_eq!(
                PodArgs::parse(text).unwrap().name.as_deref(),
                Some("a"),
                "{text}"
            );
        }
    }

    #[test]
    fn ignore_unknown_false_still_rejects_unknown_keys() {
        assert!(matches!(
            PodArgs::parse("IgnoreUnknown=0;FOO=1"),
            Err(CniArgsError::UnknownKeys(_))
        ));
    }

    #[test]
    fn ignore_unknown_must_be_a_boolean() {
        assert_eq!(
            PodArgs::parse("IgnoreUnknown=yes"),
            Err(CniArgsError::InvalidIgnoreUnknown("yes".into()))
        );
    }

    #[test]
    fn malformed_pairs_are_an_error() {
        for text in ["K8S_POD_NAME", "=x", "A=b=c"] {
            assert!(
                matches!(PodArgs::parse(text), Err(CniArgsError::InvalidPair(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn trailing_separator_and_empty_values_are_tolerated() {
        let args = PodArgs::parse("K8S_POD_NAME=a;K8S_POD_UID=;").unwrap();
        assert_eq!(args.name.as_deref(), Some("a"));
        assert_eq!(args.uid, None);
    }
}
