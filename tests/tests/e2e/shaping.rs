//! Tier 3: shaping (docs/API.md#shaping) on the real API server — a `.dockerconfigjson` composed from two vault
//! secrets and a JSON property, which the API server accepts for the Secret's type, rotated and updated; a
//! rotation no key reads that writes nothing; malformed templates refused at admission with the CRD's
//! messages; a template error reported with its reason and nothing written.

use super::*;
use sse_api::validation::shape::{
    SUB_TEMPLATE_MESSAGE, TEXT_OR_FORMAT_MESSAGE, TLS_TEMPLATE_MESSAGE, UNCLOSED_ACTION_MESSAGE,
};

const DB_CONFIG: &str = r#"{"primary":{"host":"db1","port":5432},"pool":{"idle":"2"}}"#;

/// A SecretSync of `type_` over `items` (`sourcePath`, `targetKey`, `property`) with `template` (YAML of
/// `template:`'s body, indented by six spaces), applied.
fn shaped_yaml(ns: &str, name: &str, type_: &str, items: &[(&str, &str, &str)], template: &str) -> String {
    let items: String = items
        .iter()
        .map(|(s, t, p)| match *p {
            "" => format!("    - {{sourcePath: \"{s}\", targetKey: \"{t}\"}}\n"),
            p => format!("    - {{sourcePath: \"{s}\", targetKey: \"{t}\", property: \"{p}\"}}\n"),
        })
        .collect();
    format!(
        "apiVersion: secret-sync.x-k8s.io/v1alpha1\nkind: SecretSync\nmetadata: {{name: \"{name}\", namespace: \"{ns}\"}}\nspec:\n  serviceAccountName: {SA}\n  secretProviderClassName: spc\n  secretObject:\n    type: {type_}\n    data:\n{items}    template:\n{template}"
    )
}

/// Ask for a check now and wait until the manager has handled it.
async fn force_sync(w: &World, ns: &str, name: &str, value: &str) -> Result<Value> {
    w.k.run(
        &[
            "annotate",
            "--overwrite",
            "secretsync",
            name,
            "-n",
            ns,
            &format!("sse-rs.io/force-sync={value}"),
        ],
        None,
    )
    .await?;
    eventually(Duration::from_secs(30), || async {
        let ss = w.k.json(&["get", "secretsync", name, "-n", ns]).await?;
        Ok((ss["status"]["forceSyncHandled"] == value).then_some(ss))
    })
    .await
    .with_context(|| format!("the manager did not handle force-sync {value}"))
}

