//! Tier 2: Key Vault tags onto the Secret (issue 11), opt-in per SecretSync through `sse-rs.io/tag-labels`
//! and `sse-rs.io/tag-annotations`, from the emulator's tags through the provider's change detection.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::BTreeMap;

use keyvault_emulator::SecretInput;
use manager::fake::Call;
use sse_api::SecretSync;
use sse_api::conditions::READY;
use sse_tests::*;

fn tagged(value: &str, tags: &[(&str, &str)]) -> SecretInput {
    SecretInput {
        value: value.into(),
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
        ..SecretInput::default()
    }
}

fn annotate(sync: &mut SecretSync, labels: &str, annotations: Option<&str>) {
    let a = sync.metadata.annotations.get_or_insert_with(BTreeMap::new);
    a.insert(sse_api::consts::TAG_LABELS_ANNOTATION.into(), labels.into());
    if let Some(annotations) = annotations {
        a.insert(
            sse_api::consts::TAG_ANNOTATIONS_ANNOTATION.into(),
            annotations.into(),
        );
    }
}

fn labels(env: &Env, name: &str) -> BTreeMap<String, String> {
    env.cluster
        .secret(NS, name)
        .unwrap()
        .metadata
        .labels
        .unwrap_or_default()
}

fn annotations(env: &Env, name: &str) -> BTreeMap<String, String> {
    env.cluster
        .secret(NS, name)
        .unwrap()
        .metadata
        .annotations
        .unwrap_or_default()
}

#[tokio::test]
async fn listed_tags_become_labels_and_annotations_and_follow_the_vault() {
    let env = Env::start().await;
    env.emulator.store().set_secret_with(
        VAULT,
        "db",
        tagged(
            "pw",
            &[
                ("team", "payments"),
                ("env", "prod"),
                ("note", "rotated by hand!"),
                ("cost", "x"),
            ],
        ),
    );
    env.put_class("kv", "azure", &["objectName: db\nobjectType: secret"]);
    let mut sync = env.sync("app", "kv", "Opaque", &[("db", "password")]);
    sync.spec.secret_object.labels = Some(BTreeMap::from([("team".into(), "from-spec".into())]));
    annotate(
        &mut sync,
        "team, env=example.com/env, note",
        Some("note=example.com/note"),
    );
    env.reconcile(&mut sync).await;
    assert_eq!(condition(&sync, READY).0, "True", "{:?}", sync.status);

    let l = labels(&env, "app");
    assert_eq!(l["team"], "from-spec", "the spec wins over a tag");
    assert_eq!(l["example.com/env"], "prod");
    assert!(!l.contains_key("note"), "not a valid label value: {l:?}");
    assert!(!l.contains_key("cost"), "not in the allow-list");
    assert_eq!(l[sse_api::consts::CONTROLLER_LABEL_KEY], "", "ours, untouched");
    let a = annotations(&env, "app");
    assert_eq!(a["example.com/note"], "rotated by hand!");
    assert_eq!(
        a[sse_api::consts::TAG_KEYS_ANNOTATION],
        "labels=example.com/env;annotations=example.com/note"
    );
    let warned = || {
        env.cluster
            .calls()
            .iter()
            .filter(|c| matches!(c, Call::Event(_, r) if r == "TagNotCopied"))
            .count()
    };
    assert_eq!(warned(), 1, "the tag that could not be copied is named");

    // A quiet check changes nothing and warns no more.
    env.poll(&mut sync).await;
    assert_eq!(warned(), 1);

    // The tag changes and another disappears in the vault: the labels follow, the stale one is removed.
    env.emulator.store().set_secret_tags(
        VAULT,
        "db",
        BTreeMap::from([("team".into(), "payments".into()), ("note".into(), "n".into())]),
    );
    env.poll(&mut sync).await;
    let l = labels(&env, "app");
    assert!(!l.contains_key("example.com/env"), "removed with its tag: {l:?}");
    assert_eq!(l["note"], "n", "now a valid label value");
    assert_eq!(annotations(&env, "app")["example.com/note"], "n");
    assert_eq!(
        condition(&sync, READY).1,
        "UpdateNoValueChangeSucceeded",
        "tags are not a value change"
    );
}

#[tokio::test]
async fn without_the_opt_in_no_tag_is_copied_and_a_bad_mapping_writes_nothing() {
    let env = Env::start().await;
    env.emulator
        .store()
        .set_secret_with(VAULT, "db", tagged("pw", &[("team", "payments")]));
    env.put_class("kv", "azure", &["objectName: db\nobjectType: secret"]);
    let mut plain = env.sync("plain", "kv", "Opaque", &[("db", "password")]);
    env.reconcile(&mut plain).await;
    assert!(!labels(&env, "plain").contains_key("team"));
    assert!(!annotations(&env, "plain").contains_key(sse_api::consts::TAG_KEYS_ANNOTATION));

    let mut bad = env.sync("bad", "kv", "Opaque", &[("db", "password")]);
    annotate(&mut bad, "team=secrets-store.sync.x-k8s.io", None);
    env.reconcile(&mut bad).await;
    let (status, reason, message) = condition(&bad, READY);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "UserInputValidationFailed")
    );
    assert_eq!(
        message,
        "annotation sse-rs.io/tag-labels: \"secrets-store.sync.x-k8s.io\" is reserved for SSE-rs"
    );
    assert!(env.cluster.secret(NS, "bad").is_none(), "nothing written");

    // Opting in later applies the tags at once, without a spec edit.
    annotate(&mut plain, "team", None);
    env.reconcile(&mut plain).await;
    assert_eq!(labels(&env, "plain")["team"], "payments");
}
