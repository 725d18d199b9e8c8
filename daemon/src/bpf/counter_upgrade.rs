//! An upgrade that changes the verdict counter map's capacity (more
//! reasons) must neither stop weftd nor lose the counts: the counters are
//! the only pinned map weftd may replace, so a pin of another shape is read,
//! removed, and its counts are written into the new map once it exists.
//! Programs still attached to the old map count into it until weftd
//! replaces them moments later.

use std::path::Path;

use aya::maps::{Map, MapData, PerCpuArray, PerCpuValues};
use weft_ebpf_common::VERDICT_COUNTER_MAP;

use super::BpfError;

/// The counts per reason, summed over CPUs, of the counter map pinned in
/// `pin_dir`; the pin is removed so that loading creates the new shape.
pub(super) fn take_counts(pin_dir: &Path) -> Result<Vec<u64>, BpfError> {
    let path = pin_dir.join(VERDICT_COUNTER_MAP);
    let data = MapData::from_pin(&path).map_err(BpfError::map(VERDICT_COUNTER_MAP))?;
    let slots = data
        .info()
        .map_err(BpfError::map(VERDICT_COUNTER_MAP))?
        .max_entries();
    let counters = PerCpuArray::<_, u64>::try_from(Map::PerCpuArray(data))
        .map_err(BpfError::map(VERDICT_COUNTER_MAP))?;
    let mut counts = Vec::new();
    for reason in 0..slots {
        let per_cpu = counters
            .get(&reason, 0)
            .map_err(BpfError::map(VERDICT_COUNTER_MAP))?;
        counts.push(per_cpu.iter().sum());
    }
    std::fs::remove_file(&path).map_err(BpfError::io(&path))?;
    Ok(counts)
}

/// Adds `counts` (per reason, from [`take_counts`]) to the new counter map,
/// on the first CPU; reasons past its capacity are dropped.
pub(super) fn restore_counts(map: &mut Map, counts: &[u64]) -> Result<(), BpfError> {
    let mut counters =
        PerCpuArray::<_, u64>::try_from(map).map_err(BpfError::map(VERDICT_COUNTER_MAP))?;
    let slots = counters.len();
    for (reason, count) in (0..slots).zip(counts) {
        let mut values = counters
            .get(&reason, 0)
            .map_err(BpfError::map(VERDICT_COUNTER_MAP))?
            .to_vec();
        if let Some(first) = values.first_mut() {
            *first += count;
        }
        let values = PerCpuValues::try_from(values)
            .map_err(BpfError::io("/sys/devices/system/cpu/possible"))?;
        counters
            .set(reason, values, 0)
            .map_err(BpfError::map(VERDICT_COUNTER_MAP))?;
    }
    Ok(())
}
