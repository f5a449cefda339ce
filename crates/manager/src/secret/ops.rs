//! The test-only JSON patches that tell the manager, without reading a Secret, whether it is absent, ours and
//! up to date, ours and drifted, or foreign (the table in the parent module's doc).

use std::collections::BTreeMap;

use base64::Engine;
use json_patch::{PatchOperation, TestOperation};
use k8s_openapi::api::core::v1::Secret;
use sse_api::consts;

use super::Target;
use crate::cluster::ClusterError;

/// RFC 6901 escaping of one path segment.
/// RFC 6901 pointer of these path segments, each escaped.
pub fn pointer(segments: &[&str]) -> String {
    segments
        .iter()
        .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// A `test` operation at `path` (built by [`pointer`]).
pub fn test(path: String, value: serde_json::Value) -> PatchOperation {
    // A pointer built by `pointer` always parses.
    PatchOperation::Test(TestOperation {
        path: path.parse().unwrap_or_default(),
        value,
    })
}

/// Tests that hold only on a Secret `target`'s owner owns: our label, the owner's marks, and exactly its owner
/// reference.
pub fn ownership_tests(target: &Target<'_>) -> Vec<PatchOperation> {
    let mut tests = vec![test(
        pointer(&["metadata", "labels", consts::CONTROLLER_LABEL_KEY]),
        serde_json::Value::String(consts::CONTROLLER_LABEL_VALUE.into()),
    )];
    tests.extend(target.marks.iter().map(|(key, value)| {
        test(
            pointer(&["metadata", "labels", key]),
            serde_json::Value::String(value.clone()),
        )
    }));
    tests.push(test(
        pointer(&["metadata", "ownerReferences"]),
        serde_json::to_value(vec![target.owner.clone()]).unwrap_or_default(),
    ));
    tests
}

/// Tests that hold when the Secret holds every value of `secret`'s keys (other managers' extra keys
/// allowed).
pub fn data_tests(secret: &Secret) -> Vec<PatchOperation> {
    let b64 = |v: &[u8]| base64::engine::general_purpose::STANDARD.encode(v);
    secret
        .data
        .iter()
        .flatten()
        .map(|(key, value)| test(pointer(&["data", key]), serde_json::Value::String(b64(&value.0))))
        .collect()
}

/// Tests that hold when the Secret carries everything we would apply (other managers' extra keys allowed).
pub fn content_tests(secret: &Secret) -> Vec<PatchOperation> {
    let mut ops = vec![test(
        pointer(&["type"]),
        serde_json::Value::String(secret.type_.clone().unwrap_or_default()),
    )];
    ops.extend(data_tests(secret));
    let meta = |field: &str, map: &Option<BTreeMap<String, String>>| {
        map.iter()
            .flatten()
            .map(|(k, v)| {
                test(
                    pointer(&["metadata", field, k]),
                    serde_json::Value::String(v.clone()),
                )
            })
            .collect::<Vec<_>>()
    };
    ops.extend(meta("labels", &secret.metadata.labels));
    // The API server encodes the stored object with Go's encoding/json, which escapes `&`, `<`, `>`, U+2028
    // and U+2029, and the patch library compares string bytes: such an annotation value could never test
    // equal, so it is left out of the check (the apply still sets it; only its drift goes unnoticed).
    let comparable = secret.metadata.annotations.as_ref().map(|a| {
        a.iter()
            .filter(|(_, v)| !v.contains(['&', '<', '>', '\u{2028}', '\u{2029}']))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<BTreeMap<_, _>>()
    });
    ops.extend(meta("annotations", &comparable));
    ops
}

/// What a test-only patch found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// Every test held; the Secret's resourceVersion (unchanged by the check).
    Holds(String),
    /// A test did not hold.
    Fails,
    /// The Secret does not exist.
    Absent,
}

impl Check {
    /// Read kube-apiserver's answer to a patch made only of `test` operations.
    pub fn from_answer(answer: Result<String, ClusterError>) -> Result<Self, ClusterError> {
        match answer {
            Ok(resource_version) => Ok(Self::Holds(resource_version)),
            Err(e) if e.is_not_found() => Ok(Self::Absent),
            Err(e) if e.is_patch_not_applicable() => Ok(Self::Fails),
            Err(e) => Err(e),
        }
    }
}
