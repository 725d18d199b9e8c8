//! Reads a store's directory into its contents: every object with the file
//! it came from, and every file or object that was skipped and why. Callers
//! hold the store lock so a write is never seen half done.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{ObjectError, ObjectProblem, StoreError};
use crate::layout::{REVISION_FILE, is_hidden, is_object_file, object_path};
use crate::object::{Object, ObjectKey};
use crate::parse::parse_documents;
use crate::parse_error::ParseError;
use crate::revisions::KindRevisions;
use crate::snapshot::{ClusterSnapshot, KeptPod};

/// An object and where it is defined.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub object: Object,
    /// Relative to the root.
    pub file: PathBuf,
    /// Whether `file` is the object's canonical file (written by the store),
    /// rather than a hand-written one.
    pub canonical: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Contents {
    pub revision: u64,
    pub objects: BTreeMap<ObjectKey, Stored>,
    /// Keys also defined by a hand-written file that lost to another
    /// definition: deleting the winner would bring that one back.
    pub shadowed: BTreeMap<ObjectKey, PathBuf>,
    pub errors: Vec<ObjectError>,
}

/// What reading one file gave: its documents, or why it could not be read.
pub(crate) type FileContent = Result<Vec<Result<Object, ParseError>>, String>;

impl Contents {
    pub(crate) fn into_snapshot<P: KeptPod>(self) -> ClusterSnapshot<P> {
        let mut snapshot = ClusterSnapshot {
            revision: self.revision,
            kind_revisions: KindRevisions::uniform(self.revision),
            errors: self.errors,
            ..ClusterSnapshot::default()
        };
        for stored in self.objects.into_values() {
            snapshot.insert(stored.object);
        }
        snapshot
    }
}

/// What identifies one version of a file: the store replaces files by
/// rename (a new inode), and an edit in place changes its times or size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileVersion {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl FileVersion {
    fn of(path: &Path) -> io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        let ns = |secs: i64, nsecs: i64| i128::from(secs) * 1_000_000_000 + i128::from(nsecs);
        Ok(FileVersion {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        })
    }
}

/// Parsed files by path, so that a watcher re-reading the store after a
/// change parses only the files that changed (parsing dominates a read).
#[derive(Debug, Default)]
pub struct ParseCache {
    files: HashMap<PathBuf, (FileVersion, FileContent)>,
}

/// Reads everything under `root`. Fails only if the root or the revision
/// file cannot be read; a bad object file is recorded and skipped.
pub(crate) fn read_contents(root: &Path) -> Result<Contents, StoreError> {
    read_contents_cached(root, &mut ParseCache::default())
}

/// [`read_contents`], parsing only files `cache` does not hold as they are
/// now; `cache` is left holding exactly the files read.
pub(crate) fn read_contents_cached(
    root: &Path,
    cache: &mut ParseCache,
) -> Result<Contents, StoreError> {
    let revision = read_revision(root)?;
    let mut files = Vec::new();
    let mut errors = Vec::new();
    list_object_files(root, Path::new(""), &mut files, &mut errors)
        .map_err(StoreError::io(root))?;
    let mut parsed_files = HashMap::with_capacity(files.len());
    let parsed = files
        .into_iter()
        .map(|file| {
            let path = root.join(&file);
            let version = FileVersion::of(&path).ok();
            let cached = cache
                .files
                .remove(&file)
                .and_then(|(seen, content)| (Some(seen) == version).then_some(content));
            let content = cached.unwrap_or_else(|| {
                std::fs::read_to_string(&path)
                    .map(|text| parse_documents(&text))
                    .map_err(|e| e.to_string())
            });
            if let Some(version) = version {
                parsed_files.insert(file.clone(), (version, content.clone()));
            }
            (file, content)
        })
        .collect();
    cache.files = parsed_files;
    let mut contents = merge(parsed);
    contents.revision = revision.max(highest_stamp(&contents));
    errors.append(&mut contents.errors);
    contents.errors = errors;
    Ok(contents)
}

/// The highest resourceVersion the store stamped on an object. A crash in
/// the middle of a batch can leave objects stamped beyond the revision file;
/// counting from here keeps every later stamp new.
fn highest_stamp(contents: &Contents) -> u64 {
    contents
        .objects
        .values()
        .filter(|stored| stored.canonical)
        .filter_map(|stored| stored.object.resource_version()?.parse().ok())
        .max()
        .unwrap_or(0)
}

