//! Policy ports as the API server validates them: TCP, UDP or SCTP, a port
//! number or name, and an endPort that closes a numeric range.

use weft_datastore::k8s_openapi::api::networking::v1::NetworkPolicyPort;
use weft_datastore::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::FieldError;
use super::names::check_port_name;
use crate::Protocol;

/// `ports` of one rule.
pub(super) fn check_ports(
    field: &str,
    ports: Option<&[NetworkPolicyPort]>,
) -> Result<(), FieldError> {
    for (i, port) in ports.into_iter().flatten().enumerate() {
        let here = format!("{field}[{i}]");
        if let Some(protocol) = &port.protocol
            && Protocol::from_name(protocol).is_none()
        {
            return Err(FieldError::new(
                format!("{here}.protocol"),
                format!("{protocol:?} is not TCP, UDP or SCTP"),
            ));
        }
        let start = match &port.port {
            Some(IntOrString::Int(number)) => {
                check_port_number(&format!("{here}.port"), *number)?;
                Some(*number)
            }
            Some(IntOrString::String(name)) => {
                check_port_name(&format!("{here}.port"), name)?;
                None
            }
            None => None,
        };
        if let Some(end) = port.end_port {
            let end_field = format!("{here}.endPort");
            let Some(start) = start else {
                return Err(FieldError::new(end_field, "needs a numeric port"));
            };
            check_port_number(&end_field, end)?;
            if end < start {
                return Err(FieldError::new(
                    end_field,
                    format!("{end} is below port {start}"),
                ));
            }
        }
    }
    Ok(())
}

/// A port number: 1..=65535.
pub fn check_port_number(field: &str, port: i32) -> Result<(), FieldError> {
    if (1..=65535).contains(&port) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("{port} is not between 1 and 65535"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::tests::{field_of, policy};
    use crate::validate::validate_policy;

    /// A rule with a valid port and then `port`.
    fn ports(port: &str) -> String {
        format!("{{ingress: [{{ports: [{{port: 80}}, {port}]}}]}}")
    }

    #[test]
    fn protocols_are_tcp_udp_or_sctp() {
        for protocol in ["TCP", "UDP", "SCTP"] {
            let p = policy(&ports(&format!("{{protocol: {protocol}, port: 53}}")));
            assert_eq!(validate_policy(&p), Ok(()), "{protocol}");
        }
        for protocol in ["ICMP", "tcp"] {
            assert_eq!(
                field_of(&ports(&format!("{{protocol: {protocol}}}"))),
                "spec.ingress[0].ports[1].protocol"
            );
        }
    }

    #[test]
    fn ports_are_numbers_in_range_or_names() {
        for port in ["0", "70000", "-1", "Not_a_name", "'80'"] {
            assert_eq!(
                field_of(&ports(&format!("{{port: {port}}}"))),
                "spec.ingress[0].ports[1].port",
                "{port}"
            );
        }
        for port in ["1", "65535", "http"] {
            let p = policy(&ports(&format!("{{port: {port}}}")));
            assert_eq!(validate_policy(&p), Ok(()), "{port}");
        }
    }

    #[test]
    fn end_ports_close_a_numeric_range() {
        for bad in [
            "{port: http, endPort: 90}",
            "{endPort: 90}",
            "{port: 100, endPort: 90}",
            "{port: 100, endPort: 65536}",
        ] {
            assert_eq!(
                field_of(&ports(bad)),
                "spec.ingress[0].ports[1].endPort",
                "{bad}"
            );
        }
        let same = policy(&ports("{port: 100, endPort: 100}"));
        assert_eq!(validate_policy(&same), Ok(()));
    }
}
