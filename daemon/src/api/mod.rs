//! weftd's endpoint API: the unix socket server and the handler that answers
//! each request line (the message types are crate weft-api).

pub mod handler;
pub mod node_status;
pub mod server;
