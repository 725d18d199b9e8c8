//! weftd's Prometheus metrics: the registry and the handles the tasks update.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric,
};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use weft_api::MapFill;

/// Which API operation a request asked for ("invalid" when it did not decode).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)] // the variant names are the label values
pub enum ApiOp {
    endpoint_add,
    endpoint_del,
    status,
    observe,
    inspect,
    invalid,
}

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)] // the variant names are the label values
pub enum ApiResult {
    ok,
    error,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiRequestLabels {
    pub op: ApiOp,
    pub result: ApiResult,
}

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)] // the variant names are the label values
pub enum ReconcileResult {
    ok,
    error,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    pub reconciler: &'static str,
    pub result: ReconcileResult,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MapLabel {
    pub map: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcilerLabel {
    pub reconciler: &'static str,
}

/// Reconcile pass durations, in seconds: 1 ms to about 16 s.
fn pass_duration_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.001, 2.0, 15,
    ))
}

/// Reads the datapath's packet counts per verdict reason (index = reason).
pub type VerdictSource = Arc<dyn Fn() -> Option<Vec<u64>> + Send + Sync>;

/// The datapath's per-verdict packet counters, read at scrape time (they
/// live in a pinned map, so they count across weftd restarts).
#[derive(Clone, Default)]
struct VerdictCounters(Arc<OnceLock<VerdictSource>>);

impl std::fmt::Debug for VerdictCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerdictCounters")
    }
}

impl Collector for VerdictCounters {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(counts) = self.0.get().and_then(|read| read()) else {
            return Ok(());
        };
        let family = encoder.encode_descriptor(
            "weft_policy_verdicts",
            "Packets the policy datapath decided, by verdict and reason",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        let mut family = family;
        for (reason, count) in counts.into_iter().enumerate() {
            let Ok(reason) = u32::try_from(reason) else {
                break;
            };
            let (verdict, reason) = weft_ebpf_common::reason_name(reason);
            let labels = [("verdict", verdict), ("reason", reason)];
            let metric = family.encode_family(&labels)?;
            ConstCounter::new(count).encode(metric)?;
        }
        Ok(())
    }
}

/// Cheap to clone: every handle shares the same registry.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    endpoints: Gauge,
    api_requests: Family<ApiRequestLabels, Counter>,
    reconciles: Family<ReconcileLabels, Counter>,
    reconcile_seconds: Family<ReconcilerLabel, Histogram, fn() -> Histogram>,
    policy_compile_seconds: Histogram,
    verdicts: VerdictCounters,
    map_entries: Family<MapLabel, Gauge>,
    map_capacity: Family<MapLabel, Gauge>,
    /// The latest sample of the maps' fill, for `weftctl status`.
    map_fill: Arc<Mutex<Vec<MapFill>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let endpoints = Gauge::default();
        let api_requests = Family::<ApiRequestLabels, Counter>::default();
        let mut registry = Registry::default();
        registry.register(
            "weft_endpoints",
            "Endpoints this node's weftd knows",
            endpoints.clone(),
        );
        registry.register(
            "weft_api_requests",
            "Endpoint API requests by operation and result",
            api_requests.clone(),
        );
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        registry.register(
            "weft_reconcile",
            "Reconcile passes by reconciler and result",
            reconciles.clone(),
        );
        let reconcile_seconds =
            Family::<ReconcilerLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                pass_duration_histogram,
            );
        registry.register(
            "weft_reconcile_duration_seconds",
            "How long reconcile passes take, by reconciler",
            reconcile_seconds.clone(),
        );
        let policy_compile_seconds = pass_duration_histogram();
        registry.register(
            "weft_policy_compile_seconds",
            "How long compiling the cluster's policies for this node takes, per snapshot",
            policy_compile_seconds.clone(),
        );
        let verdicts = VerdictCounters::default();
        registry.register_collector(Box::new(verdicts.clone()));
        let map_entries = Family::<MapLabel, Gauge>::default();
        registry.register(
            "weft_bpf_map_entries",
            "Entries in each eBPF map of the datapath (hash and LPM maps), sampled",
            map_entries.clone(),
        );
        let map_capacity = Family::<MapLabel, Gauge>::default();
        registry.register(
            "weft_bpf_map_capacity",
            "Capacity of each eBPF map of the datapath (hash and LPM maps)",
            map_capacity.clone(),
        );
        Self {
            registry: Arc::new(registry),
            endpoints,
            api_requests,
            reconciles,
            reconcile_seconds,
            policy_compile_seconds,
            verdicts,
            map_entries,
            map_capacity,
            map_fill: Arc::default(),
        }
    }
}

