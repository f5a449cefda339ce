//! What a sync achieved, as the status, the metrics and reload read it: plain data, shared by the rooms
//! that produce it ([`crate::sync`], [`crate::secret`], [`crate::error`]) and those that report it
//! ([`crate::status`], [`crate::reconcile`]).

use sse_api::Reason;

/// What a write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// The Secret already held exactly this content: no change.
    Unchanged,
    /// The Secret did not exist and was created.
    Created,
    /// The Secret was ours and a value of one of our keys changed: what an application reads is new.
    Updated,
    /// The Secret was ours and only its labels or annotations were brought up to date: every value of
    /// ours was already there (compared by the API server, never read).
    MetadataOnly,
    /// The Secret was not ours but marked adoptable: it was taken over and brought to this content.
    Adopted,
}

/// What a sync achieved.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Every item synced.
    Synced {
        /// What the Secret write did.
        written: Written,
        /// Hash of the synced state.
        hash: String,
    },
    /// Some items failed; the healthy ones were written (docs/API.md#partial-sync).
    Partial {
        /// What the Secret write did.
        written: Written,
        /// JSON summary per item.
        summary: String,
    },
    /// Nothing was written.
    Failed {
        /// Reason.
        reason: Reason,
        /// Message (the real cause).
        message: String,
    },
}
