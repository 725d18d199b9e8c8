//! One lab as the commands see it: its name, files, state, datastore and
//! the binaries it runs.

use std::path::PathBuf;

use anyhow::{Context, bail};
use weft_datastore::DirStore;

use crate::names::LabName;
use crate::paths::LabPaths;
use crate::state::{LabLock, LabState};

/// Environment variable naming the directory of `weft` and `weftd`.
pub const BIN_DIR_ENV: &str = "WEFT_BIN_DIR";

pub struct Lab {
    pub name: LabName,
    pub paths: LabPaths,
}

impl Lab {
    pub fn new(name: LabName) -> Self {
        let paths = LabPaths::new(name.dir());
        Self { name, paths }
    }

    /// Takes the lab's lock, creating its directory if needed.
    pub fn lock(&self) -> anyhow::Result<LabLock> {
        let root = self.paths.root();
        std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        Ok(LabLock::acquire(&self.paths.lock_file())?)
    }

    /// The state of a lab that is up.
    pub fn state(&self) -> anyhow::Result<LabState> {
        match LabState::load(&self.paths.state_file())? {
            Some(state) => Ok(state),
            None => bail!(
                "lab {} is not up (run `weft-lab up --name {}`)",
                self.name,
                self.name
            ),
        }
    }

    /// The state of a lab that is up, with the pods its kubelets wired
    /// (kubernetes datastore) among `pods`: what readers and `down` see.
    pub fn state_with_pods(&self) -> anyhow::Result<LabState> {
        let mut state = self.state()?;
        for node in state.topology.node_names() {
            let wired = crate::kubelet::ledger::read(&self.paths.node_kubelet_ledger(&node))?;
            state.pods.extend(wired);
        }
        Ok(state)
    }

    pub fn save(&self, state: &LabState) -> anyhow::Result<()> {
        Ok(state.save(&self.paths.state_file())?)
    }

    pub fn store(&self) -> anyhow::Result<DirStore> {
        Ok(DirStore::open(&self.paths.store_dir())?)
    }

    /// A binary of the lab: from $WEFT_BIN_DIR, else next to this executable.
    pub fn binary(&self, name: &str) -> anyhow::Result<PathBuf> {
        let dir = match std::env::var_os(BIN_DIR_ENV) {
            Some(dir) => PathBuf::from(dir),
            None => std::env::current_exe()
                .context("finding the weft-lab executable")?
                .parent()
                .map(PathBuf::from)
                .context("the weft-lab executable has no directory")?,
        };
        let path = dir.join(name);
        if !path.is_file() {
            bail!(
                "{} not found (build the workspace, or set {BIN_DIR_ENV} to the directory holding it)",
                path.display()
            );
        }
        Ok(path)
    }
}
