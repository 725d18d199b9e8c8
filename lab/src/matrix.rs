//! The reachability matrix: its JSON shape (LAB.md) and the table `matrix`
//! prints, rows being sources and columns destinations.

use serde::Serialize;

use crate::probe::{Detail, Proto};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatrixReport {
    pub port: u16,
    pub proto: Proto,
    /// "ns/name", sorted.
    pub pods: Vec<String>,
    /// connected[i][j]: pods[i] reached pods[j].
    pub connected: Vec<Vec<bool>>,
    pub detail: Vec<Vec<String>>,
}

impl MatrixReport {
    /// Builds the report from the probe outcomes, `details[i][j]` for pods[i] → pods[j].
    pub fn new(port: u16, proto: Proto, pods: Vec<String>, details: &[Vec<Detail>]) -> Self {
        Self {
            port,
            proto,
            pods,
            connected: details
                .iter()
                .map(|row| row.iter().map(Detail::is_connected).collect())
                .collect(),
            detail: details
                .iter()
                .map(|row| row.iter().map(ToString::to_string).collect())
                .collect(),
        }
    }

    /// A table: a header of destinations, then one row per source; each cell
    /// is "ok", or why not ("refused", "timeout", "error").
    pub fn render_table(&self) -> String {
        let header = format!("{}/{} from \\ to", self.proto, self.port);
        let first_width = self
            .pods
            .iter()
            .map(String::len)
            .chain([header.len()])
            .max()
            .unwrap_or(0);
        let cell = |i: usize, j: usize| -> &str {
            if self.connected[i][j] {
                "ok"
            } else {
                let detail = self.detail[i][j].as_str();
                detail.split(':').next().unwrap_or(detail)
            }
        };
        let widths: Vec<usize> = (0..self.pods.len())
            .map(|j| {
                (0..self.pods.len())
                    .map(|i| cell(i, j).len())
                    .chain([self.pods[j].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut lines = Vec::with_capacity(self.pods.len() + 1);
        let mut line = format!("{header:<first_width$}");
        for (pod, width) in self.pods.iter().zip(&widths) {
            line.push_str(&format!("  {pod:<width$}"));
        }
        lines.push(line.trim_end().to_owned());
        for (i, pod) in self.pods.iter().enumerate() {
            let mut line = format!("{pod:<first_width$}");
            for (j, width) in widths.iter().enumerate() {
                line.push_str(&format!("  {:<width$}", cell(i, j)));
            }
            lines.push(line.trim_end().to_owned());
        }
        lines.join("\n") + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> MatrixReport {
        MatrixReport::new(
            80,
            Proto::Tcp,
            vec!["x/a".into(), "x/bb".into()],
            &[
                vec![Detail::Connected, Detail::Timeout],
                vec![Detail::Refused, Detail::Error("no route".into())],
            ],
        )
    }

    #[test]
    fn json_has_the_lab_md_shape() {
        let json = serde_json::to_value(report()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "port": 80, "proto": "tcp", "pods": ["x/a", "x/bb"],
                "connected": [[true, false], [false, false]],
                "detail": [["connected", "timeout"], ["refused", "error: no route"]]
            })
        );
    }

    #[test]
    fn the_table_has_a_row_per_source_and_a_column_per_destination() {
        assert_eq!(
            report().render_table(),
            "tcp/80 from \\ to  x/a      x/bb\n\
             x/a               ok       timeout\n\
             x/bb              refused  error\n"
        );
    }
}
