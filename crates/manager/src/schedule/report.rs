//! The `/debug/secretsyncs` report: when each SecretSync was last checked, with what result, and when next.

use std::time::SystemTime;

use sse_api::Reason;

use super::{Schedule, lock};
use crate::clock::to_time;

/// One line of the schedule report: when a SecretSync was last checked, with what result, and when next.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleEntry {
    /// `namespace/name`.
    pub secret_sync: String,
    /// Last check (RFC 3339), if this process has seen one.
    pub last_checked_time: Option<String>,
    /// Reason of the last check.
    pub last_reason: Option<&'static str>,
    /// Next scheduled check (RFC 3339).
    pub next_check_time: String,
}

impl Schedule {
    /// When each known SecretSync was last checked, with what result, and when it will be checked next:
    /// the answer to "is it still syncing?" that the status cannot give without writing on every check.
    pub fn report(&self) -> Vec<ScheduleEntry> {
        let rfc3339 = |t: SystemTime| to_time(t).0.to_string();
        let mut entries: Vec<ScheduleEntry> = lock(&self.memos)
            .iter()
            .map(|(key, m)| ScheduleEntry {
                secret_sync: key.clone(),
                last_checked_time: m.last_check.map(rfc3339),
                last_reason: m.last_reason.map(Reason::as_str),
                next_check_time: rfc3339(m.next_check),
            })
            .collect();
        entries.sort_by(|a, b| a.secret_sync.cmp(&b.secret_sync));
        entries
    }
}
