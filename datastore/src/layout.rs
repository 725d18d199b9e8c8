//! Where things live under a store's root directory:
//! `revision` (the write counter), `.lock` (the flock file), and one file per
//! object at `<plural kind>/<namespace or _cluster>/<name>.yaml` (its
//! canonical file). Hidden files are the store's own (lock, temp files) and
//! are never read as objects.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::object::ObjectKey;

pub(crate) const REVISION_FILE: &str = "revision";
pub(crate) const LOCK_FILE: &str = ".lock";
/// The namespace directory of cluster-scoped objects. Not a valid namespace
/// name, so it never collides with one.
const CLUSTER_DIR: &str = "_cluster";
const OBJECT_EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// The canonical file of the object with `key`, relative to the root.
pub(crate) fn object_path(key: &ObjectKey) -> PathBuf {
    let namespace = key.namespace.as_deref().unwrap_or(CLUSTER_DIR);
    [key.kind.plural(), namespace, &format!("{}.yaml", key.name)]
        .iter()
        .collect()
}

pub(crate) fn is_hidden(name: &OsStr) -> bool {
    name.as_encoded_bytes().starts_with(b".")
}

/// Whether a file may hold objects: a visible `*.yaml`, `*.yml` or `*.json`.
pub(crate) fn is_object_file(path: &Path) -> bool {
    let visible = path.file_name().is_some_and(|name| !is_hidden(name));
    let extension = path.extension().and_then(OsStr::to_str);
    visible && extension.is_some_and(|ext| OBJECT_EXTENSIONS.contains(&ext))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Kind;

    #[test]
    fn canonical_files_are_per_kind_namespace_and_name() {
        assert_eq!(
            object_path(&ObjectKey::new(Kind::Pod, Some("x"), "a")),
            Path::new("pods/x/a.yaml")
        );
        assert_eq!(
            object_path(&ObjectKey::new(Kind::NetworkPolicy, None, "p")),
            Path::new("networkpolicies/default/p.yaml")
        );
        assert_eq!(
            object_path(&ObjectKey::new(Kind::Node, None, "n1")),
            Path::new("nodes/_cluster/n1.yaml")
        );
    }

    #[test]
    fn only_visible_yaml_and_json_files_hold_objects() {
        for path in ["a.yaml", "x/b.yml", "c.json"] {
            assert!(is_object_file(Path::new(path)), "{path}");
        }
        for path in [
            ".a.yaml.tmp",
            ".a.yaml",
            "revision",
            ".lock",
            "a.yaml~",
            "a.swp",
        ] {
            assert!(!is_object_file(Path::new(path)), "{path}");
        }
    }
}
