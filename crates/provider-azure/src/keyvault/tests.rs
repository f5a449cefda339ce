use std::sync::atomic::AtomicUsize;

use futures::future::{FutureExt, Shared};

use super::fetch::{last_segment, listed};
use super::*;

#[tokio::test]
async fn coalescer_runs_identical_requests_once() {
    let coalescer: Coalescer<&str, u32> = Coalescer::default();
    let runs = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let rx = rx.shared();
    let make = |runs: Arc<AtomicUsize>, rx: Shared<tokio::sync::oneshot::Receiver<()>>| {
        move || {
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                let _ = rx.await;
                Ok(Arc::new(7))
            }
            .boxed()
        }
    };
    let a = coalescer.run("k", make(runs.clone(), rx.clone()));
    let b = coalescer.run("k", make(runs.clone(), rx.clone()));
    let other = coalescer.run("other", make(runs.clone(), rx.clone()));
    let release = async move {
        tokio::task::yield_now().await;
        let _ = tx.send(());
    };
    let (a, b, other, ()) = tokio::join!(a, b, other, release);
    assert_eq!((*a.unwrap(), *b.unwrap(), *other.unwrap()), (7, 7, 7));
    assert_eq!(runs.load(Ordering::SeqCst), 2, "one run for `k`, one for `other`");
    assert!(coalescer.is_empty(), "completed requests are forgotten");
}

#[tokio::test]
async fn coalescer_forgets_abandoned_requests() {
    let coalescer: Coalescer<&str, u32> = Coalescer::default();
    let pending = coalescer.run("k", || futures::future::pending().boxed());
    assert!(
        tokio::time::timeout(Duration::from_millis(1), pending)
            .await
            .is_err()
    );
    assert!(coalescer.is_empty());
}

#[test]
fn failures_are_classified_by_kind() {
    use azure_core::error::ErrorKind;
    let render = |kind| {
        render(
            &azure_core::Error::with_message(kind, "boom"),
            "GET",
            "https://kv/x",
        )
    };
    assert!(matches!(
        render(ErrorKind::Credential),
        KeyVaultError::Credential { .. }
    ));
    assert!(matches!(
        render(ErrorKind::Connection),
        KeyVaultError::Unreachable { .. }
    ));
    assert!(matches!(render(ErrorKind::Io), KeyVaultError::Unreachable { .. }));
    let other = render(ErrorKind::DataConversion);
    assert!(matches!(other, KeyVaultError::Other { .. }));
    assert_eq!(other.to_string(), "GET https://kv/x: boom");
}

#[test]
fn version_ids_are_the_last_path_segment() {
    assert_eq!(
        last_segment(Some("https://v.vault.azure.net/secrets/s/abc123")),
        "abc123"
    );
    assert_eq!(last_segment(Some("https://v.vault.azure.net/keys/k/def/")), "def");
    assert_eq!(last_segment(None), "");
}

#[test]
fn disabled_and_attribute_less_versions_are_dropped() {
    assert_eq!(listed(Some("x/s/v1"), Some((Some(false), None))), None);
    assert_eq!(listed(Some("x/s/v1"), None), None);
    let v = |created| VersionItem {
        version: "v1".into(),
        created,
    };
    assert_eq!(listed(Some("x/s/v1"), Some((None, None))), Some(v(0)));
    let t = time::OffsetDateTime::from_unix_timestamp(42).ok();
    assert_eq!(listed(Some("x/s/v1"), Some((Some(true), t))), Some(v(42)));
}
