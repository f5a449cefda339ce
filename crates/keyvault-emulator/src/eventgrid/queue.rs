//! One queue subscription: its events, their locks and delivery counts (`docs/EVENTGRID.md#locks-and-redelivery`).
//!
//! Time is passed in (`now`), so the rules are testable without waiting. An event is *available* from an
//! instant on (now, or the end of a release delay), or *locked* by one receive until an instant. State moves
//! lazily: every operation first calls [`Queue::refresh`], which makes each lock that ran out available
//! again, or dead-letters the event when it already had `max_delivery_count` deliveries.
//!
//! A lock token is the standard base64 of `{seq}.{nonce}` (16 hex digits): each receive mints a new one, so
//! a token stays valid only for the lock it was minted for. A token of that shape that no longer holds a lock
//! (settled, ran out, redelivered) fails with `TokenLost`, anything else with `BadToken`.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{SubscriptionOptions, SubscriptionStats};

/// How long after the receive that created a lock it may still be renewed (Azure docs, "Renew lock").
const RENEW_WINDOW: Duration = Duration::from_secs(3600);

/// What a settlement request asks for each of its lock tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Settle {
    Acknowledge,
    /// Available again after this delay.
    Release(Duration),
    Reject,
    RenewLock,
}

/// A settlement's answer: the tokens that succeeded, and `(token, code, message)` for the others.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) succeeded: Vec<String>,
    pub(crate) failed: Vec<(String, &'static str, &'static str)>,
}

#[derive(Debug)]
enum Slot {
    Available {
        at: Instant,
    },
    Locked {
        token: String,
        until: Instant,
        since: Instant,
    },
}

#[derive(Debug)]
struct Entry {
    event: Value,
    deliveries: u32,
    slot: Slot,
}

/// One subscription's queue.
#[derive(Debug)]
pub(crate) struct Queue {
    pub(crate) options: SubscriptionOptions,
    /// By arrival order (a released event keeps its place).
    entries: BTreeMap<u64, Entry>,
    next_seq: u64,
    pub(crate) stats: SubscriptionStats,
    /// Receive requests parked on this queue right now.
    pub(crate) waiting: usize,
}

impl Queue {
    pub(crate) fn new(options: SubscriptionOptions) -> Self {
        Self {
            options,
            entries: BTreeMap::new(),
            next_seq: 0,
            stats: SubscriptionStats::default(),
            waiting: 0,
        }
    }

    /// Enqueue an event, available at once.
    pub(crate) fn push(&mut self, event: Value, now: Instant) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = Slot::Available { at: now };
        let entry = Entry {
            event,
            deliveries: 0,
            slot,
        };
        self.entries.insert(seq, entry);
        self.stats.queued += 1;
    }

    /// Make expired locks available again, or dead-letter events out of deliveries.
    pub(crate) fn refresh(&mut self, now: Instant) {
        let max = self.options.max_delivery_count;
        let mut dead = Vec::new();
        for (seq, entry) in &mut self.entries {
            if let Slot::Locked { until, .. } = entry.slot
                && until <= now
            {
                if entry.deliveries >= max {
                    dead.push(*seq);
                } else {
                    entry.slot = Slot::Available { at: until };
                }
            }
        }
        for seq in dead {
            self.entries.remove(&seq);
            self.stats.dead_lettered += 1;
        }
    }

    /// Events not yet settled: available (now or after a delay) and locked.
    pub(crate) fn pending(&self) -> usize {
        self.entries.len()
    }

    /// Lock up to `max` available events, oldest first: `{"brokerProperties", "event"}` items.
    pub(crate) fn take(&mut self, now: Instant, max: usize) -> Vec<Value> {
        let lock = self.options.lock_duration;
        let mut out = Vec::new();
        for (seq, entry) in &mut self.entries {
            if out.len() >= max {
                break;
            }
            if !matches!(entry.slot, Slot::Available { at } if at <= now) {
                continue;
            }
            entry.deliveries += 1;
            let token = mint_token(*seq);
            out.push(json!({
                "brokerProperties": {"lockToken": token, "deliveryCount": entry.deliveries},
                "event": entry.event,
            }));
            entry.slot = Slot::Locked {
                token,
                until: now + lock,
                since: now,
            };
        }
        self.stats.delivered += out.len() as u64;
        out
    }

    /// The next instant after `now` at which an event becomes available or a lock runs out.
    pub(crate) fn next_change(&self, now: Instant) -> Option<Instant> {
        let at = |e: &Entry| match e.slot {
            Slot::Available { at } => at,
            Slot::Locked { until, .. } => until,
        };
        self.entries.values().map(at).filter(|t| *t > now).min()
    }

    /// Settle each token: see the module doc for the failures.
    pub(crate) fn settle(&mut self, now: Instant, tokens: &[String], how: Settle) -> Outcome {
        let mut outcome = Outcome::default();
        for token in tokens {
            match self.settle_one(now, token, how) {
                Ok(()) => outcome.succeeded.push(token.clone()),
                Err((code, message)) => outcome.failed.push((token.clone(), code, message)),
            }
        }
        outcome
    }

    fn settle_one(
        &mut self,
        now: Instant,
        token: &str,
        how: Settle,
    ) -> Result<(), (&'static str, &'static str)> {
        let Some(seq) = token_seq(token) else {
            return Err(("BadToken", "The lock token is malformed."));
        };
        let lost = ("TokenLost", "Token has expired.");
        let Some(entry) = self.entries.get_mut(&seq) else {
            return Err(lost);
        };
        let Slot::Locked {
            token: held,
            until,
            since,
        } = &mut entry.slot
        else {
            return Err(lost);
        };
        if held != token || *until <= now {
            return Err(lost);
        }
        match how {
            Settle::Acknowledge => {
                self.entries.remove(&seq);
                self.stats.acknowledged += 1;
            }
            Settle::Reject => {
                self.entries.remove(&seq);
                self.stats.rejected += 1;
            }
            Settle::Release(delay) => {
                self.stats.released += 1;
                if entry.deliveries >= self.options.max_delivery_count {
                    self.entries.remove(&seq);
                    self.stats.dead_lettered += 1;
                } else {
                    entry.slot = Slot::Available { at: now + delay };
                }
            }
            Settle::RenewLock => {
                if now.duration_since(*since) >= RENEW_WINDOW {
                    return Err((
                        "TokenLost",
                        "The lock can be renewed only within 1 hour of the receive.",
                    ));
                }
                *until = now + self.options.lock_duration;
                self.stats.lock_renewals += 1;
            }
        }
        Ok(())
    }
}

fn mint_token(seq: u64) -> String {
    let nonce = rand::rng().next_u64();
    STANDARD.encode(format!("{seq}.{nonce:016x}"))
}

/// The sequence number inside a token of this emulator's shape.
fn token_seq(token: &str) -> Option<u64> {
    let raw = STANDARD.decode(token.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (seq, nonce) = text.split_once('.')?;
    let hex = nonce.len() == 16 && nonce.chars().all(|c| c.is_ascii_hexdigit());
    hex.then(|| seq.parse().ok()).flatten()
}
