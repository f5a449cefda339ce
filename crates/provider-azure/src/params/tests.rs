use super::fixtures::attrs;
use super::*;
use crate::content::Encoding;

/// Decode and validate `attributes` and `secrets` (file permission 0644, default cloud `AzurePublicCloud`).
fn parse(attributes: &str, secrets: &str) -> Result<MountParams, ParamError> {
    decode(attributes, secrets, "420")
        .unwrap_or_else(|e| panic!("{e}"))
        .validate(&"AzurePublicCloud".into())
}

#[test]
fn parses_the_walkthrough_parameters() {
    let p = parse(&attrs(&[]), "{}").unwrap();
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
fn legacy_tenant_id_is_accepted() {
    let p = parse(&attrs(&[("tenantID", ""), ("tenantId", " legacy ")]), "{}").unwrap();
    assert_eq!(p.tenant_id, "legacy");
}

#[test]
fn service_principal_reads_its_secrets() {
    let p = parse(
        &attrs(&[("clientID", "")]),
        r#"{"ClientID":"id","clientsecret":"s"}"#,
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
    )
    .unwrap();
    assert!(!format!("{p:?}").contains("TOPSECRETJWT"));
}

#[test]
fn vault_name_validation() {
    let mut p = parse(&attrs(&[]), "{}").unwrap();
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
        let _ = decode(&s, "{}", "420").map(|d| d.validate(&"AzurePublicCloud".into()));
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
