//! `spec.target.template` → the SecretSync's `template` (docs/API.md#shaping). SSE-rs reads ESO's v2 templates
//! (Go `text/template` with sprig's and ESO's function names), so a template is carried **verbatim** once SSE-rs's
//! own parser takes it; one it refuses (a function SSE-rs does not offer, such as `now` or `htpasswd`) is left
//! out with the parser's message. `templateFrom[].configMap` items (`templateAs: Values`) are inlined from the
//! ConfigMaps given with `-f`.

use serde_json::Value;
use sse_api::secret_sync::{MergePolicy, SecretTemplate, TemplateItem};
use sse_api::validation::shape::MAX_TEMPLATE_TEXT;
use sse_shape::Template;
use sse_shape::extract::is_secret_key;

use super::EsSource;
use super::api::TemplateSource;
use super::objects::Wanted;
use super::shape::mentions;
use crate::migrate::admission::TLS_SECRET_TYPE;
use crate::migrate::input::Origin;
use crate::migrate::migration::Notes;

/// ESO's function that turns a JWK into a PEM public key: the Azure provider writes a `key/` object that way
/// already, so the stage is dropped.
const JWK_PUBLIC: &str = "jwkPublicKeyPem";

/// One template found in the ExternalSecret: where (for notes), its Secret key, its text.
struct Found {
    field: String,
    key: String,
    text: String,
}

/// The SecretSync's template for `es`'s `spec.target.template`, with a note for each part left out. `None` when
/// there is no template, or nothing of it carries over.
pub(super) fn template_of(
    src: &EsSource<'_>,
    wanted: &[Wanted],
    notes: &mut Notes,
) -> Option<SecretTemplate> {
    let template = &src.es.spec.target.template;
    if template.data.is_empty() && template.template_from.is_empty() {
        return None;
    }
    if let Some(version) = template.engine_version.as_deref()
        && version != "v2"
    {
        notes.add(
            "spec.target.template.engineVersion",
            format!("{version}: ESO's first template engine, with other function names; SSE-rs reads v2 templates: rewrite the template for v2 (each key holds its spec.data value as fetched meanwhile)"),
        );
        return None;
    }
    let merge_policy = match template.merge_policy.as_deref() {
        None | Some("Replace") => MergePolicy::Replace,
        Some("Merge") => MergePolicy::Merge,
        Some(other) => {
            notes.add(
                "spec.target.template.mergePolicy",
                format!("{other}: not Replace or Merge; Replace is used"),
            );
            MergePolicy::Replace
        }
    };
    // ESO renders templateFrom first, and template.data wins a clash.
    let mut found = templates_from(src, notes);
    for (key, text) in &template.data {
        found.retain(|f| &f.key != key);
        found.push(Found {
            field: format!("spec.target.template.data.{key}"),
            key: key.clone(),
            text: text.clone(),
        });
    }
    let mut data = Vec::new();
    for Found { field, key, text } in found {
        let text = drop_jwk_public(&field, text, wanted, notes);
        if !is_secret_key(&key) {
            notes.add(
                field,
                format!("{key} cannot be a Secret key (one to 253 of -._a-zA-Z0-9): the key is left out"),
            );
            continue;
        }
        if text.len() > MAX_TEMPLATE_TEXT as usize {
            notes.add(
                field,
                format!(
                    "the template is {} bytes, more than SSE-rs's {MAX_TEMPLATE_TEXT}: the key is left out",
                    text.len()
                ),
            );
            continue;
        }
        if let Err(reason) = check(&key, &text) {
            notes.add(field, format!("{reason}: the key is left out"));
            continue;
        }
        data.push(TemplateItem {
            target_key: key,
            text: Some(text),
            format: None,
            keys: Vec::new(),
        });
    }
    if data.is_empty() {
        return None;
    }
    data.sort_by(|a, b| a.target_key.cmp(&b.target_key));
    Some(SecretTemplate { merge_policy, data })
}

/// The items to map when the ExternalSecret has a template and none of it carried over, with a note: for a
/// `kubernetes.io/tls` Secret over one certificate-backed secret, the manager's own split (that object mapped to
/// `tls.crt` and `tls.key`); otherwise each `spec.data` value under its `secretKey`.
pub(super) fn untemplated(secret_type: &str, wanted: Vec<Wanted>, notes: &mut Notes) -> Vec<Wanted> {
    let single = wanted.first().map(|w| w.object.clone()).filter(|first| {
        first.object_type == "secret" && wanted.iter().all(|w| &w.object == first && w.property.is_none())
    });
    match single {
        Some(object) if secret_type == TLS_SECRET_TYPE => {
            notes.add(
                "spec.target.template",
                format!(
                    "no template key carries over; for kubernetes.io/tls the manager splits a certificate (PEM, or PFX without a password) into tls.crt and tls.key itself: both are mapped from {}, check the template did no more than that",
                    object.name
                ),
            );
            ["tls.crt", "tls.key"]
                .into_iter()
                .map(|key| Wanted {
                    key: key.to_string(),
                    object: object.clone(),
                    property: None,
                })
                .collect()
        }
        _ => {
            notes.add(
                "spec.target.template",
                "no template key carries over: the Secret holds each spec.data value under its secretKey, as fetched",
            );
            wanted
        }
    }
}

/// Whether SSE-rs's template engine takes `text` (the manager's own parser); its message when not.
fn check(key: &str, text: &str) -> Result<(), String> {
    Template::parse(key, text).map(|_| ()).map_err(|e| e.to_string())
}