pub async fn shaped_dockerconfigjson_and_json_property_rotate(w: &World, ns: &str) -> Result<()> {
    let store = w.emulator.store();
    store.set_secret(VAULT, "acr-user", "contoso");
    store.set_secret(VAULT, "acr-token", "t0ken-1");
    store.set_secret(VAULT, "db-config", DB_CONFIG);
    let objects =
        ["acr-user", "acr-token", "db-config"].map(|o| format!("objectName: {o}\nobjectType: secret"));
    w.k.apply(&w.spc(ns, "spc", "azure", &objects.each_ref().map(String::as_str)))
        .await?;
    let template = "      data:\n      - targetKey: .dockerconfigjson\n        text: '{{ dockerConfigJson \"contoso.azurecr.io\" .user .token }}'\n      - {targetKey: db-host, text: '{{ .host }}'}\n";
    w.k.apply(&shaped_yaml(
        ns,
        "pull",
        "kubernetes.io/dockerconfigjson",
        &[
            ("acr-user", "user", ""),
            ("acr-token", "token", ""),
            ("db-config", "host", "primary.host"),
        ],
        template,
    ))
    .await?;
    wait_reason(w, ns, "pull", "Create", "CreateSucceeded").await?;
    let secret = w.k.json(&["get", "secret", "pull", "-n", ns]).await?;
    ensure!(
        secret["type"] == "kubernetes.io/dockerconfigjson",
        "{}",
        secret["type"]
    );
    let data = secret_data(w, ns, "pull").await?;
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    ensure!(keys == [".dockerconfigjson", "db-host"], "{keys:?}");
    ensure!(data["db-host"] == "db1", "{data:?}");
    let config: Value = serde_json::from_str(data[".dockerconfigjson"].as_str().unwrap_or_default())?;
    ensure!(
        config["auths"]["contoso.azurecr.io"]["password"] == "t0ken-1",
        "{config}"
    );

    // The token rotates: the shaped key follows.
    store.set_secret(VAULT, "acr-token", "t0ken-2");
    force_sync(w, ns, "pull", "rotate").await?;
    let data = secret_data(w, ns, "pull").await?;
    let config: Value = serde_json::from_str(data[".dockerconfigjson"].as_str().unwrap_or_default())?;
    ensure!(
        config["auths"]["contoso.azurecr.io"]["password"] == "t0ken-2",
        "{config}"
    );

    // A property no key reads changes: a new version is read, and the Secret is not written.
    let before = w.k.json(&["get", "secret", "pull", "-n", ns]).await?;
    store.set_secret(VAULT, "db-config", &DB_CONFIG.replace("\"2\"", "\"3\""));
    let ss = force_sync(w, ns, "pull", "unused").await?;
    let after = w.k.json(&["get", "secret", "pull", "-n", ns]).await?;
    ensure!(
        before["metadata"]["resourceVersion"] == after["metadata"]["resourceVersion"],
        "the Secret was written though its bytes did not change"
    );
    ensure!(
        condition(&ss, "Update").is_some_and(|(_, r, m)| r == "UpdateValueChangeOrForceUpdateSucceeded"
            && m == manager::status::SHAPED_UNCHANGED),
        "{}",
        ss["status"]
    );
    Ok(())
}

pub async fn malformed_template_refused_at_admission(w: &World, ns: &str) -> Result<()> {
    let cases = [
        (
            "unclosed",
            "Opaque",
            "      data:\n      - {targetKey: k, text: 'hello {{ .user '}\n",
            UNCLOSED_ACTION_MESSAGE,
        ),
        (
            "define",
            "Opaque",
            "      data:\n      - {targetKey: k, text: '{{ define \"x\" }}a{{ end }}'}\n",
            SUB_TEMPLATE_MESSAGE,
        ),
        (
            "both",
            "Opaque",
            "      data:\n      - {targetKey: k, text: '{{ .user }}', format: env}\n",
            TEXT_OR_FORMAT_MESSAGE,
        ),
        (
            "tls",
            "kubernetes.io/tls",
            "      data:\n      - {targetKey: tls.crt, text: '{{ .user | pemCertificates }}'}\n",
            TLS_TEMPLATE_MESSAGE,
        ),
    ];
    for (name, type_, template, message) in cases {
        let manifest = shaped_yaml(ns, name, type_, &[("u", "user", "")], template);
        let err =
            w.k.apply(&manifest)
                .await
                .err()
                .with_context(|| format!("the {name} template was accepted"))?;
        ensure!(format!("{err:#}").contains(message), "{name}: {err:#}");
    }
    Ok(())
}

pub async fn template_error_reported_nothing_written(w: &World, ns: &str) -> Result<()> {
    w.vault_class(ns, "tuser", "contoso").await?;
    let template =
        "      data:\n      - targetKey: greeting\n        text: \"hello\\n{{ .tuser }} {{ .tusr }}\"\n";
    w.k.apply(&shaped_yaml(
        ns,
        "typo",
        "Opaque",
        &[("tuser", "tuser", "")],
        template,
    ))
    .await?;
    let (_, message) = wait_reason(w, ns, "typo", "Create", "TemplateError").await?;
    ensure!(message.starts_with("template greeting: line 2"), "{message}");
    ensure!(message.contains("tusr"), "{message}");
    ensure!(!message.contains("contoso"), "a value in the message: {message}");
    ensure!(!w.k.exists("secret", ns, "typo").await, "a Secret was written");
    Ok(())
}
