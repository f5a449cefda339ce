//! Tier 2: `kubectl sse doctor`'s checks (issue 10) on what the manager really records. Each case makes the
//! emulator fail the way Key Vault or Entra does (DNS failure, connection refused, Entra refusals, RBAC 403,
//! not found, disabled, expired) or the API double lack something (ServiceAccount, class entry, a foreign
//! Secret), lets the manager reconcile, then runs the doctor's diagnosis on the resulting SecretSync and
//! the double's objects, and asserts the verdict and the fix it prints. The stream of the vault's events is
//! read back from the Lease the manager's own leader election writes into the double, with the note its
//! stream status makes.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use keyvault_emulator::{FederatedCredential, ObjectKind, SecretInput};
use kube::ResourceExt as _;
use kubectl_sse::doctor::{Check, Facts, Lookup, Verdict, diagnose};
use kubectl_sse::vault_events::LeaseNote;
use manager::vault_events::{StreamError, StreamStatus};
use sse_api::SecretSync;
use sse_api::consts::LEADER_ELECTION_ID;
use sse_tests::*;
use tokio_util::sync::CancellationToken;

const OBJECT: &str = "objectName: db\nobjectType: secret";

/// What the doctor would read from the API double for `sync` (tier 2 has no pod and keeps no Event notes).
fn facts(env: &Env, sync: &SecretSync) -> Facts {
    let ns = sync.namespace().unwrap();
    let cluster = &env.cluster;
    let class = cluster.class(&ns, &sync.spec.secret_provider_class_name);
    Facts {
        namespace: ns.clone(),
        name: sync.name_any(),
        sync: Lookup::Found(sync.clone()),
        class: class.map_or(Lookup::Missing, Lookup::Found),
        service_account: if cluster.has_service_account(&ns, &sync.spec.service_account_name) {
            Lookup::Found(())
        } else {
            Lookup::Missing
        },
        issuer: Lookup::Found(cluster.issuer()),
        allowed_audiences: Lookup::Found(vec![AUDIENCE.to_string()]),
        secret: cluster
            .secret(&ns, &sync.name_any())
            .map_or(Lookup::Missing, |s| Lookup::Found(s.metadata)),
        containers: Lookup::Unreadable("tier 2 runs no pod".into()),
        events: Lookup::Unreadable("the API double keeps no Event notes".into()),
        event_stream: Lookup::Unreadable("no leader elected in this test".into()),
        event_stream_failures: Lookup::Missing,
    }
}

/// Reconcile a SecretSync `name` of class `class` mapping `db`, and diagnose it.
async fn doctor(env: &Env, name: &str, class: &str) -> Vec<Check> {
    let mut sync = env.sync(name, class, "Opaque", &[("db", "password")]);
    env.reconcile(&mut sync).await;
    diagnose(&facts(env, &sync))
}

fn get<'a>(checks: &'a [Check], name: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.check == name)
        .unwrap_or_else(|| panic!("no {name} check in {checks:#?}"))
}

fn fix(check: &Check) -> &str {
    check.fix.as_deref().unwrap_or_default()
}

#[tokio::test]
async fn a_healthy_secret_sync_passes_every_check_it_can_make() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "db", "pw");
    env.put_class("kv", "azure", &[OBJECT]);
    let checks = doctor(&env, "app", "kv").await;
    for c in &checks {
        assert!(matches!(c.verdict, Verdict::Ok | Verdict::Skip), "{c:#?}");
    }
    assert_eq!(get(&checks, "secretsync").verdict, Verdict::Ok);
    assert_eq!(get(&checks, "keyvault").verdict, Verdict::Ok);
    assert_eq!(get(&checks, "secret").summary, "Secret app is SSE-rs's");
    // The federated credential the identity needs, as the az line.
    let federation = get(&checks, "federation");
    assert_eq!(
        fix(federation),
        format!(
            "az identity federated-credential create --name sse-rs-{NS}-{SA} --identity-name <identity of client {CLIENT_ID}> \
             --resource-group <its resource group> --issuer {ISSUER} --subject system:serviceaccount:{NS}:{SA} \
             --audiences api://AzureADTokenExchange"
        )
    );
    assert_eq!(get(&checks, "token-audience").verdict, Verdict::Ok);
}

