//! Tier 2: shaping (issue 21, docs/API.md#shaping). The manager's reconciler with the real provider over mTLS
//! and the Key Vault emulator; the Kubernetes API is the in-memory double. A property of a JSON secret, a JSON
//! object spread into keys, a `.dockerconfigjson` composed from two vault secrets, whole files, the merge
//! policy; errors that name the template, line and name and never a value, with nothing written; a quiet check
//! that mounts and renders nothing; a rotation of an unused property that writes nothing.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use base64::Engine as _;
use manager::outcome::{Outcome, Written};
use sse_api::conditions::{CREATE, READY, UPDATE};
use sse_api::{FileFormat, MergePolicy, SecretObjectDataFrom, SecretSync, SecretTemplate, TemplateItem};
use sse_tests::*;

const DB_CONFIG: &str =
    r#"{"primary":{"host":"db1","port":5432},"replicas":[{"host":"db2"}],"pool":{"size":"10","idle":"2"}}"#;
/// A value no message may ever contain.
const SENTINEL: &str = "s3ntinel-v4lue";

fn secret(name: &str) -> String {
    format!("objectName: {name}\nobjectType: secret")
}

fn text(key: &str, text: &str) -> TemplateItem {
    TemplateItem {
        target_key: key.into(),
        text: Some(text.into()),
        ..TemplateItem::default()
    }
}

fn template(sync: &mut SecretSync, merge_policy: MergePolicy, data: Vec<TemplateItem>) {
    sync.spec.secret_object.template = Some(SecretTemplate { merge_policy, data });
}

fn property(sync: &mut SecretSync, index: usize, path: &str) {
    sync.spec.secret_object.data[index].property = Some(path.into());
}

fn resource_version(env: &Env, name: &str) -> String {
    env.cluster
        .secret(NS, name)
        .and_then(|s| s.metadata.resource_version)
        .unwrap()
}

fn secret_gets(env: &Env) -> u64 {
    env.emulator.counters().get("secrets.get").copied().unwrap_or(0)
}

#[tokio::test]
async fn a_json_property_becomes_a_key_and_a_missing_one_names_the_path_never_the_value() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "db-config", DB_CONFIG);
    env.put_class("kv", "azure", &[&secret("db-config")]);
    let mut sync = env.sync(
        "db",
        "kv",
        "Opaque",
        &[
            ("db-config", "DB_HOST"),
            ("db-config", "PORT"),
            ("db-config", "REPLICA"),
        ],
    );
    property(&mut sync, 0, "primary.host");
    property(&mut sync, 1, "primary.port");
    property(&mut sync, 2, "replicas.0.host");
    env.reconcile(&mut sync).await;
    assert_eq!(condition(&sync, CREATE).1, "CreateSucceeded", "{:?}", sync.status);
    let data = env.secret_data("db");
    assert_eq!(
        (
            data["DB_HOST"].as_str(),
            data["PORT"].as_str(),
            data["REPLICA"].as_str()
        ),
        ("db1", "5432", "db2")
    );

    // The secret loses the property: PropertyError naming the item and the path, the Secret unchanged.
    env.emulator.store().set_secret(
        VAULT,
        "db-config",
        &format!(r#"{{"primary":{{"user":"{SENTINEL}"}}}}"#),
    );
    let before = resource_version(&env, "db");
    env.poll(&mut sync).await;
    let (status, reason, message) = condition(&sync, READY);
    assert_eq!((status.as_str(), reason.as_str()), ("False", "PropertyError"));
    assert!(
        message.contains("secretObject.data[0] (targetKey DB_HOST)"),
        "{message}"
    );
    assert!(message.contains("primary.host"), "{message}");
    assert!(!message.contains(SENTINEL), "no value in the message: {message}");
    assert_eq!(resource_version(&env, "db"), before, "nothing written");

    // A value that is not JSON at all.
    env.emulator.store().set_secret(VAULT, "db-config", SENTINEL);
    env.poll(&mut sync).await;
    let (_, reason, message) = condition(&sync, READY);
    assert_eq!(reason, "PropertyError");
    assert!(message.contains("not JSON"), "{message}");
    assert!(!message.contains(SENTINEL), "{message}");
}

