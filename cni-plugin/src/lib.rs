//! The `weft` CNI plugin: gives a pod a veth into the node's routed pod
//! network with an IP from the node's pod subnet, and registers it with
//! weftd so policy is in place before the pod sends a packet.
//!
//! [`run`] is the whole plugin: environment and stdin in, stdout text and
//! success out. Pure modules decide (netconf, env, CNI_ARGS, plan, result,
//! verify, naming, version, error); `netlink`, `daemon` and `logging` are
//! the shell.

pub mod build_info;
pub mod cni_args;
pub mod commands;
pub mod daemon;
pub mod env;
pub mod error;
pub mod install;
pub mod logging;
pub mod naming;
pub mod netconf;
pub mod netlink;
pub mod plan;
pub mod result;
pub mod verify;
pub mod version;

use std::io;
use std::path::Path;
use std::time::Instant;

use env::{AttachmentEnv, Command};
use error::{CniError, ErrorCode};
use netconf::NetConf;
use version::{CniVersion, VersionInfo};

/// What the binary prints on stdout and whether it exits successfully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub success: bool,
}

/// Runs one CNI invocation. `var` reads an environment variable;
/// `read_stdin` is only called by verbs that take a network configuration;
/// `open_log` is called with the netconf's `logFile`, if it names one.
pub fn run(
    var: impl Fn(&str) -> Option<String>,
    read_stdin: impl FnOnce() -> io::Result<Vec<u8>>,
    open_log: impl FnOnce(&Path),
) -> Outcome {
    let started = Instant::now();
    // Every line of this invocation says which one it is: runtimes run
    // many at once and a log file may be shared.
    let span = tracing::info_span!(
        "weft",
        command = var("CNI_COMMAND"),
        container_id = var("CNI_CONTAINERID"),
        ifname = var("CNI_IFNAME"),
        pid = std::process::id(),
    );
    let _in_span = span.enter();
    // Errors carry the config's version once it is known, else the latest.
    let mut version = CniVersion::LATEST;
    let outcome = dispatch(&var, read_stdin, open_log, &mut version);
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    match outcome {
        Ok(stdout) => {
            tracing::info!(elapsed_ms, "done");
            Outcome {
                stdout,
                success: true,
            }
        }
        Err(err) => {
            tracing::warn!(
                code = err.code.code(),
                details = err.details.as_deref(),
                elapsed_ms,
                "failed: {}",
                err.msg
            );
            Outcome {
                stdout: err.to_json(version),
                success: false,
            }
        }
    }
}

/// The error JSON printed when weft panics (a bug): the runtime still gets
/// a well-formed CNI error instead of a crash message.
pub fn panic_report(panic: &str) -> String {
    CniError::new(ErrorCode::Internal, format!("weft panicked: {panic}"))
        .to_json(CniVersion::LATEST)
}

enum Verb {
    Add(AttachmentEnv),
    Del(AttachmentEnv),
    Check(AttachmentEnv),
    Gc,
    Status,
}

fn dispatch(
    var: &impl Fn(&str) -> Option<String>,
    read_stdin: impl FnOnce() -> io::Result<Vec<u8>>,
    open_log: impl FnOnce(&Path),
    version_seen: &mut CniVersion,
) -> Result<String, CniError> {
    let command = Command::parse(var("CNI_COMMAND").as_deref())?;
    if command == Command::Version {
        return Ok(version_json());
    }
    let stdin = read_stdin()
        .map_err(|err| CniError::new(ErrorCode::IoFailure, format!("reading stdin: {err}")))?;
    let (version, value) = netconf::decode_version(&stdin)?;
    *version_seen = version;
    if let Some(path) = netconf::log_file(&value)? {
        open_log(&path);
    }
    tracing::info!(cni_version = %version, "start");

    let verb = match command {
        Command::Add => Verb::Add(AttachmentEnv::read(command, var)?),
        Command::Del => Verb::Del(AttachmentEnv::read(command, var)?),
        Command::Check => Verb::Check(AttachmentEnv::read(command, var)?),
        Command::Gc => Verb::Gc,
        Command::Status => Verb::Status,
        Command::Version => return Ok(version_json()),
    };
    let conf = NetConf::from_value(version, value)?;
    let no_output = |()| String::new();
    match verb {
        Verb::Add(env) => commands::add(&conf, &env).map(|result| result.to_json(version)),
        Verb::Del(env) => commands::del(&conf, &env).map(no_output),
        Verb::Check(env) => {
            require(version.allows_check(), "CHECK")?;
            commands::check(&conf, &env).map(no_output)
        }
        Verb::Gc => {
            require(version.allows_gc_and_status(), "GC")?;
            commands::gc(&conf).map(no_output)
        }
        Verb::Status => {
            require(version.allows_gc_and_status(), "STATUS")?;
            commands::status(&conf).map(no_output)
        }
    }
}

fn require(allowed: bool, verb: &str) -> Result<(), CniError> {
    if allowed {
        Ok(())
    } else {
        Err(CniError::new(
            ErrorCode::IncompatibleCniVersion,
            format!("config version does not allow {verb}"),
        ))
    }
}

