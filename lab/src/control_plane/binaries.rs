//! Where the lab finds the upstream binaries `make deps` built: the
//! directory `scripts/k8s.sh bin-dir` prints, i.e. $WEFT_K8S_BIN_DIR, else
//! `${WEFT_K8S_CACHE:-/var/cache/weft/k8s}/<kubernetes>-<etcd>/bin` at the
//! versions pinned in lab/k8s (compiled in, so the binary needs no checkout).

use std::path::{Path, PathBuf};

/// Overrides the directory of the control plane's binaries.
pub const K8S_BIN_DIR_ENV: &str = "WEFT_K8S_BIN_DIR";
/// Overrides the cache `make deps` builds into.
pub const K8S_CACHE_ENV: &str = "WEFT_K8S_CACHE";
const DEFAULT_CACHE: &str = "/var/cache/weft/k8s";
const K8S_GO_MOD: &str = include_str!("../../k8s/go.mod");
const ETCD_GO_MOD: &str = include_str!("../../k8s/etcd/go.mod");

#[derive(Debug, thiserror::Error)]
pub enum BinariesError {
    #[error("lab/k8s pins no version of {0} (the build is broken)")]
    NoPin(&'static str),
    #[error(
        "{path} not found: run `make deps` (or set {K8S_BIN_DIR_ENV} to a directory holding it)"
    )]
    Missing { path: String },
}

/// The version a go.mod requires of `module` (`module vX.Y.Z` in a
/// require line or block).
pub fn pinned_version<'a>(go_mod: &'a str, module: &str) -> Option<&'a str> {
    go_mod.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let first = words.next()?;
        let (name, version) = if first == "require" {
            (words.next()?, words.next()?)
        } else {
            (first, words.next()?)
        };
        (name == module && version.starts_with('v')).then_some(version)
    })
}

/// The Kubernetes release lab/k8s pins (`v1.37.2`).
pub fn kubernetes_version() -> Option<&'static str> {
    pinned_version(K8S_GO_MOD, "k8s.io/kubernetes")
}

/// The bin dir from the environment's two overrides and the pins.
pub fn bin_dir(
    bin_dir_env: Option<PathBuf>,
    cache_env: Option<PathBuf>,
) -> Result<PathBuf, BinariesError> {
    if let Some(dir) = bin_dir_env {
        return Ok(dir);
    }
    let kubernetes = pinned_version(K8S_GO_MOD, "k8s.io/kubernetes")
        .ok_or(BinariesError::NoPin("k8s.io/kubernetes"))?;
    let etcd = pinned_version(ETCD_GO_MOD, "go.etcd.io/etcd/server/v3")
        .ok_or(BinariesError::NoPin("go.etcd.io/etcd/server/v3"))?;
    let cache = cache_env.unwrap_or_else(|| PathBuf::from(DEFAULT_CACHE));
    Ok(cache.join(format!("{kubernetes}-{etcd}")).join("bin"))
}

/// The path of `name` in this environment's bin dir, if it is there.
pub fn k8s_binary(name: &str) -> Result<PathBuf, BinariesError> {
    let dir = bin_dir(
        std::env::var_os(K8S_BIN_DIR_ENV).map(PathBuf::from),
        std::env::var_os(K8S_CACHE_ENV).map(PathBuf::from),
    )?;
    existing(&dir.join(name))
}

fn existing(path: &Path) -> Result<PathBuf, BinariesError> {
    if path.is_file() {
        Ok(path.to_owned())
    } else {
        Err(BinariesError::Missing {
            path: path.display().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_require_lines_and_blocks() {
        let go_mod = "module x\n\nrequire k8s.io/api v0.37.2\n\nrequire (\n\tk8s.io/kubernetes v1.37.2 // indirect\n)\n";
        assert_eq!(pinned_version(go_mod, "k8s.io/kubernetes"), Some("v1.37.2"));
        assert_eq!(pinned_version(go_mod, "k8s.io/api"), Some("v0.37.2"));
        assert_eq!(pinned_version(go_mod, "go.etcd.io/etcd/server/v3"), None);
        assert_eq!(
            pinned_version(
                "// k8s.io/kubernetes points at ./staging",
                "k8s.io/kubernetes"
            ),
            None
        );
    }

    #[test]
    fn the_bin_dir_is_the_cache_dir_of_the_pins_unless_overridden() {
        let pinned = bin_dir(None, None).unwrap();
        let kubernetes = pinned_version(K8S_GO_MOD, "k8s.io/kubernetes").unwrap();
        let etcd = pinned_version(ETCD_GO_MOD, "go.etcd.io/etcd/server/v3").unwrap();
        assert_eq!(
            pinned,
            PathBuf::from(format!("/var/cache/weft/k8s/{kubernetes}-{etcd}/bin"))
        );
        assert!(bin_dir(None, Some("/c".into())).unwrap().starts_with("/c"));
        assert_eq!(
            bin_dir(Some("/b".into()), Some("/c".into())).unwrap(),
            PathBuf::from("/b")
        );
    }

    #[test]
    fn a_missing_binary_says_to_run_make_deps() {
        let err = existing(Path::new("/nonexistent/kubectl")).unwrap_err();
        assert!(err.to_string().contains("make deps"), "{err}");
    }
}
