use std::io::Write as _;

use super::*;

/// deploy/examples: the shaping example and its samples, as users run them.
const SHAPED: &str = include_str!("../../../../deploy/examples/shaped.yaml");
const SAMPLES: &str = include_str!("../../../../deploy/examples/shaped-samples.yaml");

fn example(name: &str) -> SecretSync {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("shaped.yaml");
    std::fs::write(&file, SHAPED).unwrap_or_else(|e| panic!("{e}"));
    from_file(&file, Some(name)).unwrap_or_else(|e| panic!("{e:#}"))
}

fn example_samples() -> HashMap<String, Vec<u8>> {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("samples.yaml");
    std::fs::write(&file, SAMPLES).unwrap_or_else(|e| panic!("{e}"));
    samples(&file).unwrap_or_else(|e| panic!("{e:#}"))
}

fn text(data: &BTreeMap<String, Vec<u8>>, key: &str) -> String {
    String::from_utf8(data[key].clone()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_registry_example_renders_a_docker_config_from_the_samples() {
    let data = render(&example("registry-pull"), &example_samples()).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(data.keys().collect::<Vec<_>>(), [".dockerconfigjson"]);
    let config: serde_json::Value =
        serde_json::from_str(&text(&data, ".dockerconfigjson")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config["auths"]["contoso.azurecr.io"]["username"], "contoso");
    assert_eq!(
        config["auths"]["contoso.azurecr.io"]["password"], "example-token",
        "the {{base64: …}} sample is decoded"
    );
}

#[test]
fn the_app_config_example_uses_properties_an_extract_a_file_and_a_template() {
    let data = render(&example("app-config"), &example_samples()).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["DB_HOST", "DB_PASSWORD", "app.env", "config.yaml", "idle", "size"],
        "Merge: the values and the template's keys"
    );
    assert_eq!(
        text(&data, "app.env"),
        "DB_HOST=db1.internal\nDB_PASSWORD=example-password\n"
    );
    assert!(
        text(&data, "config.yaml").contains("url: postgresql://app:example-password@db1.internal:5432/app"),
        "{}",
        text(&data, "config.yaml")
    );
    assert!(text(&data, "config.yaml").contains("pool: 20"));
}

#[test]
fn values_are_sizes_unless_asked_for() {
    let sync = example("registry-pull");
    let data = render(&sync, &example_samples()).unwrap_or_else(|e| panic!("{e:?}"));
    let hidden = secret_yaml(&sync, &data, false).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !hidden.contains("example-token") && !hidden.contains("ZXhhbXBsZS10b2tlbg"),
        "{hidden}"
    );
    assert!(hidden.contains(".dockerconfigjson: <"), "{hidden}");
    assert!(
        hidden.contains("type: kubernetes.io/dockerconfigjson"),
        "{hidden}"
    );
    let shown = secret_yaml(&sync, &data, true).unwrap_or_else(|e| panic!("{e}"));
    assert!(shown.contains("example-token"), "{shown}");
}

#[test]
fn a_template_error_is_the_managers_reason_and_names_no_value() {
    let mut sync = example("registry-pull");
    let template = sync
        .spec
        .secret_object
        .template
        .as_mut()
        .unwrap_or_else(|| panic!("template"));
    template.data[0].text = Some("{{ .user }}\n{{ .tokn | b64enc }}".into());
    let Err(Failure::Shape(error)) = render(&sync, &example_samples()) else {
        panic!("a shape failure")
    };
    assert!(!error.is_property());
    let message = error.to_string();
    assert!(
        message.starts_with("template .dockerconfigjson: line 2"),
        "{message}"
    );
    assert!(message.contains("\"tokn\""), "{message}");
    assert!(
        !message.contains("contoso") && !message.contains("example-token"),
        "{message}"
    );
}

#[test]
fn a_missing_property_is_a_property_error() {
    let mut sync = example("app-config");
    sync.spec.secret_object.data[0].property = Some("primary.hostname".into());
    let Err(Failure::Shape(error)) = render(&sync, &example_samples()) else {
        panic!("a shape failure")
    };
    assert!(error.is_property());
    assert!(error.to_string().contains("primary.hostname"), "{error}");
    assert!(!error.to_string().contains("db1.internal"), "{error}");
}

#[test]
fn samples_are_text_base64_or_a_file_and_a_missing_one_is_named() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("db.json"),
        r#"{"primary":{"host":"h","password":"p"},"pool":{}}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("samples.yaml");
    let mut f = std::fs::File::create(&file).unwrap_or_else(|e| panic!("{e}"));
    writeln!(
        f,
        "db-config: {{file: db.json}}\nacr-user: 42\nacr-token: {{base64: \"!!\"}}"
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let err = samples(&file).expect_err("bad base64");
    assert!(format!("{err:#}").contains("sample acr-token"), "{err:#}");
    std::fs::write(&file, "db-config: {file: db.json}\nacr-user: 42\n").unwrap_or_else(|e| panic!("{e}"));
    let loaded = samples(&file).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(loaded["acr-user"], b"42");
    let Err(Failure::Other(error)) = render(&example("registry-pull"), &loaded) else {
        panic!("a missing sample")
    };
    assert_eq!(error.to_string(), "no sample value for sourcePath acr-token");
    let data = render(&example("app-config"), &loaded).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(data["DB_HOST"], b"h");
}

#[test]
fn a_file_of_several_syncs_needs_a_name() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("shaped.yaml");
    std::fs::write(&file, SHAPED).unwrap_or_else(|e| panic!("{e}"));
    let err = from_file(&file, None).expect_err("two SecretSyncs");
    assert!(err.to_string().contains("registry-pull, app-config"), "{err}");
    let err = from_file(&file, Some("nope")).expect_err("no such name");
    assert!(err.to_string().contains("no SecretSync named nope"), "{err}");
}
