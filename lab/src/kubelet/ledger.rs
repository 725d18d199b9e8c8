//! A node's kubelet ledger: the pods the node's kubelet stand-in has wired
//! (or started wiring), in a file of its own, so the stand-in records each
//! step without taking the lab's lock, and `down` finds every pod.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::state::PodRecord;
use crate::wiring::PodLedger;

pub struct KubeletLedger {
    path: PathBuf,
    pods: BTreeMap<String, PodRecord>,
}

impl KubeletLedger {
    /// The ledger at `path`; empty when there is no file yet.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            path: path.to_owned(),
            pods: read(path)?,
        })
    }

    pub fn pods(&self) -> &BTreeMap<String, PodRecord> {
        &self.pods
    }

    fn save(&self) -> anyhow::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(&self.pods)?;
        let mut file =
            std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("replacing {}", self.path.display()))
    }
}

/// The pods recorded at `path` (none when the file does not exist).
pub fn read(path: &Path) -> anyhow::Result<BTreeMap<String, PodRecord>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("kubelet ledger {} is unreadable", path.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

impl PodLedger for KubeletLedger {
    fn get(&self, key: &str) -> Option<&PodRecord> {
        self.pods.get(key)
    }

    fn record(&mut self, record: PodRecord) -> anyhow::Result<()> {
        self.pods.insert(record.key(), record);
        self.save()
    }

    fn forget(&mut self, key: &str) -> anyhow::Result<()> {
        self.pods.remove(key);
        self.save()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str) -> PodRecord {
        PodRecord {
            namespace: "x".into(),
            name: name.into(),
            uid: format!("u-{name}"),
            node: "n1".into(),
            netns: format!("t1-p.x.{name}"),
            container_id: format!("lab_x_{name}"),
            ips: vec![],
            server: None,
        }
    }

    #[test]
    fn every_step_is_on_disk_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubelet-pods.json");
        assert!(read(&path).unwrap().is_empty());
        let mut ledger = KubeletLedger::load(&path).unwrap();
        ledger.record(record("a")).unwrap();
        ledger.record(record("b")).unwrap();
        ledger.forget("x/a").unwrap();
        let on_disk = read(&path).unwrap();
        assert_eq!(on_disk.keys().collect::<Vec<_>>(), vec!["x/b"]);
        assert_eq!(KubeletLedger::load(&path).unwrap().pods(), &on_disk);
    }

    #[test]
    fn a_corrupt_ledger_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubelet-pods.json");
        std::fs::write(&path, "{").unwrap();
        let err = format!("{:#}", read(&path).unwrap_err());
        assert!(err.contains("unreadable"), "{err}");
    }
}
