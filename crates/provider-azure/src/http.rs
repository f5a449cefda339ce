//! The HTTPS client used for Entra ID and Key Vault.
//!
//! rustls with the platform's trust store, plus optional extra roots (an Azure Stack Hub enterprise CA, or
//! the emulator's CA in tests and the demo). Names under `localhost` resolve to the loopback address as
//! RFC 6761 §6.3 allows, so a private cloud or the emulator can be addressed as `<vault>.vault.localhost`
//! without touching `/etc/hosts`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Build the client. `extra_roots_pem` may hold several certificates.
pub fn client(extra_roots_pem: Option<&[u8]>) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = reqwest::Client::builder()
        .dns_resolver(LocalhostResolver)
        .user_agent(concat!("sse-rs-provider-azure/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(10));
    if let Some(pem) = extra_roots_pem {
        builder = builder.tls_certs_merge(reqwest::Certificate::from_pem_bundle(pem)?);
    }
    builder.build()
}

/// Loopback for `localhost` and `*.localhost`; the system resolver for everything else.
struct LocalhostResolver;

impl Resolve for LocalhostResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        Box::pin(async move {
            if host == "localhost" || host.ends_with(".localhost") {
                let addrs: Addrs = Box::new(std::iter::once(SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::LOCALHOST),
                    0,
                )));
                return Ok(addrs);
            }
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let addrs: Addrs = Box::new(resolved.collect::<Vec<_>>().into_iter());
            Ok(addrs)
        })
    }
}
