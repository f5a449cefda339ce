//! Tier 2: the provider behind an outbound proxy (issue 11): `HTTPS_PROXY`/`NO_PROXY` are honoured for Entra
//! ID and Key Vault, and a TLS-inspecting proxy is trusted through `--keyvault-ca-file` (the extra CA
//! bundle). A real forward proxy runs on loopback: it answers `CONNECT` and either tunnels the bytes, or
//! terminates TLS with a certificate its own CA issues for the requested host and opens its own TLS
//! connection upstream, as corporate TLS inspection does.
//!
//! The provider reads `HTTPS_PROXY`/`NO_PROXY` through its `--https-proxy`/`--no-proxy` flags (clap's `env`),
//! so the in-process providers here get the flags.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::{Arc, Mutex};

use sse_api::conditions::READY;
use sse_tests::*;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A forward proxy on loopback; `inspect` holds the CA it re-signs with and the upstream CA it trusts.
struct Proxy {
    addr: std::net::SocketAddr,
    /// Every `CONNECT` target, in order.
    connects: Arc<Mutex<Vec<String>>>,
}

struct Inspect {
    ca: sse_tls::pki::TestCa,
    /// The server CAs the proxy trusts upstream (set once the emulator is up).
    upstream_roots: Mutex<Option<Arc<rustls::RootCertStore>>>,
}

impl Proxy {
    async fn start(inspect: Option<Arc<Inspect>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connects = Arc::new(Mutex::new(Vec::new()));
        let seen = connects.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (seen, inspect) = (seen.clone(), inspect.clone());
                tokio::spawn(async move {
                    let _ = tunnel(stream, seen, inspect).await;
                });
            }
        });
        Self { addr, connects }
    }

    fn targets(&self) -> Vec<String> {
        self.connects.lock().unwrap().clone()
    }
}

/// One proxied connection: `CONNECT host:port`, then bytes both ways (re-encrypted when inspecting).
async fn tunnel(
    stream: TcpStream,
    seen: Arc<Mutex<Vec<String>>>,
    inspect: Option<Arc<Inspect>>,
) -> std::io::Result<()> {
    let mut client = BufReader::new(stream);
    let mut request_line = String::new();
    client.read_line(&mut request_line).await?;
    loop {
        let mut header = String::new();
        client.read_line(&mut header).await?;
        if header == "\r\n" || header.is_empty() {
            break;
        }
    }
    let target = request_line
        .strip_prefix("CONNECT ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_default()
        .to_string();
    seen.lock().unwrap().push(target.clone());
    let (host, port) = target.rsplit_once(':').unwrap_or((&target, "443"));
    let host = host.to_string();
    // The emulator's vaults are `<name>.vault.localhost`: loopback, as RFC 6761 has it.
    let upstream = TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap_or(443))).await?;
    client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await?;
    let mut client = client.into_inner();
    let Some(inspect) = inspect else {
        let mut upstream = upstream;
        tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
        return Ok(());
    };
    // TLS inspection: our certificate for `host` towards the client, our own TLS towards the server.
    use rustls_pki_types::pem::PemObject as _;
    let leaf = inspect
        .ca
        .issue(
            &[&host],
            sse_tls::pki::Usage::Server,
            std::time::Duration::from_secs(3600),
        )
        .map_err(std::io::Error::other)?;
    let certs = rustls_pki_types::CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(std::io::Error::other)?;
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes())
        .map_err(std::io::Error::other)?;
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(std::io::Error::other)?;
    let mut client = tokio_rustls::TlsAcceptor::from(Arc::new(server))
        .accept(client)
        .await?;
    let roots = inspect
        .upstream_roots
        .lock()
        .unwrap()
        .clone()
        .ok_or_else(|| std::io::Error::other("no upstream roots yet"))?;
    let upstream_config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from(host).map_err(std::io::Error::other)?;
    let mut upstream = tokio_rustls::TlsConnector::from(Arc::new(upstream_config))
        .connect(name, upstream)
        .await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