#[tokio::test]
async fn data_from_spreads_a_json_object_into_one_key_per_property() {
    let env = Env::start().await;
    env.emulator.store().set_secret(
        VAULT,
        "app-settings",
        r#"{"LOG_LEVEL":"info","FEATURE_X":"on","RETRIES":3}"#,
    );
    env.emulator.store().set_secret(VAULT, "db-config", DB_CONFIG);
    env.put_class("kv", "azure", &[&secret("app-settings"), &secret("db-config")]);
    let mut sync = env.sync("app", "kv", "Opaque", &[]);
    sync.spec.secret_object.data_from = vec![
        SecretObjectDataFrom {
            source_path: "app-settings".into(),
            property: None,
        },
        SecretObjectDataFrom {
            source_path: "db-config".into(),
            property: Some("pool".into()),
        },
    ];
    env.reconcile(&mut sync).await;
    assert_eq!(condition(&sync, READY).0, "True", "{:?}", sync.status);
    let data = env.secret_data("app");
    let keys: Vec<_> = data.keys().map(String::as_str).collect();
    assert_eq!(keys, ["FEATURE_X", "LOG_LEVEL", "RETRIES", "idle", "size"]);
    assert_eq!(data["RETRIES"], "3", "a number is written as its JSON text");
}

/// Two vault secrets composed into a registry pull secret; returns the environment and the synced SecretSync.
async fn registry(env: &Env) -> SecretSync {
    env.emulator.store().set_secret(VAULT, "acr-user", "contoso");
    env.emulator.store().set_secret(VAULT, "acr-token", "t0ken\"1");
    env.emulator.store().set_secret(VAULT, "db-config", DB_CONFIG);
    env.put_class(
        "kv",
        "azure",
        &[&secret("acr-user"), &secret("acr-token"), &secret("db-config")],
    );
    let mut sync = env.sync(
        "pull",
        "kv",
        "kubernetes.io/dockerconfigjson",
        &[
            ("acr-user", "user"),
            ("acr-token", "token"),
            ("db-config", "host"),
        ],
    );
    property(&mut sync, 2, "primary.host");
    template(
        &mut sync,
        MergePolicy::Replace,
        vec![
            text(
                ".dockerconfigjson",
                r#"{{ dockerConfigJson "contoso.azurecr.io" .user .token }}"#,
            ),
            text("db-url", "postgresql://{{ .user }}@{{ .host }}:5432/app"),
        ],
    );
    env.reconcile(&mut sync).await;
    sync
}

