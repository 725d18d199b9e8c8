//! The CNI environment: which verb to run (`CNI_COMMAND`) and, for verbs on
//! one attachment, the container ID, interface name, netns and `CNI_ARGS`,
//! validated before anything is touched.

use std::path::PathBuf;

use weft_ipam::AttachmentKey;

use crate::cni_args::PodArgs;
use crate::error::{CniError, ErrorCode};

/// Linux interface names are at most IFNAMSIZ - 1 bytes.
const MAX_IFNAME_LEN: usize = 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Add,
    Del,
    Check,
    Gc,
    Status,
    Version,
}

impl Command {
    /// Reads `CNI_COMMAND`; missing or unknown is an invalid environment.
    pub fn parse(value: Option<&str>) -> Result<Command, CniError> {
        match value {
            Some("ADD") => Ok(Command::Add),
            Some("DEL") => Ok(Command::Del),
            Some("CHECK") => Ok(Command::Check),
            Some("GC") => Ok(Command::Gc),
            Some("STATUS") => Ok(Command::Status),
            Some("VERSION") => Ok(Command::Version),
            Some(other) if !other.is_empty() => Err(CniError::new(
                ErrorCode::InvalidEnvironment,
                format!("unknown CNI_COMMAND: {other}"),
            )),
            _ => Err(CniError::new(
                ErrorCode::InvalidEnvironment,
                "required environment variables missing: CNI_COMMAND",
            )),
        }
    }

    fn requires_netns(self) -> bool {
        matches!(self, Command::Add | Command::Check)
    }
}

/// The environment of ADD, DEL and CHECK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentEnv {
    pub key: AttachmentKey,
    /// `CNI_NETNS`; optional for DEL (the netns may already be gone).
    pub netns: Option<PathBuf>,
    pub pod: PodArgs,
}

impl AttachmentEnv {
    /// Reads and validates the variables `command` needs; `var` looks one up
    /// (an empty value counts as unset, as in the reference library).
    pub fn read(
        command: Command,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<AttachmentEnv, CniError> {
        let var = |name: &str| var(name).filter(|value| !value.is_empty());
        let container_id = var("CNI_CONTAINERID");
        let ifname = var("CNI_IFNAME");
        let netns = var("CNI_NETNS");

        let mut missing = Vec::new();
        if container_id.is_none() {
            missing.push("CNI_CONTAINERID");
        }
        if command.requires_netns() && netns.is_none() {
            missing.push("CNI_NETNS");
        }
        if ifname.is_none() {
            missing.push("CNI_IFNAME");
        }
        let (Some(container_id), Some(ifname), true) = (container_id, ifname, missing.is_empty())
        else {
            return Err(CniError::new(
                ErrorCode::InvalidEnvironment,
                format!(
                    "required environment variables missing: {}",
                    missing.join(", ")
                ),
            ));
        };
        validate_container_id(&container_id)?;
        validate_ifname(&ifname)?;
        let pod = PodArgs::parse(&var("CNI_ARGS").unwrap_or_default())
            .map_err(|err| CniError::new(ErrorCode::InvalidEnvironment, err.to_string()))?;
        Ok(AttachmentEnv {
            key: AttachmentKey {
                container_id,
                ifname,
            },
            netns: netns.map(PathBuf::from),
            pod,
        })
    }
}

/// Same rule as the reference library: an alphanumeric first character,
/// then alphanumerics, '_', '.', '-'. It also keeps IDs safe in file names.
fn validate_container_id(id: &str) -> Result<(), CniError> {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(CniError::new(
            ErrorCode::InvalidEnvironment,
            format!("CNI_CONTAINERID {id:?} has invalid characters"),
        ))
    }
}

/// A name the kernel accepts for a network interface.
fn validate_ifname(name: &str) -> Result<(), CniError> {
    let problem = if name.len() > MAX_IFNAME_LEN {
        Some("is longer than 15 bytes")
    } else if name == "." || name == ".." {
        Some("is not a valid name")
    } else if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        Some("contains '/', ':' or whitespace")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(CniError::new(
            ErrorCode::InvalidEnvironment,
            format!("CNI_IFNAME {name:?} {problem}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const FULL: &[(&str, &str)] = &[
        ("CNI_CONTAINERID", "c1"),
        ("CNI_IFNAME", "eth0"),
        ("CNI_NETNS", "/run/netns/p"),
        ("CNI_ARGS", "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p"),
    ];

    #[test]
    fn parses_every_verb_and_rejects_others() {
        assert_eq!(Command::parse(Some("ADD")), Ok(Command::Add));
        assert_eq!(Command::parse(Some("GC")), Ok(Command::Gc));
        assert_eq!(Command::parse(Some("STATUS")), Ok(Command::Status));
        for bad in [None, Some(""), Some("add"), Some("FROB")] {
            assert_eq!(
                Command::parse(bad).unwrap_err().code,
                ErrorCode::InvalidEnvironment,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn reads_a_complete_add_environment() {
        let env = AttachmentEnv::read(Command::Add, lookup(FULL)).unwrap();
        assert_eq!(env.key.container_id, "c1");
        assert_eq!(env.key.ifname, "eth0");
        assert_eq!(env.netns, Some(PathBuf::from("/run/netns/p")));
        assert_eq!(env.pod.name.as_deref(), Some("p"));
    }

    #[test]
    fn add_without_netns_names_every_missing_variable() {
        let err = AttachmentEnv::read(Command::Add, lookup(&[("CNI_IFNAME", "eth0")])).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidEnvironment);
        assert_eq!(
            err.msg,
            "required environment variables missing: CNI_CONTAINERID, CNI_NETNS"
        );
    }

    #[test]
    fn empty_values_count_as_missing() {
        let vars = [
            ("CNI_CONTAINERID", "c1"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_NETNS", ""),
        ];
        let err = AttachmentEnv::read(Command::Check, lookup(&vars)).unwrap_err();
        assert!(err.msg.ends_with("CNI_NETNS"), "{}", err.msg);
    }

    #[test]
    fn del_does_not_need_a_netns() {
        let vars = [("CNI_CONTAINERID", "c1"), ("CNI_IFNAME", "eth0")];
        let env = AttachmentEnv::read(Command::Del, lookup(&vars)).unwrap();
        assert_eq!(env.netns, None);
    }

    #[test]
    fn rejects_bad_container_ids_and_ifnames() {
        for (id, ifname) in [
            ("-c1", "eth0"),
            ("c 1", "eth0"),
            ("c/1", "eth0"),
            ("c1", "a-name-longer-than-15"),
            ("c1", "eth/0"),
            ("c1", "eth:0"),
            ("c1", ".."),
        ] {
            let vars = [
                ("CNI_CONTAINERID", id),
                ("CNI_IFNAME", ifname),
                ("CNI_NETNS", "/n"),
            ];
            let err = AttachmentEnv::read(Command::Add, lookup(&vars)).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidEnvironment, "{id} {ifname}");
        }
    }

    #[test]
    fn bad_cni_args_are_an_invalid_environment() {
        let mut vars = FULL.to_vec();
        vars[3] = ("CNI_ARGS", "UNKNOWN=1");
        let err = AttachmentEnv::read(Command::Add, lookup(&vars)).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidEnvironment);
        assert!(err.msg.contains("UNKNOWN"), "{}", err.msg);
    }
}
