//! Request attributes for the tests of the parameters and of what a Mount answers for them.

use std::collections::HashMap;

use super::keys;

/// The walkthrough's attributes (workload identity, one secret) as JSON, with `extra` set over them (an
/// empty value removes the key).
pub(crate) fn attrs(extra: &[(&str, &str)]) -> String {
    let mut map: HashMap<&str, &str> = HashMap::from([
        (keys::POD_NAME, "sse-pod"),
        (keys::POD_NAMESPACE, "app"),
        ("keyvaultName", "contoso-kv"),
        ("tenantID", "tenant"),
        ("clientID", "client"),
        (
            keys::SA_TOKENS,
            r#"{"api://AzureADTokenExchange":{"token":"jwt","expirationTimestamp":"2026-01-01T00:00:00Z"}}"#,
        ),
        (
            "objects",
            "array:\n  - |\n    objectName: s1\n    objectType: secret\n",
        ),
    ]);
    for (k, v) in extra {
        if v.is_empty() {
            map.remove(k);
        } else {
            map.insert(k, v);
        }
    }
    serde_json::to_string(&map).unwrap()
}
