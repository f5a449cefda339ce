//! Reading the recorded failure back: the texts are those the manager and the Azure provider write (tier 2
//! recorded them from the real pair against the emulator; the transport ones are tonic's own).

use super::*;

/// A Mount failure as the manager records it: `code`, and the provider's answer about `secret/db`.
fn mount(code: &str, answer: &str) -> String {
    format!(
        "fetching secrets from the provider failed: rpc error: code = {code} desc = failed to mount objects, error: \
         failed to get objectType:secret, objectName:db, objectVersion:: GET https://contoso-kv.vault.azure.net/secrets/db/: {answer}"
    )
}

fn key_vault(code: &str, answer: &str) -> KeyVaultFailure {
    Failure::new(Some(Reason::ProviderError), &mount(code, answer)).key_vault()
}

#[test]
fn codes_are_read_by_their_grpc_go_names() {
    let rpc = |m: &'static str| RpcStatus::parse(m);
    assert_eq!(
        rpc(
            "fetching secrets from the provider failed: rpc error: code = Canceled desc = the manager is shutting down"
        ),
        Some(RpcStatus {
            code: Code::Cancelled,
            message: "the manager is shutting down"
        })
    );
    assert_eq!(
        rpc("rpc error: code = NotFound desc = failed to mount objects, error: x").map(|r| r.code),
        Some(Code::NotFound),
        "a partial sync's entry has no prefix"
    );
    assert_eq!(
        rpc("rpc error: code = Cancelled desc = x"),
        None,
        "Rust's spelling is not gRPC-Go's"
    );
    assert_eq!(
        rpc(
            "fetching secrets from the provider failed: failed to fetch token: rpc error: code = Unavailable desc = x"
        ),
        None,
        "only the call's own status"
    );
}

#[test]
fn key_vault_answers_are_classified_by_code_then_key_vault_code() {
    // As tier 2 recorded them.
    assert_eq!(
        key_vault(
            "NotFound",
            "HTTP 404 SecretNotFound: A secret with (name/id) gone was not found in this key vault."
        ),
        KeyVaultFailure::NotFound
    );
    assert_eq!(
        key_vault(
            "PermissionDenied",
            "HTTP 403 Forbidden (SecretDisabled): Operation get is not allowed on a disabled secret."
        ),
        KeyVaultFailure::Disabled
    );
    assert_eq!(
        key_vault(
            "PermissionDenied",
            "HTTP 403 Forbidden (ForbiddenByRbac): Caller is not authorized to perform action on resource."
        ),
        KeyVaultFailure::NoRole
    );
    assert_eq!(
        key_vault(
            "Unauthenticated",
            "non-transport error occurred which will not be retried: ClientAssertionCredential authentication \
             failed. AADSTS700213: No matching federated identity record found for presented assertion subject"
        ),
        KeyVaultFailure::EntraRefused
    );
    assert_eq!(
        key_vault(
            "Unavailable",
            "retry policy expired and the request will no longer be retried: failed to execute `reqwest` request: \
             error sending request for url (https://contoso-kv.vault.invalid/secrets/db/?api-version=2025-07-01): \
             client error (Connect): dns error: error resolving DNS: failed to lookup address information: Name or service not known"
        ),
        KeyVaultFailure::Dns
    );
    assert_eq!(
        key_vault(
            "Unavailable",
            "retry policy expired and the request will no longer be retried: failed to execute `reqwest` request: \
             error sending request for url (https://contoso-kv.vault.localhost:32791/secrets/db/?api-version=2025-07-01): \
             client error (Connect): tcp connect error: Connection refused (os error 111)"
        ),
        KeyVaultFailure::Unreachable
    );
    // The rest of the provider's mapping (Key Vault's error table).
    for (code, answer, class) in [
        (
            "PermissionDenied",
            "HTTP 403 Forbidden (AccessDenied): The user, group or application 'appid=x' does not have secrets get permission on key vault 'kv'.",
            KeyVaultFailure::NoAccessPolicy,
        ),
        (
            "PermissionDenied",
            "HTTP 403 Forbidden (ForbiddenByFirewall): Client address is not authorized and caller is not a trusted service.",
            KeyVaultFailure::Unreachable,
        ),
        (
            "PermissionDenied",
            "HTTP 403 Forbidden (ForbiddenByPolicy): The policy requires the caller to use on-behalf-of (OBO) flow.",
            KeyVaultFailure::Other,
        ),
        (
            "PermissionDenied",
            "HTTP 403 (no error code)",
            KeyVaultFailure::Other,
        ),
        (
            "PermissionDenied",
            "HTTP 403 Forbidden: (ForbiddenByRbac) in the message, not the inner code",
            KeyVaultFailure::Other,
        ),
        (
            "Unauthenticated",
            "HTTP 401 Unauthorized: AKV10000: Request is missing a Bearer or PoP token.",
            KeyVaultFailure::TokenRefused,
        ),
        (
            "ResourceExhausted",
            "HTTP 429 Throttled: Request was not processed because too many requests were received.",
            KeyVaultFailure::Throttled,
        ),
        (
            "Unavailable",
            "HTTP 503 ServiceUnavailable: The service encountered an internal error.",
            KeyVaultFailure::Other,
        ),
        (
            "FailedPrecondition",
            "HTTP 400 BadParameter: bad",
            KeyVaultFailure::Other,
        ),
    ] {
        assert_eq!(key_vault(code, answer), class, "{code}: {answer}");
    }
}

