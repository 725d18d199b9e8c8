//! `weft`, the CNI plugin binary: reads the CNI environment and stdin,
//! prints the result or error JSON, exits non-zero on error. Logs go to
//! stderr and the netconf's `logFile`, never to stdout. Without
//! CNI_COMMAND, `weft install DIR` installs the binary into a CNI bin dir
//! and `weft version` prints its build as JSON.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use weft_cni::logging::LogSettings;

/// Set once a panic has printed its error JSON, so exactly one JSON
/// document reaches the runtime even when a worker thread panicked.
static PANIC_REPORTED: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
    if std::env::var_os("CNI_COMMAND").is_none() {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if weft_cni::build_info::version_request(&args) {
            return version();
        }
        if let Some(request) = weft_cni::install::install_request(&args) {
            return install(request);
        }
    }
    // A panic is a bug, but the runtime must still get CNI error JSON.
    std::panic::set_hook(Box::new(|info| {
        if !PANIC_REPORTED.swap(true, Ordering::SeqCst) {
            let report = weft_cni::panic_report(&info.to_string());
            let _ = writeln!(std::io::stdout(), "{report}");
        }
    }));
    let settings = LogSettings::from_rust_log(std::env::var("RUST_LOG").ok().as_deref());
    let log_file = weft_cni::logging::install(&settings);
    let outcome = weft_cni::run(
        |name| std::env::var(name).ok(),
        || {
            let mut stdin = Vec::new();
            std::io::stdin().read_to_end(&mut stdin).map(|_| stdin)
        },
        |path| {
            // A log that cannot be written must not fail the pod's network.
            if let Err(err) = log_file.open(path) {
                let _ = writeln!(
                    std::io::stderr(),
                    "weft: cannot open logFile {}: {err}",
                    path.display()
                );
            }
        },
    );
    if PANIC_REPORTED.load(Ordering::SeqCst) {
        return ExitCode::FAILURE;
    }
    if !outcome.stdout.is_empty() {
        let _ = writeln!(std::io::stdout(), "{}", outcome.stdout);
    }
    if outcome.success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn version() -> ExitCode {
    match serde_json::to_string(&weft_cni::build_info::plugin_build()) {
        Ok(line) => {
            let _ = writeln!(std::io::stdout(), "{line}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "weft: {error}");
            ExitCode::FAILURE
        }
    }
}

fn install(request: Result<std::path::PathBuf, weft_cni::install::InstallError>) -> ExitCode {
    let installed = request.and_then(|dir| {
        let binary =
            std::env::current_exe().map_err(|source| weft_cni::install::InstallError::Read {
                path: "/proc/self/exe".into(),
                source,
            })?;
        weft_cni::install::install(&binary, &dir)
    });
    match installed {
        Ok(path) => {
            let _ = writeln!(std::io::stderr(), "weft: installed {}", path.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "weft: {error}");
            ExitCode::FAILURE
        }
    }
}
