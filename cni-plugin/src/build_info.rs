//! `weft version` (or `--version`): prints the plugin's build, its crate
//! and API versions, as one JSON line, so that `weftctl version` can tell
//! whether the installed plugin speaks weftd's protocol. Only without
//! CNI_COMMAND, like `weft install`: a runtime's calls are never taken for it.

use weft_api::BuildInfo;

/// Whether `args` (after the program name) ask for the version.
pub fn version_request(args: &[String]) -> bool {
    matches!(args, [verb] if verb == "version" || verb == "--version")
}

/// This plugin's build.
pub fn plugin_build() -> BuildInfo {
    BuildInfo::new(env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_lone_version_verb_asks_for_it() {
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(version_request(&args(&["version"])));
        assert!(version_request(&args(&["--version"])));
        for other in [&[][..], &["version", "x"], &["install", "/opt/cni/bin"]] {
            assert!(!version_request(&args(other)), "{other:?}");
        }
    }

    #[test]
    fn the_build_names_the_api_it_speaks() {
        let build = plugin_build();
        assert_eq!(build.api, weft_api::API_VERSION);
        assert_eq!(build.ebpf_object_sha256, None);
    }
}
