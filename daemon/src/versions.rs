//! `weftctl version`: the builds of weftctl, weftd and the installed
//! plugin, whether they mix (all found, one API), and how that is printed.
//! Pure but for `collect`, which asks weftd and runs the plugin.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use weft_api::{BuildInfo, Request, Response, compatibility};

use crate::probe::command_output;

/// How long the plugin may take to print its build.
const PLUGIN_TIMEOUT: Duration = Duration::from_secs(10);

/// weftd's reply to a request, or why there is none (as weftctl says it).
pub type Ask<'a> = &'a dyn Fn(&Request) -> Result<Response, String>;

/// What each component said about its build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    pub weftctl: BuildInfo,
    pub weftd: Result<BuildInfo, String>,
    pub plugin_path: PathBuf,
    pub plugin: Result<BuildInfo, String>,
}

/// `weftctl version -o json`: each component's build, or the error that
/// stands for it, and every problem.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionsJson<'a> {
    weftctl: &'a BuildInfo,
    weftd: Found<'a>,
    plugin: Found<'a>,
    plugin_path: &'a Path,
    compatible: bool,
    problems: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Found<'a> {
    Build(&'a BuildInfo),
    Missing { error: &'a str },
}

impl<'a> From<&'a Result<BuildInfo, String>> for Found<'a> {
    fn from(found: &'a Result<BuildInfo, String>) -> Self {
        match found {
            Ok(build) => Found::Build(build),
            Err(error) => Found::Missing { error },
        }
    }
}

impl Versions {
    /// Why these components must not run together: one that could not be
    /// asked, or ones speaking another API than the rest. Empty when they mix.
    pub fn problems(&self) -> Vec<String> {
        [("weftd", &self.weftd), ("plugin", &self.plugin)]
            .into_iter()
            .filter_map(|(name, build)| build.as_ref().err().map(|e| format!("{name}: {e}")))
            .chain(self.mixed())
            .collect()
    }

    /// Which of the components found speak another API than the rest.
    fn mixed(&self) -> Option<String> {
        let found: Vec<(&str, &BuildInfo)> = [
            ("weftctl", Ok(&self.weftctl)),
            ("weftd", self.weftd.as_ref()),
            ("plugin", self.plugin.as_ref()),
        ]
        .into_iter()
        .filter_map(|(name, build)| build.ok().map(|build| (name, build)))
        .collect();
        compatibility(&found).err().map(|mixed| mixed.to_string())
    }

    pub fn json(&self) -> VersionsJson<'_> {
        let problems = self.problems();
        VersionsJson {
            weftctl: &self.weftctl,
            weftd: (&self.weftd).into(),
            plugin: (&self.plugin).into(),
            plugin_path: &self.plugin_path,
            compatible: problems.is_empty(),
            problems,
        }
    }

    /// One line per component, then `MIXED` when their APIs differ.
    pub fn table(&self) -> String {
        let line = |build: Result<&BuildInfo, &String>, extra: &str| match build {
            Ok(build) => format!("{} (api {}){extra}", build.version, build.api),
            Err(error) => format!("unknown: {error}"),
        };
        let hash = match &self.weftd {
            Ok(BuildInfo {
                ebpf_object_sha256: Some(hash),
                ..
            }) => format!(", eBPF object sha256 {hash}"),
            _ => String::new(),
        };
        let path = format!(", {}", self.plugin_path.display());
        let lines = [
            ("weftctl", line(Ok(&self.weftctl), "")),
            ("weftd", line(self.weftd.as_ref(), &hash)),
            ("plugin", line(self.plugin.as_ref(), &path)),
        ];
        lines
            .into_iter()
            .chain(self.mixed().map(|mixed| ("MIXED", mixed)))
            .map(|(label, value)| format!("{label:<8} {value}\n"))
            .collect()
    }
}

/// Asks weftd for its build and runs the plugin in `cni_bin_dir`.
pub fn collect(ask: Ask<'_>, cni_bin_dir: &Path) -> Versions {
    let weftd = match ask(&Request::Version) {
        Ok(Response::Version { weftd }) => Ok(weftd),
        Ok(Response::Error { message, .. }) => Err(format!(
            "weftd refused the version request ({message}): older than weftctl?"
        )),
        Ok(other) => Err(format!("unexpected reply from weftd: {other:?}")),
        Err(error) => Err(error),
    };
    let plugin_path = cni_bin_dir.join("weft");
    let plugin = plugin_build(&plugin_path);
    Versions {
        weftctl: BuildInfo::new(env!("CARGO_PKG_VERSION")),
        weftd,
        plugin_path,
        plugin,
    }
}

/// What `path version` prints.
fn plugin_build(path: &Path) -> Result<BuildInfo, String> {
    if !path.exists() {
        return Err(format!("no plugin at {}", path.display()));
    }
    let program = path.to_string_lossy();
    let stdout =
        command_output(&program, &["version"], PLUGIN_TIMEOUT).map_err(|e| e.to_string())?;
    serde_json::from_slice(&stdout).map_err(|e| {
        format!("`{program} version` printed no build ({e}): a plugin older than `weft version`?")
    })
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

    fn versions(weftd: Result<BuildInfo, String>, plugin: Result<BuildInfo, String>) -> Versions {
        Versions {
            weftctl: build(1),
            weftd,
            plugin_path: "/opt/cni/bin/weft".into(),
            plugin,
        }
    }

    #[test]
    fn three_of_one_api_mix() {
        let weftd = BuildInfo {
            ebpf_object_sha256: Some("ab12".into()),
            ..build(1)
        };
        let all = versions(Ok(weftd), Ok(build(1)));
        assert!(all.problems().is_empty());
        assert_eq!(
            all.table(),
            "weftctl  0.1.0 (api 1)\n\
             weftd    0.1.0 (api 1), eBPF object sha256 ab12\n\
             plugin   0.1.0 (api 1), /opt/cni/bin/weft\n"
        );
        let json = serde_json::to_value(all.json()).unwrap();
        assert_eq!(json["weftd"]["ebpfObjectSha256"], "ab12");
        assert_eq!(json["pluginPath"], "/opt/cni/bin/weft");
        assert_eq!(json["compatible"], true);
    }

    #[test]
    fn a_plugin_of_another_api_is_named() {
        let mixed = versions(Ok(build(1)), Ok(build(2)));
        assert_eq!(
            mixed.problems(),
            vec!["plugin speaks API 2, the others API 1"]
        );
        assert!(
            mixed
                .table()
                .ends_with("MIXED    plugin speaks API 2, the others API 1\n"),
            "{}",
            mixed.table()
        );
    }

    #[test]
    fn a_component_not_found_is_a_problem_and_says_why() {
        let down = versions(
            Err("weftd does not answer at /run/weft/weftd.sock".into()),
            Ok(build(1)),
        );
        assert_eq!(
            down.problems(),
            vec!["weftd: weftd does not answer at /run/weft/weftd.sock"]
        );
        assert!(
            down.table()
                .contains("weftd    unknown: weftd does not answer at /run/weft/weftd.sock\n")
        );
        let json = serde_json::to_value(down.json()).unwrap();
        assert_eq!(json["compatible"], false);
        assert_eq!(
            json["weftd"]["error"],
            "weftd does not answer at /run/weft/weftd.sock"
        );
    }

    #[test]
    fn a_missing_plugin_binary_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let error = plugin_build(&dir.path().join("weft")).unwrap_err();
        assert!(error.starts_with("no plugin at "), "{error}");
    }
}
