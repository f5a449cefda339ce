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
        event_stream: Lookup::Unreadable("forbidden".into()),
        event_stream_failures: Lookup::Missing,
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

// The stream of the vault's events, as the leader notes it on its Lease.

const SOURCE: &str = "ns.westeurope-1.eventgrid.azure.net/t/s";

/// A healthy SecretSync, with the Lease read at 14:15:00 (renewed a second before) carrying `note`.
fn with_stream(note: Option<serde_json::Value>) -> Facts {
    let at = |t: &str| crate::status::parse_time(t).unwrap_or_else(|| panic!("{t}"));
    let mut facts = failing("ProviderError", "irrelevant here");
    facts.event_stream = Lookup::Found(crate::vault_events::LeaseNote {
        namespace: "azure-secret-store".into(),
        annotation: note.map(|n| n.to_string()),
        holder: Some("secrets-store-sync-controller-manager-7d9f-abcde".into()),
        renewed: Some(at("2026-12-06T14:14:59Z")),
        read_at: at("2026-12-06T14:15:00Z"),
    });
    facts
}

fn stream(facts: &Facts) -> Check {
    diagnose(facts)
        .into_iter()
        .find(|c| c.check == "vault-events")
        .unwrap_or_else(|| panic!("no vault-events check"))
}

fn failing_note(reason: &str, message: &str) -> serde_json::Value {
    serde_json::json!({"state": "Failing", "source": SOURCE, "since": "2026-12-06T14:12:00Z",
                       "reason": reason, "message": message, "received": 0})
}

#[test]
fn events_off_is_information_not_a_finding() {
    let c = stream(&with_stream(None));
    assert_eq!(c.verdict, Verdict::Info);
    assert!(
        c.summary
            .starts_with("off: SecretSyncs are refreshed by polling alone"),
        "{c:?}"
    );
    let table = render(
        &with_stream(None),
        std::slice::from_ref(&c),
        crate::cli::Output::Table,
    )
    .unwrap_or_default();
    assert!(
        table.contains("[info] vault-events") && !table.contains("fix:"),
        "{table}"
    );
    let wide = render(&with_stream(None), &[c], crate::cli::Output::Wide).unwrap_or_default();
    assert!(
        wide.contains("fix: deploy/README.md \"Refresh from the vault's events\""),
        "{wide}"
    );
}

#[test]
fn a_receiving_stream_says_when_the_last_event_came_and_how_late() {
    let c = stream(&with_stream(Some(serde_json::json!({
        "state": "Receiving", "source": SOURCE, "since": "2026-12-06T13:00:00Z",
        "lastEventTime": "2026-12-06T14:14:48Z", "lagSeconds": 0.8, "received": 7}))));
    assert_eq!(c.verdict, Verdict::Ok);
    assert_eq!(
        c.summary,
        format!(
            "receiving from {SOURCE}; last event 12s ago, delivered in 0.8s; 7 event(s) this term of leadership"
        )
    );
}

#[test]
fn starting_is_fine_for_a_while_then_worth_a_look() {
    let starting = |since: &str| {
        stream(&with_stream(Some(
            serde_json::json!({"state": "Starting", "source": SOURCE, "since": since, "received": 0}),
        )))
    };
    assert_eq!(starting("2026-12-06T14:14:30Z").verdict, Verdict::Ok);
    let long = starting("2026-12-06T14:12:00Z");
    assert_eq!(long.verdict, Verdict::Warn);
    assert!(long.summary.contains("for 3m"), "{long:?}");
    assert!(
        long.fix
            .as_deref()
            .is_some_and(|f| f.contains("logs deploy/secrets-store-sync-controller-manager -c manager"))
    );
}

#[test]
fn a_forbidden_stream_names_the_role_and_where_to_grant_it() {
    let message = "ns.westeurope-1.eventgrid.azure.net/t/s answered HTTP 403 (Unauthorized: The principal does not \
                   have the required role.): the manager's identity needs the EventGrid Data Receiver role on the \
                   namespace topic";
    let c = stream(&with_stream(Some(failing_note("Forbidden", message))));
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(
        c.summary
            .starts_with(&format!("failing for 3m (Forbidden): {message}")),
        "{c:?}"
    );
    assert!(
        c.summary
            .contains("lacks the \"EventGrid Data Receiver\" role on the namespace topic"),
        "{c:?}"
    );
    assert_eq!(
        c.fix.as_deref(),
        Some(
            "az role assignment create --role \"EventGrid Data Receiver\" --assignee $(kubectl -n azure-secret-store \
             get configmap secrets-store-sync-controller-events -o jsonpath='{.data.AZURE_CLIENT_ID}') --scope \
             $(az eventgrid namespace topic show -g <resource group> --namespace-name ns -n t --query id -o tsv)"
        )
    );
    // A stream failing does not make the SecretSync's own checks fail.
    assert_ne!(
        verdict(
            &diagnose(&with_stream(Some(failing_note("Forbidden", message)))),
            "provider"
        )
        .0,
        Verdict::Fail
    );
}

