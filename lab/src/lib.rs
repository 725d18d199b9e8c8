//! weft-lab: Weft's own multi-node sandbox (LAB.md). Each node is a network
//! namespace on a bridged underlay, running a real `weftd` that watches a
//! directory datastore; pods are namespaces wired by the real `weft` CNI
//! plugin. Pure parts (names, address plans, validation, placement, views)
//! are unit-tested; the shell (netns, processes, CNI calls) applies them.

pub mod apply_plan;
pub mod cli;
pub mod cni;
pub mod commands;
pub mod control_plane;
pub mod kubelet;
pub mod lab;
pub mod matrix;
pub mod names;
pub mod netns;
pub mod paths;
pub mod placement;
pub mod pods;
pub mod probe;
pub mod process;
pub mod serve;
pub mod state;
pub mod status_view;
pub mod topology;
pub mod underlay_plan;
pub mod validate;
pub mod wait;
pub mod weftd;
pub mod wiring;
pub mod wiring_plan;
