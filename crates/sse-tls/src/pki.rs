//! A throw-away PKI minted with rcgen, shaped like cert-manager's output: a CA, then leaf certificates with
//! the right key usages, written as `tls.crt` / `tls.key` / `ca.crt` files.

use std::path::Path;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::TlsFiles;

/// What a leaf certificate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    /// TLS server authentication.
    Server,
    /// TLS client authentication.
    Client,
}

/// A certificate authority that signs leaf certificates.
pub struct TestCa {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A leaf certificate and its key, PEM-encoded.
#[derive(Clone)]
pub struct Leaf {
    /// Certificate PEM.
    pub cert_pem: String,
    /// PKCS#8 private key PEM.
    pub key_pem: String,
}

impl TestCa {
    /// A new self-signed CA named `common_name`.
    pub fn new(common_name: &str) -> Result<Self, rcgen::Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate PEM (what cert-manager writes as `ca.crt`).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issue a leaf for `sans` (DNS names or IP addresses), valid from now for `validity`.
    pub fn issue(&self, sans: &[&str], usage: Usage, validity: Duration) -> Result<Leaf, rcgen::Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(sans.iter().map(|s| (*s).to_string()).collect::<Vec<_>>())?;
        if let Some(first) = sans.first() {
            params.distinguished_name.push(DnType::CommonName, *first);
        }
        let now = time_now();
        params.not_before = now - Duration::from_secs(60);
        params.not_after = now + validity;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![match usage {
            Usage::Server => ExtendedKeyUsagePurpose::ServerAuth,
            Usage::Client => ExtendedKeyUsagePurpose::ClientAuth,
        }];
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Issue a leaf and write it with this CA as `<dir>/tls.crt`, `<dir>/tls.key`, `<dir>/ca.crt`.
    pub fn write_leaf(&self, dir: &Path, sans: &[&str], usage: Usage) -> std::io::Result<TlsFiles> {
        let leaf = self
            .issue(sans, usage, Duration::from_secs(3600))
            .map_err(std::io::Error::other)?;
        self.write(dir, &leaf)
    }

    /// Write `leaf` and this CA's certificate into `dir` (replacing files atomically, as the kubelet does).
    pub fn write(&self, dir: &Path, leaf: &Leaf) -> std::io::Result<TlsFiles> {
        std::fs::create_dir_all(dir)?;
        let files = TlsFiles {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
            ca: dir.join("ca.crt"),
        };
        write_atomic(&files.cert, leaf.cert_pem.as_bytes())?;
        write_atomic(&files.key, leaf.key_pem.as_bytes())?;
        write_atomic(&files.ca, self.cert_pem.as_bytes())?;
        Ok(files)
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path)
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}
