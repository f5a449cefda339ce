//! The TLS between the two containers in every installable render of `deploy/` (issue 4): cert-manager
//! objects (no Rust types: required fields and known values checked by hand) and the chain they form,
//! namespaced issuers only, down to the Secrets the pod mounts; without cert-manager, the render leaves
//! the TLS Secrets to the user. The harness: `sse_tests::deploy`.

use std::collections::BTreeSet;

use serde_json::Value;
use sse_tests::deploy::units::go_duration_secs;
use sse_tests::deploy::{
    MANAGER, NAMESPACE, Obj, PROVIDER, Problems, Render, TRUST_NAMESPACE, check_every_overlay, items,
    non_empty_str, strings, volume_mounted_at, volumes,
};

fn keys_within(o: &Obj, at: &str, v: &Value, allowed: &[&str], p: &mut Problems) {
    if let Some(map) = v.as_object() {
        for k in map.keys() {
            p.check(allowed.contains(&k.as_str()), || {
                format!("{}: unknown field {at}.{k}", o.id())
            });
        }
    } else {
        p.add(format!("{}: {at} is not an object", o.id()));
    }
}

/// The object's spec; beside it only apiVersion, kind and metadata.
fn spec_of<'a>(o: &'a Obj, p: &mut Problems) -> &'a Value {
    keys_within(o, "", &o.json, &["apiVersion", "kind", "metadata", "spec"], p);
    &o.json["spec"]
}

/// A required field: a non-empty string.
fn required(o: &Obj, at: &str, v: &Value, p: &mut Problems) {
    p.check(non_empty_str(v), || format!("{}: {at} is required", o.id()));
}

const CERT_USAGES: [&str; 20] = [
    "signing",
    "digital signature",
    "content commitment",
    "key encipherment",
    "key agreement",
    "data encipherment",
    "cert sign",
    "crl sign",
    "encipher only",
    "decipher only",
    "any",
    "server auth",
    "client auth",
    "code signing",
    "email protection",
    "s/mime",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "timestamping",
];

/// The fields of a Certificate that name its subject; one is required.
const IDENTITY_FIELDS: [&str; 7] = [
    "commonName",
    "dnsNames",
    "uris",
    "ipAddresses",
    "emailAddresses",
    "otherNames",
    "literalSubject",
];

fn check_certificate(o: &Obj, p: &mut Problems) {
    let spec = spec_of(o, p);
    keys_within(
        o,
        ".spec",
        spec,
        &[
            &["secretName", "issuerRef"][..],
            &IDENTITY_FIELDS,
            &[
                "subject",
                "usages",
                "duration",
                "renewBefore",
                "renewBeforePercentage",
                "privateKey",
                "isCA",
                "secretTemplate",
                "keystores",
                "revisionHistoryLimit",
                "additionalOutputFormats",
                "encodeUsagesInRequest",
                "nameConstraints",
                "signatureAlgorithm",
            ],
        ]
        .concat(),
        p,
    );
    required(o, "spec.secretName", &spec["secretName"], p);
    keys_within(
        o,
        ".spec.issuerRef",
        &spec["issuerRef"],
        &["name", "kind", "group"],
        p,
    );
    required(o, "spec.issuerRef.name", &spec["issuerRef"]["name"], p);
    p.check(
        matches!(
            spec["issuerRef"]["kind"].as_str(),
            None | Some("Issuer" | "ClusterIssuer")
        ),
        || format!("{}: spec.issuerRef.kind must be Issuer or ClusterIssuer", o.id()),
    );
    p.check(
        matches!(
            spec["issuerRef"]["group"].as_str(),
            None | Some("cert-manager.io")
        ),
        || format!("{}: spec.issuerRef.group must be cert-manager.io", o.id()),
    );
    let has_identity = IDENTITY_FIELDS.iter().any(|k| spec.get(*k).is_some());
    p.check(has_identity, || {
        format!(
            "{}: needs one of commonName, dnsNames, uris, ipAddresses, emailAddresses",
            o.id()
        )
    });
    let duration = spec["duration"].as_str().map(go_duration_secs);
    let renew = spec["renewBefore"].as_str().map(go_duration_secs);
    p.check(!matches!(duration, Some(None)), || {
        format!("{}: spec.duration is not a Go duration", o.id())
    });
    p.check(!matches!(renew, Some(None)), || {
        format!("{}: spec.renewBefore is not a Go duration", o.id())
    });
    if let (Some(Some(d)), Some(Some(r))) = (duration, renew) {
        p.check(d >= 3600.0, || {
            format!("{}: spec.duration must be at least 1h", o.id())
        });
        p.check(r < d, || {
            format!("{}: spec.renewBefore must be shorter than spec.duration", o.id())
        });
    }
    if let Some(usages) = spec.get("usages") {
        for u in items(usages) {
            p.check(u.as_str().is_some_and(|u| CERT_USAGES.contains(&u)), || {
                format!("{}: unknown usage {u}", o.id())
            });
        }
    }
    if let Some(pk) = spec.get("privateKey") {
        keys_within(
            o,
            ".spec.privateKey",
            pk,
            &["algorithm", "encoding", "rotationPolicy", "size"],
            p,
        );
        p.check(
            matches!(pk["algorithm"].as_str(), None | Some("RSA" | "ECDSA" | "Ed25519")),
            || format!("{}: privateKey.algorithm must be RSA, ECDSA or Ed25519", o.id()),
        );
        p.check(
            matches!(pk["encoding"].as_str(), None | Some("PKCS1" | "PKCS8")),
            || format!("{}: privateKey.encoding must be PKCS1 or PKCS8", o.id()),
        );
        p.check(
            matches!(pk["rotationPolicy"].as_str(), None | Some("Never" | "Always")),
            || format!("{}: privateKey.rotationPolicy must be Never or Always", o.id()),
        );
        if pk["algorithm"] == "ECDSA" {
            p.check(
                matches!(pk["size"].as_u64(), None | Some(256 | 384 | 521)),
                || format!("{}: ECDSA size must be 256, 384 or 521", o.id()),
            );
        }
    }
}

