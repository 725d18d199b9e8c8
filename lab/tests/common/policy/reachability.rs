//! Reachability between lab pods, as upstream's netpol e2e tests write it:
//! the expected matrix (patterns "*", "ns" or "ns/pod" for sources and
//! destinations), the matrix `weft-lab matrix -o json` measured, and the
//! cells where they differ, drawn as a readable grid.

use std::fmt::Write;

use serde::Deserialize;

use crate::common::TestLab;

/// Which pod may reach which; a pod always reaches its own IP (that
/// traffic stays on the pod's loopback and never meets policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reachability {
    pods: Vec<String>,
    /// allowed[i][j]: pods[i] may reach pods[j].
    allowed: Vec<Vec<bool>>,
}

fn matches(pattern: &str, pod: &str) -> bool {
    pattern == "*" || pattern == pod || pod.split('/').next() == Some(pattern)
}

impl Reachability {
    /// Every pod of `pods` ("ns/name") reaches every other (`allowed`) or none.
    pub fn new(pods: &[String], allowed: bool) -> Self {
        Self {
            pods: pods.to_vec(),
            allowed: vec![vec![allowed; pods.len()]; pods.len()],
        }
    }

    /// Sets every pair matching the `from` and `to` patterns.
    pub fn expect(mut self, from: &str, to: &str, allowed: bool) -> Self {
        for (i, source) in self.pods.iter().enumerate() {
            for (j, dest) in self.pods.iter().enumerate() {
                if matches(from, source) && matches(to, dest) {
                    self.allowed[i][j] = allowed;
                }
            }
        }
        self
    }

    pub fn allow(self, from: &str, to: &str) -> Self {
        self.expect(from, to, true)
    }

    pub fn deny(self, from: &str, to: &str) -> Self {
        self.expect(from, to, false)
    }

    pub fn allows(&self, from: usize, to: usize) -> bool {
        from == to || self.allowed[from][to]
    }

    pub fn pods(&self) -> &[String] {
        &self.pods
    }
}

/// What `weft-lab matrix -o json` prints (LAB.md).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Measured {
    pub port: u16,
    pub proto: String,
    pub pods: Vec<String>,
    pub connected: Vec<Vec<bool>>,
    pub detail: Vec<Vec<String>>,
}

