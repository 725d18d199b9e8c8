//! What `weftctl bugtool` collects, one file per item, and its manifest
//! (pure: what was found on the node in, items and text out). Also reads
//! what was found: the Weft interfaces in `ip -j link show` and the Weft
//! conflists with the plugin's `logFile`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::Value;
use weft_api::{HOST_VETH_PREFIX, Request};

/// Lines of each log a report holds: recent enough to show the failure,
/// small enough to attach to an issue.
pub const LOG_LINES: usize = 2000;

/// The file every report holds whose success means weftd answered.
pub const STATUS_FILE: &str = "status.json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// weftd's reply to a request, as pretty JSON.
    Weftd(Box<Request>),
    /// What `weftctl version -o json` prints.
    Versions,
    /// weftd's GET /metrics.
    Metrics(SocketAddr),
    /// A command's stdout.
    Command(Vec<String>),
    /// The names and sizes of the files in a directory.
    Listing(PathBuf),
    /// A conflist with its secret values redacted.
    Conflist(PathBuf),
    /// The last `LOG_LINES` lines of a log, scrubbed of credentials.
    LogTail(PathBuf),
}

/// One file of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub file: String,
    pub source: Source,
}

/// What bugtool found on the node before planning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// Every interface name (`ip -j link show`).
    pub interfaces: Vec<String>,
    pub cni_conf_dir: PathBuf,
    /// The Weft conflists in it.
    pub conflists: Vec<PathBuf>,
    /// Logs asked for, then the plugin's from the conflists.
    pub log_files: Vec<PathBuf>,
    pub metrics_addr: Option<SocketAddr>,
    pub bpftool: bool,
}

/// Every item of a report about what `found` describes.
pub fn plan(found: &Found) -> Vec<Item> {
    let item = |file: &str, source| Item {
        file: file.to_owned(),
        source,
    };
    let command = |file: &str, argv: &[&str]| {
        item(
            file,
            Source::Command(argv.iter().map(|a| (*a).to_owned()).collect()),
        )
    };
    let mut items = vec![
        item(
            STATUS_FILE,
            Source::Weftd(Box::new(Request::NodeStatus { verbose: true })),
        ),
        item("version.json", Source::Versions),
        item(
            "endpoints.json",
            Source::Weftd(Box::new(Request::Endpoints)),
        ),
        item(
            "identities.json",
            Source::Weftd(Box::new(Request::Identities)),
        ),
    ];
    if let Some(addr) = found.metrics_addr {
        items.push(item("metrics.txt", Source::Metrics(addr)));
    }
    items.extend([
        command("links.txt", &["ip", "-d", "link", "show"]),
        command("addresses.txt", &["ip", "-d", "addr", "show"]),
        command("routes.txt", &["ip", "-4", "route", "show", "table", "all"]),
        command(
            "routes6.txt",
            &["ip", "-6", "route", "show", "table", "all"],
        ),
        command("neighbours.txt", &["ip", "neigh", "show"]),
        command("fdb.txt", &["bridge", "fdb", "show"]),
        command("nft.txt", &["nft", "list", "table", "inet", "weft"]),
    ]);
    for interface in found
        .interfaces
        .iter()
        .filter(|name| name.starts_with(HOST_VETH_PREFIX))
    {
        for direction in ["ingress", "egress"] {
            items.push(command(
                &format!("tc-{interface}-{direction}.txt"),
                &["tc", "filter", "show", "dev", interface, direction],
            ));
        }
    }
    if found.bpftool {
        items.push(command("bpftool-maps.txt", &["bpftool", "map", "show"]));
    }
    items.push(item(
        "cni-conf-dir.txt",
        Source::Listing(found.cni_conf_dir.clone()),
    ));
    for conflist in &found.conflists {
        let name = conflist
            .file_name()
            .map_or_else(|| conflist.to_string_lossy(), |name| name.to_string_lossy());
        items.push(item(
            &format!("conflist-{name}"),
            Source::Conflist(conflist.clone()),
        ));
    }
    let mut logs: Vec<&PathBuf> = Vec::new();
    for log in &found.log_files {
        if !logs.contains(&log) {
            logs.push(log);
        }
    }
    items.extend(
        logs.into_iter()
            .map(|log| item(&log_file_name(log), Source::LogTail(log.clone()))),
    );
    items
}

/// `/var/log/weft.log` becomes `log-var-log-weft.log`: flat, and telling
/// which log it was.
fn log_file_name(path: &Path) -> String {
    let flat = path
        .to_string_lossy()
        .trim_start_matches('/')
        .replace('/', "-");
    format!("log-{flat}")
}

/// The interface names in `ip -j link show`'s output; none when it is not
/// that (the links item then holds the error).
pub fn interface_names(ip_json: &[u8]) -> Vec<String> {
    let links: Vec<Value> = serde_json::from_slice(ip_json).unwrap_or_default();
    links
        .iter()
        .filter_map(|link| link["ifname"].as_str().map(str::to_owned))
        .collect()
}

/// Whether a network configuration (conflist or single .conf) runs `weft`.
pub fn is_weft_config(config: &Value) -> bool {
    weft_plugins(config).next().is_some()
}

