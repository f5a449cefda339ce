//! Tier 2: expiry awareness (issue 10, item 5). The emulator's Key Vault dates (`exp`, `nbf`, and a
//! certificate's notAfter) reach `status.validity` through the provider's change detection, the `Expiring`
//! condition warns inside the window, one Warning Event fires per object and standing, and the metrics
//! count objects by standing with the earliest expiry. Key Vault still serves an expired secret: the sync
//! goes on and `Ready` is unaffected.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keyvault_emulator::SecretInput;
use manager::fake::Call;
use sse_api::conditions::{EXPIRING, READY};
use sse_tests::*;

const DAY: i64 = 86_400;

fn unix_now() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

fn dated(value: &str, not_before: Option<i64>, expires: Option<i64>) -> SecretInput {
    SecretInput {
        value: value.into(),
        not_before,
        expires,
        ..SecretInput::default()
    }
}

/// The Events fired for the SecretSync `name` with `reason`.
fn events(env: &Env, name: &str, reason: &str) -> usize {
    env.cluster
        .calls()
        .iter()
        .filter(|c| matches!(c, Call::Event(n, r) if n.ends_with(name) && r == reason))
        .count()
}

/// The value of metric line `prefix` (e.g. `secretsync_objects{validity="Expiring"}`).
fn metric(env: &Env, prefix: &str) -> String {
    let text = env.ctx.metrics.encode();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{prefix} ")).map(str::to_string))
        .unwrap_or_else(|| panic!("{prefix} missing in\n{text}"))
}

fn states(sync: &sse_api::SecretSync) -> Vec<(String, String)> {
    sync.status
        .as_ref()
        .unwrap()
        .validity
        .iter()
        .map(|v| (v.object.clone(), v.state.clone()))
        .collect()
}

#[tokio::test]
async fn an_object_expiring_inside_the_window_warns_once_and_clears_when_rotated() {
    let env = Env::start().await;
    let now = unix_now();
    let store = env.emulator.store();
    store.set_secret_with(VAULT, "db", dated("pw-1", None, Some(now + 10 * DAY)));
    store.set_secret_with(
        VAULT,
        "api",
        dated("key-1", Some(now - DAY), Some(now + 90 * DAY)),
    );
    store.set_secret(VAULT, "plain", "no dates");
    env.put_class(
        "kv",
        "azure",
        &[
            "objectName: db\nobjectType: secret",
            "objectName: api\nobjectType: secret",
            "objectName: plain\nobjectType: secret",
        ],
    );
    let mut sync = env.sync(
        "app",
        "kv",
        "Opaque",
        &[("db", "db"), ("api", "api"), ("plain", "plain")],
    );
    env.reconcile(&mut sync).await;

    assert_eq!(
        condition(&sync, READY).0,
        "True",
        "an expiring secret still syncs"
    );
    assert_eq!(
        states(&sync),
        [
            ("secret/db".to_string(), "Expiring".to_string()),
            ("secret/api".to_string(), "Valid".to_string())
        ],
        "an undated object is left out"
    );
    let db = &sync.status.as_ref().unwrap().validity[0];
    assert_eq!(db.expires_at.as_ref().unwrap().0.as_second(), now + 10 * DAY);
    let (status, reason, message) = condition(&sync, EXPIRING);
    assert_eq!((status.as_str(), reason.as_str()), ("True", "ObjectExpiring"));
    assert!(message.starts_with("secret/db expires at "), "{message}");
    assert!(!message.contains("api"), "only the objects concerned: {message}");
    assert_eq!(events(&env, "app", "ObjectExpiring"), 1);
    assert_eq!(metric(&env, "secretsync_objects{validity=\"Expiring\"}"), "1");
    assert_eq!(metric(&env, "secretsync_objects{validity=\"Valid\"}"), "1");
    assert_eq!(
        metric(&env, "secretsync_earliest_expiry_timestamp_seconds"),
        (now + 10 * DAY).to_string()
    );

    // A quiet check writes nothing, Expiring condition and all.
    let quiet = env.poll(&mut sync).await;
    assert!(quiet.synced() && !quiet.status_written, "{quiet:?}");
    // A reconcile that sees the status from before the manager's own write (the informer lags) fires
    // nothing again.
    let mut stale = sync.clone();
    stale.status = None;
    env.ctx.force(&format!("{NS}/app"));
    env.reconcile(&mut stale).await;
    assert_eq!(events(&env, "app", "ObjectExpiring"), 1, "announced already");
    env.reconcile(&mut sync).await;

    // A manager restart (the status remembers the warning): no second Event, and the metrics count the
    // status's standings before the first check. (The first check after a restart is answered from the
    // last interval's metadata; the next one reads anew.)
    let mut env = env;
    env.restart();
    let idle = env.reconcile(&mut sync).await;
    assert!(!idle.synced(), "a fresh process trusts a recent healthy status");
    assert_eq!(metric(&env, "secretsync_objects{validity=\"Expiring\"}"), "1");
    env.poll(&mut sync).await;
    env.poll(&mut sync).await;
    assert_eq!(
        events(&env, "app", "ObjectExpiring"),
        1,
        "once per object and window"
    );
    assert_eq!(condition(&sync, EXPIRING).0, "True");

    // Rotated with a date outside the window: the warning clears, no Event.
    env.emulator
        .store()
        .set_secret_with(VAULT, "db", dated("pw-2", None, Some(now + 60 * DAY)));
    env.poll(&mut sync).await;
    assert_eq!(env.secret_data("app")["db"], "pw-2");
    let (status, reason, message) = condition(&sync, EXPIRING);
    assert_eq!((status.as_str(), reason.as_str()), ("False", "NoObjectExpiring"));
    assert_eq!(
        message,
        "No synced object expires within 720h0m0s (--expiry-warning-window)."
    );
    assert_eq!(metric(&env, "secretsync_objects{validity=\"Expiring\"}"), "0");
    assert_eq!(metric(&env, "secretsync_objects{validity=\"Valid\"}"), "2");
    assert_eq!(
        metric(&env, "secretsync_earliest_expiry_timestamp_seconds"),
        (now + 60 * DAY).to_string()
    );
}

