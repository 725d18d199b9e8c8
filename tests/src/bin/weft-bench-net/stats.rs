//! Order statistics of measured samples.

use std::time::Duration;

/// The sample at percentile `p` (nearest rank over the sorted samples).
pub fn percentile<T: Copy + PartialOrd>(samples: &[T], p: f64) -> Option<T> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let last = sorted.len().checked_sub(1)?;
    let rank = ((p / 100.0) * last as f64).round() as usize;
    sorted.get(rank.min(last)).copied()
}

pub fn median(samples: &[f64]) -> f64 {
    percentile(samples, 50.0).unwrap_or(f64::NAN)
}

pub fn micros(d: Option<Duration>) -> f64 {
    d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_nearest_ranks() {
        let samples: Vec<f64> = (1..=101).map(f64::from).collect();
        assert_eq!(percentile(&samples, 50.0), Some(51.0));
        assert_eq!(percentile(&samples, 99.0), Some(100.0));
        assert_eq!(percentile(&samples, 100.0), Some(101.0));
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(percentile::<f64>(&[], 50.0), None);
        assert!(median(&[]).is_nan());
    }
}