fn check_issuer(o: &Obj, p: &mut Problems) {
    let spec = spec_of(o, p);
    let kinds = ["selfSigned", "ca", "acme", "vault", "venafi"];
    let set: Vec<&str> = kinds.iter().copied().filter(|k| spec.get(*k).is_some()).collect();
    p.check(set.len() == 1, || {
        format!("{}: needs exactly one of {kinds:?}, has {set:?}", o.id())
    });
    keys_within(o, ".spec", spec, &kinds, p);
    if let Some(ca) = spec.get("ca") {
        keys_within(
            o,
            ".spec.ca",
            ca,
            &[
                "secretName",
                "crlDistributionPoints",
                "issuingCertificateURLs",
                "ocspServers",
            ],
            p,
        );
        required(o, "spec.ca.secretName", &ca["secretName"], p);
    }
}

fn check_bundle(o: &Obj, p: &mut Problems) {
    let spec = spec_of(o, p);
    keys_within(o, ".spec", spec, &["sources", "target"], p);
    let sources = spec["sources"].as_array().cloned().unwrap_or_default();
    p.check(!sources.is_empty(), || {
        format!("{}: spec.sources must not be empty", o.id())
    });
    for (i, s) in sources.iter().enumerate() {
        let kinds = ["configMap", "secret", "inLine", "useDefaultCAs"];
        let set: Vec<&str> = kinds.iter().copied().filter(|k| s.get(*k).is_some()).collect();
        p.check(set.len() == 1, || {
            format!("{}: spec.sources[{i}] needs exactly one of {kinds:?}", o.id())
        });
        keys_within(o, &format!(".spec.sources[{i}]"), s, &kinds, p);
        for k in ["configMap", "secret"] {
            if let Some(r) = s.get(k) {
                keys_within(
                    o,
                    &format!(".spec.sources[{i}].{k}"),
                    r,
                    &["name", "key", "selector", "includeAllKeys"],
                    p,
                );
                p.check(non_empty_str(&r["name"]) && non_empty_str(&r["key"]), || {
                    format!("{}: spec.sources[{i}].{k} needs name and key", o.id())
                });
            }
        }
    }
    let target = &spec["target"];
    keys_within(
        o,
        ".spec.target",
        target,
        &["configMap", "secret", "namespaceSelector", "additionalFormats"],
        p,
    );
    p.check(
        non_empty_str(&target["configMap"]["key"]) || non_empty_str(&target["secret"]["key"]),
        || format!("{}: spec.target needs configMap.key or secret.key", o.id()),
    );
    if let Some(sel) = target.get("namespaceSelector") {
        keys_within(
            o,
            ".spec.target.namespaceSelector",
            sel,
            &["matchLabels", "matchExpressions"],
            p,
        );
    }
}

