//! Mutual-TLS server and client configurations built from PEM files.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};

use crate::{Error, Reloader};

/// The three files cert-manager's Secret mounts: our certificate chain, its key, and the CA bundle
/// that the peer's certificate must chain to.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// PEM certificate chain (leaf first), e.g. `tls.crt`.
    pub cert: PathBuf,
    /// PEM private key, e.g. `tls.key`.
    pub key: PathBuf,
    /// PEM CA bundle, e.g. `ca.crt`.
    pub ca: PathBuf,
}

impl TlsFiles {
    fn paths(&self) -> Vec<PathBuf> {
        vec![self.cert.clone(), self.key.clone(), self.ca.clone()]
    }
}

/// ALPN for gRPC.
const H2: &[u8] = b"h2";

/// A reloading server config that requires a client certificate signed by the CA bundle.
#[derive(Clone)]
pub struct ServerTls(Arc<Reloader<ServerConfig>>);

impl ServerTls {
    /// Load the files; fails when they are missing or unusable. A client certificate must chain to the CA
    /// bundle and, unless `client_names` is empty, be valid for one of these DNS names (its subject
    /// alternative names, checked as a server name would be): another certificate from the same CA, such
    /// as one a namespace user obtained from a shared issuer, is refused during the handshake.
    pub fn load(files: &TlsFiles, client_names: &[String]) -> Result<Self, Error> {
        let names = files.clone();
        let pinned = client_names
            .iter()
            .map(|n| {
                ServerName::try_from(n.clone()).map_err(|e| Error::Pem {
                    path: "--tls-client-name".into(),
                    what: format!("{n:?} is not a DNS name: {e}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let reloader = Reloader::new(files.paths(), move |c| {
            build_server(&names, &pinned, &c[0], &c[1], &c[2])
        })?;
        Ok(Self(reloader))
    }

    /// The underlying reloader (poll it, or subscribe to reloads).
    pub fn reloader(&self) -> &Arc<Reloader<ServerConfig>> {
        &self.0
    }

    /// An acceptor using the config current now; take one per accepted connection.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.0.current())
    }
}

/// A reloading client config that presents our certificate and trusts only the CA bundle.
#[derive(Clone)]
pub struct ClientTls(Arc<Reloader<ClientConfig>>);

impl ClientTls {
    /// Load the files; fails when they are missing or unusable.
    pub fn load(files: &TlsFiles) -> Result<Self, Error> {
        let names = files.clone();
        let reloader = Reloader::new(files.paths(), move |c| build_client(&names, &c[0], &c[1], &c[2]))?;
        Ok(Self(reloader))
    }

    /// The underlying reloader (poll it, or subscribe to reloads).
    pub fn reloader(&self) -> &Arc<Reloader<ClientConfig>> {
        &self.0
    }

    /// A connector using the config current now; take one per connection.
    pub fn connector(&self) -> tokio_rustls::TlsConnector {
        tokio_rustls::TlsConnector::from(self.0.current())
    }
}

fn certs(path: &std::path::Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| pem_error(path, &format!("invalid certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(pem_error(path, "no CERTIFICATE block found"));
    }
    Ok(certs)
}

fn key(path: &std::path::Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| pem_error(path, &format!("no usable private key: {e}")))
}

fn roots(path: &std::path::Path, pem: &[u8]) -> Result<RootCertStore, Error> {
    let mut store = RootCertStore::empty();
    for cert in certs(path, pem)? {
        store.add(cert)?;
    }
    Ok(store)
}

fn pem_error(path: &std::path::Path, what: &str) -> Error {
    Error::Pem {
        path: path.display().to_string(),
        what: what.to_string(),
    }
}

fn build_server(
    files: &TlsFiles,
    pinned: &[ServerName<'static>],
    cert: &[u8],
    key_pem: &[u8],
    ca: &[u8],
) -> Result<ServerConfig, Error> {
    let chain = WebPkiClientVerifier::builder(Arc::new(roots(&files.ca, ca)?)).build()?;
    let verifier: Arc<dyn ClientCertVerifier> = if pinned.is_empty() {
        chain
    } else {
        Arc::new(PinnedClient {
            chain,
            names: pinned.to_vec(),
        })
    };
    let mut config = ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(&files.cert, cert)?, key(&files.key, key_pem)?)?;
    config.alpn_protocols = vec![H2.to_vec()];
    Ok(config)
}

fn build_client(files: &TlsFiles, cert: &[u8], key_pem: &[u8], ca: &[u8]) -> Result<ClientConfig, Error> {
    let mut config = ClientConfig::builder()
        .with_root_certificates(roots(&files.ca, ca)?)
        .with_client_auth_cert(certs(&files.cert, cert)?, key(&files.key, key_pem)?)?;
    config.alpn_protocols = vec![H2.to_vec()];
    Ok(config)
}

/// A client-certificate verifier that, on top of the chain to the CA bundle, requires the certificate to be
/// valid for one of `names` (a DNS subject alternative name).
#[derive(Debug)]
struct PinnedClient {
    chain: Arc<dyn ClientCertVerifier>,
    names: Vec<ServerName<'static>>,
}

impl ClientCertVerifier for PinnedClient {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.chain.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self.chain.verify_client_cert(end_entity, intermediates, now)?;
        let cert = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
        if self
            .names
            .iter()
            .any(|name| cert.verify_is_valid_for_subject_name(name).is_ok())
        {
            return Ok(verified);
        }
        tracing::warn!(expected = ?self.names, "refused a client certificate from the trusted CA that names another identity");
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName,
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}
