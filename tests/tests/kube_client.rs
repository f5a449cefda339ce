//! Tier 2: the kubeconfig credentials `kubectl sse` and the manager connect with
//! (`sse_runtime::kube_client`), against a local HTTPS endpoint that checks what it is sent. The client
//! certificate is checked as kube-apiserver (Go's TLS) does for the handshake: whatever its X.509 version,
//! the client must prove it holds the certificate's key (the signature is verified against the
//! certificate's public key). Certificates: `tests/fixtures/client-certs` (v1 ones as `openssl x509 -req`
//! makes them without an extensions file).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, SubjectPublicKeyInfoDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/client-certs")
        .join(name)
}

/// What the endpoint saw of one request.
#[derive(Clone, Debug, Default)]
struct Seen {
    /// The client certificate presented (DER), if any.
    certificate: Option<Vec<u8>>,
    /// The request head (method, path, headers).
    head: String,
}

/// Accepts any client certificate, or none, but verifies the handshake signature against the certificate's
/// own public key: the client must hold the key.
#[derive(Debug)]
struct KeyHolder(Arc<rustls::crypto::CryptoProvider>);

impl KeyHolder {
    fn verify(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
        tls13: bool,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let (_, parsed) = x509_parser::parse_x509_certificate(cert)
            .map_err(|e| rustls::Error::General(format!("client certificate: {e}")))?;
        let spki = SubjectPublicKeyInfoDer::from(parsed.tbs_certificate.subject_pki.raw);
        let algorithms = &self.0.signature_verification_algorithms;
        if tls13 {
            rustls::crypto::verify_tls13_signature_with_raw_key(message, &spki, dss, algorithms)
        } else {
            Err(rustls::Error::General("TLS 1.2 is not expected here".into()))
        }
    }
}

impl ClientCertVerifier for KeyHolder {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify(message, cert, dss, false)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify(message, cert, dss, true)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// An HTTPS endpoint on loopback answering `GET /version` as kube-apiserver does; returns its URL and
/// what it saw, request by request.
async fn endpoint() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain = CertificateDer::pem_file_iter(fixture("server.crt"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_client_cert_verifier(Arc::new(KeyHolder(provider)))
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, log) = (acceptor.clone(), log.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let certificate = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| c.to_vec());
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).to_string();
                log.lock().unwrap().push(Seen { certificate, head });
                let body = r#"{"major":"1","minor":"32","gitVersion":"v1.32.13","gitCommit":"","gitTreeState":"","buildDate":"","goVersion":"","compiler":"","platform":"linux/amd64"}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (url, seen)
}

/// A kubeconfig for `url` with `user` (YAML of the user's fields) and `cluster` extras.
fn kubeconfig(url: &str, cluster: &str, user: &str) -> kube::config::Kubeconfig {
    let yaml = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster:\n    server: {url}\n{cluster}\nusers:\n- name: u\n  user:\n{user}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\n"
    );
    kube::config::Kubeconfig::from_yaml(&yaml).unwrap()
}

fn ca_file() -> String {
    format!("    certificate-authority: {}", fixture("ca.crt").display())
}

fn pem_der(file: &str) -> Vec<u8> {
    CertificateDer::from_pem_file(fixture(file)).unwrap().to_vec()
}

fn b64(file: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(fixture(file)).unwrap())
}

/// As `kubectl sse` connects (a short-lived command: a token file is read once, trimmed).
async fn connect(config: kube::config::Kubeconfig) -> Result<kube::Client, String> {
    let options = kube::config::KubeConfigOptions::default();
    let mut config = kube::Config::from_custom_kubeconfig(config, &options)
        .await
        .map_err(|e| e.to_string())?;
    sse_runtime::kube_client::trim_token_file(&mut config.auth_info);
    sse_runtime::kube_client::client(config).map_err(|e| e.to_string())
}

/// One `GET /version` with the kubeconfig user `user`; what the endpoint saw.
async fn version_as(cluster: &str, user: &str) -> Result<Seen, String> {
    let (url, seen) = endpoint().await;
    let client = connect(kubeconfig(&url, cluster, user)).await?;
    let version = client.apiserver_version().await.map_err(|e| format!("{e:#}"))?;
    assert_eq!(version.git_version, "v1.32.13");
    let seen = seen.lock().unwrap().last().cloned().unwrap_or_default();
    Ok(seen)
}

