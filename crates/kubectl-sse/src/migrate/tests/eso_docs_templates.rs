//! ESO's templating guide examples (eso_docs/*.yaml), migrated: each template carried verbatim when SSE-rs's
//! parser takes it, and the notes for what it does not.

use super::eso_docs::*;
use super::*;

/// The templating guide's multiline and multikey examples: verbatim, a constant key included.
#[test]
fn multiline_and_multikey_templates() {
    let name = "multiline-template-v2-external-secret";
    let migration = assert_fixture(
        name,
        Expected {
            verdict: "fully",
            notes: &[],
            objects: &[
                "secret/grafana-user",
                "secret/grafana-password",
                "secret/database-url",
            ],
            data: &[
                "user ← grafana-user",
                "password ← grafana-password",
                "dburl ← database-url",
            ],
            data_from: &[],
            template: &["Replace", "config", "connection"],
        },
    );
    for key in ["config", "connection"] {
        assert_eq!(
            template_text(&migration, key),
            eso_text(name, &format!("/spec/target/template/data/{key}"))
        );
    }
    let migration = assert_fixture(
        "multikey-template-v2-external-secret",
        Expected {
            verdict: "fully",
            notes: &[],
            objects: &["secret/credentials"],
            data: &["mysecret ← credentials"],
            data_from: &[],
            template: &["Replace", "name", "password"],
        },
    );
    assert_eq!(template_text(&migration, "name"), "admin");
    assert_eq!(template_text(&migration, "password"), "{{ .mysecret }}");
}

/// The templating guide's merge example: Merge kept, so `username` is written beside the template's keys.
#[test]
fn merge_template() {
    let migration = assert_fixture(
        "merge-template-v2-external-secret",
        Expected {
            verdict: "fully",
            notes: &[],
            objects: &["secret/credentials-password", "secret/credentials-username"],
            data: &[
                "password ← credentials-password",
                "username ← credentials-username",
            ],
            data_from: &[],
            template: &["Merge", "name", "password"],
        },
    );
    assert_eq!(template_text(&migration, "password"), "{{ .password | b64dec }}");
}

/// templateFrom: the ConfigMap's `Values` item inlined verbatim; `KeysAndValues` and the Annotations target not.
#[test]
fn template_from_a_config_map() {
    let name = "template-v2-from-secret";
    let migration = assert_fixture(
        name,
        Expected {
            verdict: "partly",
            notes: &[
                "spec.target.template.templateFrom[0].configMap.items[1].templateAs",
                "spec.target.template.templateFrom[1].target",
            ],
            objects: &[
                "secret/grafana-user",
                "secret/grafana-password",
                "secret/grafana-uri",
            ],
            data: &[
                "user ← grafana-user",
                "password ← grafana-password",
                "uri ← grafana-uri",
            ],
            data_from: &[],
            template: &["Replace", "config.yaml"],
        },
    );
    assert_eq!(
        template_text(&migration, "config.yaml"),
        eso_text(name, "/data/config.yaml")
    );
}

/// Without its ConfigMap among the inputs, templateFrom is a note naming it.
#[test]
fn template_from_a_config_map_not_given() {
    let text = FIXTURES
        .iter()
        .find(|(n, _)| *n == "template-v2-from-secret")
        .map(|(_, t)| *t)
        .unwrap_or_default();
    let without = text.split_once("\n---\n").map(|(_, es)| es).unwrap_or_default();
    let mut inputs = Inputs::new(Origin::Files);
    for document in parse_documents(&format!("{STORE}---\n{without}")).unwrap_or_else(|e| panic!("{e}")) {
        inputs.add(document, Some("apps"));
    }
    let migrations = migrate(&inputs, &options());
    let migration = only(&migrations);
    assert_eq!(
        reason(migration, "spec.target.template.templateFrom[0].configMap.name"),
        "ConfigMap apps/grafana-config-tpl is not among the files given: pass it with -f to inline its templates"
    );
    assert_eq!(the_sync(migration).spec.secret_object.template, None);
}

/// The literal example: the extract carried, the literal (keys named at run time) not.
#[test]
fn template_literal() {
    assert_fixture(
        "template-v2-literal-example",
        Expected {
            verdict: "partly",
            notes: &[
                "spec.target.template.templateFrom[0].literal",
                "spec.target.template",
            ],
            objects: &["secret/ingress-controller-valid-users"],
            data: &[],
            data_from: &["ingress-controller-valid-users"],
            template: &[],
        },
    );
}

/// filterPEM and filterCertChain over a PEM certificate-backed secret: verbatim.
#[test]
fn filter_pem_and_cert_chain() {
    for (name, keys) in [
        (
            "filterpem-template-v2-external-secret",
            &["Replace", "tls.crt", "tls.key"][..],
        ),
        (
            "filtercertchain-template-v2-external-secret",
            &["Replace", "ca.crt", "tls.crt", "tls.key"][..],
        ),
    ] {
        let migration = assert_fixture(
            name,
            Expected {
                verdict: "fully",
                notes: &[],
                objects: &["secret/my-cert"],
                data: &["mysecret ← my-cert"],
                data_from: &[],
                template: keys,
            },
        );
        for key in &keys[1..] {
            let pointer = format!("/spec/target/template/data/{key}");
            assert_eq!(
                template_text(&migration, key),
                eso_text(name, &pointer),
                "{name} {key}"
            );
        }
    }
}

/// jwkPublicKeyPem over `key/`: the stage dropped (the provider writes the PEM), with a note to check;
/// jwkPrivateKeyPem left out (Key Vault never exports a private key).
#[test]
fn jwk_public_key() {
    let migration = assert_fixture(
        "jwk-template-v2-external-secret",
        Expected {
            verdict: "partly",
            notes: &[
                "spec.data[0].remoteRef.key",
                "spec.target.template.data.jwk_priv",
                "(check) spec.target.template.data.jwk_pub",
            ],
            objects: &["key/my-jwk"],
            data: &["myjwk ← my-jwk"],
            data_from: &[],
            template: &["Replace", "jwk_pub"],
        },
    );
    let reason = reason(&migration, "spec.target.template.data.jwk_priv");
    assert!(
        reason.contains("function \"jwkPrivateKeyPem\" is not available"),
        "{reason}"
    );
    assert_eq!(template_text(&migration, "jwk_pub"), "{{ .myjwk }}");
}

/// Helm's escape: the raw-string literal is Go template syntax, carried verbatim.
#[test]
fn helm_escape_sequence() {
    let migration = assert_fixture(
        "helm-template-v2-escape-sequence",
        Expected {
            verdict: "fully",
            notes: &[],
            objects: &["secret/credentials"],
            data: &["mysecret ← credentials"],
            data_from: &[],
            template: &["Replace", "name", "password"],
        },
    );
    assert_eq!(template_text(&migration, "password"), "{{ `{{ .mysecret }}` }}");
}