/// The cert-manager chain hangs together: issuers exist, the CA Secret a ClusterIssuer or Bundle reads is
/// in the namespace they read from, and the Deployment's TLS mounts are what the chain produces.
fn check_tls_chain(r: &Render, dep: &Obj, p: &mut Problems) -> String {
    let pod = &dep.json["spec"]["template"]["spec"];
    let certs: Vec<&Obj> = r.of_kind("Certificate").collect();
    let cert_by_secret = |ns: &str, secret: &str| {
        certs
            .iter()
            .copied()
            .find(|c| c.namespace() == Some(ns) && c.str_at("/spec/secretName") == secret)
    };

    if certs.is_empty() {
        // Bring-your-own TLS: the Secrets the pod mounts must not come from this render (the user makes them).
        let secrets: BTreeSet<&str> = volumes(pod)
            .filter_map(|v| v.pointer("/secret/secretName").and_then(Value::as_str))
            .collect();
        p.check(r.of_kind("Secret").next().is_none(), || {
            "the render must not contain Secrets (TLS material is user-supplied)".to_string()
        });
        p.check(r.of_kind("Bundle").next().is_none(), || {
            "a Bundle without cert-manager".to_string()
        });
        return format!(
            "expects user Secrets {}",
            secrets.into_iter().collect::<Vec<_>>().join(", ")
        );
    }

    // Namespaced issuers only: a ClusterIssuer would sign for any namespace's Certificate, and anyone
    // holding a certificate from the CA the provider trusts could then present it on the socket.
    p.check(r.of_kind("ClusterIssuer").next().is_none(), || {
        "a ClusterIssuer: the CA must sign for the install namespace only (a namespaced Issuer)".to_string()
    });
    p.check(r.of_kind("Bundle").next().is_none(), || {
        "a trust-manager Bundle: each container trusts the ca.crt of its own Secret".to_string()
    });
    for c in &certs {
        let ns = c.namespace().unwrap_or("");
        let issuer = c.str_at("/spec/issuerRef/name");
        let (kind, found) = match c.str_at("/spec/issuerRef/kind") {
            "ClusterIssuer" => ("ClusterIssuer", r.find("ClusterIssuer", None, issuer)),
            _ => ("Issuer", r.find("Issuer", Some(ns), issuer)),
        };
        p.check(found.is_some(), || {
            format!("{}: its {kind} {issuer} is not in the render", c.id())
        });
    }
    // CA issuers sign with a CA Certificate's Secret, read from their own namespace (Issuer) or from the
    // cluster resource namespace (ClusterIssuer).
    for iss in r.of_kind("Issuer").chain(r.of_kind("ClusterIssuer")) {
        let Some(secret) = iss.json.pointer("/spec/ca/secretName").and_then(Value::as_str) else {
            continue;
        };
        let ns = iss.namespace().unwrap_or(TRUST_NAMESPACE);
        let ca = cert_by_secret(ns, secret);
        p.check(ca.is_some_and(|ca| ca.json["spec"]["isCA"] == true), || {
            format!("{}: no isCA Certificate writes Secret {ns}/{secret}", iss.id())
        });
    }
    // trust-manager reads Bundle sources from its trust namespace.
    for b in r.of_kind("Bundle") {
        for s in items(&b.json["spec"]["sources"]) {
            if let Some(name) = s.pointer("/secret/name").and_then(Value::as_str) {
                p.check(cert_by_secret(TRUST_NAMESPACE, name).is_some(), || {
                    format!(
                        "{}: source Secret {name} is not written by a Certificate in trust namespace {TRUST_NAMESPACE}",
                        b.id()
                    )
                });
            }
        }
    }

    // The pod's mounts: /tls/ca from the Bundle's target in our namespace, each container's own cert
    // from a Certificate, with the usages and names the binaries verify.
    for v in volumes(pod) {
        if let Some(cm) = v.get("configMap") {
            let name = cm["name"].as_str().unwrap_or("");
            // A ConfigMap installed as it is (the outbound proxy's inspection CA) is not trust-manager's.
            if r.of_kind("ConfigMap").any(|m| m.name() == name) {
                continue;
            }
            let bundle = r.find("Bundle", None, name);
            p.check(bundle.is_some(), || {
                format!("ConfigMap volume {name} is not a Bundle target")
            });
            if let Some(b) = bundle {
                let key = b.str_at("/spec/target/configMap/key");
                let items_ok = cm["items"]
                    .as_array()
                    .is_none_or(|items| items.iter().all(|i| i["key"] == key));
                p.check(items_ok, || {
                    format!("volume {name} reads keys the Bundle does not write ({key})")
                });
                let selected = b
                    .json
                    .pointer("/spec/target/namespaceSelector/matchLabels/kubernetes.io~1metadata.name")
                    .and_then(Value::as_str);
                p.check(matches!(selected, None | Some(NAMESPACE)), || {
                    format!("{}: its namespaceSelector does not select {NAMESPACE}", b.id())
                });
            }
        }
    }
    let mut leaf = |container: &str, file_flag_dir: &str, usage: &str| {
        let Some(vol) = volume_mounted_at(pod, container, file_flag_dir) else {
            p.add(format!("{container}: nothing mounted at {file_flag_dir}"));
            return;
        };
        let secret = vol
            .pointer("/secret/secretName")
            .and_then(Value::as_str)
            .unwrap_or("");
        let Some(cert) = cert_by_secret(NAMESPACE, secret) else {
            p.add(format!(
                "{container}: Secret {secret} at {file_flag_dir} is not written by a Certificate"
            ));
            return;
        };
        p.check(
            strings(&cert.json["spec"]["usages"]).iter().any(|u| u == usage),
            || format!("{}: needs usage {usage:?}", cert.id()),
        );
        let d = go_duration_secs(cert.str_at("/spec/duration")).unwrap_or(f64::MAX);
        p.check(d <= 7.0 * 24.0 * 3600.0, || {
            format!(
                "{}: a leaf certificate should be short-lived (≤ 7 days)",
                cert.id()
            )
        });
        p.check(cert.json.pointer("/spec/renewBefore").is_some(), || {
            format!("{}: set renewBefore", cert.id())
        });
        // The CA at /tls/ca is the `ca.crt` of the container's own Secret.
        let ca = volume_mounted_at(pod, container, "/tls/ca");
        p.check(
            ca.is_some_and(|v| {
                v.pointer("/secret/secretName").and_then(Value::as_str) == Some(secret)
                    && v["secret"]["items"]
                        .as_array()
                        .is_some_and(|i| i.iter().all(|i| i["key"] == "ca.crt"))
            }),
            || format!("{container}: /tls/ca must be the ca.crt of Secret {secret}"),
        );
        if usage == "client auth" {
            let names = strings(&cert.json["spec"]["dnsNames"]);
            p.check(names.iter().any(|n| n == sse_tls::MANAGER_IDENTITY), || {
                format!(
                    "{}: the provider accepts only a client certificate for {:?}, which must be a DNS name of the certificate",
                    cert.id(),
                    sse_tls::MANAGER_IDENTITY
                )
            });
        }
        if usage == "server auth" {
            let names = strings(&cert.json["spec"]["dnsNames"]);
            p.check(names.iter().any(|n| n == sse_tls::SERVER_NAME), || {
                format!(
                    "{}: the manager verifies the provider as {:?}, which must be a DNS name of the certificate",
                    cert.id(),
                    sse_tls::SERVER_NAME
                )
            });
        }
    };
    leaf(PROVIDER, "/tls/server", "server auth");
    leaf(MANAGER, "/tls/client", "client auth");
    format!("{} Certificates", certs.len())
}

#[test]
fn cert_manager_objects_are_well_formed_and_chain_to_the_pods_mounts() {
    check_every_overlay(|o, p| {
        let r = &o.render;
        for obj in &r.objects {
            match (obj.api_version(), obj.kind()) {
                ("cert-manager.io/v1", "Certificate") => check_certificate(obj, p),
                ("cert-manager.io/v1", "Issuer" | "ClusterIssuer") => check_issuer(obj, p),
                ("trust.cert-manager.io/v1alpha1", "Bundle") => check_bundle(obj, p),
                _ => {}
            }
        }
        format!("TLS: {}", check_tls_chain(r, o.dep(), p))
    });
}
