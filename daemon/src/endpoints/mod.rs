//! The pod interfaces this node serves: the registry (pure), their durable
//! records, the service that records, programs and acknowledges ADD and DEL,
//! the reaper that deletes the host veths DEL retired, and the check that
//! their programs are attached.

pub mod attachments;
pub mod key_locks;
pub mod programmer;
pub mod registry;
pub mod service;
pub mod store;
pub mod veth_reaper;

pub use service::EndpointService;
