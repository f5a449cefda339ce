//! A Kubernetes client that takes every client certificate kubectl takes.
//!
//! kube's own TLS stack (rustls) hands the kubeconfig's certificate and key to
//! `ConfigBuilder::with_client_auth_cert`, which first checks that the key matches the certificate by
//! parsing the certificate with webpki; webpki parses only X.509 **v3**. A v1 client certificate — what
//! `openssl x509 -req` makes without an extensions file, common in hand-built clusters — is refused before a
//! byte is sent ("invalid private key: … UnsupportedCertVersion"), although kube-apiserver (Go's TLS)
//! accepts it and `kubectl` works. The client never needs to parse its own certificate: it only sends it
//! and signs with the key. So with a client certificate this module builds the same client as kube does
//! (kube's verifier and roots, `insecure-skip-tls-verify`, `tls-server-name`, auth, impersonation headers,
//! timeouts, an `http://` or `socks5://` proxy-url), with the certificate given through a resolver that sends it as it is. The API server still
//! checks it, with its own rules. Without one, kube builds the client itself (token, token file, exec
//! plugins), unchanged.

use std::sync::Arc;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::ConfigExt as _;
use rustls::client::ResolvesClientCert;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use tower::ServiceBuilder;

/// Why no client could be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The kubeconfig's client certificate or key cannot be read or used.
    #[error("the kubeconfig's client {what}: {message}")]
    Identity {
        /// `certificate` or `key`.
        what: &'static str,
        /// Why.
        message: String,
    },
    /// A proxy other than `http://` or `socks5://` with a client certificate.
    #[error(
        "proxy-url {0}: with a client certificate only http:// (a CONNECT tunnel) and socks5:// proxies are supported"
    )]
    Proxy(String),
    /// kube refused the configuration.
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

/// A client for `config`; see the module documentation for what differs from `kube::Client::try_from`.
pub fn client(config: kube::Config) -> Result<kube::Client, ClientError> {
    let Some((chain, key)) = identity(&config.auth_info)? else {
        return Ok(kube::Client::try_from(config)?);
    };
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // As kube does: only when nothing was installed (another installation racing us is as good).
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| identity_error("key", &e))?;
    // kube's roots, verifier and `insecure-skip-tls-verify`, without a client certificate of its own…
    let mut anonymous = config.clone();
    anonymous.auth_info.client_certificate = None;
    anonymous.auth_info.client_certificate_data = None;
    anonymous.auth_info.client_key = None;
    anonymous.auth_info.client_key_data = None;
    let mut tls = anonymous.rustls_client_config()?;
    // …then ours, sent as it is.
    tls.client_auth_cert_resolver = Arc::new(Identity(Arc::new(CertifiedKey::new(chain, signing_key))));
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    match config.proxy_url.clone() {
        None => over(config, tls, http),
        // As kube does for `proxy-url: http://…`: a CONNECT tunnel, with the URL's user info as basic auth.
        Some(proxy) if proxy.scheme_str() == Some("http") => {
            let mut tunnel = hyper_util::client::legacy::connect::proxy::Tunnel::new(proxy.clone(), http);
            if let Some((userinfo, _)) = proxy.authority().and_then(|a| a.as_str().split_once('@')) {
                use base64::Engine as _;
                let basic = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(userinfo)
                );
                if let Ok(header) = http::HeaderValue::from_str(&basic) {
                    tunnel = tunnel.with_auth(header);
                }
            }
            over(config, tls, tunnel)
        }
        // As kube does for `proxy-url: socks5://…`.
        Some(proxy) if proxy.scheme_str() == Some("socks5") => {
            let socks = hyper_util::client::legacy::connect::proxy::SocksV5::new(proxy, http);
            over(config, tls, socks)
        }
        Some(proxy) => Err(ClientError::Proxy(proxy.to_string())),
    }
}

