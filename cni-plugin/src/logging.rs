//! The plugin's log, for whoever debugs a node: off unless `RUST_LOG` is set
//! (then on stderr, at its level, as netavark does) or the netconf names a
//! `logFile` (appended to, at `RUST_LOG`'s level, else info). Never on
//! stdout: that is the runtime's, for the result or error JSON alone.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

/// The log file's level when `RUST_LOG` does not say.
const DEFAULT_FILTER: &str = "info";
/// The log names pods and their addresses: for root only.
const LOG_FILE_MODE: u32 = 0o600;

/// Where the log goes and how much of it, decided from `RUST_LOG` alone
/// (the netconf, which may name a file, is read later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// `RUST_LOG` is set: log to stderr.
    pub stderr: bool,
    /// Filter directives for both destinations.
    pub filter: String,
}

impl LogSettings {
    /// An empty `RUST_LOG` counts as unset.
    pub fn from_rust_log(rust_log: Option<&str>) -> Self {
        match rust_log.map(str::trim).filter(|text| !text.is_empty()) {
            Some(directives) => LogSettings {
                stderr: true,
                filter: directives.to_owned(),
            },
            None => LogSettings {
                stderr: false,
                filter: DEFAULT_FILTER.to_owned(),
            },
        }
    }
}

/// The log file, opened once the netconf named it; until then (and
/// without one) its events are not even formatted.
#[derive(Debug, Clone, Default)]
pub struct LogFile(Arc<OnceLock<File>>);

impl LogFile {
    /// Appends the log to `path` from now on.
    pub fn open(&self, path: &Path) -> io::Result<()> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(LOG_FILE_MODE)
            .open(path)?;
        // There is one call per run (one netconf names one file); were
        // there a second, the first file would stay.
        let _ = self.0.set(file);
        Ok(())
    }

    fn is_open(&self) -> bool {
        self.0.get().is_some()
    }
}

impl<'a> MakeWriter<'a> for LogFile {
    type Writer = LogFileWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LogFileWriter(self.0.get())
    }
}

/// Writes to the log file, or nowhere before it is open.
pub struct LogFileWriter<'a>(Option<&'a File>);

impl Write for LogFileWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.0 {
            Some(file) => file.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.0 {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

/// Installs the process's logger and returns the file it also writes to
/// once opened. A `RUST_LOG` that does not parse falls back to the default
/// level, with a warning on stderr.
pub fn install(settings: &LogSettings) -> LogFile {
    let file = LogFile::default();
    let gate = file.clone();
    // Spans always pass: they carry the invocation's fields, and the one
    // around the whole verb starts before the netconf names the file.
    let file_layer = fmt::layer()
        .with_ansi(false)
        .with_writer(file.clone())
        .with_filter(filter(settings))
        .with_filter(filter_fn(move |meta| !meta.is_event() || gate.is_open()));
    let stderr_layer = settings.stderr.then(|| {
        fmt::layer()
            .with_ansi(false)
            .with_writer(io::stderr)
            .with_filter(filter(settings))
    });
    // Fails only when a logger is installed already, which then logs.
    let _ = tracing_subscriber::registry()
        .with(file_layer)
        .with(stderr_layer)
        .try_init();
    file
}

fn filter(settings: &LogSettings) -> EnvFilter {
    EnvFilter::try_new(&settings.filter).unwrap_or_else(|err| {
        let _ = writeln!(
            io::stderr(),
            "weft: RUST_LOG {:?} is not a log filter ({err}); logging at {DEFAULT_FILTER}",
            settings.filter
        );
        EnvFilter::new(DEFAULT_FILTER)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_turns_on_stderr_at_its_level() {
        assert_eq!(
            LogSettings::from_rust_log(Some("debug")),
            LogSettings {
                stderr: true,
                filter: "debug".into()
            }
        );
    }

    #[test]
    fn without_rust_log_only_a_file_logs_at_info() {
        for unset in [None, Some(""), Some("  ")] {
            assert_eq!(
                LogSettings::from_rust_log(unset),
                LogSettings {
                    stderr: false,
                    filter: "info".into()
                },
                "{unset:?}"
            );
        }
    }

    #[test]
    fn the_file_gets_only_what_is_written_after_it_is_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weft.log");
        let file = LogFile::default();
        file.make_writer().write_all(b"lost\n").unwrap();
        assert!(!path.exists());
        file.open(&path).unwrap();
        file.make_writer().write_all(b"kept\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "kept\n");
    }

    #[test]
    fn the_file_is_appended_to_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weft.log");
        std::fs::write(&path, "earlier run\n").unwrap();
        let file = LogFile::default();
        file.open(&path).unwrap();
        file.make_writer().write_all(b"this run\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "earlier run\nthis run\n"
        );
        let fresh = dir.path().join("fresh.log");
        LogFile::default().open(&fresh).unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, LOG_FILE_MODE);
    }
}