/// The `templateFrom` items that carry over: `target: Data` ConfigMap items with `templateAs: Values`, inlined
/// from the ConfigMaps given with `-f`.
fn templates_from(src: &EsSource<'_>, notes: &mut Notes) -> Vec<Found> {
    let mut found = Vec::new();
    for (i, from) in src.es.spec.target.template.template_from.iter().enumerate() {
        let field = format!("spec.target.template.templateFrom[{i}]");
        let target = from.target.as_deref().unwrap_or("Data");
        if target != "Data" {
            notes.add(
                format!("{field}.target"),
                format!("{target}: SSE-rs templates the Secret's data only (its labels and annotations are fixed strings)"),
            );
            continue;
        }
        if from.literal.is_some() {
            notes.add(
                format!("{field}.literal"),
                "the template writes keys whose names are rendered at run time; SSE-rs's template keys are fixed: write one template.data item per key",
            );
        }
        if from.secret.is_some() {
            notes.add(
                format!("{field}.secret"),
                "migrate never reads Secrets: move the template into template.data, or into a ConfigMap given with -f",
            );
        }
        if let Some(source) = &from.config_map {
            found.extend(config_map_templates(
                src,
                source,
                &format!("{field}.configMap"),
                notes,
            ));
        }
    }
    found
}

/// The `Values` items of one `templateFrom[].configMap`.
fn config_map_templates(
    src: &EsSource<'_>,
    source: &TemplateSource,
    field: &str,
    notes: &mut Notes,
) -> Vec<Found> {
    let Some(name) = source.name.as_deref() else {
        notes.add(format!("{field}.name"), "empty: no ConfigMap to read");
        return Vec::new();
    };
    let namespace = src.namespace.as_deref();
    let config_map = src.eso.inputs.config_maps.iter().find(|cm| {
        cm.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
            && cm.pointer("/metadata/namespace").and_then(Value::as_str) == namespace
    });
    let Some(config_map) = config_map else {
        let qualified = crate::migrate::migration::qualified(namespace, name);
        let reason = match src.eso.inputs.origin {
            Origin::Files => format!(
                "ConfigMap {qualified} is not among the files given: pass it with -f to inline its templates"
            ),
            Origin::Cluster => format!(
                "migrate does not read ConfigMaps from the cluster: pass ConfigMap {qualified} with -f (kubectl get configmap -o yaml) to inline its templates"
            ),
        };
        notes.add(format!("{field}.name"), reason);
        return Vec::new();
    };
    let mut found = Vec::new();
    for (j, item) in source.items.iter().enumerate() {
        let item_field = format!("{field}.items[{j}]");
        let Some(key) = item.key.as_deref() else {
            notes.add(format!("{item_field}.key"), "empty: no template to read");
            continue;
        };
        match item.template_as.as_deref() {
            None | Some("Values") => {}
            Some(other) => {
                notes.add(
                    format!("{item_field}.templateAs"),
                    format!("{other}: the template writes keys whose names are rendered at run time; SSE-rs's template keys are fixed: write one template.data item per key"),
                );
                continue;
            }
        }
        let Some(text) = config_map
            .pointer("/data")
            .and_then(|data| data.get(key))
            .and_then(Value::as_str)
        else {
            notes.add(
                format!("{item_field}.key"),
                format!("ConfigMap {name} has no data key {key}: nothing to inline"),
            );
            continue;
        };
        found.push(Found {
            field: item_field,
            key: key.to_string(),
            text: text.to_string(),
        });
    }
    found
}

/// `text` without its `| jwkPublicKeyPem` stages when it reads a `key/` object (the Azure provider writes a key
/// as its public key PEM already), with a note to check.
fn drop_jwk_public(field: &str, text: String, wanted: &[Wanted], notes: &mut Notes) -> String {
    let reads_a_key = wanted
        .iter()
        .any(|w| w.object.object_type == "key" && mentions(&text, &w.key));
    if !text.contains(JWK_PUBLIC) || !reads_a_key {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find(JWK_PUBLIC) {
        let before = rest[..at].trim_end();
        match before.strip_suffix('|') {
            Some(head) => out.push_str(head.trim_end()),
            None => out.push_str(&rest[..at + JWK_PUBLIC.len()]),
        }
        rest = &rest[at + JWK_PUBLIC.len()..];
    }
    out.push_str(rest);
    if out != text {
        notes.check(
            field,
            format!(
                "{JWK_PUBLIC} dropped: the Azure provider writes a key/ object as its public key PEM already"
            ),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::eso::objects::KvObject;

    #[test]
    fn jwk_public_stages_are_dropped_over_a_key() {
        let wanted = [Wanted {
            key: "myjwk".into(),
            object: KvObject {
                object_type: "key",
                name: "my-jwk".into(),
                version: None,
                encoding: None,
                format: None,
            },
            property: None,
        }];
        let mut notes = Notes::new("ExternalSecret x".into());
        let text = drop_jwk_public("f", "{{ .myjwk | jwkPublicKeyPem }}".into(), &wanted, &mut notes);
        assert_eq!(text, "{{ .myjwk }}");
        assert_eq!(notes.list.len(), 1);
        assert!(notes.list[0].check);
        let text = drop_jwk_public("f", "{{ .other | jwkPublicKeyPem }}".into(), &wanted, &mut notes);
        assert_eq!(text, "{{ .other | jwkPublicKeyPem }}", "not over a key/ object");
        let text = drop_jwk_public("f", "{{ jwkPublicKeyPem .myjwk }}".into(), &wanted, &mut notes);
        assert_eq!(
            text, "{{ jwkPublicKeyPem .myjwk }}",
            "only a pipeline stage is dropped"
        );
    }
}
