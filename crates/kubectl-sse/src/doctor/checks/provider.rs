//! The provider: its container, and whether the manager could reach it.

use super::{Check, Verdict, check, first_line};
use crate::doctor::PROVIDER_CONTAINER;
use crate::doctor::facts::{Facts, Lookup};
use crate::doctor::failure::Failure;

pub(super) fn provider(facts: &Facts, failure: Option<&Failure<'_>>) -> Check {
    let unreachable = failure.filter(|f| f.provider_unreachable());
    let container = match &facts.containers {
        Lookup::Found(containers) => containers.iter().find(|c| c.name == PROVIDER_CONTAINER),
        _ => None,
    };
    let logs = format!(
        "kubectl -n <install namespace> logs deploy/secrets-store-sync-controller-manager -c {PROVIDER_CONTAINER}"
    );
    match (unreachable, container) {
        (Some(failure), _) => check(
            "provider",
            Verdict::Fail,
            format!(
                "the manager could not use the provider: {}",
                first_line(failure.message)
            ),
            Some(logs),
        ),
        (None, Some(c)) if !c.ready => check(
            "provider",
            Verdict::Fail,
            format!(
                "container {} of pod {} is not ready ({} restarts), image {}",
                c.name, c.pod, c.restarts, c.image
            ),
            Some(logs),
        ),
        (None, Some(c)) => check(
            "provider",
            Verdict::Ok,
            format!(
                "{} ready in pod {}, image {} ({} restarts)",
                c.name, c.pod, c.image, c.restarts
            ),
            None,
        ),
        (None, None) => check(
            "provider",
            Verdict::Skip,
            match &facts.containers {
                Lookup::Unreadable(why) => format!("cannot read the SSE-rs pod: {why}"),
                _ => "no SSE-rs pod found (--install-namespace)".into(),
            },
            None,
        ),
    }
}
