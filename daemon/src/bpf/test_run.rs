//! Runs one of the loaded programs on a crafted frame with the kernel's
//! BPF_PROG_TEST_RUN: no device, no traffic, the real verifier-checked code
//! and the real maps. Program tests and the datapath benchmark use it.
//!
//! The kernel builds an skb from the frame on the calling thread's network
//! namespace's loopback device (so the program sees `skb->ifindex` 1), takes
//! `mark` and `ingress_ifindex` from the `struct __sk_buff` context passed
//! in, and hands the context back after the run, so the mark the program
//! left is visible. With `repeat` > 1 the same skb runs again and again:
//! whatever the program changed in it (the mark) carries over.

use std::time::Duration;

use aya::programs::{ProgramInfo, SchedClassifier, TestRun, TestRunOptions};

use super::{BpfError, Datapath};

/// The ifindex a test run's skb has: the loopback device's, whatever the
/// namespace (the kernel uses loopback unless the context names a device).
pub const TEST_RUN_IFINDEX: u32 = 1;

/// `sizeof(struct __sk_buff)` (include/uapi/linux/bpf.h) since Linux 5.16
/// (its last field, `hwtstamp`). The kernel rejects a context with any field
/// it does not take set, and a context out buffer smaller than its struct.
const SK_BUFF_SIZE: usize = 192;
/// Offsets in `struct __sk_buff` of the fields a run sets or reads.
const MARK_OFFSET: usize = 8;
const INGRESS_IFINDEX_OFFSET: usize = 36;

/// One test run's input.
#[derive(Debug, Clone, Copy)]
pub struct TestPacket<'a> {
    /// The frame from its Ethernet header on.
    pub frame: &'a [u8],
    /// `skb->mark` before the program runs.
    pub mark: u32,
    /// `skb->ingress_ifindex`: where the packet entered the node's stack.
    pub ingress_ifindex: u32,
}

/// What a test run returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRunOutcome {
    /// The program's return value: the TC action (`TC_ACT_OK`, `TC_ACT_SHOT`, ...).
    pub action: i32,
    /// `skb->mark` after the (last) run.
    pub mark: u32,
    /// The frame as the (last) run left it.
    pub frame: Vec<u8>,
    /// The kernel's average time per run.
    pub per_run: Duration,
}

impl Datapath {
    /// What the kernel says of loaded program `name`: its size and how many
    /// instructions the verifier walked (the benchmark reports both).
    pub fn program_info(&self, name: &'static str) -> Result<ProgramInfo, BpfError> {
        self.test_program(name)?
            .info()
            .map_err(BpfError::program(name))
    }

    /// Runs program `name` on `packet` `repeat` times (at least once) and
    /// returns its action, the mark it left and the time per run.
    pub fn test_run(
        &self,
        name: &'static str,
        packet: &TestPacket<'_>,
        repeat: u32,
    ) -> Result<TestRunOutcome, BpfError> {
        let program = self.test_program(name)?;
        let context_in = context(packet);
        let mut context_out = [0; SK_BUFF_SIZE];
        let mut frame = vec![0; packet.frame.len()];
        let result = program
            .test_run(TestRunOptions {
                data_in: Some(packet.frame),
                data_out: Some(&mut frame),
                ctx_in: Some(&context_in),
                ctx_out: Some(&mut context_out),
                repeat: repeat.max(1),
                ..TestRunOptions::new()
            })
            .map_err(BpfError::program(name))?;
        Ok(TestRunOutcome {
            // The kernel passes the program's int return value as u32.
            action: result.return_value as i32,
            mark: read_u32(&context_out, MARK_OFFSET),
            frame,
            per_run: result.duration,
        })
    }

    fn test_program(&self, name: &'static str) -> Result<&SchedClassifier, BpfError> {
        self.ebpf
            .program(name)
            .ok_or(BpfError::Missing(name))?
            .try_into()
            .map_err(BpfError::program(name))
    }
}

fn context(packet: &TestPacket<'_>) -> [u8; SK_BUFF_SIZE] {
    let mut context = [0; SK_BUFF_SIZE];
    context[MARK_OFFSET..MARK_OFFSET + 4].copy_from_slice(&packet.mark.to_ne_bytes());
    context[INGRESS_IFINDEX_OFFSET..INGRESS_IFINDEX_OFFSET + 4]
        .copy_from_slice(&packet.ingress_ifindex.to_ne_bytes());
    context
}

fn read_u32(bytes: &[u8; SK_BUFF_SIZE], offset: usize) -> u32 {
    let mut field = [0; 4];
    field.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_ne_bytes(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_carries_mark_and_ingress_ifindex_and_nothing_else() {
        let frame = [0; 14];
        let packet = TestPacket {
            frame: &frame,
            mark: 0x0006_4000,
            ingress_ifindex: 7,
        };
        let context = context(&packet);
        assert_eq!(read_u32(&context, MARK_OFFSET), 0x0006_4000);
        assert_eq!(read_u32(&context, INGRESS_IFINDEX_OFFSET), 7);
        let others = context
            .iter()
            .enumerate()
            .filter(|(at, _)| !(MARK_OFFSET..MARK_OFFSET + 4).contains(at))
            .filter(|(at, _)| !(INGRESS_IFINDEX_OFFSET..INGRESS_IFINDEX_OFFSET + 4).contains(at));
        assert!(others.map(|(_, byte)| *byte).all(|byte| byte == 0));
    }
}
