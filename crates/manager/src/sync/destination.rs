//! Where a sync's values go ([`Destination`]): the SecretSync's own Secret ([`OwnSecret`]), or the Secrets of a
//! ClusterSecretSync in every namespace it selects ([`crate::fanout`]).

use super::{Context, SecretSync, SyncError, Written, mapping, secret};

/// Where a sync's values go: the SecretSync's own Secret ([`OwnSecret`]), or one Secret in each namespace a
/// ClusterSecretSync selects ([`crate::fanout`]). The stages before are the same for both: one fetch.
#[async_trait::async_trait]
pub trait Destination: Send + Sync {
    /// Whether what the last full sync wrote (`secret_version`, as [`Destination::write`] answered it) is
    /// still there, untouched: a check whose vault fingerprint did not move then ends without a Mount.
    async fn intact(&self, ctx: &Context, secret_version: &str) -> Result<bool, SyncError>;

    /// Bring the Secret(s) to `data` (and the vault's tags); answers what the write did and the version a
    /// later [`Destination::intact`] checks. `expect_change` skips the content check when the values are
    /// known to differ.
    async fn write(
        &self,
        ctx: &Context,
        data: &mapping::SecretData,
        tagged: Option<&crate::tags::Tagged>,
        expect_change: bool,
    ) -> Result<(Written, String), SyncError>;

    /// Partial sync (docs/API.md#partial-sync): update only `data`'s keys.
    async fn write_partial(
        &self,
        ctx: &Context,
        data: &mapping::SecretData,
        tagged: Option<&crate::tags::Tagged>,
    ) -> Result<Written, SyncError>;
}

/// The SecretSync's own Secret: same name, same namespace.
pub struct OwnSecret<'a>(pub &'a SecretSync);

impl OwnSecret<'_> {
    fn desired(
        &self,
        data: &mapping::SecretData,
        tagged: Option<&crate::tags::Tagged>,
    ) -> k8s_openapi::api::core::v1::Secret {
        secret::desired_for(
            &secret::Target::of(self.0),
            &self.0.spec.secret_object,
            data,
            tagged,
        )
    }
}

#[async_trait::async_trait]
impl Destination for OwnSecret<'_> {
    async fn intact(&self, ctx: &Context, secret_version: &str) -> Result<bool, SyncError> {
        secret::unchanged_since(&*ctx.cluster, &secret::Target::of(self.0), secret_version).await
    }

    async fn write(
        &self,
        ctx: &Context,
        data: &mapping::SecretData,
        tagged: Option<&crate::tags::Tagged>,
        expect_change: bool,
    ) -> Result<(Written, String), SyncError> {
        let desired = self.desired(data, tagged);
        secret::write(
            &*ctx.cluster,
            &secret::Target::of(self.0),
            &desired,
            expect_change,
        )
        .await
    }

    async fn write_partial(
        &self,
        ctx: &Context,
        data: &mapping::SecretData,
        tagged: Option<&crate::tags::Tagged>,
    ) -> Result<Written, SyncError> {
        let desired = self.desired(data, tagged);
        let (written, _) =
            secret::write_partial(&*ctx.cluster, &secret::Target::of(self.0), &desired).await?;
        Ok(written)
    }
}