#[tokio::test]
async fn key_vault_answers_are_classified_with_their_fix() {
    let env = Env::start().await;
    let store = env.emulator.store();
    // 404: not found.
    env.put_class(
        "missing",
        "azure",
        &["objectName: gone\nobjectType: secret\nobjectAlias: db"],
    );
    let checks = doctor(&env, "missing", "missing").await;
    let kv = get(&checks, "keyvault");
    assert_eq!(kv.verdict, Verdict::Fail);
    assert!(
        kv.summary
            .starts_with("secret gone does not exist in contoso-kv (404)"),
        "{kv:?}"
    );
    assert!(
        fix(kv).starts_with("az keyvault secret list --vault-name contoso-kv"),
        "{kv:?}"
    );

    // 403 SecretDisabled.
    store.set_secret(VAULT, "off", "pw");
    store.set_enabled(VAULT, ObjectKind::Secret, "off", "", false);
    env.put_class(
        "disabled",
        "azure",
        &["objectName: off\nobjectType: secret\nobjectAlias: db"],
    );
    let kv = get(&doctor(&env, "disabled", "disabled").await, "keyvault").clone();
    assert_eq!(kv.summary, "secret off is disabled in contoso-kv (403)");
    assert_eq!(
        fix(&kv),
        "az keyvault secret set-attributes --vault-name contoso-kv --name off --enabled true"
    );

    // 403 ForbiddenByRbac: the role to assign, to this client, on this vault.
    store.set_secret(VAULT, "db", "pw");
    env.put_class("rbac", "azure", &[OBJECT]);
    env.emulator.faults().deny_by_rbac(VAULT, true);
    let kv = get(&doctor(&env, "rbac", "rbac").await, "keyvault").clone();
    env.emulator.faults().deny_by_rbac(VAULT, false);
    assert!(kv.summary.contains("403 ForbiddenByRbac"), "{kv:?}");
    assert_eq!(
        fix(&kv),
        format!(
            "az role assignment create --role \"Key Vault Secrets User\" --assignee {CLIENT_ID} \
             --scope $(az keyvault show --name contoso-kv --query id -o tsv)"
        )
    );

    // Connection refused: firewall or private link.
    env.put_unreachable_class("down", &[OBJECT]);
    let kv = get(&doctor(&env, "down", "down").await, "keyvault").clone();
    assert!(kv.summary.contains("cannot be reached"), "{kv:?}");
    assert!(fix(&kv).starts_with("az keyvault show --name contoso-kv --query properties.networkAcls"));
}

#[tokio::test]
async fn a_dns_failure_points_at_the_name_and_the_private_dns_zone() {
    let env = Env::start().await;
    let dns_env = env.dir.path().join("dns.json");
    let cloud = env
        .emulator
        .cloud_env_json()
        .replace(&env.emulator.dns_suffix(), "vault.invalid");
    std::fs::write(&dns_env, cloud).unwrap();
    let mut spc = env.put_class("dns", "azure", &[OBJECT]);
    spc.spec
        .parameters
        .get_or_insert_with(Default::default)
        .insert("cloudEnvFileName".into(), dns_env.display().to_string());
    env.cluster.put_class(spc);
    let kv = get(&doctor(&env, "dns", "dns").await, "keyvault").clone();
    assert_eq!(kv.verdict, Verdict::Fail);
    assert!(kv.summary.contains("does not resolve"), "{kv:?}");
    assert!(fix(&kv).contains("nslookup contoso-kv.vault.azure.net"), "{kv:?}");
}

#[tokio::test]
async fn an_entra_refusal_prints_the_federated_credential_to_create() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "db", "pw");
    // An identity that trusts another ServiceAccount only: Entra answers AADSTS700213.
    let other = "99999999-2222-3333-4444-555555555555";
    env.emulator.entra().add_federated_credential(
        TENANT,
        other,
        FederatedCredential {
            issuer: ISSUER.into(),
            subject: format!("system:serviceaccount:{NS}:someone-else"),
            audience: AUDIENCE.into(),
        },
    );
    env.put_class_for("foreign-id", "azure", VAULT, other, &[OBJECT]);
    let checks = doctor(&env, "fed", "foreign-id").await;
    let federation = get(&checks, "federation");
    assert_eq!(federation.verdict, Verdict::Fail);
    assert!(federation.summary.contains("AADSTS700213"), "{federation:?}");
    assert!(
        fix(federation).contains(&format!("--subject system:serviceaccount:{NS}:{SA}"))
            && fix(federation).contains(&format!("--issuer {ISSUER}"))
            && fix(federation).contains(&format!("<identity of client {other}>")),
        "{federation:?}"
    );
    assert!(get(&checks, "keyvault").summary.contains("federation check"));

    // An application the tenant does not know: AADSTS700016.
    env.put_class_for(
        "no-app",
        "azure",
        VAULT,
        "00000000-dead-beef-0000-000000000000",
        &[OBJECT],
    );
    let federation = get(&doctor(&env, "noapp", "no-app").await, "federation").clone();
    assert!(
        federation.summary.contains("AADSTS700016") && federation.summary.contains("clientID or tenantId")
    );
}

