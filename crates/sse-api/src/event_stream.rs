//! The leader's note about the vault's event stream: the JSON value of the leader-election Lease's annotation
//! [`EVENT_STREAM_ANNOTATION`](crate::consts::EVENT_STREAM_ANNOTATION), written by the manager at each
//! renewal and read by `kubectl sse status` and `kubectl sse doctor` (docs/EVENTS.md#refresh-driven-by-events).
//! Every field but `state` may be missing, so a note from another release still reads.

use serde::{Deserialize, Serialize};

/// The stream's states.
pub const STARTING: &str = "Starting";
/// Requests succeed.
pub const RECEIVING: &str = "Receiving";
/// Requests fail; the note says why.
pub const FAILING: &str = "Failing";

/// The leader's note about the stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamNote {
    /// [`STARTING`], [`RECEIVING`] or [`FAILING`].
    pub state: String,
    /// `host/topic/subscription`.
    #[serde(default)]
    pub source: String,
    /// Since when the state holds (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Why it fails (`Forbidden`, `NotFound`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What failed, and what to check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the last event was received (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_time: Option<String>,
    /// From that event's time to its receipt, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_seconds: Option<f64>,
    /// Events received by the leader's current term.
    #[serde(default)]
    pub received: u64,
}
