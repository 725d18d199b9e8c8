//! CNI specification versions: which ones weft speaks, parsing the
//! `cniVersion` string, and which verbs each version allows.

use std::fmt;

use serde::Serialize;

/// A CNI specification version weft supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CniVersion {
    V0_3_0,
    V0_3_1,
    V0_4_0,
    V1_0_0,
    V1_1_0,
}

/// Why a `cniVersion` string was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// Not a `MAJOR.MINOR.PATCH` version at all.
    #[error("cniVersion {0:?} is not a semantic version")]
    Malformed(String),
    /// A well-formed version weft does not implement.
    #[error("cniVersion {0} is not supported (weft supports {supported})", supported = CniVersion::supported_list())]
    Unsupported(String),
}

impl CniVersion {
    /// Every supported version, oldest first (the VERSION verb's list).
    pub const ALL: [CniVersion; 5] = [
        CniVersion::V0_3_0,
        CniVersion::V0_3_1,
        CniVersion::V0_4_0,
        CniVersion::V1_0_0,
        CniVersion::V1_1_0,
    ];
    pub const LATEST: CniVersion = CniVersion::V1_1_0;

    pub fn as_str(self) -> &'static str {
        match self {
            CniVersion::V0_3_0 => "0.3.0",
            CniVersion::V0_3_1 => "0.3.1",
            CniVersion::V0_4_0 => "0.4.0",
            CniVersion::V1_0_0 => "1.0.0",
            CniVersion::V1_1_0 => "1.1.0",
        }
    }

    /// Parses a `cniVersion` value. A well-formed but unknown version (e.g.
    /// 0.2.0, 2.0.0) is `Unsupported`; anything else is `Malformed`.
    pub fn parse(text: &str) -> Result<CniVersion, VersionError> {
        if let Some(version) = Self::ALL.into_iter().find(|v| v.as_str() == text) {
            return Ok(version);
        }
        let numeric_parts = text
            .split('.')
            .filter(|part| is_semver_number(part))
            .count();
        if numeric_parts == 3 && text.split('.').count() == 3 {
            Err(VersionError::Unsupported(text.to_string()))
        } else {
            Err(VersionError::Malformed(text.to_string()))
        }
    }

    /// CHECK exists since 0.4.0.
    pub fn allows_check(self) -> bool {
        self >= CniVersion::V0_4_0
    }

    /// GC and STATUS exist since 1.1.0.
    pub fn allows_gc_and_status(self) -> bool {
        self >= CniVersion::V1_1_0
    }

    /// Results before 1.0.0 carry `"version": "4"|"6"` on every IP.
    pub fn ips_carry_version(self) -> bool {
        self < CniVersion::V1_0_0
    }

    /// Interface `mtu` (and the other 1.1.0 interface/route fields) exist since 1.1.0.
    pub fn has_interface_mtu(self) -> bool {
        self >= CniVersion::V1_1_0
    }

    fn supported_list() -> String {
        Self::ALL.map(CniVersion::as_str).join(", ")
    }
}

/// A semantic-version number part: digits, no leading zero unless "0".
fn is_semver_number(part: &str) -> bool {
    !part.is_empty()
        && part.bytes().all(|b| b.is_ascii_digit())
        && (part == "0" || !part.starts_with('0'))
}

impl fmt::Display for CniVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CniVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The VERSION verb's output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    pub cni_version: CniVersion,
    pub supported_versions: Vec<CniVersion>,
}

impl VersionInfo {
    pub fn current() -> Self {
        VersionInfo {
            cni_version: CniVersion::LATEST,
            supported_versions: CniVersion::ALL.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_supported_version() {
        for version in CniVersion::ALL {
            assert_eq!(CniVersion::parse(version.as_str()), Ok(version));
        }
    }

    #[test]
    fn well_formed_unknown_versions_are_unsupported() {
        for text in ["0.1.0", "0.2.0", "0.3.2", "1.2.0", "2.0.0"] {
            assert_eq!(
                CniVersion::parse(text),
                Err(VersionError::Unsupported(text.into())),
                "{text}"
            );
        }
    }

    #[test]
    fn garbage_versions_are_malformed() {
        for text in [
            "",
            "1",
            "1.0",
            "one.two.three",
            "1.0.0.0",
            "01.0.0",
            "1.0.0-rc1",
            " 1.0.0",
        ] {
            assert_eq!(
                CniVersion::parse(text),
                Err(VersionError::Malformed(text.into())),
                "{text:?}"
            );
        }
    }

    #[test]
    fn verb_availability_follows_the_spec() {
        assert!(!CniVersion::V0_3_1.allows_check());
        assert!(CniVersion::V0_4_0.allows_check());
        assert!(!CniVersion::V1_0_0.allows_gc_and_status());
        assert!(CniVersion::V1_1_0.allows_gc_and_status());
    }

    #[test]
    fn version_info_lists_all_versions() {
        let json = serde_json::to_string(&VersionInfo::current()).unwrap();
        assert_eq!(
            json,
            r#"{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}"#
        );
    }
}
