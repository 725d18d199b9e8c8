//! `weftctl bugtool DIR`: writes what a bug report needs into DIR, one
//! file per item, each collected on its own (a failing item holds its error
//! and the rest go on), and MANIFEST.txt saying which succeeded. `plan`
//! decides what to collect and `redact` keeps secrets out; this module runs
//! the commands and reads the files. It never reads weftd's state dir (IPAM
//! and endpoint records) and copies only the Weft conflists, redacted.

mod plan;
mod redact;

use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use weft_api::Response;

use crate::probe::{command_output, http_get};
use crate::versions::{Ask, collect as collect_versions};
use plan::{Found, Item, LOG_LINES, STATUS_FILE, Source};

const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
const METRICS_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a log's end is read to find its last `LOG_LINES` lines.
const LOG_TAIL_BYTES: u64 = 8 << 20;

/// Where bugtool looks.
#[derive(Debug, Clone)]
pub struct Options {
    pub cni_conf_dir: PathBuf,
    pub cni_bin_dir: PathBuf,
    /// weftd's metrics server; `None` when it has none.
    pub metrics_addr: Option<SocketAddr>,
    /// Logs to include besides the plugin's.
    pub log_files: Vec<PathBuf>,
    /// weftd's state dir: nothing under it is copied.
    pub state_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum BugtoolError {
    #[error("{0} exists and is not empty: give a new or empty directory")]
    NotEmpty(PathBuf),
    #[error("creating {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One file written: its name, whether its item was collected, what it holds.
pub type Entry = (String, bool, String);

/// Collects every item into `dir` (created; refused when not empty);
/// the entries of MANIFEST.txt.
pub fn collect(dir: &Path, options: &Options, ask: Ask<'_>) -> Result<Vec<Entry>, BugtoolError> {
    prepare(dir)?;
    let items = plan::plan(&look_around(options));
    let mut entries = Vec::with_capacity(items.len());
    for item in items {
        let (ok, contents) = match gather(&item, options, ask) {
            Ok(contents) => (true, contents),
            Err(error) => (false, format!("weftctl bugtool: {error}\n").into_bytes()),
        };
        write(&dir.join(&item.file), &contents)?;
        entries.push((item.file, ok, plan::describe(&item.source)));
    }
    write(
        &dir.join("MANIFEST.txt"),
        plan::manifest(&entries).as_bytes(),
    )?;
    Ok(entries)
}

/// Whether weftd answered: the status item was collected.
pub fn weftd_answered(entries: &[Entry]) -> bool {
    entries
        .iter()
        .any(|(file, ok, _)| file == STATUS_FILE && *ok)
}

fn prepare(dir: &Path) -> Result<(), BugtoolError> {
    let create = |source| BugtoolError::Create {
        path: dir.to_path_buf(),
        source,
    };
    match std::fs::read_dir(dir) {
        Ok(mut entries) => match entries.next() {
            Some(_) => Err(BugtoolError::NotEmpty(dir.into())),
            None => Ok(()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Only root reads it: the report names the node's pods and addresses.
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(create)
        }
        Err(e) => Err(create(e)),
    }
}

fn write(path: &Path, contents: &[u8]) -> Result<(), BugtoolError> {
    std::fs::write(path, contents).map_err(|source| BugtoolError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The facts planning needs: interfaces, Weft conflists and their logs,
/// whether bpftool is installed. What cannot be read is left out here; its
/// own item (links.txt, cni-conf-dir.txt) says why.
fn look_around(options: &Options) -> Found {
    let interfaces = command_output("ip", &["-j", "link", "show"], COMMAND_TIMEOUT)
        .map(|json| plan::interface_names(&json))
        .unwrap_or_default();
    let mut conflists = Vec::new();
    let mut log_files = options.log_files.clone();
    for path in config_files(&options.cni_conf_dir) {
        let Some(config) = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        else {
            continue;
        };
        if plan::is_weft_config(&config) {
            log_files.extend(plan::plugin_log_files(&config));
            conflists.push(path);
        }
    }
    Found {
        interfaces,
        cni_conf_dir: options.cni_conf_dir.clone(),
        conflists,
        log_files,
        metrics_addr: options.metrics_addr,
        bpftool: on_path("bpftool"),
    }
}

/// The network configuration files of `dir`, by name as the runtime orders them.
fn config_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.is_file()
                && path
                    .extension()
                    .is_some_and(|ext| ext == "conflist" || ext == "conf" || ext == "json")
        })
        .collect();
    files.sort();
    files
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// The contents of one item's file, or why it has none.
fn gather(item: &Item, options: &Options, ask: Ask<'_>) -> Result<Vec<u8>, String> {
    match &item.source {
        Source::Weftd(request) => {
            let json = match ask(request)? {
                Response::NodeStatus { status } => serde_json::to_value(status),
                Response::Endpoints { endpoints } => serde_json::to_value(endpoints),
                Response::Report { report } => Ok(report),
                Response::Error { message, .. } => return Err(format!("weftd: {message}")),
                other => return Err(format!("unexpected reply from weftd: {other:?}")),
            };
            pretty(&json.map_err(|e| e.to_string())?)
        }
        Source::Versions => pretty(&collect_versions(ask, &options.cni_bin_dir).json()),
        Source::Metrics(addr) => {
            http_get(*addr, "/metrics", METRICS_TIMEOUT).map_err(|e| e.to_string())
        }
        Source::Command(argv) => {
            let args: Vec<&str> = argv.iter().skip(1).map(String::as_str).collect();
            let program = argv.first().map_or("", String::as_str);
            command_output(program, &args, COMMAND_TIMEOUT).map_err(|e| e.to_string())
        }
        Source::Listing(dir) => listing(dir),
        Source::Conflist(path) => {
            let bytes = read_outside(path, &options.state_dir)?;
            match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(mut config) => {
                    redact::redact_json(&mut config);
                    pretty(&config)
                }
                // Still worth seeing, as text: why the runtime rejects it.
                Err(e) => Ok(format!(
                    "# not JSON ({e}); scrubbed text follows\n{}",
                    redact::scrub_text(&String::from_utf8_lossy(&bytes))
                )
                .into_bytes()),
            }
        }
        Source::LogTail(path) => {
            let text = tail_of(path, &options.state_dir)?;
            Ok(redact::scrub_text(redact::tail_lines(&text, LOG_LINES)).into_bytes())
        }
    }
}

fn pretty(value: &impl serde::Serialize) -> Result<Vec<u8>, String> {
    let mut json = serde_json::to_vec_pretty(value).map_err(|e| e.to_string())?;
    json.push(b'\n');
    Ok(json)
}

/// "SIZE NAME" per file, by name, so a stray or stale configuration shows.
fn listing(dir: &Path) -> Result<Vec<u8>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files: Vec<(String, String)> = entries
        .flatten()
        .map(|entry| {
            let size = entry
                .metadata()
                .map_or_else(|e| e.to_string(), |m| m.len().to_string());
            (entry.file_name().to_string_lossy().into_owned(), size)
        })
        .collect();
    files.sort();
    Ok(files
        .into_iter()
        .map(|(name, size)| format!("{size:>10} {name}\n"))
        .collect::<String>()
        .into_bytes())
}

/// The file's contents, unless it lies (through links too) under the
/// state dir, whose files are never copied.
fn read_outside(path: &Path, state_dir: &Path) -> Result<Vec<u8>, String> {
    refuse_state(path, state_dir)?;
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The end of a log, from its last `LOG_TAIL_BYTES` on: a log can be
/// gigabytes, and only its last lines are kept.
fn tail_of(path: &Path, state_dir: &Path) -> Result<String, String> {
    refuse_state(path, state_dir)?;
    let failed = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut file = std::fs::File::open(path).map_err(failed)?;
    let len = file.metadata().map_err(failed)?.len();
    let start = len.saturating_sub(LOG_TAIL_BYTES);
    file.seek(SeekFrom::Start(start)).map_err(failed)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(failed)?;
    let text = String::from_utf8_lossy(&bytes);
    // Started mid-file: the first line is cut, so it is dropped.
    Ok(match (start > 0, text.split_once('\n')) {
        (true, Some((_, rest))) => rest.to_owned(),
        _ => text.into_owned(),
    })
}

fn refuse_state(path: &Path, state_dir: &Path) -> Result<(), String> {
    let real = path
        .canonicalize()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let state = state_dir
        .canonicalize()
        .unwrap_or_else(|_| state_dir.to_path_buf());
    if real.starts_with(&state) {
        Err(format!(
            "{} is under weftd's state dir {}, which bugtool never copies",
            path.display(),
            state.display()
        ))
    } else {
        Ok(())
    }
}