#[tokio::test]
async fn an_expired_object_is_a_warning_with_the_rotation_command() {
    let env = Env::start().await;
    let past = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
        - 3600;
    env.emulator.store().set_secret_with(
        VAULT,
        "db",
        SecretInput {
            value: "old".into(),
            expires: Some(past),
            ..SecretInput::default()
        },
    );
    env.put_class("kv", "azure", &[OBJECT]);
    let checks = doctor(&env, "exp", "kv").await;
    assert_eq!(
        get(&checks, "secretsync").verdict,
        Verdict::Ok,
        "Key Vault serves it"
    );
    let expiry = get(&checks, "expiry");
    assert_eq!(expiry.verdict, Verdict::Warn);
    assert!(expiry.summary.starts_with("secret/db expired at "), "{expiry:?}");
    assert_eq!(
        fix(expiry),
        "az keyvault secret set --vault-name contoso-kv --name db --file <new value> --expires <new date>"
    );
}

#[tokio::test]
async fn what_the_api_double_lacks_is_named_with_its_fix() {
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "db", "pw");
    env.put_class("kv", "azure", &[OBJECT]);

    // No ServiceAccount.
    let mut sync = env.sync("nosa", "kv", "Opaque", &[("db", "password")]);
    sync.spec.service_account_name = "ghost".into();
    env.reconcile(&mut sync).await;
    let sa = get(&diagnose(&facts(&env, &sync)), "serviceaccount").clone();
    assert_eq!(sa.verdict, Verdict::Fail);
    assert_eq!(fix(&sa), format!("kubectl create serviceaccount ghost -n {NS}"));

    // A sourcePath that names no object of the class.
    let checks = {
        let mut sync = env.sync("typo", "kv", "Opaque", &[("dbb", "password")]);
        env.reconcile(&mut sync).await;
        diagnose(&facts(&env, &sync))
    };
    let class = get(&checks, "secretproviderclass");
    assert_eq!(class.verdict, Verdict::Fail);
    assert!(
        class.summary.contains("sourcePath \"dbb\" names no object"),
        "{class:?}"
    );

    // A Secret of the same name that is not ours: who owns it, and how to hand it over.
    let mut foreign = k8s_openapi::api::core::v1::Secret::default();
    foreign.metadata.name = Some("taken".into());
    foreign.metadata.namespace = Some(NS.into());
    foreign.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "external-secrets.io/v1".into(),
            kind: "ExternalSecret".into(),
            name: "taken".into(),
            uid: "eso-uid".into(),
            ..Default::default()
        },
    ]);
    foreign.data = Some(
        [(
            "password".to_string(),
            k8s_openapi::ByteString(b"theirs".to_vec()),
        )]
        .into(),
    );
    env.cluster.put_foreign_secret(foreign);
    let checks = doctor(&env, "taken", "kv").await;
    let secret = get(&checks, "secret");
    assert_eq!(secret.verdict, Verdict::Fail);
    assert!(
        secret.summary.contains("owned by ExternalSecret/taken"),
        "{secret:?}"
    );
    assert!(!secret.summary.contains("theirs"), "never what it holds");
    assert_eq!(
        fix(secret),
        format!(
            "kubectl annotate secret taken -n {NS} sse-rs.io/adoptable=true && kubectl sse adopt taken -n {NS}   \
             # only if SSE-rs should take it over; else rename the SecretSync"
        )
    );
    assert_eq!(get(&checks, "secretsync").verdict, Verdict::Fail);
}

