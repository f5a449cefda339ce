//! Tier 2: Mount failures over the wire: the upstream error texts for bad attributes, Key Vault errors
//! naming the object and the cause, Entra errors verbatim.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use common::*;
use keyvault_emulator::ObjectKind;

#[tokio::test]
async fn upstream_error_texts_over_the_wire() {
    let h = Harness::start().await;
    h.emulator.store().set_secret(VAULT, "exists", "x");
    let ok_object = "objectName: exists\nobjectType: secret";
    let cases: Vec<(String, &str)> = vec![
        (
            h.attributes(&[ok_object], &[("csi.storage.k8s.io/pod.name", "")]),
            "failed to mount objects, error: pod name is not provided",
        ),
        (
            h.attributes(&[ok_object], &[("keyvaultName", "")]),
            "failed to mount objects, error: keyvaultName is not provided",
        ),
        (
            h.attributes(&[ok_object], &[("tenantID", "")]),
            "failed to mount objects, error: tenantId is not provided",
        ),
        (
            h.attributes(&[ok_object], &[("objects", "")]),
            "failed to mount objects, error: objects is not set",
        ),
        (
            h.attributes(&[ok_object], &[("keyvaultName", "x")]),
            "failed to mount objects, error: failed to get vault: Invalid vault name: \"x\", must be between 3 and 24 chars",
        ),
        (
            h.attributes(&["objectName: s\nobjectType: password"], &[]),
            "failed to mount objects, error: failed to get objectType:password, objectName:s, objectVersion:: Invalid vaultObjectTypes. Should be secret, key, or cert",
        ),
        (
            h.attributes(
                &["objectName: s\nobjectType: secret\nobjectAlias: ../../etc"],
                &[],
            ),
            "failed to mount objects, error: failed to get objectType:secret, objectName:s, objectVersion:: file name must not contain '..'",
        ),
    ];
    for (attributes, want) in cases {
        let status = h.mount(attributes).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{want}");
        assert_eq!(status.message(), want);
    }
    let status = h.mount("not json".into()).await.unwrap_err();
    assert!(
        status
            .message()
            .starts_with("failed to unmarshal attributes, error: "),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn key_vault_errors_name_the_object_and_the_cause() {
    let h = Harness::start().await;
    let version = h.emulator.store().set_secret(VAULT, "off", "x");
    h.emulator
        .store()
        .set_enabled(VAULT, ObjectKind::Secret, "off", &version, false);
    let missing = h
        .mount_objects(&["objectName: nope\nobjectType: secret"])
        .await
        .unwrap_err();
    let m = missing.message();
    assert!(m.starts_with("failed to mount objects, error: failed to get objectType:secret, objectName:nope, objectVersion:: "), "{m}");
    assert!(m.contains("404") && m.contains("SecretNotFound"), "{m}");
    let disabled = h
        .mount_objects(&["objectName: off\nobjectType: secret"])
        .await
        .unwrap_err();
    assert!(
        disabled.message().contains("403") && disabled.message().contains("disabled"),
        "{}",
        disabled.message()
    );
}

#[tokio::test]
async fn entra_errors_are_returned_verbatim() {
    let h = Harness::start().await;
    h.emulator.store().set_secret(VAULT, "s", "x");
    let attributes = h.attributes(
        &["objectName: s\nobjectType: secret"],
        &[(
            "csi.storage.k8s.io/serviceAccount.tokens",
            &h.tokens_attribute("system:serviceaccount:app:intruder"),
        )],
    );
    let status = h.mount(attributes).await.unwrap_err();
    assert!(status.message().contains("AADSTS700213"), "{}", status.message());
    let attributes = h.attributes(
        &["objectName: s\nobjectType: secret"],
        &[("clientID", "unknown-client")],
    );
    let status = h.mount(attributes).await.unwrap_err();
    assert!(status.message().contains("AADSTS700016"), "{}", status.message());
}
