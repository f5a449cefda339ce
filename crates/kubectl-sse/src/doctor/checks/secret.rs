//! The same-named Secret: ours, absent, or someone else's (who, never what it holds).

use sse_api::SecretSync;
use sse_api::conditions::{self, READY};
use sse_api::consts::{ADOPTABLE_ANNOTATION, CONTROLLER_LABEL_KEY, CONTROLLER_LABEL_VALUE};

use super::{Check, Verdict, check};
use crate::doctor::facts::{Facts, Lookup};

pub(super) fn secret(facts: &Facts, sync: &SecretSync) -> Check {
    let (ns, name) = (&facts.namespace, &facts.name);
    match &facts.secret {
        Lookup::Found(meta) => {
            let owner = sync.secret_owner();
            let labelled = meta
                .labels
                .as_ref()
                .and_then(|l| l.get(CONTROLLER_LABEL_KEY))
                .is_some_and(|v| v == CONTROLLER_LABEL_VALUE);
            let owners = meta.owner_references.clone().unwrap_or_default();
            if labelled && owners.iter().any(|o| o.uid == owner.uid) {
                return check("secret", Verdict::Ok, format!("Secret {name} is SSE-rs's"), None);
            }
            let who = if owners.is_empty() {
                let managers: Vec<String> = meta
                    .managed_fields
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|m| m.manager)
                    .collect();
                if managers.is_empty() {
                    "no owner".to_string()
                } else {
                    format!("no owner, written by {}", managers.join(", "))
                }
            } else {
                format!(
                    "owned by {}",
                    owners
                        .iter()
                        .map(|o| format!("{}/{}", o.kind, o.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            let marked = meta
                .annotations
                .as_ref()
                .and_then(|a| a.get(ADOPTABLE_ANNOTATION))
                .is_some_and(|v| v == "true");
            check(
                "secret",
                Verdict::Fail,
                format!(
                    "Secret {name} exists and is not SSE-rs's ({who}){}: it is left untouched",
                    if marked { "; it is marked adoptable" } else { "" }
                ),
                Some(if marked {
                    format!("kubectl sse adopt {name} -n {ns}")
                } else {
                    format!(
                        "kubectl annotate secret {name} -n {ns} {ADOPTABLE_ANNOTATION}=true && kubectl sse adopt {name} -n {ns}   # only if SSE-rs should take it over; else rename the SecretSync"
                    )
                }),
            )
        }
        Lookup::Missing => {
            let ready = sync
                .status
                .as_ref()
                .is_some_and(|s| conditions::is_condition_true(&s.conditions, READY));
            check(
                "secret",
                if ready { Verdict::Warn } else { Verdict::Skip },
                if ready {
                    format!(
                        "Secret {name} is missing though the last check was Ready: it is recreated at the next check"
                    )
                } else {
                    format!("Secret {name} does not exist yet")
                },
                ready.then(|| format!("kubectl sse sync {name} -n {ns}")),
            )
        }
        Lookup::Unreadable(why) => check(
            "secret",
            Verdict::Skip,
            format!("cannot read Secret {name}'s metadata: {why}"),
            None,
        ),
    }
}
