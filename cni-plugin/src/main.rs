//! `weft`, the CNI plugin binary: reads the CNI environment and stdin,
//! prints the result or error JSON, exits non-zero on error.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a panic has printed its error JSON, so exactly one JSON
/// document reaches the runtime even when a worker thread panicked.
static PANIC_REPORTED: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
    // A panic is a bug, but the runtime must still get CNI error JSON.
    std::panic::set_hook(Box::new(|info| {
        if !PANIC_REPORTED.swap(true, Ordering::SeqCst) {
            let report = weft_cni::panic_report(&info.to_string());
            let _ = writeln!(std::io::stdout(), "{report}");
        }
    }));
    let outcome = weft_cni::run(
        |name| std::env::var(name).ok(),
        || {
            let mut stdin = Vec::new();
            std::io::stdin().read_to_end(&mut stdin).map(|_| stdin)
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