/// Runs `weft-lab matrix` with a per-probe timeout.
pub fn measure(lab: &TestLab, proto: &str, port: u16, timeout_ms: u64) -> Result<Measured, String> {
    let (port, timeout) = (port.to_string(), timeout_ms.to_string());
    let out = lab.run(&[
        "matrix",
        "--port",
        &port,
        "--proto",
        proto,
        "--timeout-ms",
        &timeout,
        "-o",
        "json",
    ]);
    if !out.status.success() {
        return Err(format!(
            "weft-lab matrix failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("matrix output is not LAB.md's: {e}"))
}

/// One cell where the measurement disagrees with the expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub from: String,
    pub to: String,
    /// Whether the pair should have connected.
    pub expected: bool,
    /// How the probe ended ("connected", "timeout", "refused", "error: ...").
    pub detail: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let should = if self.expected {
            "connect"
        } else {
            "be blocked"
        };
        write!(
            f,
            "{} -> {} should {should}, was {}",
            self.from, self.to, self.detail
        )
    }
}

/// The cells that differ; `Err` when the two are not about the same pods.
pub fn mismatches(expected: &Reachability, measured: &Measured) -> Result<Vec<Mismatch>, String> {
    let n = expected.pods.len();
    let square = |rows: usize, cols: &[usize]| rows == n && cols.iter().all(|&c| c == n);
    let connected_cols: Vec<usize> = measured.connected.iter().map(Vec::len).collect();
    let detail_cols: Vec<usize> = measured.detail.iter().map(Vec::len).collect();
    if measured.pods != expected.pods
        || !square(measured.connected.len(), &connected_cols)
        || !square(measured.detail.len(), &detail_cols)
    {
        return Err(format!(
            "the matrix is about {:?} ({}x{:?}), not {:?}",
            measured.pods,
            measured.connected.len(),
            connected_cols,
            expected.pods
        ));
    }
    let mut wrong = Vec::new();
    for i in 0..n {
        for j in 0..n {
            let should = expected.allows(i, j);
            if measured.connected[i][j] != should {
                wrong.push(Mismatch {
                    from: expected.pods[i].clone(),
                    to: expected.pods[j].clone(),
                    expected: should,
                    detail: measured.detail[i][j].clone(),
                });
            }
        }
    }
    Ok(wrong)
}

/// The measured grid, rows sources and columns destinations: "." connected
/// as expected, "x" blocked as expected, "!" connected but should be
/// blocked, "X" blocked but should connect.
pub fn render(expected: &Reachability, measured: &Measured) -> String {
    let label = format!("{}/{}", measured.proto, measured.port);
    let width = expected.pods.iter().map(String::len).max().unwrap_or(0);
    let first = width.max(label.len());
    let mut grid = format!("{label:<first$}");
    for pod in &expected.pods {
        write!(grid, " {pod:>width$}").expect("writing to a String");
    }
    for (i, from) in expected.pods.iter().enumerate() {
        write!(grid, "\n{from:<first$}").expect("writing to a String");
        for j in 0..expected.pods.len() {
            let got = measured.connected.get(i).and_then(|r| r.get(j)).copied();
            let cell = match (got, expected.allows(i, j)) {
                (Some(true), true) => ".",
                (Some(false), false) => "x",
                (Some(true), false) => "!",
                (Some(false), true) => "X",
                (None, _) => "?",
            };
            write!(grid, " {cell:>width$}").expect("writing to a String");
        }
    }
    grid.push_str(
        "\n(rows from, columns to; . connected, x blocked, \
         ! connected but should be blocked, X blocked but should connect)",
    );
    grid
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods() -> Vec<String> {
        ["x/a", "x/b", "y/a"].map(String::from).to_vec()
    }

    fn measured(connected: Vec<Vec<bool>>) -> Measured {
        let detail = connected
            .iter()
            .map(|row| {
                row.iter()
                    .map(|&c| if c { "connected" } else { "timeout" }.to_owned())
                    .collect()
            })
            .collect();
        Measured {
            port: 80,
            proto: "tcp".into(),
            pods: pods(),
            connected,
            detail,
        }
    }

    #[test]
    fn patterns_select_every_pod_a_namespace_or_one_pod_and_self_always_passes() {
        let expected = Reachability::new(&pods(), true)
            .deny("*", "x")
            .allow("y", "x/b");
        let allowed: Vec<Vec<bool>> = (0..3)
            .map(|i| (0..3).map(|j| expected.allows(i, j)).collect())
            .collect();
        assert_eq!(
            allowed,
            vec![
                vec![true, false, true],
                vec![false, true, true],
                vec![false, true, true]
            ]
        );
    }

    #[test]
    fn mismatches_name_the_cells_that_differ_and_the_grid_marks_them() {
        let expected = Reachability::new(&pods(), true).deny("*", "x/a");
        let got = measured(vec![
            vec![true, true, true],
            vec![true, true, false],
            vec![false, true, true],
        ]);
        let wrong = mismatches(&expected, &got).unwrap();
        let shown: Vec<String> = wrong.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec![
                "x/b -> x/a should be blocked, was connected",
                "x/b -> y/a should connect, was timeout"
            ]
        );
        let grid = render(&expected, &got);
        assert!(grid.contains("\nx/b      !   .   X\n"), "{grid}");
        assert!(grid.starts_with("tcp/80 x/a x/b y/a\n"), "{grid}");
    }

    #[test]
    fn a_matrix_of_other_pods_is_an_error() {
        let expected = Reachability::new(&pods()[..2], true);
        assert!(mismatches(&expected, &measured(vec![vec![true; 3]; 3])).is_err());
    }
}
