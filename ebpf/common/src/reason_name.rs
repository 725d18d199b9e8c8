//! The names a verdict reason goes by outside the datapath: in `/metrics`,
//! `weftctl status` and `weftctl observe`.

use crate::datapath::*;

/// (verdict, reason) of a datapath reason code.
pub fn reason_name(reason: u32) -> (&'static str, &'static str) {
    match reason {
        REASON_ALLOWED_BY_POLICY => ("allowed", "policy"),
        REASON_ALLOWED_NOT_ENFORCED => ("allowed", "not-enforced"),
        REASON_ALLOWED_ESTABLISHED => ("allowed", "established"),
        REASON_ALLOWED_OWN_TRAFFIC => ("allowed", "own-traffic"),
        REASON_DROPPED_BY_POLICY => ("dropped", "policy"),
        REASON_DROPPED_SPOOFED_MAC => ("dropped", "spoofed-mac"),
        REASON_DROPPED_SPOOFED_IP => ("dropped", "spoofed-ip"),
        REASON_DROPPED_UNKNOWN_ENDPOINT => ("dropped", "unknown-endpoint"),
        REASON_DROPPED_UNSUPPORTED => ("dropped", "unsupported"),
        REASON_DROPPED_IPV6_EXTENSIONS => ("dropped", "ipv6-extensions"),
        REASON_DROPPED_FRAGMENT => ("dropped", "fragment"),
        REASON_DROPPED_CONNTRACK_FULL => ("dropped", "conntrack-full"),
        _ => ("unknown", "unknown"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_a_name() {
        for reason in 0..REASON_COUNT {
            assert_ne!(reason_name(reason).0, "unknown", "{reason}");
        }
        assert_eq!(reason_name(REASON_COUNT), ("unknown", "unknown"));
    }
}