#[test]
fn each_failure_points_at_its_own_fix() {
    let fix = |reason: &str| {
        stream(&with_stream(Some(failing_note(reason, "…"))))
            .fix
            .unwrap_or_default()
    };
    assert_eq!(
        fix("NotFound"),
        "az eventgrid namespace topic event-subscription show -g <resource group> --namespace-name ns --topic-name t -n s"
    );
    // The issuer the doctor read, and the manager's own ServiceAccount.
    assert_eq!(
        fix("TokenFailed"),
        "az identity federated-credential create --name sse-rs-manager --identity-name <the manager's identity> \
         --resource-group <its resource group> --issuer https://issuer.example --subject \
         system:serviceaccount:azure-secret-store:secrets-store-sync-controller-manager --audiences \
         api://AzureADTokenExchange"
    );
    assert_eq!(
        fix("Unauthorized"),
        "az eventgrid namespace list-key -g <resource group> --namespace-name ns"
    );
    assert!(fix("Unreachable").contains("logs deploy/secrets-store-sync-controller-manager"));
    assert!(fix("Throttled").contains("logs deploy/secrets-store-sync-controller-manager"));
}

#[test]
fn the_last_failure_event_is_told_when_it_says_more() {
    let mut facts = with_stream(Some(failing_note("NotFound", "no such subscription")));
    facts.event_stream_failures = Lookup::Found(vec![EventFacts {
        type_: "Warning".into(),
        reason: "EventStreamFailed".into(),
        message: "an older failure".into(),
        count: 3,
    }]);
    let c = stream(&facts);
    assert!(
        c.summary
            .contains("; last Event EventStreamFailed (3x): an older failure"),
        "{c:?}"
    );
    assert!(
        c.summary
            .ends_with("SecretSyncs keep refreshing by polling meanwhile"),
        "{c:?}"
    );
}

#[test]
fn a_note_nobody_renews_or_nobody_may_read_is_not_a_failure() {
    let mut facts = with_stream(Some(failing_note("Forbidden", "…")));
    if let Lookup::Found(lease) = &mut facts.event_stream {
        lease.renewed = crate::status::parse_time("2026-12-06T14:00:00Z");
    }
    let stale = stream(&facts);
    assert_eq!(stale.verdict, Verdict::Warn);
    assert!(
        stale
            .summary
            .starts_with("no leader has renewed the Lease for 15m"),
        "{stale:?}"
    );
    let mut facts = with_stream(None);
    facts.event_stream = Lookup::Unreadable("leases.coordination.k8s.io is forbidden (403)".into());
    assert_eq!(stream(&facts).verdict, Verdict::Skip);
    facts.event_stream = Lookup::Found(crate::vault_events::LeaseNote {
        annotation: Some("{".into()),
        namespace: "azure-secret-store".into(),
        holder: None,
        renewed: None,
        read_at: std::time::SystemTime::now(),
    });
    assert_eq!(
        stream(&facts).verdict,
        Verdict::Warn,
        "a note that does not parse"
    );
}

#[test]
fn a_template_error_points_at_kubectl_sse_render() {
    let mut facts = failing(
        "TemplateError",
        "template .dockerconfigjson: line 2, column 4: no value named \"tokn\" (values: token, user)",
    );
    let Lookup::Found(sync) = &mut facts.sync else {
        panic!("a SecretSync")
    };
    sync.spec.secret_object.template = Some(sse_api::SecretTemplate {
        merge_policy: sse_api::MergePolicy::Replace,
        data: vec![sse_api::TemplateItem {
            target_key: ".dockerconfigjson".into(),
            text: Some("{{ .tokn }}".into()),
            ..sse_api::TemplateItem::default()
        }],
    });
    let checks = diagnose(&facts);
    let shape = checks
        .iter()
        .find(|c| c.check == "shape")
        .unwrap_or_else(|| panic!("no shape"));
    assert_eq!(shape.verdict, Verdict::Fail);
    assert!(shape.summary.contains("line 2"), "{}", shape.summary);
    assert!(
        shape
            .fix
            .as_deref()
            .is_some_and(|f| f.starts_with("kubectl sse render db -n apps --values")),
        "{:?}",
        shape.fix
    );
}

#[test]
fn an_unshaped_secret_sync_skips_the_shape_check() {
    let checks = diagnose(&failing(
        "ProviderError",
        "rpc error: code = Unavailable desc = down",
    ));
    assert_eq!(verdict(&checks, "shape").0, Verdict::Skip);
}
