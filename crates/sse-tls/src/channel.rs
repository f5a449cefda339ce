//! A gRPC channel to a provider's Unix socket, with or without mutual TLS.
//!
//! tonic refuses a TLS config on `unix:` endpoints, so the TLS handshake happens in our connector and
//! tonic sees a plain HTTP/2 stream. The request URI is `http://localhost`, so the `:authority` is
//! `localhost` as gRPC-Go sends for Unix targets (docs/PROVIDER.md#dialing-a-provider), and the server name
//! verified in the provider's certificate is `localhost` too.

use std::path::PathBuf;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::ClientTls;

/// The name the provider's certificate must carry.
pub const SERVER_NAME: &str = "localhost";

/// A lazily connecting channel to the socket at `path`. `tls: None` is plaintext (third-party providers).
/// Every new connection re-reads the current TLS config, so rotated client certificates are used at once.
pub fn unix_channel(path: PathBuf, tls: Option<ClientTls>, connect_timeout: Duration) -> Channel {
    // A static, valid URI: parsing cannot fail.
    let endpoint = Endpoint::from_static("http://localhost")
        .connect_timeout(connect_timeout)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(false);
    endpoint.connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
        let path = path.clone();
        let tls = tls.clone();
        async move {
            let stream = tokio::net::UnixStream::connect(&path).await?;
            match tls {
                None => Ok::<_, std::io::Error>(TokioIo::new(Io::Plain(stream))),
                Some(tls) => {
                    let name = ServerName::try_from(SERVER_NAME).map_err(std::io::Error::other)?;
                    let stream = tls.connector().connect(name, stream).await?;
                    Ok(TokioIo::new(Io::Tls(Box::new(stream))))
                }
            }
        }
    }))
}

/// A Unix stream, wrapped in TLS or not.
enum Io {
    Plain(tokio::net::UnixStream),
    Tls(Box<tokio_rustls::client::TlsStream<tokio::net::UnixStream>>),
}

impl tokio::io::AsyncRead for Io {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for Io {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
            Io::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