#[tokio::test]
async fn a_dockerconfigjson_from_two_vault_secrets_is_rotated_and_an_unused_change_writes_nothing() {
    let env = Env::start().await;
    let mut sync = registry(&env).await;
    assert_eq!(condition(&sync, CREATE).1, "CreateSucceeded", "{:?}", sync.status);
    let data = env.secret_data("pull");
    let keys: Vec<_> = data.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [".dockerconfigjson", "db-url"],
        "Replace: only the template's keys"
    );
    let config: serde_json::Value = serde_json::from_str(&data[".dockerconfigjson"]).unwrap();
    let auth = &config["auths"]["contoso.azurecr.io"];
    assert_eq!(auth["username"], "contoso");
    assert_eq!(
        auth["password"], "t0ken\"1",
        "a quote in the token stays valid JSON"
    );
    assert_eq!(
        auth["auth"],
        base64::engine::general_purpose::STANDARD.encode("contoso:t0ken\"1")
    );
    assert_eq!(data["db-url"], "postgresql://contoso@db1:5432/app");

    // The token rotates: the shaped key is updated.
    env.emulator.store().set_secret(VAULT, "acr-token", "t0ken-2");
    let report = env.poll(&mut sync).await;
    assert!(
        matches!(
            report.outcome,
            Some(Outcome::Synced {
                written: Written::Updated,
                ..
            })
        ),
        "{:?}",
        report.outcome
    );
    let config: serde_json::Value =
        serde_json::from_str(&env.secret_data("pull")[".dockerconfigjson"]).unwrap();
    assert_eq!(config["auths"]["contoso.azurecr.io"]["password"], "t0ken-2");

    // A property no template reads changes: a new version is read, the bytes are the same, nothing is written.
    let before = resource_version(&env, "pull");
    let hash_before = sync.status.as_ref().unwrap().sync_hash.clone();
    env.emulator.store().set_secret(
        VAULT,
        "db-config",
        &DB_CONFIG.replace("\"idle\":\"2\"", "\"idle\":\"3\""),
    );
    let report = env.poll(&mut sync).await;
    assert!(
        matches!(
            report.outcome,
            Some(Outcome::Synced {
                written: Written::Unchanged,
                ..
            })
        ),
        "{:?}",
        report.outcome
    );
    assert_eq!(
        resource_version(&env, "pull"),
        before,
        "the Secret was not written"
    );
    assert_ne!(
        sync.status.as_ref().unwrap().sync_hash,
        hash_before,
        "the new version is recorded"
    );
    let (status, reason, message) = condition(&sync, UPDATE);
    assert_eq!(
        (status.as_str(), reason.as_str(), message.as_str()),
        (
            "True",
            "UpdateValueChangeOrForceUpdateSucceeded",
            manager::status::SHAPED_UNCHANGED
        )
    );
}

#[tokio::test]
async fn a_quiet_check_of_a_shaped_secret_mounts_and_renders_nothing() {
    let env = Env::start().await;
    let mut sync = registry(&env).await;
    assert_eq!(condition(&sync, READY).0, "True", "{:?}", sync.status);
    env.emulator.reset_counters();
    env.cluster.clear_calls();
    let report = env.poll(&mut sync).await;
    assert!(
        matches!(
            report.outcome,
            Some(Outcome::Synced {
                written: Written::Unchanged,
                ..
            })
        ),
        "{:?}",
        report.outcome
    );
    assert_eq!(
        secret_gets(&env),
        0,
        "no value read: {:?}",
        env.emulator.counters()
    );
    assert!(!report.status_written);
}

#[tokio::test]
async fn whole_files_and_the_merge_policy() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "db-config", DB_CONFIG);
    env.emulator.store().set_secret(VAULT, "password", "p@ss word$");
    env.put_class("kv", "azure", &[&secret("db-config"), &secret("password")]);
    let mut sync = env.sync(
        "files",
        "kv",
        "Opaque",
        &[("db-config", "DB_HOST"), ("password", "DB_PASSWORD")],
    );
    property(&mut sync, 0, "primary.host");
    let file = |key: &str, format: FileFormat, keys: &[&str]| TemplateItem {
        target_key: key.into(),
        format: Some(format),
        keys: keys.iter().map(|k| (*k).into()).collect(),
        ..TemplateItem::default()
    };
    template(
        &mut sync,
        MergePolicy::Merge,
        vec![
            file("app.env", FileFormat::Env, &["DB_HOST", "DB_PASSWORD"]),
            file("settings.json", FileFormat::Json, &[]),
        ],
    );
    env.reconcile(&mut sync).await;
    assert_eq!(condition(&sync, READY).0, "True", "{:?}", sync.status);
    let data = env.secret_data("files");
    let keys: Vec<_> = data.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["DB_HOST", "DB_PASSWORD", "app.env", "settings.json"],
        "Merge: the plain keys are written too"
    );
    assert_eq!(data["app.env"], "DB_HOST=db1\nDB_PASSWORD=\"p@ss word\\$\"\n");
    let json: serde_json::Value = serde_json::from_str(&data["settings.json"]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"DB_HOST": "db1", "DB_PASSWORD": "p@ss word$"})
    );
}

