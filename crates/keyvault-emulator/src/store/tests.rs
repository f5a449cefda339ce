use super::*;

#[test]
fn versions_are_ordered_and_strictly_increasing() {
    let store = Store::default();
    let ids: Vec<_> = (0..5)
        .map(|i| store.set_secret("V", "Name", &format!("v{i}")))
        .collect();
    assert!(
        ids.iter()
            .all(|id| id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()))
    );
    assert_eq!(store.versions("v", ObjectKind::Secret, "NAME"), ids);
    store.with_vault("v", |v| {
        let o = &v.secrets["name"];
        assert_eq!(o.name, "Name");
        for w in o.versions.windows(2) {
            assert!(w[1].attrs.created > w[0].attrs.created);
        }
        assert_eq!(o.find(None).map(|x| x.data.value.as_str()), Some("v4"));
        assert_eq!(
            o.find(Some(&ids[1].to_uppercase()))
                .map(|x| x.data.value.as_str()),
            Some("v1")
        );
    });
}

#[test]
fn certificate_shares_version_and_disable_propagates() {
    let store = Store::default();
    let id = store.import_certificate(
        "v",
        "cert",
        CertificateInput {
            leaf_der: vec![1, 2, 3],
            secret_value: "pem".into(),
            content_type: "application/x-pem-file".into(),
            public_key: PublicJwk::Oct,
        },
    );
    for kind in [ObjectKind::Secret, ObjectKind::Key, ObjectKind::Certificate] {
        assert_eq!(
            store.latest_version("v", kind, "cert").as_deref(),
            Some(id.as_str())
        );
    }
    store.set_enabled("v", ObjectKind::Certificate, "cert", "", false);
    store.with_vault("v", |v| {
        assert!(!v.secrets["cert"].versions[0].attrs.enabled);
        assert!(!v.keys["cert"].versions[0].attrs.enabled);
        assert!(v.secrets["cert"].versions[0].data.managed);
    });
    store.delete("v", ObjectKind::Certificate, "CERT");
    assert!(store.versions("v", ObjectKind::Secret, "cert").is_empty());
}