impl Metrics {
    pub fn set_endpoints(&self, count: usize) {
        self.endpoints.set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    pub fn count_request(&self, op: ApiOp, result: ApiResult) {
        self.api_requests
            .get_or_create(&ApiRequestLabels { op, result })
            .inc();
    }

    /// Counts and times one pass of `reconciler`.
    pub fn observe_reconcile(&self, reconciler: &'static str, ok: bool, took: Duration) {
        let result = if ok {
            ReconcileResult::ok
        } else {
            ReconcileResult::error
        };
        self.reconciles
            .get_or_create(&ReconcileLabels { reconciler, result })
            .inc();
        self.reconcile_seconds
            .get_or_create(&ReconcilerLabel { reconciler })
            .observe(took.as_secs_f64());
    }

    /// Times one policy compile (one per snapshot, off the ADD path).
    pub fn observe_policy_compile(&self, took: Duration) {
        self.policy_compile_seconds.observe(took.as_secs_f64());
    }

    /// Where the verdict counters come from (set once, when the datapath is up).
    pub fn set_verdict_source(&self, source: VerdictSource) {
        let _ = self.verdicts.0.set(source);
    }

    /// A new sample of the eBPF maps' fill.
    pub fn set_map_usage(&self, sample: Vec<MapFill>) {
        for fill in &sample {
            let label = MapLabel {
                map: fill.map.clone(),
            };
            self.map_entries
                .get_or_create(&label)
                .set(i64::from(fill.entries));
            self.map_capacity
                .get_or_create(&label)
                .set(i64::from(fill.capacity));
        }
        *self
            .map_fill
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = sample;
    }

    /// The latest sample of the eBPF maps' fill (empty before the first).
    pub fn map_usage(&self) -> Vec<MapFill> {
        self.map_fill
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_the_endpoint_gauge_and_labelled_request_counter() {
        let metrics = Metrics::default();
        metrics.set_endpoints(3);
        metrics.count_request(ApiOp::endpoint_add, ApiResult::ok);
        metrics.count_request(ApiOp::endpoint_add, ApiResult::ok);
        metrics.count_request(ApiOp::invalid, ApiResult::error);
        let text = metrics.encode().unwrap();
        assert!(text.contains("weft_endpoints 3\n"), "{text}");
        assert!(
            text.contains("weft_api_requests_total{op=\"endpoint_add\",result=\"ok\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("weft_api_requests_total{op=\"invalid\",result=\"error\"} 1\n"),
            "{text}"
        );
        assert!(!text.contains("weft_policy_verdicts"), "{text}");
    }

    #[test]
    fn exposes_each_maps_entries_and_capacity_and_keeps_the_latest_sample() {
        let metrics = Metrics::default();
        let sample = vec![MapFill {
            map: "WEFT_CONNTRACK".into(),
            entries: 12,
            capacity: 262_144,
        }];
        metrics.set_map_usage(sample.clone());
        let text = metrics.encode().unwrap();
        assert!(
            text.contains("weft_bpf_map_entries{map=\"WEFT_CONNTRACK\"} 12\n"),
            "{text}"
        );
        assert!(
            text.contains("weft_bpf_map_capacity{map=\"WEFT_CONNTRACK\"} 262144\n"),
            "{text}"
        );
        assert_eq!(metrics.map_usage(), sample);
    }

    #[test]
    fn counts_and_times_reconcile_passes_by_reconciler() {
        let metrics = Metrics::default();
        metrics.observe_reconcile("overlay", true, Duration::from_millis(3));
        metrics.observe_reconcile("overlay", false, Duration::from_millis(3));
        metrics.observe_reconcile("overlay", false, Duration::from_millis(3));
        let text = metrics.encode().unwrap();
        for line in [
            "weft_reconcile_total{reconciler=\"overlay\",result=\"ok\"} 1\n",
            "weft_reconcile_total{reconciler=\"overlay\",result=\"error\"} 2\n",
            "weft_reconcile_duration_seconds_count{reconciler=\"overlay\"} 3\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn times_policy_compiles() {
        let metrics = Metrics::default();
        metrics.observe_policy_compile(Duration::from_millis(150));
        let text = metrics.encode().unwrap();
        for line in [
            "weft_policy_compile_seconds_count 1\n",
            "weft_policy_compile_seconds_sum 0.15\n",
            "weft_policy_compile_seconds_bucket{le=\"0.128\"} 0\n",
            "weft_policy_compile_seconds_bucket{le=\"0.256\"} 1\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn exposes_verdict_counters_by_verdict_and_reason() {
        let metrics = Metrics::default();
        let counts = vec![3, 0, 0, 0, 5, 0, 0, 0, 0];
        metrics.set_verdict_source(Arc::new(move || Some(counts.clone())));
        let text = metrics.encode().unwrap();
        assert!(
            text.contains("weft_policy_verdicts_total{verdict=\"allowed\",reason=\"policy\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("weft_policy_verdicts_total{verdict=\"dropped\",reason=\"policy\"} 5\n"),
            "{text}"
        );
    }
}
