//! A lab's certificates, made fresh for every lab: one cluster CA, the API
//! server's serving certificate (for its service IP, its fabric address and
//! the names clients use), client certificates for the components and the
//! admin (identity in CN, groups in O, as the API server reads them), and
//! the ServiceAccount token signing key. Pure: keys and PEM text out; the
//! caller writes the files.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

#[derive(Debug, thiserror::Error)]
#[error("making the lab's certificates: {0}")]
pub struct PkiError(#[from] rcgen::Error);

/// A certificate and its private key, PEM-encoded.
#[derive(Debug, Clone)]
pub struct CertPair {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Who a client certificate speaks for: the user (CN) and its groups (O).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub user: String,
    pub groups: Vec<String>,
}

impl ClientIdentity {
    pub fn new(user: &str, groups: &[&str]) -> Self {
        Self {
            user: user.to_owned(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }
    }
}

/// The cluster CA: signs every other certificate of the lab.
pub struct ClusterCa {
    pub pair: CertPair,
    issuer: Issuer<'static, KeyPair>,
}

impl ClusterCa {
    pub fn new(lab_name: &str) -> Result<Self, PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name(&format!("weft-lab {lab_name} CA"), &[]);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key)?;
        let pair = CertPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        Ok(Self {
            pair,
            issuer: Issuer::new(params, key),
        })
    }

    /// The API server's serving certificate for `ips` and `dns_names`.
    pub fn serving(&self, ips: &[IpAddr], dns_names: &[&str]) -> Result<CertPair, PkiError> {
        let mut params = CertificateParams::new(
            dns_names
                .iter()
                .map(|n| (*n).to_owned())
                .collect::<Vec<_>>(),
        )?;
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        params.distinguished_name = name("kube-apiserver", &[]);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A client certificate for `identity`.
    pub fn client(&self, identity: &ClientIdentity) -> Result<CertPair, PkiError> {
        let mut params = CertificateParams::default();
        let groups: Vec<&str> = identity.groups.iter().map(String::as_str).collect();
        params.distinguished_name = name(&identity.user, &groups);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    fn sign(&self, mut params: CertificateParams) -> Result<CertPair, PkiError> {
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(CertPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// The key pair ServiceAccount tokens are signed with (private) and
/// checked with (public), PEM-encoded.
pub fn service_account_key() -> Result<CertPair, PkiError> {
    let key = KeyPair::generate()?;
    Ok(CertPair {
        cert_pem: key.public_key_pem(),
        key_pem: key.serialize_pem(),
    })
}

fn name(common_name: &str, organizations: &[&str]) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    for organization in organizations {
        name.push(DnType::OrganizationName, *organization);
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    /// `openssl x509 -text` of a PEM certificate.
    fn openssl_text(pem: &str) -> String {
        let mut child = Command::new("openssl")
            .args(["x509", "-noout", "-text"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(pem.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn the_serving_certificate_names_every_address_and_name_clients_use() {
        let ca = ClusterCa::new("t").unwrap();
        let ips: Vec<IpAddr> = vec!["10.96.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap()];
        let serving = ca
            .serving(&ips, &["kubernetes.default.svc", "localhost"])
            .unwrap();
        let text = openssl_text(&serving.cert_pem);
        for expected in [
            "IP Address:10.96.0.1",
            "IP Address:198.18.0.2",
            "DNS:kubernetes.default.svc",
            "DNS:localhost",
            "TLS Web Server Authentication",
            "Issuer: CN = weft-lab t CA",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
    }

    #[test]
    fn a_client_certificate_carries_the_user_and_groups() {
        let ca = ClusterCa::new("t").unwrap();
        let identity = ClientIdentity::new("system:node:n1", &["system:nodes"]);
        let text = openssl_text(&ca.client(&identity).unwrap().cert_pem);
        assert!(
            text.contains("Subject: CN = system:node:n1, O = system:nodes"),
            "{text}"
        );
        assert!(text.contains("TLS Web Client Authentication"), "{text}");
    }

    #[test]
    fn the_service_account_key_has_a_public_half() {
        let key = service_account_key().unwrap();
        assert!(key.cert_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        assert!(key.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    }
}
