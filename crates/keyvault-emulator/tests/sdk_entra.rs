//! Entra errors as the official Azure SDK for Rust reports them: the AADSTS codes of a refused workload
//! identity, through the credential and through a data-plane client.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

mod common;

use std::time::Duration;

use azure_core::credentials::TokenCredential;
use common::*;
use keyvault_emulator::mint_assertion;

#[tokio::test]
async fn entra_errors_surface_aadsts_codes() {
    let emu = start().await;
    emu.entra().add_client(TENANT, "no-fics");
    let http = http(&emu, &[VAULT]);
    let hour = Duration::from_secs(3600);
    let cases = [
        (
            "wrong issuer",
            TENANT,
            CLIENT,
            mint_assertion("https://evil/", SUBJECT, AUDIENCE, hour),
            "AADSTS700211",
        ),
        (
            "wrong subject",
            TENANT,
            CLIENT,
            mint_assertion(ISSUER, "system:serviceaccount:x:y", AUDIENCE, hour),
            "AADSTS700213",
        ),
        (
            "wrong audience",
            TENANT,
            CLIENT,
            mint_assertion(ISSUER, SUBJECT, "api://other", hour),
            "AADSTS700212",
        ),
        (
            "expired assertion",
            TENANT,
            CLIENT,
            mint_assertion(ISSUER, SUBJECT, AUDIENCE, Duration::ZERO),
            "AADSTS700024",
        ),
        (
            "unknown client",
            TENANT,
            "22222222-0000-0000-0000-000000000000",
            mint_assertion(ISSUER, SUBJECT, AUDIENCE, hour),
            "AADSTS700016",
        ),
        (
            "client without FICs",
            TENANT,
            "no-fics",
            mint_assertion(ISSUER, SUBJECT, AUDIENCE, hour),
            "AADSTS700211",
        ),
        (
            "unknown tenant",
            "99999999-0000-0000-0000-000000000000",
            CLIENT,
            mint_assertion(ISSUER, SUBJECT, AUDIENCE, hour),
            "AADSTS90002",
        ),
        (
            "malformed assertion",
            TENANT,
            CLIENT,
            "not-a-jwt".to_string(),
            "AADSTS50027",
        ),
    ];
    for (what, tenant, client, assertion, code) in cases {
        let id = identity_with(&emu, &http, tenant, client, &assertion);
        let err = id
            .credential
            .get_token(&["https://vault.localhost/.default"], None)
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains(code), "{what}: expected {code} in: {text}");
        assert!(
            text.contains("WorkloadIdentityCredential authentication failed"),
            "{what}: {text}"
        );
    }
    assert_eq!(emu.counters().get("entra.error"), Some(&8));
    assert_eq!(emu.counters().get("entra.token"), Some(&8));

    // Through a data-plane client: the challenge round-trip fails with the Entra error.
    let id = identity_with(
        &emu,
        &http,
        TENANT,
        CLIENT,
        &mint_assertion("https://evil/", SUBJECT, AUDIENCE, hour),
    );
    let client = secret_client(&emu, &http, &id, fast_retry(0));
    emu.store().set_secret(VAULT, "s", "v");
    // The retry policy wraps the credential error ("non-transport error occurred which will not be
    // retried"): the AADSTS text is in the source chain.
    let err = client.get_secret("s", None).await.unwrap_err();
    let chain = error_chain(&err);
    assert!(chain.contains("AADSTS700211"), "{chain}");

    // A token for another resource is refused by Entra (AADSTS500011).
    let id = identity(&emu, &http);
    let err = id
        .credential
        .get_token(&["https://management.azure.com/.default"], None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("AADSTS500011"), "{err}");
}
