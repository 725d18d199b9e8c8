//! The fixture of the connectivity tests: one pod per node of a 3-node
//! lab, each serving TCP and UDP (b labelled `app: b`, for a Service).

use std::time::Duration;

pub const PODS_YAML: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x}
spec:
  nodeName: n1
  containers: [{name: c, ports: [{containerPort: 80}, {containerPort: 53, protocol: UDP}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {app: b}}
spec:
  nodeName: n2
  containers: [{name: c, ports: [{containerPort: 80}, {containerPort: 53, protocol: UDP}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: x}
spec:
  nodeName: n3
  containers: [{name: c, ports: [{containerPort: 80}, {containerPort: 53, protocol: UDP}]}]
";
pub const PODS: [&str; 3] = ["x/a", "x/b", "x/c"];
pub const NODES: [&str; 3] = ["n1", "n2", "n3"];
pub const TCP_PORT: u16 = 80;
pub const UDP_PORT: u16 = 53;
/// The world server listens on this port, TCP and UDP.
pub const WORLD_PORT: u16 = 80;
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
