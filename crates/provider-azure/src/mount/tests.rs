use super::*;
use crate::content::{Encoding, Format};
use crate::keyvault::VersionItem;
use crate::params::fixtures::attrs;
use crate::params::{ObjectType, keys};

fn object(version: &str, history_n: i32) -> Arc<KeyVaultObject> {
    Arc::new(KeyVaultObject {
        name: "db".into(),
        object_type: ObjectType::Secret,
        file_name: "alias".into(),
        version: version.into(),
        version_history: history_n,
        format: Format::Pem,
        encoding: Encoding::Utf8,
        mode: 0o644,
    })
}

fn versions() -> Vec<VersionItem> {
    (1..=4)
        .map(|i| VersionItem {
            version: format!("v{i}"),
            created: i64::from(i) * 10,
        })
        .collect()
}

fn paths(units: &[Unit]) -> Vec<(String, String, String)> {
    units
        .iter()
        .map(|u| (u.path.clone(), u.version.clone(), u.id.clone()))
        .collect()
}

#[test]
fn history_yields_exactly_n_newest_first() {
    let o = object("", 2);
    assert_eq!(
        paths(&history(&o, &versions())),
        vec![
            ("alias/0".into(), "v4".into(), "secret/db/0".into()),
            ("alias/1".into(), "v3".into(), "secret/db/1".into()),
        ]
    );
}

#[test]
fn history_starts_at_the_requested_version() {
    let o = object("v3", 5);
    let got: Vec<_> = paths(&history(&o, &versions()))
        .into_iter()
        .map(|p| p.1)
        .collect();
    assert_eq!(got, vec!["v3", "v2", "v1"]);
    assert_eq!(paths(&history(&object("latest", 2), &versions()))[0].1, "v4");
}

#[test]
fn history_with_unknown_start_version_is_empty() {
    assert!(history(&object("nope", 2), &versions()).is_empty());
}

#[test]
fn history_with_fewer_versions_returns_what_exists() {
    assert_eq!(history(&object("", 10), &versions()).len(), 4);
}

// What a Mount answers for a request refused before any network call: the upstream texts, verbatim.

/// What a Mount answers for `attributes`, `secrets` and `permission` (default cloud `AzurePublicCloud`).
fn refused(attributes: &str, secrets: &str, permission: &str) -> String {
    let request = MountRequest {
        attributes: attributes.into(),
        secrets: secrets.into(),
        permission: permission.into(),
        ..MountRequest::default()
    };
    parse(&request, &"AzurePublicCloud".into())
        .expect_err("refused")
        .to_string()
}

/// What a Mount answers for the walkthrough's attributes with `extra` set over them.
fn mount_err(extra: &[(&str, &str)]) -> String {
    refused(&attrs(extra), "{}", "420")
}

#[test]
fn unmarshal_errors_are_not_wrapped() {
    assert!(refused("nope", "{}", "420").starts_with("failed to unmarshal attributes, error: "));
    assert!(refused("{}", "[", "420").starts_with("failed to unmarshal secrets, error: "));
    assert!(refused("{}", "{}", "\"x\"").starts_with("failed to unmarshal file permission, error: "));
}

#[test]
fn required_parameters_have_upstream_texts() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[(keys::POD_NAME, "")],
            "failed to mount objects, error: pod name is not provided",
        ),
        (
            &[(keys::POD_NAMESPACE, "")],
            "failed to mount objects, error: pod namespace is not provided",
        ),
        (
            &[("keyvaultName", "")],
            "failed to mount objects, error: keyvaultName is not provided",
        ),
        (
            &[("tenantID", "")],
            "failed to mount objects, error: tenantId is not provided",
        ),
        (
            &[("objects", "")],
            "failed to mount objects, error: objects is not set",
        ),
        (
            &[("useVMManagedIdentity", "true"), ("usePodIdentity", "1")],
            "failed to mount objects, error: only one identity mode can be enabled at a time: usePodIdentity, useVMManagedIdentity, or useAzureTokenProxy",
        ),
    ];
    for (extra, want) in cases {
        assert_eq!(&mount_err(extra), want);
    }
}

#[test]
fn bad_flag_is_reported_with_its_name() {
    assert_eq!(
        mount_err(&[("useVMManagedIdentity", "yes")]),
        "failed to mount objects, error: failed to parse useVMManagedIdentity flag, error: strconv.ParseBool: parsing \"yes\": invalid syntax"
    );
}

#[test]
fn workload_identity_token_errors() {
    assert_eq!(
        mount_err(&[(keys::SA_TOKENS, "")]),
        "failed to mount objects, error: failed to build auth config for mode None: failed to parse workload identity tokens, error: service account tokens not found"
    );
    assert_eq!(
        mount_err(&[(keys::SA_TOKENS, r#"{"other":{"token":"x"}}"#)]),
        "failed to mount objects, error: failed to build auth config for mode None: failed to parse workload identity tokens, error: token for audience api://AzureADTokenExchange not found"
    );
    assert!(mount_err(&[(keys::SA_TOKENS, "{")]).starts_with(
        "failed to mount objects, error: failed to build auth config for mode None: failed to parse workload identity tokens, error: failed to unmarshal service account tokens, error: "
    ));
}

#[test]
fn json_errors_never_quote_the_input() {
    let e = mount_err(&[(keys::SA_TOKENS, r#"{"api://AzureADTokenExchange":"SECRETJWT"}"#)]);
    assert!(!e.contains("SECRETJWT"), "{e}");
    assert!(e.contains("unexpected value type at line 1"), "{e}");
    let e = refused(r#"{"a": 1}"#, r#"{"clientsecret": 42}"#, "420");
    assert!(
        e.starts_with("failed to unmarshal attributes, error: unexpected value type"),
        "{e}"
    );
}

#[test]
fn service_principal_needs_secrets() {
    assert_eq!(
        mount_err(&[("clientID", "")]),
        "failed to mount objects, error: failed to build auth config for mode None: could not find clientid in secrets"
    );
}
