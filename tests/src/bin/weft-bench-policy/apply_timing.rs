//! Apply-to-enforcement: a policy that blocks the client is put in force
//! and lifted again, round after round; each step is timed until the way
//! it was made says it is in effect on every node, and a probe right
//! after checks that the data path agrees.

use std::time::{Duration, Instant};

use anyhow::bail;

/// What the rounds measured.
#[derive(Debug, Default)]
pub struct ApplyTimings {
    pub applied: Vec<Duration>,
    pub removed: Vec<Duration>,
    /// Rounds whose probe still got through right after the apply returned.
    pub open_after_apply: usize,
    /// Rounds whose probe was still blocked right after the removal returned.
    pub blocked_after_removal: usize,
}

/// `rounds` times: `apply` (timed), probe, `remove` (timed), probe.
/// `reaches` probes the guarded path. The path must be open at the start.
pub fn measure(
    rounds: usize,
    mut apply: impl FnMut() -> anyhow::Result<()>,
    mut remove: impl FnMut() -> anyhow::Result<()>,
    mut reaches: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<ApplyTimings> {
    if !reaches()? {
        bail!("the client does not reach the server before any blocking policy");
    }
    let mut timings = ApplyTimings::default();
    for _ in 0..rounds {
        timings.applied.push(timed(&mut apply)?);
        if reaches()? {
            timings.open_after_apply += 1;
        }
        timings.removed.push(timed(&mut remove)?);
        if !reaches()? {
            timings.blocked_after_removal += 1;
        }
    }
    Ok(timings)
}

fn timed(step: &mut impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Duration> {
    let started = Instant::now();
    step()?;
    Ok(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn counts_probes_that_disagree_with_what_returned() {
        let blocked = Cell::new(false);
        let lag = Cell::new(1);
        let timings = measure(
            3,
            || {
                // The first apply lags behind its return.
                if lag.get() == 0 {
                    blocked.set(true);
                }
                lag.set(0);
                Ok(())
            },
            || {
                blocked.set(false);
                Ok(())
            },
            || Ok(!blocked.get()),
        )
        .unwrap();
        assert_eq!((timings.applied.len(), timings.removed.len()), (3, 3));
        assert_eq!(timings.open_after_apply, 1);
        assert_eq!(timings.blocked_after_removal, 0);
    }

    #[test]
    fn a_path_blocked_from_the_start_is_an_error() {
        let err = measure(1, || Ok(()), || Ok(()), || Ok(false)).unwrap_err();
        assert!(err.to_string().contains("before any blocking policy"));
    }
}
