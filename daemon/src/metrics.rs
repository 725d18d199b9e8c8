//! weftd's Prometheus metrics: the registry and the handles the tasks update.

use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Which API operation a request asked for ("invalid" when it did not decode).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)] // the variant names are the label values
pub enum ApiOp {
    endpoint_add,
    endpoint_del,
    status,
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

/// Cheap to clone: every handle shares the same registry.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    endpoints: Gauge,
    api_requests: Family<ApiRequestLabels, Counter>,
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
        Self {
            registry: Arc::new(registry),
            endpoints,
            api_requests,
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
    }
}