#[tokio::test]
async fn client_certificates_of_either_version_from_files_or_inline_data() {
    for (name, how) in [
        ("client-v1-rsa", "files"),
        ("client-v1-ec", "files"),
        ("client-v1-ec", "inline"),
        ("client-v3-ec", "files"),
        ("client-v3-ec", "inline"),
    ] {
        let user = match how {
            "files" => format!(
                "    client-certificate: {}\n    client-key: {}",
                fixture(&format!("{name}.crt")).display(),
                fixture(&format!("{name}.key")).display()
            ),
            _ => format!(
                "    client-certificate-data: {}\n    client-key-data: {}",
                b64(&format!("{name}.crt")),
                b64(&format!("{name}.key"))
            ),
        };
        // The CA as the user's material is given: a file, or inline data.
        let cluster = match how {
            "files" => ca_file(),
            _ => format!("    certificate-authority-data: {}", b64("ca.crt")),
        };
        let seen = version_as(&cluster, &user)
            .await
            .unwrap_or_else(|e| panic!("{name} ({how}): {e}"));
        assert_eq!(
            seen.certificate.as_deref(),
            Some(pem_der(&format!("{name}.crt")).as_slice()),
            "{name} ({how}): the certificate was presented, and its key signed the handshake"
        );
    }
}

#[tokio::test]
async fn a_key_that_is_not_the_certificates_fails_the_handshake() {
    let user = format!(
        "    client-certificate: {}\n    client-key: {}",
        fixture("client-v1-ec.crt").display(),
        fixture("client-v3-ec.key").display()
    );
    let error = version_as(&ca_file(), &user).await.unwrap_err();
    assert!(!error.is_empty());
}

#[tokio::test]
async fn a_token_and_impersonation_travel_as_headers() {
    let user = "    token: not-a-real-token\n    as: jane\n    as-groups: [ops, dev]".to_string();
    let seen = version_as(&ca_file(), &user)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let head = seen.head.to_ascii_lowercase();
    assert!(head.contains("authorization: bearer not-a-real-token"), "{head}");
    assert!(head.contains("impersonate-user: jane"), "{head}");
    assert!(
        head.contains("impersonate-group: ops") && head.contains("impersonate-group: dev"),
        "{head}"
    );
    assert_eq!(seen.certificate, None);
    // And with a client certificate: the same headers, through this module's own stack.
    let user = format!(
        "    client-certificate: {}\n    client-key: {}\n    as: jane",
        fixture("client-v1-ec.crt").display(),
        fixture("client-v1-ec.key").display()
    );
    let seen = version_as(&ca_file(), &user)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        seen.head.to_ascii_lowercase().contains("impersonate-user: jane"),
        "{}",
        seen.head
    );
    assert!(seen.certificate.is_some());
}

#[tokio::test]
async fn a_token_file_with_its_newline_and_an_exec_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "token-from-a-file\n").unwrap();
    let user = format!("    tokenFile: {}", token_file.display());
    let seen = version_as(&ca_file(), &user)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        seen.head
            .to_ascii_lowercase()
            .contains("authorization: bearer token-from-a-file"),
        "{}",
        seen.head
    );
    // A non-interactive exec credential plugin, as cloud CLIs install them.
    let plugin = dir.path().join("credential-plugin");
    std::fs::write(
        &plugin,
        r#"printf '%s' '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"token-from-a-plugin"}}'"#,
    )
    .unwrap();
    let user = format!(
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: sh\n      args: [{}]\n      interactiveMode: Never",
        plugin.display()
    );
    let seen = version_as(&ca_file(), &user)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        seen.head
            .to_ascii_lowercase()
            .contains("authorization: bearer token-from-a-plugin"),
        "{}",
        seen.head
    );
    // An interactive one (it may prompt): it gets the terminal's stdin and stderr, as kubectl gives them.
    let user = user.replace("interactiveMode: Never", "interactiveMode: IfAvailable");
    let seen = version_as(&ca_file(), &user)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        seen.head.to_ascii_lowercase().contains("token-from-a-plugin"),
        "{}",
        seen.head
    );
}

