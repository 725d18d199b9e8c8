//! The per-interface packet counter: loaded once, attached with tcx to both
//! directions of an interface, read back per ifindex.

use aya::Ebpf;
use aya::maps::PerCpuHashMap;
use aya::programs::{SchedClassifier, TcAttachType};
use weft_ebpf_common::{COUNT_PROGRAM, IF_COUNTERS_MAP, IfCounters};

use super::EBPF_OBJECT;

#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    #[error("loading the eBPF object failed: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("eBPF program {name}: {source}")]
    Program {
        name: &'static str,
        source: aya::programs::ProgramError,
    },
    #[error("eBPF map {name}: {source}")]
    Map {
        name: &'static str,
        source: aya::maps::MapError,
    },
    #[error("the eBPF object has no {0}")]
    Missing(&'static str),
}

pub struct PacketCounter {
    ebpf: Ebpf,
}

impl PacketCounter {
    /// Loads the object and verifies the counter program into the kernel.
    pub fn load() -> Result<Self, BpfError> {
        let mut ebpf = Ebpf::load(EBPF_OBJECT)?;
        program(&mut ebpf)?
            .load()
            .map_err(|source| BpfError::Program {
                name: COUNT_PROGRAM,
                source,
            })?;
        Ok(Self { ebpf })
    }

    /// Attaches the counter to both directions of `ifname` in the calling
    /// thread's network namespace. The links live as long as `self`.
    pub fn attach(&mut self, ifname: &str) -> Result<(), BpfError> {
        let prog = program(&mut self.ebpf)?;
        for direction in [TcAttachType::Ingress, TcAttachType::Egress] {
            prog.attach(ifname, direction)
                .map_err(|source| BpfError::Program {
                    name: COUNT_PROGRAM,
                    source,
                })?;
        }
        Ok(())
    }

    /// Packets and bytes seen on `ifindex`, summed over CPUs.
    pub fn counters(&self, ifindex: u32) -> Result<IfCounters, BpfError> {
        let map = self
            .ebpf
            .map(IF_COUNTERS_MAP)
            .ok_or(BpfError::Missing(IF_COUNTERS_MAP))?;
        let map =
            PerCpuHashMap::<_, u32, IfCounters>::try_from(map).map_err(|source| BpfError::Map {
                name: IF_COUNTERS_MAP,
                source,
            })?;
        match map.get(&ifindex, 0) {
            Ok(per_cpu) => Ok(per_cpu
                .iter()
                .fold(IfCounters::default(), |sum, c| IfCounters {
                    packets: sum.packets + c.packets,
                    bytes: sum.bytes + c.bytes,
                })),
            Err(aya::maps::MapError::KeyNotFound) => Ok(IfCounters::default()),
            Err(source) => Err(BpfError::Map {
                name: IF_COUNTERS_MAP,
                source,
            }),
        }
    }
}

fn program(ebpf: &mut Ebpf) -> Result<&mut SchedClassifier, BpfError> {
    ebpf.program_mut(COUNT_PROGRAM)
        .ok_or(BpfError::Missing(COUNT_PROGRAM))?
        .try_into()
        .map_err(|source| BpfError::Program {
            name: COUNT_PROGRAM,
            source,
        })
}