/// The `logFile` of each `weft` plugin in `config`.
pub fn plugin_log_files(config: &Value) -> Vec<PathBuf> {
    weft_plugins(config)
        .filter_map(|plugin| plugin["logFile"].as_str())
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .collect()
}

fn weft_plugins(config: &Value) -> impl Iterator<Item = &Value> {
    let plugins = config["plugins"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    plugins
        .iter()
        .chain(std::iter::once(config))
        .filter(|plugin| plugin["type"] == "weft")
}

/// MANIFEST.txt: each file, whether its collection succeeded, what it holds.
pub fn manifest(entries: &[(String, bool, String)]) -> String {
    let width = entries
        .iter()
        .map(|(file, _, _)| file.len())
        .max()
        .unwrap_or(0);
    let mut text = String::from(
        "# weftctl bugtool: one line per file. FAILED: the file holds the error instead.\n",
    );
    for (file, ok, what) in entries {
        let state = if *ok { "ok" } else { "FAILED" };
        text.push_str(&format!("{state:<6}  {file:<width$}  {what}\n"));
    }
    text
}

/// What an item holds, for the manifest.
pub fn describe(source: &Source) -> String {
    match source {
        Source::Weftd(request) => format!("weftd's reply to {request:?}"),
        Source::Versions => "weftctl, weftd and plugin builds".into(),
        Source::Metrics(addr) => format!("GET http://{addr}/metrics"),
        Source::Command(argv) => argv.join(" "),
        Source::Listing(dir) => format!("files in {}", dir.display()),
        Source::Conflist(path) => format!("{}, secrets redacted", path.display()),
        Source::LogTail(path) => format!(
            "last {LOG_LINES} lines of {}, credentials scrubbed",
            path.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn files(items: &[Item]) -> Vec<&str> {
        items.iter().map(|item| item.file.as_str()).collect()
    }

    #[test]
    fn a_report_has_weftds_view_the_nodes_and_tc_of_weft_interfaces_only() {
        let found = Found {
            interfaces: vec![
                "lo".into(),
                "eth0".into(),
                "weft1a2b".into(),
                "weft.vxlan".into(),
            ],
            cni_conf_dir: "/etc/cni/net.d".into(),
            conflists: vec!["/etc/cni/net.d/10-weft.conflist".into()],
            log_files: vec![
                "/var/log/weft.log".into(),
                "/tmp/a.log".into(),
                "/var/log/weft.log".into(),
            ],
            metrics_addr: Some("127.0.0.1:9968".parse().unwrap()),
            bpftool: false,
        };
        let items = plan(&found);
        assert_eq!(
            files(&items),
            [
                "status.json",
                "version.json",
                "endpoints.json",
                "identities.json",
                "metrics.txt",
                "links.txt",
                "addresses.txt",
                "routes.txt",
                "routes6.txt",
                "neighbours.txt",
                "fdb.txt",
                "nft.txt",
                "tc-weft1a2b-ingress.txt",
                "tc-weft1a2b-egress.txt",
                "tc-weft.vxlan-ingress.txt",
                "tc-weft.vxlan-egress.txt",
                "cni-conf-dir.txt",
                "conflist-10-weft.conflist",
                "log-var-log-weft.log",
                "log-tmp-a.log",
            ]
        );
        assert_eq!(
            items[13].source,
            Source::Command(
                ["tc", "filter", "show", "dev", "weft1a2b", "egress"]
                    .map(String::from)
                    .to_vec()
            )
        );
    }

    #[test]
    fn metrics_off_and_bpftool_present_change_the_plan() {
        let items = plan(&Found {
            bpftool: true,
            ..Found::default()
        });
        let names = files(&items);
        assert!(!names.contains(&"metrics.txt"));
        assert!(names.contains(&"bpftool-maps.txt"));
    }

    #[test]
    fn interface_names_come_from_ip_json() {
        let json = br#"[{"ifindex":1,"ifname":"lo"},{"ifindex":5,"ifname":"weft1a2b","link":"x"}]"#;
        assert_eq!(interface_names(json), ["lo", "weft1a2b"]);
        assert!(interface_names(b"Error: nope").is_empty());
    }

    #[test]
    fn weft_configs_and_their_log_files_are_recognised() {
        let conflist = json!({
            "plugins": [{"type": "weft", "logFile": "/var/log/weft-cni.log"}, {"type": "portmap"}]
        });
        assert!(is_weft_config(&conflist));
        assert_eq!(
            plugin_log_files(&conflist),
            [PathBuf::from("/var/log/weft-cni.log")]
        );
        let single = json!({"type": "weft"});
        assert!(is_weft_config(&single));
        assert!(plugin_log_files(&single).is_empty());
        assert!(!is_weft_config(&json!({"plugins": [{"type": "bridge"}]})));
        assert!(!is_weft_config(&json!("not an object")));
    }

    #[test]
    fn the_manifest_says_which_files_failed() {
        let text = manifest(&[
            (
                "status.json".into(),
                true,
                "weftd's reply to NodeStatus".into(),
            ),
            ("nft.txt".into(), false, "nft list table inet weft".into()),
        ]);
        assert_eq!(
            text.lines().skip(1).collect::<Vec<_>>(),
            [
                "ok      status.json  weftd's reply to NodeStatus",
                "FAILED  nft.txt      nft list table inet weft",
            ]
        );
    }
}
