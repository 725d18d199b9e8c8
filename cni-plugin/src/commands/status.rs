//! STATUS (CNI 1.1): ready when weftd says so; standalone is always ready.

use crate::daemon;
use crate::error::CniError;
use crate::netconf::NetConf;

pub fn status(conf: &NetConf) -> Result<(), CniError> {
    if conf.standalone {
        return Ok(());
    }
    daemon::status(&conf.daemon_socket)
}
