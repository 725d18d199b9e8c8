//! What program tests (and the datapath benchmark) share: crafted frames
//! and the policy programs loaded for BPF_PROG_TEST_RUN with a small
//! cluster in their maps.

pub mod frames;
pub mod programs;
