//! `diagnose` on the failures the manager records: which check fires, and what it says.

use sse_api::{SecretProviderClass, SecretSync};

use super::*;

/// A SecretSync whose last check failed with `reason` and `message`, and the facts around it.
fn failing(reason: &str, message: &str) -> Facts {
    let sync: SecretSync = serde_json::from_value(serde_json::json!({
        "apiVersion": "secret-sync.x-k8s.io/v1alpha1",
        "kind": "SecretSync",
        "metadata": {"name": "db", "namespace": "apps", "uid": "u1"},
        "spec": {"serviceAccountName": "sa", "secretProviderClassName": "kv",
                 "secretObject": {"type": "Opaque", "data": [{"sourcePath": "db", "targetKey": "pw"}]}},
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": reason, "message": message,
                                   "lastTransitionTime": "2026-12-06T14:02:00Z"}]},
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    let class: SecretProviderClass = serde_json::from_value(serde_json::json!({
        "apiVersion": "secrets-store.csi.x-k8s.io/v1",
        "kind": "SecretProviderClass",
        "metadata": {"name": "kv", "namespace": "apps"},
        "spec": {"provider": "azure", "parameters": {
            "keyvaultName": "contoso-kv", "tenantId": "t", "clientID": "c",
            "objects": "array:\n  - |\n    objectName: db\n    objectType: secret\n"}},
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    Facts {
        namespace: "apps".into(),
        name: "db".into(),
        sync: Lookup::Found(sync),
        class: Lookup::Found(class),
        service_account: Lookup::Found(()),
        issuer: Lookup::Found("https://issuer.example".into()),
        allowed_audiences: Lookup::Found(vec![AZURE_AUDIENCE.into()]),
        secret: Lookup::Missing,
        containers: Lookup::Unreadable("forbidden".into()),
        events: Lookup::Missing,
    }
}

fn verdict(checks: &[Check], name: &str) -> (Verdict, String) {
    checks
        .iter()
        .find(|c| c.check == name)
        .map(|c| (c.verdict, c.summary.clone()))
        .unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn an_unreachable_entra_is_not_blamed_on_the_vault() {
    let checks = diagnose(&failing(
        "ProviderError",
        "fetching secrets from the provider failed: rpc error: code = Unauthenticated desc = failed to mount objects, \
         error: failed to get objectType:secret, objectName:db, objectVersion:: GET https://contoso-kv.vault.azure.net/secrets/db/: \
         ClientAssertionCredential authentication failed: error sending request: dns error: failed to lookup address information",
    ));
    let (v, summary) = verdict(&checks, "keyvault");
    assert_eq!(v, Verdict::Fail);
    assert!(
        summary.starts_with("Entra ID (login.microsoftonline.com) cannot be reached"),
        "{summary}"
    );
}

#[test]
fn a_dead_provider_socket_is_the_provider_not_a_vault_firewall() {
    let checks = diagnose(&failing(
        "ProviderError",
        "fetching secrets from the provider failed: rpc error: code = Unavailable desc = failed to connect: \
         transport error: Connection refused (os error 111)",
    ));
    assert_eq!(verdict(&checks, "provider").0, Verdict::Fail);
    assert_eq!(verdict(&checks, "keyvault").0, Verdict::Skip);
}

#[test]
fn a_missing_certificate_is_a_vault_answer_not_a_provider_outage() {
    let checks = diagnose(&failing(
        "ProviderError",
        "fetching secrets from the provider failed: rpc error: code = NotFound desc = failed to mount objects, error: \
         failed to get objectType:cert, objectName:web, objectVersion:: GET https://contoso-kv.vault.azure.net/certificates/web/: \
         HTTP 404 CertificateNotFound: A certificate with (name/id) web was not found in this key vault.",
    ));
    assert_ne!(verdict(&checks, "provider").0, Verdict::Fail);
    let (v, summary) = verdict(&checks, "keyvault");
    assert_eq!(v, Verdict::Fail);
    assert!(
        summary.starts_with("cert web does not exist in contoso-kv (404)"),
        "{summary}"
    );
}

#[test]
fn a_missing_class_is_not_a_provider_failure() {
    let mut facts = failing(
        "ControllerSpcError",
        "failed to get SecretProviderClass \"kv\": secretproviderclasses.secrets-store.csi.x-k8s.io \"kv\" not found",
    );
    facts.class = Lookup::Missing;
    let checks = diagnose(&facts);
    assert_eq!(verdict(&checks, "secretproviderclass").0, Verdict::Fail);
    assert_ne!(verdict(&checks, "provider").0, Verdict::Fail);
}

// Where the gRPC code decides differently from the texts the doctor used to search for, the code is right:

#[test]
fn a_token_the_manager_could_not_mint_is_not_blamed_on_the_provider() {
    // The API server's TLS, not the provider's: the message mentions a handshake, but no provider call was made.
    let checks = diagnose(&failing(
        "ControllerSyncFailed",
        "fetching secrets from the provider failed: failed to fetch token: error trying to connect: tls handshake eof",
    ));
    assert_eq!(verdict(&checks, "provider").0, Verdict::Skip);
    assert_eq!(verdict(&checks, "keyvault").0, Verdict::Skip);
}

#[test]
fn a_provider_certificate_the_manager_does_not_trust_is_the_provider() {
    // tonic's status for a refused TLS handshake on the way to the provider.
    let checks = diagnose(&failing(
        "ProviderError",
        "fetching secrets from the provider failed: rpc error: code = Unavailable desc = invalid peer certificate: UnknownIssuer",
    ));
    assert_eq!(verdict(&checks, "provider").0, Verdict::Fail);
    assert_eq!(verdict(&checks, "keyvault").0, Verdict::Skip);
}

#[test]
fn a_token_request_that_times_out_is_entra_not_the_vault_firewall() {
    // `Unauthenticated` without a Key Vault status: no token, so the vault (and its firewall) was never asked.
    let checks = diagnose(&failing(
        "ProviderError",
        "fetching secrets from the provider failed: rpc error: code = Unauthenticated desc = failed to mount objects, \
         error: failed to get objectType:secret, objectName:db, objectVersion:: GET https://contoso-kv.vault.azure.net/secrets/db/: \
         ClientSecretCredential authentication failed: error sending request: operation timed out",
    ));
    let (v, summary) = verdict(&checks, "keyvault");
    assert_eq!(v, Verdict::Fail);
    assert!(
        summary.starts_with("Entra ID (login.microsoftonline.com) cannot be reached"),
        "{summary}"
    );
}

#[test]
fn a_partial_sync_names_the_failure_of_the_object_it_names() {
    // Two objects failed differently: the check names the first error's object with that error's class (the
    // summary's texts together would pair one object with the other's 403).
    let summary = serde_json::json!({
        "items": [{"targetKey": "pw", "sourcePath": "db", "status": "Failed", "error": "no file for sourcePath db"}],
        "providerErrors": [
            "rpc error: code = NotFound desc = failed to mount objects, error: failed to get objectType:secret, objectName:db, objectVersion:: GET https://contoso-kv.vault.azure.net/secrets/db/: HTTP 404 SecretNotFound: gone",
            "rpc error: code = PermissionDenied desc = failed to mount objects, error: failed to get objectType:secret, objectName:other, objectVersion:: GET https://contoso-kv.vault.azure.net/secrets/other/: HTTP 403 Forbidden (ForbiddenByRbac): no"
        ],
    });
    let checks = diagnose(&failing("PartialSync", &summary.to_string()));
    let (v, summary) = verdict(&checks, "keyvault");
    assert_eq!(v, Verdict::Fail);
    assert!(
        summary.starts_with("secret db does not exist in contoso-kv (404)"),
        "{summary}"
    );
}