#[tokio::test]
async fn expired_and_not_yet_valid_objects_are_named_and_still_synced() {
    let config = manager::context::Config {
        expiry_window: Duration::from_secs(3600),
        ..default_config()
    };
    let env = Env::start_with(config).await;
    let now = unix_now();
    let store = env.emulator.store();
    store.set_secret_with(VAULT, "old", dated("stale", None, Some(now - DAY)));
    store.set_secret_with(VAULT, "new", dated("early", Some(now + DAY), None));
    store.set_secret_with(VAULT, "soon", dated("fine", None, Some(now + 2 * DAY)));
    env.put_class(
        "kv",
        "azure",
        &[
            "objectName: old\nobjectType: secret",
            "objectName: new\nobjectType: secret",
            "objectName: soon\nobjectType: secret",
        ],
    );
    let mut sync = env.sync(
        "app",
        "kv",
        "Opaque",
        &[("old", "old"), ("new", "new"), ("soon", "soon")],
    );
    env.reconcile(&mut sync).await;
    assert_eq!(condition(&sync, READY).0, "True");
    assert_eq!(
        env.secret_data("app")["old"],
        "stale",
        "Key Vault serves it: it syncs"
    );
    assert_eq!(
        states(&sync),
        [
            ("secret/old".to_string(), "Expired".to_string()),
            ("secret/new".to_string(), "NotYetValid".to_string()),
            ("secret/soon".to_string(), "Valid".to_string()),
        ],
        "two days out is outside a one-hour window"
    );
    let (status, reason, message) = condition(&sync, EXPIRING);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "ObjectExpired"),
        "the worst wins"
    );
    assert!(
        message.contains("secret/old expired at ") && message.contains("secret/new is not valid before "),
        "{message}"
    );
    assert_eq!(events(&env, "app", "ObjectExpired"), 1);
    assert_eq!(events(&env, "app", "ObjectNotYetValid"), 1);
}

#[tokio::test]
async fn a_certificate_reports_its_not_after_and_a_pinned_version_reports_nothing() {
    let env = Env::start().await;
    env.import_issued_certificate("web", Duration::from_secs(7 * 86_400), false);
    let version =
        env.emulator
            .store()
            .set_secret_with(VAULT, "pinned", dated("v1", None, Some(unix_now() + DAY)));
    let version = version.rsplit('/').next().unwrap().to_string();
    env.put_class(
        "kv",
        "azure",
        &[
            "objectName: web\nobjectType: cert",
            &format!("objectName: pinned\nobjectType: secret\nobjectVersion: {version}"),
        ],
    );
    let mut sync = env.sync("tls", "kv", "Opaque", &[("web", "tls.crt"), ("pinned", "pinned")]);
    env.reconcile(&mut sync).await;
    assert_eq!(condition(&sync, READY).0, "True", "{:?}", sync.status);
    assert_eq!(
        states(&sync),
        [("cert/web".to_string(), "Expiring".to_string())],
        "the certificate's notAfter is seven days out; the pinned version's dates are not the latest's"
    );
    let validity = &sync.status.as_ref().unwrap().validity[0];
    assert!(validity.not_before.is_some(), "the certificate's notBefore too");
}
