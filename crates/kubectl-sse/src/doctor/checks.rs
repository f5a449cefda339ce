//! The checks: pure functions of the [`Facts`], one file per subject, run in the order a person would go
//! through them ([`diagnose`]).

mod class;
mod identity;
mod keyvault;
mod provider;
mod secret;
mod status;
mod vault_events;

use serde::Serialize;
use sse_api::Reason;
use sse_api::conditions::{self, READY};

use super::facts::{Facts, Lookup};
use super::failure::Failure;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Fine.
    Ok,
    /// Not broken, but worth acting on.
    Warn,
    /// Broken: this is why the Secret is stale or missing.
    Fail,
    /// Not checked (not readable with your rights, or not applicable).
    Skip,
    /// Neither good nor bad: how things are set up (e.g. the vault's events are off).
    Info,
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked.
    pub check: &'static str,
    /// How it came out.
    pub verdict: Verdict,
    /// What was found, in one line.
    pub summary: String,
    /// The command (or step) that fixes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn check(name: &'static str, verdict: Verdict, summary: impl Into<String>, fix: Option<String>) -> Check {
    Check {
        check: name,
        verdict,
        summary: summary.into(),
        fix,
    }
}

/// Every check, in the order a person would go through them.
pub fn diagnose(facts: &Facts) -> Vec<Check> {
    let (ns, name) = (&facts.namespace, &facts.name);
    let sync = match &facts.sync {
        Lookup::Found(sync) => sync,
        Lookup::Missing => {
            return vec![check(
                "secretsync",
                Verdict::Fail,
                format!("no SecretSync {name} in namespace {ns}"),
                Some(format!("kubectl get secretsyncs -n {ns}")),
            )];
        }
        Lookup::Unreadable(why) => {
            return vec![check(
                "secretsync",
                Verdict::Fail,
                format!("cannot read SecretSync {name}: {why}"),
                Some(format!("kubectl auth can-i get secretsyncs -n {ns}")),
            )];
        }
    };
    let ready = sync
        .status
        .as_ref()
        .and_then(|s| conditions::find_condition(&s.conditions, READY));
    let failure = ready
        .filter(|c| c.status != conditions::STATUS_TRUE)
        .map(|c| Failure::new(c.reason.parse::<Reason>().ok(), &c.message));
    let failure = failure.as_ref();
    let class = class::inspect(facts, sync);
    vec![
        status::secretsync(sync, ready),
        class.check.clone(),
        identity::service_account(facts, sync),
        identity::federation(facts, sync, &class, failure),
        identity::audience(facts, &class),
        provider::provider(facts, failure),
        keyvault::keyvault(facts, sync, &class, failure),
        status::expiry(sync, &class),
        secret::secret(facts, sync),
        status::shape(facts, sync, failure),
        status::admission(facts, failure),
        status::events(facts),
        vault_events::vault_events(facts),
    ]
}

/// A message's first line, at most 300 characters.
pub(crate) fn first_line(message: &str) -> String {
    const MAX: usize = 300;
    let line = message.lines().next().unwrap_or_default();
    if line.chars().count() > MAX {
        format!("{}…", line.chars().take(MAX).collect::<String>())
    } else {
        line.to_string()
    }
}