pub(crate) fn read_revision(root: &Path) -> Result<u64, StoreError> {
    let path = root.join(REVISION_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().parse().map_err(|_| StoreError::BadRevision {
            path,
            content: text,
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(StoreError::io(path)(e)),
    }
}

/// Appends the object files under `root/dir` (relative paths, sorted) to
/// `files`. Subdirectories that cannot be read are recorded in `errors`;
/// only an unreadable `root/dir` itself is an error. Symlinked directories
/// are not followed, so a link loop cannot hang the walk.
fn list_object_files(
    root: &Path,
    dir: &Path,
    files: &mut Vec<PathBuf>,
    errors: &mut Vec<ObjectError>,
) -> io::Result<()> {
    let mut entries = std::fs::read_dir(root.join(dir))?.collect::<io::Result<Vec<_>>>()?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let name = entry.file_name();
        if is_hidden(&name) {
            continue;
        }
        let path = dir.join(&name);
        if entry.file_type()?.is_dir() {
            if let Err(e) = list_object_files(root, &path, files, errors) {
                errors.push(ObjectError {
                    file: path,
                    problem: ObjectProblem::Unreadable(e.to_string()),
                });
            }
        } else if is_object_file(&path) {
            files.push(path);
        }
    }
    Ok(())
}

/// Combines what each file defines. An object defined twice is taken from
/// its canonical file if it has one, else from the first file in path order;
/// every other definition is reported as a duplicate.
pub(crate) fn merge(files: Vec<(PathBuf, FileContent)>) -> Contents {
    let mut contents = Contents::default();
    let mut hand_written = Vec::new();
    for (file, content) in files {
        let documents = match content {
            Ok(documents) => documents,
            Err(reason) => {
                contents.errors.push(ObjectError {
                    file,
                    problem: ObjectProblem::Unreadable(reason),
                });
                continue;
            }
        };
        for document in documents {
            match document {
                Ok(object) => {
                    let canonical = object_path(&object.key()) == file;
                    let stored = Stored {
                        object,
                        file: file.clone(),
                        canonical,
                    };
                    if canonical {
                        contents.objects.insert(stored.object.key(), stored);
                    } else {
                        hand_written.push(stored);
                    }
                }
                Err(error) => contents.errors.push(ObjectError {
                    file: file.clone(),
                    problem: ObjectProblem::Parse(error),
                }),
            }
        }
    }
    for stored in hand_written {
        let key = stored.object.key();
        match contents.objects.get(&key) {
            Some(kept) => {
                contents.errors.push(ObjectError {
                    file: stored.file.clone(),
                    problem: ObjectProblem::Duplicate {
                        key: key.clone(),
                        kept: kept.file.clone(),
                    },
                });
                contents.shadowed.entry(key).or_insert(stored.file);
            }
            None => {
                contents.objects.insert(key, stored);
            }
        }
    }
    contents
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Kind;
    use crate::parse_error::ParseProblem;
    use crate::parse_objects;

    fn pod_in(namespace: &str, name: &str, label: &str) -> Object {
        let text = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{namespace: {namespace}, name: {name}, labels: {{from: {label}}}}}\n"
        );
        parse_objects(&text).unwrap().remove(0)
    }

    fn label(stored: &Stored) -> String {
        stored.object.metadata().labels.as_ref().unwrap()["from"].clone()
    }

    #[test]
    fn the_canonical_file_wins_over_hand_written_ones() {
        let key = ObjectKey::new(Kind::Pod, Some("x"), "a");
        let contents = merge(vec![
            (
                "a-extra.yaml".into(),
                Ok(vec![Ok(pod_in("x", "a", "extra"))]),
            ),
            (
                object_path(&key),
                Ok(vec![Ok(pod_in("x", "a", "canonical"))]),
            ),
            ("z.yaml".into(), Ok(vec![Ok(pod_in("x", "a", "z"))])),
        ]);
        let stored = &contents.objects[&key];
        assert!(stored.canonical);
        assert_eq!(label(stored), "canonical");
        let duplicates: Vec<&Path> = contents.errors.iter().map(|e| e.file.as_path()).collect();
        assert_eq!(duplicates, [Path::new("a-extra.yaml"), Path::new("z.yaml")]);
        assert!(matches!(
            &contents.errors[0].problem,
            ObjectProblem::Duplicate { kept, .. } if kept == &object_path(&key)
        ));
        assert_eq!(contents.shadowed[&key], Path::new("a-extra.yaml"));
    }

    #[test]
    fn a_snapshot_holds_every_kind_at_the_store_revision() {
        let contents = Contents {
            revision: 12,
            ..Contents::default()
        };
        let snapshot: ClusterSnapshot = contents.into_snapshot();
        assert_eq!(snapshot.revision, 12);
        assert_eq!(snapshot.kind_revisions, KindRevisions::uniform(12));
    }

    #[test]
    fn without_a_canonical_file_the_first_hand_written_one_wins() {
        let key = ObjectKey::new(Kind::Pod, Some("x"), "a");
        let contents = merge(vec![
            ("a.yaml".into(), Ok(vec![Ok(pod_in("x", "a", "first"))])),
            ("b.yaml".into(), Ok(vec![Ok(pod_in("x", "a", "second"))])),
        ]);
        let stored = &contents.objects[&key];
        assert!(!stored.canonical);
        assert_eq!(label(stored), "first");
        assert_eq!(contents.errors.len(), 1);
    }

    #[test]
    fn an_object_in_the_wrong_canonical_place_is_hand_written() {
        let contents = merge(vec![(
            "pods/y/a.yaml".into(),
            Ok(vec![Ok(pod_in("x", "a", "moved"))]),
        )]);
        assert!(!contents.objects[&ObjectKey::new(Kind::Pod, Some("x"), "a")].canonical);
    }

    #[test]
    fn bad_documents_and_unreadable_files_are_recorded_and_skipped() {
        let bad = ParseError {
            document: 2,
            problem: ParseProblem::MissingName,
        };
        let contents = merge(vec![
            (
                "a.yaml".into(),
                Ok(vec![Ok(pod_in("x", "a", "ok")), Err(bad.clone())]),
            ),
            ("b.yaml".into(), Err("permission denied".into())),
        ]);
        assert_eq!(contents.objects.len(), 1);
        assert_eq!(
            contents.errors,
            [
                ObjectError {
                    file: "a.yaml".into(),
                    problem: ObjectProblem::Parse(bad)
                },
                ObjectError {
                    file: "b.yaml".into(),
                    problem: ObjectProblem::Unreadable("permission denied".into())
                }
            ]
        );
    }
}
