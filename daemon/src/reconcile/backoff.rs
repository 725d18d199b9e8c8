//! How long a failing reconciler waits before its next attempt (pure):
//! exponential in the number of consecutive failures, capped, with jitter so
//! that the weftds of many nodes failing on one cause do not retry in step.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure (before jitter).
    pub initial: Duration,
    /// No wait is longer than this.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The wait after `failures` consecutive failures (1 for the first),
    /// given `jitter` drawn uniformly from [0, 1): "equal jitter", a delay
    /// between half and all of the exponential step, so retries spread out
    /// but never come sooner than half the step.
    pub fn delay(&self, failures: u32, jitter: f64) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        let step = self.initial.saturating_mul(1u32 << doublings).min(self.max);
        step.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn doubles_per_failure_up_to_the_cap() {
        let backoff = Backoff {
            initial: MS(100),
            max: MS(1000),
        };
        let full: Vec<Duration> = (1..=6).map(|n| backoff.delay(n, 1.0)).collect();
        assert_eq!(
            full,
            [MS(100), MS(200), MS(400), MS(800), MS(1000), MS(1000)]
        );
        assert_eq!(backoff.delay(u32::MAX, 1.0), MS(1000), "no overflow");
    }

    #[test]
    fn jitter_spreads_between_half_and_the_whole_step() {
        let backoff = Backoff {
            initial: MS(100),
            max: MS(1000),
        };
        assert_eq!(backoff.delay(3, 0.0), MS(200));
        assert_eq!(backoff.delay(3, 0.5), MS(300));
        assert_eq!(backoff.delay(3, 7.0), MS(400), "jitter is clamped");
    }

    #[test]
    fn a_first_failure_counts_like_the_first() {
        let backoff = Backoff::default();
        assert_eq!(backoff.delay(0, 1.0), backoff.delay(1, 1.0));
    }
}