#[tokio::test]
async fn the_servers_certificate_is_verified_unless_told_not_to() {
    let user = format!(
        "    client-certificate: {}\n    client-key: {}",
        fixture("client-v1-rsa.crt").display(),
        fixture("client-v1-rsa.key").display()
    );
    let other = format!("    certificate-authority: {}", fixture("other-ca.crt").display());
    assert!(
        version_as(&other, &user).await.is_err(),
        "an unrelated CA is refused"
    );
    let seen = version_as("    insecure-skip-tls-verify: true", &user)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(seen.certificate.is_some());
}

#[tokio::test]
async fn a_proxy_url_tunnels_token_and_certificate_users_alike() {
    let (proxy_url, targets) = sse_tests::proxies::tunnel().await;
    let cluster = format!("{}\n    proxy-url: {proxy_url}", ca_file());
    let token = "    token: not-a-real-token".to_string();
    let certificate = format!(
        "    client-certificate: {}\n    client-key: {}",
        fixture("client-v1-ec.crt").display(),
        fixture("client-v1-ec.key").display()
    );
    for user in [token, certificate] {
        let before = targets.lock().unwrap().len();
        version_as(&cluster, &user)
            .await
            .unwrap_or_else(|e| panic!("{user}: {e}"));
        let after = targets.lock().unwrap().clone();
        assert_eq!(
            after.len(),
            before + 1,
            "{user}: one CONNECT through the proxy: {after:?}"
        );
        assert!(after[before].starts_with("127.0.0.1:"), "{after:?}");
    }
}

/// `kubectl sse --context … --as … --as-group …`, as kubectl passes them to a plugin: the context's user,
/// impersonated.
#[tokio::test]
async fn kubectl_sse_flags_pick_the_context_and_impersonate() {
    use clap::Parser as _;
    let (url, seen) = endpoint().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    // Two contexts: the current one would send a token; `admin` sends the v1 client certificate.
    let yaml = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: viewer\nclusters:\n- name: c\n  cluster:\n    server: {url}\n{ca}\nusers:\n- name: viewer\n  user:\n    token: viewer-token\n- name: admin\n  user:\n    client-certificate: {crt}\n    client-key: {key}\ncontexts:\n- name: viewer\n  context: {{cluster: c, user: viewer}}\n- name: admin\n  context: {{cluster: c, user: admin}}\n",
        ca = ca_file(),
        crt = fixture("client-v1-rsa.crt").display(),
        key = fixture("client-v1-rsa.key").display(),
    );
    std::fs::write(&path, yaml).unwrap();
    let path = path.display().to_string();
    let cli = kubectl_sse::command::Cli::try_parse_from([
        "kubectl-sse",
        "--kubeconfig",
        &path,
        "--context",
        "admin",
        "--as",
        "jane",
        "--as-group",
        "ops",
        "status",
    ])
    .unwrap();
    let target = cli.target.connect().await.unwrap();
    target.client.apiserver_version().await.unwrap();
    let seen = seen.lock().unwrap().last().cloned().unwrap_or_default();
    assert_eq!(
        seen.certificate,
        Some(pem_der("client-v1-rsa.crt")),
        "the admin context's user"
    );
    let head = seen.head.to_ascii_lowercase();
    assert!(!head.contains("viewer-token"), "{head}");
    assert!(
        head.contains("impersonate-user: jane") && head.contains("impersonate-group: ops"),
        "{head}"
    );
    assert!(
        kubectl_sse::command::Cli::try_parse_from(["kubectl-sse", "--as-group", "ops", "status"]).is_err(),
        "--as-group without --as is refused, as kubectl does"
    );
}

#[tokio::test]
async fn a_socks5_proxy_url_carries_token_and_certificate_users_alike() {
    let (proxy_url, targets) = sse_tests::proxies::socks5().await;
    let cluster = format!("{}\n    proxy-url: {proxy_url}", ca_file());
    let certificate = format!(
        "    client-certificate: {}\n    client-key: {}",
        fixture("client-v1-rsa.crt").display(),
        fixture("client-v1-rsa.key").display()
    );
    for user in ["    token: not-a-real-token".to_string(), certificate] {
        let before = targets.lock().unwrap().len();
        version_as(&cluster, &user)
            .await
            .unwrap_or_else(|e| panic!("{user}: {e}"));
        assert_eq!(
            targets.lock().unwrap().len(),
            before + 1,
            "{user}: one connection through the proxy"
        );
    }
}
