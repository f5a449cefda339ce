//! The outbound HTTPS client: the provider's for Entra ID and Key Vault, the manager's for Entra ID and Event
//! Grid (the vault's events).
//!
//! rustls with the platform's trust store, plus optional extra roots (an Azure Stack Hub enterprise CA, a
//! TLS-inspecting proxy's CA, or the emulator's CA in tests and the demo), through an optional outbound
//! proxy (`--https-proxy`/`HTTPS_PROXY`, `--no-proxy`/`NO_PROXY`; without them, none). Names under `localhost` resolve to the loopback address as
//! RFC 6761 §6.3 allows, so a private cloud or the emulator can be addressed as `<vault>.vault.localhost`
//! without touching `/etc/hosts`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// An outbound proxy for every request of the client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutboundProxy {
    /// `http://HOST:PORT` (credentials as `http://USER:PASSWORD@HOST:PORT`).
    pub url: String,
    /// Hosts that bypass it, comma-separated as `NO_PROXY` (`.example.com`, `10.0.0.0/8`, `*`).
    pub no_proxy: String,
}

/// Build the client, sending `user_agent`. `extra_roots_pem` may hold several certificates.
pub fn client(
    user_agent: &str,
    extra_roots_pem: Option<&[u8]>,
    proxy: Option<&OutboundProxy>,
) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = reqwest::Client::builder()
        .dns_resolver(LocalhostResolver)
        .user_agent(user_agent)
        .connect_timeout(std::time::Duration::from_secs(10));
    if let Some(pem) = extra_roots_pem {
        builder = builder.tls_certs_merge(reqwest::Certificate::from_pem_bundle(pem)?);
    }
    builder = match proxy {
        Some(proxy) => builder
            .proxy(reqwest::Proxy::all(&proxy.url)?.no_proxy(reqwest::NoProxy::from_string(&proxy.no_proxy))),
        // Only what the flags (or HTTPS_PROXY/NO_PROXY, which they read) say: no other system setting.
        None => builder.no_proxy(),
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_extra_bundle_and_a_proxy_build_a_client() {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        // deploy/components/outbound-proxy ships an empty inspection CA for proxies that do not inspect.
        let proxy = OutboundProxy {
            url: "http://proxy.example.internal:3128".into(),
            no_proxy: ".svc,.cluster.local".into(),
        };
        assert!(client("test", Some(b""), Some(&proxy)).is_ok());
        assert!(
            client(
                "test",
                None,
                Some(&OutboundProxy {
                    url: "not a url".into(),
                    no_proxy: String::new()
                })
            )
            .is_err(),
            "a bad proxy URL is an error at start-up, not at the first request"
        );
    }
}