/// kube's client stack over `connector` (a TCP connector, or a proxy tunnel over one), with `tls`.
fn over<C>(config: kube::Config, tls: rustls::ClientConfig, connector: C) -> Result<kube::Client, ClientError>
where
    C: tower::Service<http::Uri> + Clone + Send + Sync + 'static,
    C::Response: hyper::rt::Read
        + hyper::rt::Write
        + hyper_util::client::legacy::connect::Connection
        + Send
        + Unpin
        + 'static,
    C::Future: Send + 'static,
    C::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    if let Some(name) = &config.tls_server_name {
        let name = rustls::pki_types::ServerName::try_from(name.clone())
            .map_err(|e| identity_error("certificate", &format!("tls-server-name {name:?}: {e}")))?;
        https = https.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name));
    }
    let mut connector = hyper_timeout::TimeoutConnector::new(https.enable_http1().wrap_connector(connector));
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    let http_client = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(tower::BoxError::from)
        .service(http_client);
    Ok(kube::Client::new(service, config.default_namespace))
}

/// A token file written by hand ends in a newline; client-go trims it, kube puts it into the header as it is
/// and fails ("invalid bearer token: failed to parse header value"). Such a file is read once, trimmed, and
/// used as the token: right for a short-lived command (`kubectl sse`). A long-lived process (the manager)
/// leaves token files to kube, which re-reads them as the kubelet rotates a pod's ServiceAccount token. A
/// file without surrounding whitespace is left to kube here too.
pub fn trim_token_file(auth: &mut kube::config::AuthInfo) {
    let Some(path) = auth.token_file.as_ref() else {
        return;
    };
    let Ok(content) = std::fs::read_to_string(path) else {
        return;
    };
    let token = content.trim();
    if token.len() != content.len() && !token.is_empty() {
        auth.token = Some(secrecy::SecretString::from(token.to_string()));
        auth.token_file = None;
    }
}

/// The client certificate chain and key of `auth`, from inline data or files; `None` without a
/// certificate.
#[allow(
    clippy::type_complexity,
    reason = "a certificate chain and its key, named at the one call"
)]
fn identity(
    auth: &kube::config::AuthInfo,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, ClientError> {
    use base64::Engine as _;
    use secrecy::ExposeSecret as _;
    let read = |what: &'static str,
                data: Option<&str>,
                file: Option<&String>|
     -> Result<Option<Vec<u8>>, ClientError> {
        match (data, file) {
            (Some(data), _) => base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map(Some)
                .map_err(|e| identity_error(what, &format!("the inline data is not base64: {e}"))),
            (None, Some(path)) => std::fs::read(path)
                .map(Some)
                .map_err(|e| identity_error(what, &format!("{path}: {e}"))),
            (None, None) => Ok(None),
        }
    };
    let Some(certificate) = read(
        "certificate",
        auth.client_certificate_data.as_deref(),
        auth.client_certificate.as_ref(),
    )?
    else {
        return Ok(None);
    };
    let key_data = auth
        .client_key_data
        .as_ref()
        .map(|k| k.expose_secret().to_string());
    let Some(key) = read("key", key_data.as_deref(), auth.client_key.as_ref())? else {
        return Err(identity_error(
            "key",
            "a client certificate is set but no client key",
        ));
    };
    let chain = CertificateDer::pem_slice_iter(&certificate)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| identity_error("certificate", &e))?;
    if chain.is_empty() {
        return Err(identity_error("certificate", "no PEM CERTIFICATE block"));
    }
    let key = PrivateKeyDer::from_pem_slice(&key).map_err(|e| identity_error("key", &e))?;
    Ok(Some((chain, key)))
}

fn identity_error(what: &'static str, message: &(impl std::fmt::Display + ?Sized)) -> ClientError {
    ClientError::Identity {
        what,
        message: message.to_string(),
    }
}

/// The kubeconfig's certificate, offered whatever the server asks (as Go's client does with one
/// certificate).
#[derive(Debug)]
struct Identity(Arc<CertifiedKey>);

impl ResolvesClientCert for Identity {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}
