//! What each Weft component says about its build (`weft version`,
//! `Request::Version`, `weftctl version`), and whether a set of components
//! can work together: they must speak the same socket protocol.

use serde::{Deserialize, Serialize};

/// Version of the socket protocol between the plugin, weftctl and weftd.
/// Bumped on any incompatible change of it (a request or reply removed or
/// reshaped, a field made required); added optional fields keep it.
pub const API_VERSION: u32 = 1;

/// One component's build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    /// The crate version it was built from.
    pub version: String,
    /// The `API_VERSION` it was built with.
    pub api: u32,
    /// sha256 of the eBPF object it loads (weftd only), lower-case hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebpf_object_sha256: Option<String>,
}

impl BuildInfo {
    /// A component without an eBPF object, built from crate `version`.
    pub fn new(version: &str) -> Self {
        Self {
            version: version.to_owned(),
            api: API_VERSION,
            ebpf_object_sha256: None,
        }
    }
}

/// Components that do not speak the API most of the others speak.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe(.odd, *.expected))]
pub struct Incompatible {
    /// The API most components speak (on a tie, the first component's).
    pub expected: u32,
    /// Each component speaking another one, with its API.
    pub odd: Vec<(String, u32)>,
}

fn describe(odd: &[(String, u32)], expected: u32) -> String {
    let names: Vec<String> = odd
        .iter()
        .map(|(name, api)| format!("{name} speaks API {api}"))
        .collect();
    format!("{}, the others API {expected}", names.join(", "))
}

/// Ok when every component of `components` (name, build) speaks the same
/// API; else which ones differ from the majority. The majority, not a
/// fixed reference, so that the odd one out is named whichever it is.
pub fn compatibility(components: &[(&str, &BuildInfo)]) -> Result<(), Incompatible> {
    let count = |api: u32| components.iter().filter(|(_, b)| b.api == api).count();
    // max_by_key keeps the last of equals: reversed, the first one wins a tie.
    let Some(expected) = components
        .iter()
        .rev()
        .map(|(_, build)| build.api)
        .max_by_key(|api| count(*api))
    else {
        return Ok(());
    };
    let odd: Vec<(String, u32)> = components
        .iter()
        .filter(|(_, build)| build.api != expected)
        .map(|(name, build)| ((*name).to_owned(), build.api))
        .collect();
    if odd.is_empty() {
        Ok(())
    } else {
        Err(Incompatible { expected, odd })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(api: u32) -> BuildInfo {
        BuildInfo {
            api,
            ..BuildInfo::new("0.1.0")
        }
    }

    #[test]
    fn components_of_one_api_mix() {
        let (a, b) = (build(1), build(1));
        assert_eq!(compatibility(&[("weftctl", &a), ("weftd", &b)]), Ok(()));
        assert_eq!(compatibility(&[]), Ok(()));
    }

    #[test]
    fn the_odd_one_out_is_named_whichever_it_is() {
        let (one, two) = (build(1), build(2));
        let error =
            compatibility(&[("weftctl", &one), ("weftd", &one), ("plugin", &two)]).unwrap_err();
        assert_eq!(error.odd, vec![("plugin".to_owned(), 2)]);
        assert_eq!(error.to_string(), "plugin speaks API 2, the others API 1");
        let error =
            compatibility(&[("weftctl", &two), ("weftd", &one), ("plugin", &one)]).unwrap_err();
        assert_eq!(error.odd, vec![("weftctl".to_owned(), 2)]);
    }

    #[test]
    fn on_a_tie_the_first_component_is_the_reference() {
        let (one, two) = (build(1), build(2));
        let error = compatibility(&[("weftctl", &one), ("weftd", &two)]).unwrap_err();
        assert_eq!(error.to_string(), "weftd speaks API 2, the others API 1");
    }

    #[test]
    fn the_hash_is_camel_case_and_absent_when_none() {
        let mut weftd = BuildInfo::new("0.1.0");
        assert_eq!(
            serde_json::to_string(&weftd).unwrap(),
            r#"{"version":"0.1.0","api":1}"#
        );
        weftd.ebpf_object_sha256 = Some("ab".into());
        let line = serde_json::to_string(&weftd).unwrap();
        assert_eq!(
            line,
            r#"{"version":"0.1.0","api":1,"ebpfObjectSha256":"ab"}"#
        );
        assert_eq!(serde_json::from_str::<BuildInfo>(&line).unwrap(), weftd);
    }
}
