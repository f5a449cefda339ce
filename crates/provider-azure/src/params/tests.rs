use super::*;
use crate::content::Encoding;

fn attrs(extra: &[(&str, &str)]) -> String {
    let mut map: HashMap<&str, &str> = HashMap::from([
        (keys::POD_NAME, "sse-pod"),
        (keys::POD_NAMESPACE, "app"),
        ("keyvaultName", "contoso-kv"),
        ("tenantID", "tenant"),
        ("clientID", "client"),
        (
            keys::SA_TOKENS,
            r#"{"api://AzureADTokenExchange":{"token":"jwt","expirationTimestamp":"2026-01-01T00:00:00Z"}}"#,
        ),
        (
            "objects",
            "array:\n  - |\n    objectName: s1\n    objectType: secret\n",
        ),
    ]);
    for (k, v) in extra {
        if v.is_empty() {
            map.remove(k);
        } else {
            map.insert(k, v);
        }
    }
    serde_json::to_string(&map).unwrap()
}

fn mount_err(extra: &[(&str, &str)]) -> String {
    parse(&attrs(extra), "{}", "420", &"AzurePublicCloud".into())
        .unwrap_err()
        .to_string()
}

#[test]
fn parses_the_walkthrough_parameters() {
    let p = parse(&attrs(&[]), "{}", "420", &"AzurePublicCloud".into()).unwrap();
    assert_eq!(p.vault_name, "contoso-kv");
    assert_eq!(p.vault_url().unwrap(), "https://contoso-kv.vault.azure.net");
    assert_eq!(
        p.identity,
        Identity::Workload {
            client_id: "client".into(),
            assertion: "jwt".into()
        }
    );
    assert_eq!(p.objects.len(), 1);
    assert_eq!(p.objects[0].file_name, "s1");
    assert_eq!(p.objects[0].mode, 0o644);
}

