//! The provider: its container, and whether the manager could reach it.

use sse_api::Reason;

use super::{Check, Verdict, check, first_line};
use crate::doctor::PROVIDER_CONTAINER;
use crate::doctor::facts::{Facts, Lookup};

/// The last failure's message when it says the manager could not use the provider itself (no socket, no
/// connection, mTLS refused), as opposed to an error the provider answered with.
pub(super) fn provider_unreachable(failure: Option<(Option<Reason>, &str)>) -> Option<&str> {
    let (_, message) = failure?;
    // The provider's own answers carry "failed to mount objects"; anything else on the way is transport.
    let answered = message.contains("failed to mount objects");
    let transport = message.contains("provider not found")
        || message.contains("failed to connect")
        || message.contains("handshake")
        || message.contains("invalid peer certificate")
        || message.contains("certificate verify")
        || (message.contains("code = Unavailable") && !answered);
    (transport && !answered).then_some(message)
}

pub(super) fn provider(facts: &Facts, failure: Option<(Option<Reason>, &str)>) -> Check {
    let unreachable = provider_unreachable(failure);
    let container = match &facts.containers {
        Lookup::Found(containers) => containers.iter().find(|c| c.name == PROVIDER_CONTAINER),
        _ => None,
    };
    let logs = format!(
        "kubectl -n <install namespace> logs deploy/secrets-store-sync-controller-manager -c {PROVIDER_CONTAINER}"
    );
    match (unreachable, container) {
        (Some(message), _) => check(
            "provider",
            Verdict::Fail,
            format!("the manager could not use the provider: {}", first_line(message)),
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
