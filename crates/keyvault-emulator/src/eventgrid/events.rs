//! Key Vault's events as its system topic delivers them to a namespace topic: CloudEvents 1.0 with the
//! PascalCase `data` of `docs/EVENTGRID.md#key-vault-events`.

use std::time::SystemTime;

use serde_json::{Value, json};

use crate::ObjectKind;
use crate::store::NewVersion;
use crate::timefmt::rfc3339;

/// The subscription and resource group of every emulated vault's resource id.
const SUBSCRIPTION_ID: &str = "00000000-0000-0000-0000-000000000000";
const RESOURCE_GROUP: &str = "emulator";

/// NearExpiry fires this long before `exp` (Azure docs: 30 days).
pub(super) const NEAR_EXPIRY_SECS: i64 = 30 * 24 * 3600;

/// Which of an object's events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Happened {
    NewVersionCreated,
    NearExpiry,
    Expired,
}

impl Happened {
    fn suffix(self) -> &'static str {
        match self {
            Happened::NewVersionCreated => "NewVersionCreated",
            Happened::NearExpiry => "NearExpiry",
            Happened::Expired => "Expired",
        }
    }
}

/// The vault's Azure resource id, the CloudEvent `source`.
pub(super) fn vault_resource_id(vault: &str) -> String {
    format!(
        "/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.KeyVault/vaults/{vault}"
    )
}

/// The CloudEvent for `what` happening to `record` of `vault`, whose data plane is at `vault_base`
/// (`https://{vault}.vault.localhost:PORT`).
pub(super) fn key_vault_event(
    vault: &str,
    vault_base: &str,
    record: &NewVersion,
    what: Happened,
    now: SystemTime,
) -> Value {
    let (object_type, collection) = match record.kind {
        ObjectKind::Secret => ("Secret", "secrets"),
        ObjectKind::Key => ("Key", "keys"),
        ObjectKind::Certificate => ("Certificate", "certificates"),
    };
    json!({
        "specversion": "1.0",
        "type": format!("Microsoft.KeyVault.{object_type}{}", what.suffix()),
        "source": vault_resource_id(vault),
        "subject": record.name,
        "id": uuid::Uuid::new_v4().to_string(),
        "time": rfc3339(now),
        "data": {
            "Id": format!("{vault_base}/{collection}/{}/{}", record.name, record.version),
            "VaultName": vault,
            "ObjectType": object_type,
            "ObjectName": record.name,
            "Version": record.version,
            "NBF": record.nbf,
            "EXP": record.exp,
        },
    })
}

/// The expiry events due for a version with `exp` at Unix time `now`, in the order they happened.
pub(super) fn expiry_due(exp: Option<i64>, now: i64) -> Vec<Happened> {
    let Some(exp) = exp else {
        return Vec::new();
    };
    let mut due = Vec::new();
    if now >= exp.saturating_sub(NEAR_EXPIRY_SECS) {
        due.push(Happened::NearExpiry);
    }
    if now >= exp {
        due.push(Happened::Expired);
    }
    due
}