#[test]
fn unmarshal_errors_are_not_wrapped() {
    assert!(
        parse("nope", "{}", "420", &"AzurePublicCloud".into())
            .unwrap_err()
            .to_string()
            .starts_with("failed to unmarshal attributes, error: ")
    );
    assert!(
        parse("{}", "[", "420", &"AzurePublicCloud".into())
            .unwrap_err()
            .to_string()
            .starts_with("failed to unmarshal secrets, error: ")
    );
    assert!(
        parse("{}", "{}", "\"x\"", &"AzurePublicCloud".into())
            .unwrap_err()
            .to_string()
            .starts_with("failed to unmarshal file permission, error: ")
    );
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
fn legacy_tenant_id_is_accepted() {
    let p = parse(
        &attrs(&[("tenantID", ""), ("tenantId", " legacy ")]),
        "{}",
        "420",
        &"AzurePublicCloud".into(),
    )
    .unwrap();
    assert_eq!(p.tenant_id, "legacy");
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
    let e = parse(
        r#"{"a": 1}"#,
        r#"{"clientsecret": 42}"#,
        "420",
        &"AzurePublicCloud".into(),
    )
    .unwrap_err()
    .to_string();
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
    let p = parse(
        &attrs(&[("clientID", "")]),
        r#"{"ClientID":"id","clientsecret":"s"}"#,
        "420",
        &"AzurePublicCloud".into(),
    )
    .unwrap();
    assert!(matches!(p.identity, Identity::ServicePrincipal { ref client_id, .. } if client_id == "id"));
    assert!(!format!("{:?}", p.identity).contains('s') || !format!("{:?}", p.identity).contains("\"s\""));
}

#[test]
fn vm_managed_identity() {
    let p = parse(
        &attrs(&[
            ("useVMManagedIdentity", "true"),
            ("userAssignedIdentityID", "uami"),
        ]),
        "{}",
        "420",
        &"AzurePublicCloud".into(),
    )
    .unwrap();
    assert_eq!(
        p.identity,
        Identity::VmManagedIdentity {
            user_assigned_id: Some("uami".into())
        }
    );
}

#[test]
fn debug_output_redacts_tokens() {
    let p = parse(
        &attrs(&[(
            keys::SA_TOKENS,
            r#"{"api://AzureADTokenExchange":{"token":"TOPSECRETJWT"}}"#,
        )]),
        "{}",
        "420",
        &"AzurePublicCloud".into(),
    )
    .unwrap();
    assert!(!format!("{p:?}").contains("TOPSECRETJWT"));
}

#[test]
fn vault_name_validation() {
    let mut p = parse(&attrs(&[]), "{}", "420", &"AzurePublicCloud".into()).unwrap();
    p.vault_name = "ab".into();
    assert_eq!(
        p.vault_url().unwrap_err().to_string(),
        "failed to get vault: Invalid vault name: \"ab\", must be between 3 and 24 chars"
    );
    p.vault_name = "bad_name".into();
    assert_eq!(
        p.vault_url().unwrap_err().to_string(),
        "failed to get vault: Invalid vault name: \"bad_name\", must match [-a-zA-Z0-9]{3,24}"
    );
}

fn one(entry: &str) -> Result<KeyVaultObject, ParamError> {
    let yaml = format!(
        "array:\n  - |\n{}",
        entry.lines().map(|l| format!("    {l}\n")).collect::<String>()
    );
    parse_objects(&yaml, 0o644).map(|mut v| v.remove(0))
}

#[test]
fn object_fields_are_trimmed_and_defaulted() {
    let o = one("objectName: ' s1 '\nobjectType: secret\nobjectAlias: ' A/B '\nobjectVersionHistory: 3\nfilePermission: '0600'\nobjectEncoding: BASE64\nunknownKey: ignored").unwrap();
    assert_eq!(o.name, "s1");
    assert_eq!(o.file_name, "A/B");
    assert_eq!(o.version_history, 3);
    assert_eq!(o.mode, 0o600);
    assert_eq!(o.encoding, Encoding::Base64);
}

#[test]
fn object_validation_texts() {
    let cases = [
        (
            "objectName: s\nobjectType: Secret",
            "failed to get objectType:Secret, objectName:s, objectVersion:: Invalid vaultObjectTypes. Should be secret, key, or cert",
        ),
        (
            "objectName: s\nobjectType: secret\nobjectFormat: der",
            "failed to get objectType:secret, objectName:s, objectVersion:: invalid objectFormat: der, should be PEM or PFX",
        ),
        (
            "objectName: k\nobjectType: key\nobjectFormat: pfx",
            "failed to get objectType:key, objectName:k, objectVersion:: PFX format only supported for objectType: secret",
        ),
        (
            "objectName: c\nobjectType: cert\nobjectEncoding: hex",
            "failed to get objectType:cert, objectName:c, objectVersion:: objectEncoding only supported for objectType: secret",
        ),
        (
            "objectName: s\nobjectType: secret\nobjectEncoding: utf-16",
            "failed to get objectType:secret, objectName:s, objectVersion:: invalid objectEncoding: utf-16, should be hex, base64 or utf-8",
        ),
        (
            "objectName: ''\nobjectType: secret",
            "failed to get objectType:secret, objectName:, objectVersion:: file name must not be empty",
        ),
        (
            "objectName: s\nobjectType: secret\nobjectAlias: /etc/passwd",
            "failed to get objectType:secret, objectName:s, objectVersion:: file name must be a relative path",
        ),
        (
            "objectName: s\nobjectType: secret\nobjectAlias: a/../../b",
            "failed to get objectType:secret, objectName:s, objectVersion:: file name must not contain '..'",
        ),
        (
            "objectName: s\nobjectType: secret\nfilePermission: '0999'",
            "failed to get objectType:secret, objectName:s, objectVersion:: invalid filePermission: \"0999\", must be an octal file mode between 0000 and 0777 such as 0644",
        ),
        (
            "objectName: s\nobjectType: secret\nfilePermission: rw",
            "failed to get objectType:secret, objectName:s, objectVersion:: invalid filePermission: \"rw\", must be an octal file mode between 0000 and 0777 such as 0644",
        ),
    ];
    for (entry, want) in cases {
        assert_eq!(one(entry).unwrap_err().to_string(), want, "entry {entry:?}");
    }
}

#[test]
fn quoted_history_is_an_unmarshal_error() {
    let e = one("objectName: s\nobjectType: secret\nobjectVersionHistory: \"2\"")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("unmarshal failed for keyVaultObjects at index 0, error: "),
        "{e}"
    );
}

#[test]
fn malformed_objects_yaml() {
    let e = parse_objects("array: {", 0o644).unwrap_err().to_string();
    assert!(e.starts_with("failed to yaml unmarshal objects, error: "), "{e}");
    assert!(parse_objects("array: []", 0o644).unwrap().is_empty());
}

proptest::proptest! {
    #[test]
    fn arbitrary_attributes_never_panic(s in ".*") {
        let _ = parse(&s, "{}", "420", &"AzurePublicCloud".into());
    }

    #[test]
    fn arbitrary_objects_yaml_never_panics(s in ".*") {
        let _ = parse_objects(&s, 0o644);
        let _ = parse_objects(&format!("array:\n  - |\n    {s}\n"), 0o644);
    }

    #[test]
    fn arbitrary_object_entries_never_panic(name in ".*", ty in "(secret|key|cert|.*)", perm in ".*", hist in proptest::num::i64::ANY) {
        let entry = serde_json::json!({"objectName": name, "objectType": ty, "filePermission": perm, "objectVersionHistory": hist}).to_string();
        let yaml = serde_json::json!({"array": [entry]}).to_string();
        let _ = parse_objects(&yaml, 0o644);
    }
}
