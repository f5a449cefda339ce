//! Tier 3: the real-cluster suite (docs/TESTING.md#tier-3-real-api-server). Every scenario is an ordinary
//! test, ignored by default; `cargo xtask e2e [FILTER]` builds the binaries, sets up the cluster side and
//! runs them, e.g. `cargo xtask e2e foreign` for the scenarios whose name contains `foreign`. Each runs in a
//! namespace of its own; on failure the logs that explain it are kept (see `sse_tests::e2e`).
#![allow(clippy::unwrap_used, clippy::print_stdout)] // test code: a panic is the failure report; figures go to stdout

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use sse_tests::e2e::*;

macro_rules! scenarios {
    ($($mode:ident $name:ident;)*) => {$(
        #[test]
        #[ignore = "tier 3: needs a real API server; run `cargo xtask e2e`"]
        fn $name() {
            run(stringify!($name), Mode::$mode, |w, ns| Box::pin(scenario::$name(w, ns)));
        }
    )*};
}

scenarios! {
    Shared crds_and_rbac_installed;
    Shared walkthrough_version_history;
    Shared delete_garbage_collects;
    Shared spc_in_other_namespace;
    Shared provider_not_found;
    Shared missing_source_path;
    Shared type_not_allowed_by_policy;
    Shared service_account_token_type_denied;
    Shared bootstrap_token_type_denied;
    Shared owner_uid_is_kept_on_update;
    Shared akvsync_size_is_bounded_by_the_api_server;
    Shared akvsync_reports_a_generated_object_that_lost_its_label;
    Shared invalid_annotation_key;
    Shared invalid_label_key;
    Shared crd_validation_patterns;
    Shared crd_validation_label_value;
    Shared policies_bind_the_manager;
    Shared secret_type_is_immutable;
    Shared spc_change_resyncs;
    Shared partial_sync;
    Shared partial_sync_repairs_an_edited_key_and_completes;
    Shared quiet_poll_writes_nothing;
    Shared refresh_interval_shows_in_kubectl_get;
    Shared rotation_and_force_sync;
    Shared deleted_secret_is_recreated;
    Shared edited_owned_secret_is_restored;
    Shared foreign_secret_untouched;
    Shared missing_service_account;
    Shared token_policy_denies_other_requests;
    Shared class_created_after_its_sync_triggers_it;
    Shared force_sync_annotation_checks_now;
    Shared kubectl_sse_status_and_sync;
    Shared kubectl_sse_as_the_admin_with_its_client_certificate;
    Shared adoption_of_a_marked_secret;
    Shared expiry_dates_reach_the_status;
    Shared key_vault_tags_become_labels;
    Shared akvsync_generates_and_keeps_its_secret_syncs;
    Shared provider_killed_with_a_stale_socket_is_used_again_within_5s;
    Shared shaped_dockerconfigjson_and_json_property_rotate;
    Shared malformed_template_refused_at_admission;
    Shared template_error_reported_nothing_written;
    Shared fanout_namespace_admin_cannot_create_or_edit_a_cluster_secret_sync;
    Shared fanout_manager_refused_outside_the_selection;
    Shared fanout_tenant_cannot_edit_or_forge_a_fanout_secret;
    Shared fanout_no_cluster_secret_sync_no_other_secret_affected;
    Shared fanout_policy_agrees_with_the_selection_table;
    Exclusive offline_keeps_secret_and_recovers;
    Exclusive syncs_created_during_manager_startup_all_become_ready;
    Exclusive restart_with_healthy_syncs_calls_no_provider_storm;
    Exclusive lease_handover_on_sigterm;
    Exclusive reload_on_change_restarts_a_deployment_once;
    Exclusive sigterm_with_syncs_in_flight_exits_within_the_bound;
    Exclusive api_server_stopped_for_30s_the_manager_steps_down_and_recovers;
    Exclusive etcd_killed_and_restarted_the_manager_steps_down_and_recovers;
    Exclusive manager_killed_mid_burst_loses_nothing;
    Exclusive vault_events_refresh_within_seconds_and_the_poll_stays_the_safety_net;
    Exclusive token_policy_never_blocks_anyone_else;
    Exclusive fanout_selects_by_label_and_follows_namespaces;
    Exclusive fanout_foreign_secret_left_alone;
    Exclusive fanout_rotation_reaches_every_namespace;
    Exclusive fanout_deletion_policies;
    Exclusive fanout_manager_deletes_only_where_not_selected;
    Exclusive fanout_scale;
}
#[path = "e2e/adoption.rs"]
mod adoption;
#[path = "e2e/akvsync.rs"]
mod akvsync;
#[path = "e2e/api.rs"]
mod api;
#[path = "e2e/events.rs"]
mod events;
#[path = "e2e/fanout.rs"]
mod fanout;
#[path = "e2e/fanout_fences.rs"]
mod fanout_fences;
#[path = "e2e/fanout_leave.rs"]
mod fanout_leave;
#[path = "e2e/fanout_scale.rs"]
mod fanout_scale;
#[path = "e2e/faults.rs"]
mod faults;
#[path = "e2e/fences.rs"]
mod fences;
#[path = "e2e/lifecycle.rs"]
mod lifecycle;
#[path = "e2e/operator.rs"]
mod operator;
#[path = "e2e/reload.rs"]
mod reload;
#[path = "e2e/shaping.rs"]
mod shaping;
#[path = "e2e/sync.rs"]
mod sync;
#[path = "e2e/vault_metadata.rs"]
mod vault_metadata;

/// Every scenario, by name, for the `scenarios!` list above.
mod scenario {
    pub use super::adoption::*;
    pub use super::akvsync::*;
    pub use super::api::*;
    pub use super::events::*;
    pub use super::fanout::*;
    pub use super::fanout_fences::*;
    pub use super::fanout_leave::*;
    pub use super::fanout_scale::*;
    pub use super::faults::*;
    pub use super::fences::*;
    pub use super::lifecycle::*;
    pub use super::operator::*;
    pub use super::reload::*;
    pub use super::shaping::*;
    pub use super::sync::*;
    pub use super::vault_metadata::*;
}