#[test]
fn without_a_token_the_vault_was_not_asked() {
    // `Unauthenticated` without a Key Vault status: the credential failed, whichever credential it was, so a
    // network error is Entra's (the vault's firewall was never reached).
    assert_eq!(
        key_vault(
            "Unauthenticated",
            "ClientSecretCredential authentication failed: error sending request: operation timed out"
        ),
        KeyVaultFailure::EntraUnreachable
    );
    assert_eq!(
        key_vault(
            "Unauthenticated",
            "ManagedIdentityCredential authentication failed: no identity assigned"
        ),
        KeyVaultFailure::Other,
        "neither Entra's code nor a transport error: the text says what"
    );
}

#[test]
fn what_is_not_a_key_vault_answer_is_not_classified_as_one() {
    // The provider's own `error.code` in a Mount response is not a Key Vault status.
    let coded =
        "fetching secrets from the provider failed: mount request failed with provider error code NotFound";
    assert_eq!(
        Failure::new(Some(Reason::ProviderError), coded).key_vault(),
        KeyVaultFailure::Other
    );
    // The provider's text for a request it rejects: its code says so, not Key Vault.
    let rejected = "fetching secrets from the provider failed: rpc error: code = InvalidArgument desc = failed to mount objects, error: keyvaultName is not provided";
    assert_eq!(
        Failure::new(Some(Reason::ProviderError), rejected).key_vault(),
        KeyVaultFailure::Other
    );
}

#[test]
fn the_provider_is_unreachable_when_the_manager_made_the_status() {
    let unreachable = |reason, message: &str| Failure::new(Some(reason), message).provider_unreachable();
    // tonic's statuses for a socket nobody listens on, and for a provider certificate the manager does not trust.
    for desc in [
        "Connection refused (os error 111)",
        "No such file or directory (os error 2)",
        "invalid peer certificate: UnknownIssuer",
    ] {
        let message =
            format!("fetching secrets from the provider failed: rpc error: code = Unavailable desc = {desc}");
        assert!(unreachable(Reason::ProviderError, &message), "{desc}");
    }
    assert!(unreachable(
        Reason::ControllerSpcError,
        "fetching secrets from the provider failed: provider not found: provider \"nosuch\""
    ));
    // The provider answered: Key Vault is unreachable, not the provider.
    assert!(!unreachable(
        Reason::ProviderError,
        &mount(
            "Unavailable",
            "tcp connect error: Connection refused (os error 111)"
        )
    ));
    // A token the manager could not mint says nothing about the provider.
    assert!(!unreachable(
        Reason::ControllerSyncFailed,
        "fetching secrets from the provider failed: failed to fetch token: error trying to connect: tls handshake eof"
    ));
}

#[test]
fn a_partial_sync_is_read_from_its_first_provider_error() {
    let summary = serde_json::json!({
        "items": [{"targetKey": "ka", "sourcePath": "a", "status": "Synced"},
                  {"targetKey": "kb", "sourcePath": "b", "status": "Failed", "error": "no file for sourcePath b"}],
        "providerErrors": [
            "rpc error: code = NotFound desc = failed to mount objects, error: failed to get objectType:secret, objectName:b, objectVersion:: GET https://kv/secrets/b/: HTTP 404 SecretNotFound: gone",
            "rpc error: code = PermissionDenied desc = failed to mount objects, error: failed to get objectType:key, objectName:c, objectVersion:: GET https://kv/keys/c/: HTTP 403 Forbidden (ForbiddenByRbac): no"
        ],
    })
    .to_string();
    let failure = Failure::new(Some(Reason::PartialSync), &summary);
    assert_eq!(failure.key_vault(), KeyVaultFailure::NotFound);
    assert_eq!(failure.object(), Some(("secret".into(), "b".into())));
    assert_eq!(failure.message, summary, "the message stays as written");
}

#[test]
fn entra_codes_are_read_whole() {
    let code = |m: &str| Failure::new(Some(Reason::ProviderError), m).aadsts();
    assert_eq!(
        code(&mount("Unauthenticated", "failed. AADSTS700016: Application")),
        Some("AADSTS700016".into())
    );
    assert_eq!(code(&mount("Unauthenticated", "failed. AADSTS: no number")), None);
}
