//! Kernel settings the node network needs: IPv4 forwarding, and IPv6
//! forwarding where pods have IPv6 addresses, in the network namespace of
//! the calling thread (/proc/sys/net follows the caller's).

use std::path::Path;

use super::error::OverlayError;

const IPV4_FORWARDING: &str = "/proc/sys/net/ipv4/ip_forward";

const IPV6_FORWARDING: &str = "/proc/sys/net/ipv6/conf/all/forwarding";

/// Turns IPv4 forwarding on unless it already is; true if it changed.
pub fn enable_ipv4_forwarding() -> Result<bool, OverlayError> {
    ensure_value(Path::new(IPV4_FORWARDING), "1")
}

/// Turns IPv6 forwarding on unless it already is; true if it changed.
/// (The node then ignores router advertisements unless an interface's
/// `accept_ra` is 2, as on any IPv6 router.)
pub fn enable_ipv6_forwarding() -> Result<bool, OverlayError> {
    ensure_value(Path::new(IPV6_FORWARDING), "1")
}

/// Writes `value` to the sysctl file unless it already holds it.
fn ensure_value(path: &Path, value: &str) -> Result<bool, OverlayError> {
    let failed = |source| OverlayError::Sysctl {
        path: path.to_owned(),
        source,
    };
    let current = std::fs::read_to_string(path).map_err(failed)?;
    if current.trim() == value {
        return Ok(false);
    }
    std::fs::write(path, value).map_err(failed)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_only_when_the_value_differs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ip_forward");
        std::fs::write(&path, "0\n").unwrap();
        assert!(ensure_value(&path, "1").unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1");
        assert!(!ensure_value(&path, "1").unwrap());
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent");
        let error = ensure_value(&path, "1").unwrap_err();
        assert!(error.to_string().contains("absent"), "{error}");
    }
}