#[tokio::test]
async fn a_template_error_names_template_line_and_name_and_writes_nothing() {
    let env = Env::start().await;
    let mut sync = registry(&env).await;
    let before = resource_version(&env, "pull");
    // A misspelt name on line 2: the values are read, the render fails, the Secret keeps its last content.
    template(
        &mut sync,
        MergePolicy::Replace,
        vec![text(
            ".dockerconfigjson",
            "{{ .user }}\n{{ dockerConfigJson \"r\" .user .tokn }}",
        )],
    );
    Env::bump_generation(&mut sync);
    env.reconcile(&mut sync).await;
    let (status, reason, message) = condition(&sync, READY);
    assert_eq!((status.as_str(), reason.as_str()), ("False", "TemplateError"));
    assert!(
        message.starts_with("template .dockerconfigjson: line 2"),
        "{message}"
    );
    assert!(message.contains("tokn"), "{message}");
    assert!(
        !message.contains("contoso") && !message.contains("t0ken"),
        "no value: {message}"
    );
    assert_eq!(resource_version(&env, "pull"), before, "nothing written");
}

#[tokio::test]
async fn a_template_that_does_not_parse_fails_before_any_vault_read() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "acr-user", "contoso");
    env.put_class("kv", "azure", &[&secret("acr-user")]);
    let mut sync = env.sync("bad", "kv", "Opaque", &[("acr-user", "user")]);
    template(&mut sync, MergePolicy::Replace, vec![text("k", "{{ now }}")]);
    env.emulator.reset_counters();
    env.reconcile(&mut sync).await;
    let (status, reason, message) = condition(&sync, CREATE);
    assert_eq!((status.as_str(), reason.as_str()), ("False", "TemplateError"));
    assert!(message.contains("\"now\""), "the function is named: {message}");
    assert_eq!(secret_gets(&env), 0, "{:?}", env.emulator.counters());
    assert!(env.cluster.secret(NS, "bad").is_none(), "nothing written");
}

#[tokio::test]
async fn partial_sync_keeps_a_template_whose_input_failed_and_renders_the_others() {
    let config = manager::context::Config {
        partial_sync: true,
        ..default_config()
    };
    let env = Env::start_with(config).await;
    env.emulator.store().set_secret(VAULT, "a", "a1");
    env.emulator.store().set_secret(VAULT, "b", "b1");
    env.put_class("kv", "azure", &[&secret("a"), &secret("b")]);
    let mut sync = env.sync("partial", "kv", "Opaque", &[("a", "a"), ("b", "b")]);
    template(
        &mut sync,
        MergePolicy::Replace,
        vec![text("from-a", "A={{ .a }}"), text("from-b", "B={{ .b }}")],
    );
    env.reconcile(&mut sync).await;
    assert_eq!(env.secret_data("partial")["from-b"], "B=b1");

    env.emulator.store().set_secret(VAULT, "a", "a2");
    env.emulator
        .store()
        .delete(VAULT, keyvault_emulator::ObjectKind::Secret, "b");
    env.poll(&mut sync).await;
    let data = env.secret_data("partial");
    assert_eq!(
        data["from-a"], "A=a2",
        "a template whose inputs are healthy renders"
    );
    assert_eq!(
        data["from-b"], "B=b1",
        "a template whose input failed keeps its last value"
    );
    let (_, reason, message) = condition(&sync, READY);
    assert_eq!(reason, "PartialSync");
    let summary: serde_json::Value = serde_json::from_str(&message).unwrap();
    let failed_template = summary["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["template"] == true)
        .unwrap_or_else(|| panic!("{summary}"));
    assert_eq!(failed_template["targetKey"], "from-b");
    assert_eq!(failed_template["status"], "Failed");
}
