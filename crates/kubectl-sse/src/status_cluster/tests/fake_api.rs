//! The list against an API server double on loopback that answers every request with one status and body:
//! what kube makes of a 403, of a 404 for a resource type not served, and of a list.

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use super::*;

/// A client of a double answering `code` with `body` (JSON) to every request, until the test ends.
async fn answering(code: u16, body: serde_json::Value) -> kube::Client {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let body = body.to_string();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut buffer = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buffer[..n]),
                }
            }
            let answer = format!(
                "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    });
    let url: http::Uri = format!("http://{address}")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    kube::Client::try_from(kube::Config::new(url)).unwrap_or_else(|e| panic!("{e}"))
}

fn status(code: u16, reason: &str, message: &str) -> serde_json::Value {
    serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": message, "reason": reason, "code": code})
}

#[tokio::test]
async fn forbidden_and_not_served_are_left_out_silently() {
    let forbidden = answering(
        403,
        status(
            403,
            "Forbidden",
            "clustersecretsyncs.sync.sse-rs.io is forbidden: User \"dev\" cannot list resource \"clustersecretsyncs\" \
             in API group \"sync.sse-rs.io\" at the cluster scope",
        ),
    )
    .await;
    assert_eq!(appended(&forbidden).await, Ok(None));
    // As the API server answers for a resource type it does not serve (the CRD is not installed).
    let no_crd = answering(
        404,
        status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ),
    )
    .await;
    assert_eq!(appended(&no_crd).await, Ok(None));
    // `status --cluster` says what is wrong instead.
    let error = rows(&no_crd, None)
        .await
        .map(|_| ())
        .err()
        .map(|e| format!("{e:#}"));
    assert!(
        error.as_deref().is_some_and(
            |e| e.starts_with("list clustersecretsyncs (is the ClusterSecretSync CRD installed?)")
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_list_is_appended_and_an_unexpected_answer_is_said() {
    let list = serde_json::json!({
        "apiVersion": "sync.sse-rs.io/v1alpha1", "kind": "ClusterSecretSyncList", "metadata": {},
        "items": [serde_json::to_value(healthy("z")).unwrap_or_default(),
                  serde_json::to_value(failing()).unwrap_or_default()],
    });
    let client = answering(200, list).await;
    let rows = appended(&client)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_default();
    assert_eq!(
        rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["registry-creds", "z"]
    );
    let broken = answering(500, status(500, "InternalError", "etcdserver: request timed out")).await;
    assert_eq!(
        appended(&broken).await,
        Err("ClusterSecretSyncs left out: etcdserver: request timed out (500)".to_string())
    );
}
