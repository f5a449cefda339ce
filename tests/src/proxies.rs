//! Forward proxies on loopback for the tier-2 tests of what connects through them: an HTTP `CONNECT`
//! tunnel and a SOCKS5 proxy. Each returns its URL and the targets it connected to, in order.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A tunnelling forward proxy on loopback (`CONNECT host:port`, then bytes both ways); returns its URL and
/// the targets it was asked for.
pub async fn tunnel() -> (String, Arc<Mutex<Vec<String>>>) {
    use tokio::io::AsyncBufReadExt as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!(
        "http://{}",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    let targets: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = targets.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut client = tokio::io::BufReader::new(stream);
                let mut line = String::new();
                if client.read_line(&mut line).await.is_err() {
                    return;
                }
                let mut header = String::new();
                while client.read_line(&mut header).await.is_ok_and(|n| n > 2) {
                    header.clear();
                }
                let target = line.split_whitespace().nth(1).unwrap_or_default().to_string();
                seen.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(target.clone());
                let Ok(mut upstream) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                let mut client = client.into_inner();
                if client
                    .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                    .await
                    .is_ok()
                {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    (url, targets)
}

/// A SOCKS5 proxy on loopback (RFC 1928: no authentication, CONNECT by IPv4 or domain name); returns its
/// URL and the targets it connected to.
pub async fn socks5() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!(
        "socks5://{}",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    let targets: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = targets.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut greeting = [0u8; 2];
                if client.read_exact(&mut greeting).await.is_err() {
                    return;
                }
                let mut methods = vec![0u8; usize::from(greeting[1])];
                let _ = client.read_exact(&mut methods).await;
                let _ = client.write_all(&[5, 0]).await;
                let mut request = [0u8; 4];
                if client.read_exact(&mut request).await.is_err() {
                    return;
                }
                let host = match request[3] {
                    1 => {
                        let mut ip = [0u8; 4];
                        let _ = client.read_exact(&mut ip).await;
                        std::net::Ipv4Addr::from(ip).to_string()
                    }
                    3 => {
                        let mut len = [0u8; 1];
                        let _ = client.read_exact(&mut len).await;
                        let mut name = vec![0u8; usize::from(len[0])];
                        let _ = client.read_exact(&mut name).await;
                        String::from_utf8_lossy(&name).to_string()
                    }
                    _ => return,
                };
                let mut port = [0u8; 2];
                let _ = client.read_exact(&mut port).await;
                let target = format!("{host}:{}", u16::from_be_bytes(port));
                seen.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(target.clone());
                let Ok(mut upstream) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                if client.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    (url, targets)
}
