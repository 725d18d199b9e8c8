//! The verbs. Each takes the validated config and environment, does its
//! work through the shell modules, and returns a typed CNI outcome; the
//! mapping of library errors to CNI codes lives here.

mod add;
mod check;
mod del;
mod gc;
mod status;

pub use add::add;
pub use check::check;
pub use del::del;
pub use gc::gc;
pub use status::status;

use std::path::{Path, PathBuf};

use weft_ipam::{IpamError, IpamStore};

use crate::error::{CniError, ErrorCode};
use crate::netlink::KernelError;
use crate::netlink::netns::NetnsError;

fn ipam_error(err: IpamError) -> CniError {
    let code = match err {
        IpamError::Exhausted { .. } => ErrorCode::Exhausted,
        IpamError::NoSubnet => ErrorCode::NodeNetworkUnknown,
        _ => ErrorCode::IpamStore,
    };
    CniError::new(code, err.to_string())
}

fn kernel_error(err: KernelError) -> CniError {
    CniError::new(ErrorCode::KernelOperationFailed, err.to_string())
}

fn netns_error(err: NetnsError) -> CniError {
    let code = match err {
        NetnsError::NotFound(_) => ErrorCode::UnknownContainer,
        NetnsError::NotANetns(_) | NetnsError::OwnNetns(_) => ErrorCode::InvalidEnvironment,
        NetnsError::Io { .. } => ErrorCode::IoFailure,
    };
    CniError::new(code, err.to_string())
}

fn open_store(dir: &Path) -> Result<IpamStore, CniError> {
    IpamStore::open(dir).map_err(ipam_error)
}

/// `CNI_NETNS` of a verb that requires it (the environment check made sure).
fn required_netns(netns: Option<&PathBuf>) -> Result<&Path, CniError> {
    netns.map(PathBuf::as_path).ok_or_else(|| {
        CniError::new(
            ErrorCode::InvalidEnvironment,
            "required environment variables missing: CNI_NETNS",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_ipam_errors_to_codes() {
        let exhausted = IpamError::Exhausted {
            subnet: "10.0.0.0/30".parse().unwrap(),
        };
        assert_eq!(ipam_error(exhausted).code, ErrorCode::Exhausted);
        assert_eq!(
            ipam_error(IpamError::NoSubnet).code,
            ErrorCode::NodeNetworkUnknown
        );
        let corrupt = IpamError::Corrupt {
            path: "/x".into(),
            reason: "bad".into(),
        };
        assert_eq!(ipam_error(corrupt).code, ErrorCode::IpamStore);
    }

    #[test]
    fn maps_netns_errors_to_codes() {
        assert_eq!(
            netns_error(NetnsError::NotFound("/run/netns/x".into())).code,
            ErrorCode::UnknownContainer
        );
        assert_eq!(
            netns_error(NetnsError::NotANetns("/etc/hosts".into())).code,
            ErrorCode::InvalidEnvironment
        );
    }
}
