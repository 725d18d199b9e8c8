//! What each write operation changes, decided from the store's current
//! contents without touching a file: validation, existence and
//! compare-and-swap checks all happen here, so a batch that fails any check
//! writes nothing.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::StoreError;
use crate::load::Contents;
use crate::object::{Object, ObjectKey};

/// The files a write batch changes. Put objects already carry the batch's
/// revision as resourceVersion.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Batch {
    pub puts: Vec<Object>,
    pub removes: Vec<ObjectKey>,
}

impl Batch {
    pub(crate) fn put(object: Object) -> Batch {
        Batch {
            puts: vec![object],
            removes: Vec::new(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.puts.is_empty() && self.removes.is_empty()
    }
}

/// What a write decides for one object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Write the object (stamped with the batch's revision).
    Put(Object),
    /// The object is already stored with this content: nothing to write.
    /// Like Kubernetes, a no-op update keeps the resourceVersion.
    Keep(Object),
}

/// `kubectl apply`: every object becomes the whole stored object. When the
/// batch names one object twice, the last one counts.
pub(crate) fn apply(contents: &Contents, objects: &[Object]) -> Result<Batch, StoreError> {
    let mut latest = BTreeMap::new();
    for object in objects {
        let object = valid(object)?;
        latest.insert(object.key(), object);
    }
    let puts = latest
        .into_values()
        .filter_map(|object| match put_unless_unchanged(contents, object) {
            Outcome::Put(object) => Some(object),
            Outcome::Keep(_) => None,
        })
        .collect();
    Ok(Batch {
        puts,
        removes: Vec::new(),
    })
}

/// The object to store, stamped; fails if its key is taken.
pub(crate) fn create(contents: &Contents, object: &Object) -> Result<Object, StoreError> {
    let mut object = valid(object)?;
    let key = object.key();
    if contents.objects.contains_key(&key) {
        return Err(StoreError::AlreadyExists(key));
    }
    object.set_resource_version(next_revision(contents));
    Ok(object)
}

/// Compare-and-swap on resourceVersion.
pub(crate) fn replace(contents: &Contents, object: &Object) -> Result<Outcome, StoreError> {
    let object = valid(object)?;
    let key = object.key();
    let stored = contents
        .objects
        .get(&key)
        .ok_or_else(|| StoreError::NotFound(key.clone()))?;
    let stored_version = stored.object.resource_version();
    if stored_version != object.resource_version() {
        return Err(StoreError::Conflict {
            key,
            stored: stored_version.map(str::to_owned),
            given: object.resource_version().map(str::to_owned),
        });
    }
    Ok(put_unless_unchanged(contents, object))
}

/// Removes the objects' canonical files. An object defined by a hand-written
/// file cannot be deleted by the store: removing the store's copy would not
/// make it go away.
pub(crate) fn delete(
    contents: &Contents,
    keys: &[ObjectKey],
    ignore_missing: bool,
) -> Result<Batch, StoreError> {
    let mut removes = BTreeSet::new();
    for key in keys.iter().map(ObjectKey::normalized) {
        let hand_written = match contents.objects.get(&key) {
            None if ignore_missing => continue,
            None => return Err(StoreError::NotFound(key)),
            Some(stored) if !stored.canonical => Some(&stored.file),
            Some(_) => contents.shadowed.get(&key),
        };
        if let Some(file) = hand_written {
            return Err(StoreError::HandWritten {
                key,
                file: file.clone(),
            });
        }
        removes.insert(key);
    }
    Ok(Batch {
        puts: Vec::new(),
        removes: removes.into_iter().collect(),
    })
}

fn next_revision(contents: &Contents) -> u64 {
    contents.revision + 1
}

fn valid(object: &Object) -> Result<Object, StoreError> {
    object
        .clone()
        .normalized()
        .map_err(|problem| StoreError::Invalid {
            key: object.key(),
            problem,
        })
}

fn put_unless_unchanged(contents: &Contents, mut object: Object) -> Outcome {
    match contents.objects.get(&object.key()) {
        Some(stored) if same_content(&stored.object, &object) => {
            Outcome::Keep(stored.object.clone())
        }
        _ => {
            object.set_resource_version(next_revision(contents));
            Outcome::Put(object)
        }
    }
}

fn same_content(a: &Object, b: &Object) -> bool {
    let without_version = |object: &Object| {
        let mut object = object.clone();
        object.metadata_mut().resource_version = None;
        object
    };
    without_version(a) == without_version(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Kind;
    use crate::layout::object_path;
    use crate::load::{Stored, merge};
    use crate::parse_error::ParseProblem;
    use crate::parse_objects;

    fn namespace(name: &str, label: &str, version: Option<&str>) -> Object {
        let mut object = parse_objects(&format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}, labels: {{l: \"{label}\"}}}}\n"
        ))
        .unwrap()
        .remove(0);
        object.metadata_mut().resource_version = version.map(str::to_owned);
        object
    }

    /// Contents at revision 9 holding `objects` in their canonical files.
    fn stored(objects: &[Object]) -> Contents {
        let files = objects
            .iter()
            .map(|o| (object_path(&o.key()), Ok(vec![Ok(o.clone())])))
            .collect();
        Contents {
            revision: 9,
            ..merge(files)
        }
    }

    fn key(name: &str) -> ObjectKey {
        ObjectKey::new(Kind::Namespace, None, name)
    }

    #[test]
    fn apply_puts_new_and_changed_objects_stamped_with_the_next_revision() {
        let contents = stored(&[
            namespace("a", "1", Some("5")),
            namespace("b", "1", Some("6")),
        ]);
        let batch = apply(
            &contents,
            &[
                namespace("a", "1", Some("1")),
                namespace("b", "2", None),
                namespace("c", "1", Some("3")),
            ],
        )
        .unwrap();
        assert_eq!(
            batch.puts,
            [
                namespace("b", "2", Some("10")),
                namespace("c", "1", Some("10"))
            ],
            "unchanged a is not rewritten"
        );
        assert!(batch.removes.is_empty());
    }

    #[test]
    fn apply_of_unchanged_objects_writes_nothing() {
        let contents = stored(&[namespace("a", "1", Some("5"))]);
        assert!(
            apply(&contents, &[namespace("a", "1", None)])
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn apply_takes_the_last_of_duplicates_in_a_batch() {
        let batch = apply(
            &stored(&[]),
            &[namespace("a", "1", None), namespace("a", "2", None)],
        )
        .unwrap();
        assert_eq!(batch.puts, [namespace("a", "2", Some("10"))]);
    }

    #[test]
    fn apply_rejects_the_whole_batch_for_one_invalid_object() {
        let mut invalid = namespace("a", "1", None);
        invalid.metadata_mut().name = Some("Not_A_Name".into());
        let error = apply(&stored(&[]), &[namespace("a", "1", None), invalid]);
        assert!(matches!(
            error,
            Err(StoreError::Invalid {
                problem: ParseProblem::InvalidName { .. },
                ..
            })
        ));
    }

    #[test]
    fn create_fails_if_the_object_exists() {
        let contents = stored(&[namespace("a", "1", Some("1"))]);
        assert!(matches!(
            create(&contents, &namespace("a", "2", None)),
            Err(StoreError::AlreadyExists(k)) if k == key("a")
        ));
        assert_eq!(
            create(&contents, &namespace("b", "1", None)).unwrap(),
            namespace("b", "1", Some("10"))
        );
    }

    #[test]
    fn replace_needs_the_stored_resource_version() {
        let contents = stored(&[namespace("a", "1", Some("7"))]);
        assert_eq!(
            replace(&contents, &namespace("a", "2", Some("7"))).unwrap(),
            Outcome::Put(namespace("a", "2", Some("10")))
        );
        assert_eq!(
            replace(&contents, &namespace("a", "1", Some("7"))).unwrap(),
            Outcome::Keep(namespace("a", "1", Some("7")))
        );
        for stale in [Some("6"), None] {
            assert!(matches!(
                replace(&contents, &namespace("a", "2", stale)),
                Err(StoreError::Conflict { stored: Some(s), .. }) if s == "7"
            ));
        }
        assert!(matches!(
            replace(&contents, &namespace("b", "2", Some("7"))),
            Err(StoreError::NotFound(k)) if k == key("b")
        ));
    }

    #[test]
    fn delete_of_missing_objects_fails_unless_ignored() {
        let contents = stored(&[namespace("a", "1", Some("1"))]);
        assert!(matches!(
            delete(&contents, &[key("a"), key("b")], false),
            Err(StoreError::NotFound(k)) if k == key("b")
        ));
        assert_eq!(
            delete(&contents, &[key("a"), key("b"), key("a")], true)
                .unwrap()
                .removes,
            [key("a")]
        );
    }

    #[test]
    fn delete_refuses_objects_a_hand_written_file_defines() {
        let mut contents = stored(&[
            namespace("a", "1", Some("1")),
            namespace("b", "1", Some("1")),
        ]);
        contents.objects.insert(
            key("c"),
            Stored {
                object: namespace("c", "1", None),
                file: "mine.yaml".into(),
                canonical: false,
            },
        );
        contents.shadowed.insert(key("b"), "mine.yaml".into());
        for name in ["b", "c"] {
            assert!(matches!(
                delete(&contents, &[key("a"), key(name)], false),
                Err(StoreError::HandWritten { key: k, .. }) if k == key(name)
            ));
        }
    }
}