/// The Lease as the manager's leader election writes it into the double, with `status`'s note, read back
/// the way `kubectl sse doctor` and `status` read it. The note is written at each write of the Lease, so
/// each state is taken by a fresh term of leadership.
async fn leader_note(env: &Env, status: &Arc<StreamStatus>) -> LeaseNote {
    const INSTALL_NS: &str = "azure-secret-store";
    let note = status.clone();
    let notes: manager::leader::Notes = Arc::new(move || {
        note.annotation()
            .map(|a| (manager::vault_events::health::ANNOTATION.to_string(), a))
            .into_iter()
            .collect()
    });
    let port: Arc<dyn manager::cluster::Cluster> = Arc::new(env.cluster.clone());
    let stop = CancellationToken::new();
    let leadership = manager::leader::acquire(
        port,
        INSTALL_NS,
        LEADER_ELECTION_ID,
        "manager-0",
        notes,
        stop.clone(),
    )
    .await
    .unwrap();
    let lease = env.cluster.stored_lease(INSTALL_NS, LEADER_ELECTION_ID).unwrap();
    stop.cancel();
    leadership.release().await;
    LeaseNote::of(INSTALL_NS, lease, SystemTime::now())
}

#[tokio::test]
async fn the_leaders_note_on_the_vault_events_reads_back_as_the_manager_wrote_it() {
    assert_eq!(
        manager::vault_events::health::ANNOTATION,
        sse_api::consts::EVENT_STREAM_ANNOTATION,
        "the manager writes the annotation the plugin reads"
    );
    let env = Env::start().await;
    env.emulator.store().set_secret(VAULT, "db", "pw");
    env.put_class("kv", "azure", &[OBJECT]);
    let mut sync = env.sync("app", "kv", "Opaque", &[("db", "password")]);
    env.reconcile(&mut sync).await;
    let diagnose_with = |lease: LeaseNote| {
        let mut facts = facts(&env, &sync);
        facts.event_stream = Lookup::Found(lease);
        diagnose(&facts)
    };
    let status = Arc::new(StreamStatus::default());

    // Events off: the leader notes nothing, and polling alone refreshes.
    let off = leader_note(&env, &status).await;
    assert_eq!((off.annotation.as_deref(), off.status_line()), (None, None));
    let checks = diagnose_with(off);
    assert_eq!(get(&checks, "vault-events").verdict, Verdict::Info);
    for c in &checks {
        assert!(
            matches!(c.verdict, Verdict::Ok | Verdict::Skip | Verdict::Info),
            "{c:#?}"
        );
    }

    // Failing: the manager's reason and message, and the fix for that reason.
    let source = "ns.westeurope-1.eventgrid.azure.net/keyvault/cluster";
    status.starting(source.into(), SystemTime::now());
    let forbidden = StreamError {
        reason: "Forbidden",
        message: format!(
            "{source} answered HTTP 403 (Unauthorized: The principal does not have the required role.): the \
             manager's identity needs the EventGrid Data Receiver role on the namespace topic"
        ),
    };
    status.failing(&forbidden, SystemTime::now());
    let lease = leader_note(&env, &status).await;
    assert_eq!(lease.holder.as_deref(), Some("manager-0"));
    assert!(
        lease
            .status_line()
            .is_some_and(|l| l.starts_with("Vault events: FAILING since ")
                && l.contains(
                    "s (Forbidden): ns.westeurope-1.eventgrid.azure.net/keyvault/cluster answered HTTP 403"
                )),
        "{lease:?}"
    );
    let checks = diagnose_with(lease);
    let stream = get(&checks, "vault-events");
    assert_eq!(stream.verdict, Verdict::Fail);
    assert!(
        stream.summary.contains(&forbidden.message)
            && stream
                .summary
                .contains("lacks the \"EventGrid Data Receiver\" role"),
        "{stream:?}"
    );
    assert!(
        fix(stream).starts_with("az role assignment create --role \"EventGrid Data Receiver\"")
            && fix(stream).contains("--namespace-name ns -n keyvault"),
        "{stream:?}"
    );
    assert_eq!(
        get(&checks, "keyvault").verdict,
        Verdict::Ok,
        "the SecretSync itself is fine"
    );

    // Receiving again: the last event and its delivery lag.
    status.receiving(SystemTime::now(), &[Duration::from_millis(800)]);
    let lease = leader_note(&env, &status).await;
    assert!(
        lease.status_line().is_some_and(|l| l
            .starts_with(&format!("Vault events: receiving from {source}; last event "))
            && l.ends_with("ago (delivered in 0.8s)")),
        "{lease:?}"
    );
    let stream = get(&diagnose_with(lease), "vault-events").clone();
    assert_eq!(stream.verdict, Verdict::Ok);
    assert!(
        stream
            .summary
            .ends_with("delivered in 0.8s; 1 event(s) this term of leadership"),
        "{stream:?}"
    );
}