fn via(proxy: &Proxy) -> String {
    format!("--https-proxy=http://{}", proxy.addr)
}

async fn synced_through(env: &Env, name: &str) -> String {
    env.emulator.store().set_secret(VAULT, name, "through-the-proxy");
    env.put_class(
        name,
        "azure",
        &[&format!("objectName: {name}\nobjectType: secret")],
    );
    let mut sync = env.sync(name, name, "Opaque", &[(name, "key")]);
    env.reconcile(&mut sync).await;
    let (status, reason, message) = condition(&sync, READY);
    assert_eq!(status, "True", "{reason}: {message}");
    env.secret_data(name)["key"].clone()
}

#[tokio::test]
async fn entra_and_key_vault_go_through_the_proxy_tunnelled_or_inspected_and_no_proxy_is_honoured() {
    sse_tls::install_crypto_provider();
    {
        // 1. A tunnelling proxy: every Entra and Key Vault connection is a CONNECT through it.
        let tunnel = Proxy::start(None).await;
        let env = Env::start_with_provider_args(default_config(), &[&via(&tunnel)]).await;
        assert_eq!(synced_through(&env, "tunnelled").await, "through-the-proxy");
        let targets = tunnel.targets();
        assert!(
            targets
                .iter()
                .any(|t| t.starts_with("contoso-kv.vault.localhost:")),
            "Key Vault through the proxy: {targets:?}"
        );
        assert!(
            targets.iter().any(|t| t.starts_with("127.0.0.1:")),
            "Entra (the emulator's authority) through the proxy: {targets:?}"
        );

        // 2. A TLS-inspecting proxy: trusted once its CA is in the --keyvault-ca-file bundle, refused before.
        let proxy_ca = sse_tls::pki::TestCa::new("Corporate inspection CA").unwrap();
        let proxy_ca_pem = proxy_ca.cert_pem().to_string();
        let inspect = Arc::new(Inspect {
            ca: proxy_ca,
            upstream_roots: Mutex::new(None),
        });
        let inspecting = Proxy::start(Some(inspect.clone())).await;
        let trust_upstream = |env: &Env| {
            use rustls_pki_types::pem::PemObject as _;
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_pki_types::CertificateDer::pem_slice_iter(env.emulator.ca_pem().as_bytes()) {
                roots.add(cert.unwrap()).unwrap();
            }
            *inspect.upstream_roots.lock().unwrap() = Some(Arc::new(roots));
        };
        let untrusting = Env::start_with_provider_args(default_config(), &[&via(&inspecting)]).await;
        trust_upstream(&untrusting);
        untrusting.emulator.store().set_secret(VAULT, "refused", "v");
        untrusting.put_class("refused", "azure", &["objectName: refused\nobjectType: secret"]);
        let mut refused = untrusting.sync("refused", "refused", "Opaque", &[("refused", "key")]);
        untrusting.reconcile(&mut refused).await;
        let (status, _, message) = condition(&refused, READY);
        assert_eq!(status, "False", "the inspection CA is not trusted yet");
        assert!(message.to_ascii_lowercase().contains("certificate"), "{message}");

        let inspected = Env::start_trusting(&proxy_ca_pem, &[&via(&inspecting)]).await;
        trust_upstream(&inspected);
        assert_eq!(synced_through(&inspected, "inspected").await, "through-the-proxy");
        assert!(
            inspecting
                .targets()
                .iter()
                .any(|t| t.starts_with("contoso-kv.vault.localhost:")),
            "{:?}",
            inspecting.targets()
        );

        // 3. NO_PROXY: the vault and Entra hosts bypass the proxy.
        let bypassed = Proxy::start(None).await;
        let direct = Env::start_with_provider_args(
            default_config(),
            &[&via(&bypassed), "--no-proxy=.localhost,127.0.0.1"],
        )
        .await;
        assert_eq!(synced_through(&direct, "direct").await, "through-the-proxy");
        assert!(bypassed.targets().is_empty(), "{:?}", bypassed.targets());
    }
}
