//! What the SecretSync's own status and Events say: its `Ready` condition, its objects' validity dates, an
//! admission denial, the latest warning.

use kube::ResourceExt as _;
use sse_api::conditions;
use sse_api::{ObjectValidity, Reason, SecretSync};

use super::class::CheckedClass;
use super::{Check, Verdict, check, first_line};
use crate::doctor::facts::{EventFacts, Facts, Lookup};
use crate::doctor::failure::Failure;

pub(super) fn secretsync(sync: &SecretSync, ready: Option<&sse_api::Condition>) -> Check {
    let status = sync.status.clone().unwrap_or_default();
    match ready {
        None => check(
            "secretsync",
            Verdict::Warn,
            "not checked yet: no Ready condition (is the manager running?)",
            Some(format!(
                "kubectl -n <install namespace> logs deploy/secrets-store-sync-controller-manager -c manager   # SecretSync in {}",
                sync.namespace().unwrap_or_default()
            )),
        ),
        Some(c) if c.status == conditions::STATUS_TRUE => {
            let stale = status.observed_generation != sync.metadata.generation;
            check(
                "secretsync",
                if stale { Verdict::Warn } else { Verdict::Ok },
                format!(
                    "Ready ({}){}",
                    c.reason,
                    if stale {
                        "; the manager has not caught up with the latest spec edit yet"
                    } else {
                        ""
                    }
                ),
                None,
            )
        }
        Some(c) => check(
            "secretsync",
            Verdict::Fail,
            format!(
                "not Ready: {}{}",
                c.reason,
                status
                    .failing_since
                    .as_ref()
                    .map(|t| format!(", failing since {}", t.0))
                    .unwrap_or_default()
            ),
            None,
        ),
    }
}

pub(super) fn expiry(sync: &SecretSync, class: &CheckedClass) -> Check {
    let validity = sync
        .status
        .as_ref()
        .map(|s| s.validity.clone())
        .unwrap_or_default();
    let vault = class.facts.vault_or_placeholder();
    let concerned: Vec<&ObjectValidity> = validity
        .iter()
        .filter(|v| v.state != ObjectValidity::VALID)
        .collect();
    if validity.is_empty() {
        return check(
            "expiry",
            Verdict::Skip,
            "no validity dates reported for its objects",
            None,
        );
    }
    let Some(worst) = concerned
        .iter()
        .find(|v| v.state == ObjectValidity::EXPIRED)
        .or_else(|| concerned.first())
    else {
        return check(
            "expiry",
            Verdict::Ok,
            format!(
                "{} dated object(s), none inside the warning window",
                validity.len()
            ),
            None,
        );
    };
    let (kind, name) = worst
        .object
        .split_once('/')
        .unwrap_or(("secret", worst.object.as_str()));
    // A rotation for what has expired or expires soon; an object not valid yet only needs waiting.
    let fix = (worst.state != ObjectValidity::NOT_YET_VALID).then(|| match kind {
        // Renewed under its own policy (its issuer, subject, lifetime), never the CLI's self-signed default.
        "cert" => format!(
            "az keyvault certificate create --vault-name {vault} --name {name} --policy \"$(az keyvault certificate show --vault-name {vault} --name {name} --query policy -o json)\"   # or import the renewed certificate"
        ),
        "key" => format!("az keyvault key rotate --vault-name {vault} --name {name}"),
        _ => format!(
            "az keyvault secret set --vault-name {vault} --name {name} --file <new value> --expires <new date>"
        ),
    });
    check(
        "expiry",
        Verdict::Warn,
        concerned
            .iter()
            .map(|v| v.describe())
            .collect::<Vec<_>>()
            .join("; "),
        fix,
    )
}

pub(super) fn admission(facts: &Facts, failure: Option<&Failure<'_>>) -> Check {
    match failure {
        Some(failure) if failure.reason == Some(Reason::ValidatingAdmissionPolicyCheckFailed) => check(
            "admission",
            Verdict::Fail,
            format!(
                "an admission policy denied the write: {}",
                first_line(failure.message)
            ),
            Some(format!(
                "kubectl get validatingadmissionpolicies | grep secrets-store-sync-controller   # README \"Troubleshooting by status reason\"; SecretSync {} in {}",
                facts.name, facts.namespace
            )),
        ),
        _ => check("admission", Verdict::Ok, "no admission denial recorded", None),
    }
}

/// Whether its shape (docs/SHAPING.md) rendered: a `PropertyError` or `TemplateError` names the field, template,
/// line and name; `kubectl sse render` tries a fix against sample values before it is applied.
pub(super) fn shape(facts: &Facts, sync: &SecretSync, failure: Option<&Failure<'_>>) -> Check {
    let so = &sync.spec.secret_object;
    let properties = so.data.iter().filter(|d| d.property.is_some()).count();
    let templates = so.template.as_ref().map_or(0, |t| t.data.len());
    if properties == 0 && so.data_from.is_empty() && templates == 0 {
        return check(
            "shape",
            Verdict::Skip,
            "not shaped: each key is one object as fetched",
            None,
        );
    }
    match failure {
        Some(failure)
            if matches!(
                failure.reason,
                Some(Reason::PropertyError | Reason::TemplateError)
            ) =>
        {
            check(
                "shape",
                Verdict::Fail,
                first_line(failure.message),
                Some(format!(
                    "kubectl sse render {} -n {} --values <sample values>.yaml   # try the fixed shape without a vault (docs/SHAPING.md)",
                    facts.name, facts.namespace
                )),
            )
        }
        _ => check(
            "shape",
            Verdict::Ok,
            format!(
                "shaped: {properties} propert{}, {} dataFrom item(s), {templates} template key(s)",
                if properties == 1 { "y" } else { "ies" },
                so.data_from.len()
            ),
            None,
        ),
    }
}

pub(super) fn events(facts: &Facts) -> Check {
    match &facts.events {
        Lookup::Found(events) => {
            let warnings: Vec<&EventFacts> = events.iter().filter(|e| e.type_ == "Warning").collect();
            match warnings.last() {
                None => check(
                    "events",
                    Verdict::Ok,
                    format!("{} Event(s), no warning", events.len()),
                    None,
                ),
                Some(last) => check(
                    "events",
                    Verdict::Warn,
                    format!(
                        "{} warning(s); latest: {} ({}x): {}",
                        warnings.len(),
                        last.reason,
                        last.count,
                        first_line(&last.message)
                    ),
                    Some(format!(
                        "kubectl get events -n {} --field-selector involvedObject.name={}",
                        facts.namespace, facts.name
                    )),
                ),
            }
        }
        Lookup::Missing => check("events", Verdict::Ok, "no Events", None),
        Lookup::Unreadable(why) => check(
            "events",
            Verdict::Skip,
            format!("cannot list Events: {why}"),
            None,
        ),
    }
}
