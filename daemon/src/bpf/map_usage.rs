//! How full the datapath's maps are: the entries and capacity of each hash
//! and LPM map (arrays are full by construction, the ring is a stream).
//! Counted through the pins, so a count never waits on the policy writer.

use std::path::Path;

use aya::maps::lpm_trie::LpmTrie;
use aya::maps::{HashMap, Map, MapData, MapError};
use weft_api::MapFill;
use weft_ebpf_common::{
    CONNTRACK_MAP, ENDPOINT_MAP, EndpointKey, EndpointValue, FRAGMENT_MAP, FlowKey, FlowValue,
    FragmentKey, FragmentPorts, IDENTITY_MAP, INTERFACE_MAP, IdentityValue, LOCAL_POD_MAP,
    LocalPod, POD_NETWORK_MAP, POLICY_MAP, PodInterface, PolicyKeyData, PolicyValue,
};

use super::BpfError;
use super::map_shapes::PINNED_MAPS;

/// The maps whose fill is worth watching, in the order they are reported.
const COUNTED_MAPS: [&str; 8] = [
    CONNTRACK_MAP,
    POLICY_MAP,
    IDENTITY_MAP,
    ENDPOINT_MAP,
    INTERFACE_MAP,
    LOCAL_POD_MAP,
    FRAGMENT_MAP,
    POD_NETWORK_MAP,
];

/// The fill of every counted map pinned in `pin_dir`.
pub fn map_usage(pin_dir: &Path) -> Result<Vec<MapFill>, BpfError> {
    COUNTED_MAPS
        .into_iter()
        .map(|name| {
            let capacity = PINNED_MAPS
                .iter()
                .find(|(pinned, _)| *pinned == name)
                .map_or(0, |(_, shape)| shape.max_entries);
            let data = MapData::from_pin(pin_dir.join(name)).map_err(BpfError::map(name))?;
            let map = Map::from_map_data(data).map_err(BpfError::map(name))?;
            let entries = entries(name, map, capacity).map_err(BpfError::map(name))?;
            Ok(MapFill {
                map: name.to_owned(),
                entries,
                capacity,
            })
        })
        .collect()
}

/// Walks the keys of `map`, at most `capacity` of them: a key deleted
/// under the walk restarts it, so a busy map may be counted past its size.
fn entries(name: &str, map: Map, capacity: u32) -> Result<u32, MapError> {
    match name {
        CONNTRACK_MAP => count(
            HashMap::<_, FlowKey, FlowValue>::try_from(map)?.keys(),
            capacity,
        ),
        FRAGMENT_MAP => count(
            HashMap::<_, FragmentKey, FragmentPorts>::try_from(map)?.keys(),
            capacity,
        ),
        INTERFACE_MAP => count(
            HashMap::<_, u32, PodInterface>::try_from(map)?.keys(),
            capacity,
        ),
        ENDPOINT_MAP => count(
            HashMap::<_, EndpointKey, EndpointValue>::try_from(map)?.keys(),
            capacity,
        ),
        LOCAL_POD_MAP => count(
            HashMap::<_, EndpointKey, LocalPod>::try_from(map)?.keys(),
            capacity,
        ),
        IDENTITY_MAP => count(
            LpmTrie::<_, EndpointKey, IdentityValue>::try_from(map)?.keys(),
            capacity,
        ),
        POLICY_MAP => count(
            LpmTrie::<_, PolicyKeyData, PolicyValue>::try_from(map)?.keys(),
            capacity,
        ),
        _ => count(
            LpmTrie::<_, EndpointKey, u32>::try_from(map)?.keys(),
            capacity,
        ),
    }
}

fn count<K>(
    keys: impl Iterator<Item = Result<K, MapError>>,
    capacity: u32,
) -> Result<u32, MapError> {
    let mut entries = 0;
    for key in keys.take(capacity as usize) {
        key?;
        entries += 1;
    }
    Ok(entries)
}

/// Which maps crossed [`weft_api::MAP_PRESSURE_PERCENT`] since the last
/// sample, and which fell back under it: each is logged once per crossing.
#[derive(Debug, Default)]
pub struct MapPressure {
    high: std::collections::BTreeSet<String>,
}

/// A change of pressure worth a log line.
#[derive(Debug, PartialEq, Eq)]
pub enum PressureChange<'a> {
    Rising(&'a MapFill),
    Relieved(&'a MapFill),
}

impl MapPressure {
    pub fn update<'a>(&mut self, sample: &'a [MapFill]) -> Vec<PressureChange<'a>> {
        let mut changes = Vec::new();
        for fill in sample {
            let was_high = self.high.contains(&fill.map);
            match (was_high, fill.is_under_pressure()) {
                (false, true) => {
                    self.high.insert(fill.map.clone());
                    changes.push(PressureChange::Rising(fill));
                }
                (true, false) => {
                    self.high.remove(&fill.map);
                    changes.push(PressureChange::Relieved(fill));
                }
                _ => {}
            }
        }
        changes
    }
}

/// Samples the fill of the maps pinned in `pin_dir` every `every`, hands
/// each sample to `publish` and logs pressure as it rises and falls.
pub async fn watch_map_usage(
    pin_dir: std::path::PathBuf,
    every: std::time::Duration,
    publish: impl Fn(Vec<MapFill>),
) {
    let mut pressure = MapPressure::default();
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let dir = pin_dir.clone();
        let sample = match tokio::task::spawn_blocking(move || map_usage(&dir)).await {
            Ok(Ok(sample)) => sample,
            Ok(Err(error)) => {
                tracing::warn!(%error, "counting the eBPF maps' entries");
                continue;
            }
            Err(error) => {
                tracing::warn!(%error, "the eBPF map count task failed");
                continue;
            }
        };
        for change in pressure.update(&sample) {
            match change {
                PressureChange::Rising(fill) => tracing::warn!(
                    map = %fill.map,
                    entries = fill.entries,
                    capacity = fill.capacity,
                    "eBPF map is {}% full: when full, new flows and policy entries it \
                     cannot take are dropped, never allowed",
                    fill.percent()
                ),
                PressureChange::Relieved(fill) => tracing::info!(
                    map = %fill.map,
                    entries = fill.entries,
                    capacity = fill.capacity,
                    "eBPF map back under {}% full",
                    weft_api::MAP_PRESSURE_PERCENT
                ),
            }
        }
        publish(sample);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(map: &str, entries: u32) -> MapFill {
        MapFill {
            map: map.into(),
            entries,
            capacity: 100,
        }
    }

    #[test]
    fn pressure_is_reported_once_when_it_rises_and_once_when_it_is_relieved() {
        let mut pressure = MapPressure::default();
        let quiet = [fill("WEFT_CONNTRACK", 10), fill("WEFT_POLICY", 79)];
        assert!(pressure.update(&quiet).is_empty());
        let busy = [fill("WEFT_CONNTRACK", 10), fill("WEFT_POLICY", 85)];
        assert_eq!(pressure.update(&busy), [PressureChange::Rising(&busy[1])]);
        assert!(pressure.update(&busy).is_empty(), "said once");
        assert_eq!(
            pressure.update(&quiet),
            [PressureChange::Relieved(&quiet[1])]
        );
    }

    #[test]
    fn every_counted_map_is_pinned_with_a_capacity() {
        for name in COUNTED_MAPS {
            assert!(
                PINNED_MAPS
                    .iter()
                    .any(|(pinned, shape)| *pinned == name && shape.max_entries > 0),
                "{name}"
            );
        }
    }
}
