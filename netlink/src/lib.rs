//! The rtnetlink lookups both the CNI plugin and weftd make: which interface
//! the default route leaves by and its MTU, and which host veths the
//! plugin's DEL retired. Pure pickers (netlink answers in, choice out) and
//! thin async queries over an `rtnetlink::Handle` that feed them.

mod error;
mod links;
mod query;
mod routes;

pub use error::QueryError;
pub use links::{link_mtu, retired_veth_names};
pub use query::{default_route_mtu, retired_veths};
pub use routes::{default_route_ifindex, table_of};
