//! The `dir` datastore: a directory of Kubernetes objects as YAML, shared by
//! several processes (the lab CLI and every node's weftd).
//!
//! Like etcd it has one global revision. Every write takes the exclusive
//! store lock, reads the current contents, decides the whole batch (see
//! `plan`), stamps each written object's resourceVersion with the new
//! revision, stages every file (temp + fsync), then renames them into place
//! and writes the revision file last. Reads take the shared lock. Besides the
//! canonical files it writes, the store reads any `*.yaml|*.yml|*.json` a
//! human drops anywhere under the root.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use weft_durable::StagedFile;

use crate::Pod;
use crate::error::StoreError;
use crate::layout::{REVISION_FILE, object_path};
use crate::load::{Contents, ParseCache, read_contents, read_contents_cached};
use crate::lock::{Access, create_lock_file, lock};
use crate::object::{Object, ObjectKey};
use crate::plan::{self, Batch, Outcome};
use crate::snapshot::{ClusterSnapshot, KeptPod};

#[derive(Debug, Clone)]
pub struct DirStore {
    root: PathBuf,
}

impl DirStore {
    /// Opens the store at `root`, creating the directory if needed.
    pub fn open(root: &Path) -> Result<DirStore, StoreError> {
        std::fs::create_dir_all(root).map_err(StoreError::io(root))?;
        create_lock_file(root)?;
        Ok(DirStore {
            root: root.to_owned(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Everything the store holds, as of one revision.
    pub fn snapshot(&self) -> Result<ClusterSnapshot<Pod>, StoreError> {
        let _lock = lock(&self.root, Access::Read)?;
        read_contents(&self.root).map(Contents::into_snapshot)
    }

    /// [`DirStore::snapshot`] with each pod kept as a `P`, re-parsing only
    /// the files that changed since `cache` last saw them.
    pub fn snapshot_cached<P: KeptPod>(
        &self,
        cache: &mut ParseCache,
    ) -> Result<ClusterSnapshot<P>, StoreError> {
        let _lock = lock(&self.root, Access::Read)?;
        read_contents_cached(&self.root, cache).map(Contents::into_snapshot)
    }

    pub fn get(&self, key: &ObjectKey) -> Result<Option<Object>, StoreError> {
        let _lock = lock(&self.root, Access::Read)?;
        let mut contents = read_contents(&self.root)?;
        Ok(contents
            .objects
            .remove(&key.normalized())
            .map(|stored| stored.object))
    }

    /// kubectl-apply semantics: each object as given becomes the whole stored
    /// object (created or replaced; its resourceVersion is ignored). The batch
    /// lands in one revision, all or nothing. Returns that revision, or the
    /// current one if no object changed.
    pub fn apply(&self, objects: &[Object]) -> Result<u64, StoreError> {
        self.write(|contents| Ok((plan::apply(contents, objects)?, ())))
            .map(|(revision, ())| revision)
    }

    /// Deletes the objects in one revision, all or nothing. A missing object
    /// is [`StoreError::NotFound`] unless `ignore_missing`. Returns the
    /// revision (the current one if nothing was deleted).
    pub fn delete(&self, keys: &[ObjectKey], ignore_missing: bool) -> Result<u64, StoreError> {
        self.write(|contents| Ok((plan::delete(contents, keys, ignore_missing)?, ())))
            .map(|(revision, ())| revision)
    }

    /// Stores a new object; [`StoreError::AlreadyExists`] if one has its key.
    /// Returns the object as stored (with its resourceVersion).
    pub fn create(&self, object: &Object) -> Result<Object, StoreError> {
        self.write(|contents| {
            let created = plan::create(contents, object)?;
            Ok((Batch::put(created.clone()), created))
        })
        .map(|(_, created)| created)
    }

    /// Compare-and-swap: replaces the stored object only if its
    /// resourceVersion equals `object`'s ([`StoreError::Conflict`] if not,
    /// [`StoreError::NotFound`] if there is none). Returns the object as
    /// stored, with its new resourceVersion (unchanged if the content was).
    pub fn replace(&self, object: &Object) -> Result<Object, StoreError> {
        self.write(|contents| {
            Ok(match plan::replace(contents, object)? {
                Outcome::Put(replaced) => (Batch::put(replaced.clone()), replaced),
                Outcome::Keep(stored) => (Batch::default(), stored),
            })
        })
        .map(|(_, stored)| stored)
    }

    /// Runs one write batch under the exclusive lock: `plan` decides it from
    /// the current contents, then every file is staged before any is renamed
    /// into place, and the revision file is written last. Returns the batch's
    /// revision (the current one for an empty batch) and what `plan` returned.
    fn write<T>(
        &self,
        plan: impl FnOnce(&Contents) -> Result<(Batch, T), StoreError>,
    ) -> Result<(u64, T), StoreError> {
        let _lock = lock(&self.root, Access::Write)?;
        let contents = read_contents(&self.root)?;
        let (batch, result) = plan(&contents)?;
        if batch.is_empty() {
            return Ok((contents.revision, result));
        }
        let revision = contents.revision + 1;
        let staged = batch
            .puts
            .iter()
            .map(|object| self.stage(object))
            .collect::<Result<Vec<_>, _>>()?;
        let revision_file = stage_file(
            &self.root.join(REVISION_FILE),
            format!("{revision}\n").as_bytes(),
        )?;
        // Everything is staged: from here on only renames and removals.
        let mut touched_dirs = BTreeSet::new();
        for file in staged {
            touched_dirs.extend(self.dirs_up_to_root(file.target()));
            commit(file)?;
        }
        for key in &batch.removes {
            let path = self.root.join(object_path(key));
            weft_durable::remove(&path).map_err(StoreError::io(&path))?;
            touched_dirs.extend(self.dirs_up_to_root(&path));
        }
        for dir in &touched_dirs {
            sync_dir(dir)?;
        }
        commit(revision_file)?;
        sync_dir(&self.root)?;
        Ok((revision, result))
    }

    fn stage(&self, object: &Object) -> Result<StagedFile, StoreError> {
        let key = object.key();
        let yaml = object.to_yaml().map_err(|e| StoreError::Encode {
            key: key.clone(),
            message: e.to_string(),
        })?;
        stage_file(&self.root.join(object_path(&key)), yaml.as_bytes())
    }

    /// The directories from `path`'s parent up to the root: those whose
    /// entries a write may have created, renamed or removed.
    fn dirs_up_to_root(&self, path: &Path) -> Vec<PathBuf> {
        path.ancestors()
            .skip(1)
            .take_while(|dir| dir.starts_with(&self.root))
            .map(Path::to_owned)
            .collect()
    }
}

/// Stages `contents` for `target`, creating its directory first: the first
/// object of a kind or namespace goes into a directory that does not exist yet.
fn stage_file(target: &Path, contents: &[u8]) -> Result<StagedFile, StoreError> {
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(StoreError::io(dir))?;
    }
    weft_durable::stage(target, contents, None).map_err(StoreError::io(target))
}

fn commit(file: StagedFile) -> Result<(), StoreError> {
    let target = file.target().to_owned();
    file.commit().map_err(StoreError::io(target))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    weft_durable::sync_dir(dir).map_err(StoreError::io(dir))
}