fn version_json() -> String {
    // Two strings and a list of strings always encode.
    serde_json::to_string(&VersionInfo::current()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn invoke(vars: &[(&str, &str)], stdin: &str) -> Outcome {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let stdin = stdin.as_bytes().to_vec();
        run(|name| vars.get(name).cloned(), move || Ok(stdin), |_| {})
    }

    fn error_code(outcome: &Outcome) -> u64 {
        assert!(!outcome.success, "{}", outcome.stdout);
        let json: serde_json::Value = serde_json::from_str(&outcome.stdout).unwrap();
        json["code"].as_u64().unwrap()
    }

    #[test]
    fn version_needs_no_stdin() {
        let outcome = run(
            |name| (name == "CNI_COMMAND").then(|| "VERSION".to_string()),
            || panic!("VERSION must not read stdin"),
            |_| panic!("VERSION has no netconf to name a log file"),
        );
        assert!(outcome.success);
        assert!(
            outcome
                .stdout
                .contains(r#""supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]"#)
        );
    }

    #[test]
    fn missing_command_is_code_4() {
        assert_eq!(error_code(&invoke(&[], "{}")), 4);
    }

    #[test]
    fn unreadable_stdin_is_code_5() {
        let outcome = run(
            |name| (name == "CNI_COMMAND").then(|| "ADD".to_string()),
            || Err(io::Error::other("broken pipe")),
            |_| {},
        );
        assert_eq!(error_code(&outcome), 5);
    }

    #[test]
    fn malformed_stdin_is_code_6() {
        assert_eq!(
            error_code(&invoke(&[("CNI_COMMAND", "ADD")], "{not json")),
            6
        );
    }

    #[test]
    fn add_without_attachment_env_is_code_4_in_the_config_version() {
        let outcome = invoke(
            &[("CNI_COMMAND", "ADD")],
            r#"{"cniVersion":"0.4.0","name":"n","type":"weft"}"#,
        );
        assert_eq!(error_code(&outcome), 4);
        assert!(
            outcome.stdout.contains(r#""cniVersion":"0.4.0""#),
            "{}",
            outcome.stdout
        );
    }

    #[test]
    fn check_before_0_4_0_and_gc_status_before_1_1_0_are_code_1() {
        let env = [
            ("CNI_CONTAINERID", "c1"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_NETNS", "/run/netns/x"),
        ];
        for (command, version) in [("CHECK", "0.3.1"), ("GC", "1.0.0"), ("STATUS", "0.4.0")] {
            let mut vars = env.to_vec();
            vars.push(("CNI_COMMAND", command));
            let stdin = format!(r#"{{"cniVersion":"{version}","name":"n","type":"weft"}}"#);
            assert_eq!(error_code(&invoke(&vars, &stdin)), 1, "{command} {version}");
        }
    }

    #[test]
    fn standalone_status_is_ready_without_output() {
        let outcome = invoke(
            &[("CNI_COMMAND", "STATUS")],
            r#"{"cniVersion":"1.1.0","name":"n","type":"weft","standalone":true}"#,
        );
        assert_eq!(
            outcome,
            Outcome {
                stdout: String::new(),
                success: true
            }
        );
    }

    #[test]
    fn status_with_weftd_unreachable_is_code_50() {
        let outcome = invoke(
            &[("CNI_COMMAND", "STATUS")],
            r#"{"cniVersion":"1.1.0","name":"n","type":"weft","daemonSocket":"/nonexistent/weftd.sock"}"#,
        );
        assert_eq!(error_code(&outcome), 50);
    }

    #[test]
    fn gc_without_valid_attachments_is_code_7() {
        let outcome = invoke(
            &[("CNI_COMMAND", "GC")],
            r#"{"cniVersion":"1.1.0","name":"n","type":"weft","standalone":true}"#,
        );
        assert_eq!(error_code(&outcome), 7);
    }

    #[test]
    fn the_log_file_opens_before_the_verb_so_it_sees_even_env_errors() {
        let opened = std::cell::RefCell::new(None);
        let stdin =
            br#"{"cniVersion":"1.0.0","name":"n","type":"weft","logFile":"/var/log/weft.log"}"#;
        let outcome = run(
            |name| (name == "CNI_COMMAND").then(|| "ADD".to_string()),
            || Ok(stdin.to_vec()),
            |path| *opened.borrow_mut() = Some(path.to_path_buf()),
        );
        assert_eq!(error_code(&outcome), 4);
        assert_eq!(
            opened.into_inner(),
            Some(std::path::PathBuf::from("/var/log/weft.log"))
        );
    }

    #[test]
    fn a_relative_log_file_is_code_7_and_opens_nothing() {
        let stdin = br#"{"cniVersion":"1.1.0","name":"n","type":"weft","standalone":true,"logFile":"weft.log"}"#;
        let outcome = run(
            |name| (name == "CNI_COMMAND").then(|| "STATUS".to_string()),
            || Ok(stdin.to_vec()),
            |path| panic!("opened {}", path.display()),
        );
        assert_eq!(error_code(&outcome), 7);
    }

    #[test]
    fn panic_report_is_an_internal_cni_error() {
        let json: serde_json::Value = serde_json::from_str(&panic_report("boom")).unwrap();
        assert_eq!(json["code"], 999);
        assert_eq!(json["msg"], "weft panicked: boom");
    }
}
