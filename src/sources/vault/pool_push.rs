//! The pool's writes for PushSecrets (KV v2 only): one value pushed with
//! check-and-set and an ownership record in the secret's custom metadata,
//! and its removal (see `super::super::ownership` for the rules). A child
//! of `pool`, so it shares the pool's per-store slots and pauses.

use std::collections::{BTreeSet, HashMap};

use vaultrs::client::VaultClient;
use vaultrs::error::ClientError;

use super::super::bounded;
use super::super::ownership;
use super::{PushRequest, ResolvedStore, VaultError, VaultPool, from_client};
use crate::api::secret_store::KvVersion;
use kube::Client;

impl VaultPool {
    /// A KV v2 secret's metadata, `None` when there is no secret at `path`.
    async fn kv2_metadata(
        &self,
        store: &ResolvedStore,
        client: &VaultClient,
        path: &str,
    ) -> Result<Option<vaultrs::api::kv2::responses::ReadSecretMetadataResponse>, VaultError> {
        let what = format!("{}: read metadata of {path}", store.display);
        self.request(store, async {
            match bounded::kv2::read_metadata(client, &store.provider.path, path).await {
                Ok(m) => Ok(Some(m)),
                Err(ClientError::APIError { code: 404, .. }) => Ok(None),
                Err(e) => Err(from_client(e, &store.display, &what)),
            }
        })
        .await
    }

    /// Writes one pushed value to KV v2 at `path`: as `property` of the
    /// secret there (its other properties kept), or, without a property,
    /// as the properties of `value` (a JSON object), replacing those this
    /// PushSecret wrote before. Only a path that is free or that `owner`
    /// owns is written (see [`ownership::claim`]); the owner and the
    /// properties it wrote are recorded in the secret's custom metadata
    /// before the data is written, so that it covers what is there even when
    /// the data write fails; for a new secret, after (the check-and-set on
    /// version 0 decides which of two writers creates it; until it is
    /// marked, no PushSecret writes it again). The write is a
    /// check-and-set on the version read, and is skipped when nothing would
    /// change. Returns the properties `owner` owns there now, or `None`
    /// when it wrote nothing and owns nothing (`IfNotExists` on a secret it
    /// does not own yet).
    pub async fn push(
        &self,
        kube: &Client,
        store: &ResolvedStore,
        req: &PushRequest<'_>,
    ) -> Result<Option<BTreeSet<String>>, VaultError> {
        let path = req.path;
        if store.provider.version.unwrap_or_default() != KvVersion::V2 {
            return Err(VaultError::Misconfigured(format!("{}: PushSecret needs a KV version 2 mount", store.display)));
        }
        let client = self.client(kube, store).await?;
        let mount = store.provider.path.clone();
        let meta = self.kv2_metadata(store, &client, path).await?;
        let version = meta.as_ref().map_or(0, |m| m.current_version);
        let live = meta.as_ref().is_some_and(|m| {
            m.versions.get(&m.current_version.to_string()).is_some_and(|v| v.deletion_time.is_empty() && !v.destroyed)
        });
        let custom = meta.as_ref().map(|m| m.custom_metadata.clone().unwrap_or_default());
        let ctx = ownership::ClaimContext {
            wrote_before: req.wrote_before,
            namespaced_store: store.own_namespace.as_deref() == Some(req.owner.namespace.as_str()),
        };
        let claim = ownership::claim(custom.as_ref(), req.owner, ctx)
            .map_err(|why| VaultError::Denied(format!("{}: {path} {why}", store.display)))?;
        let owned = match &claim {
            ownership::Claim::Mine(p) => p.clone(),
            ownership::Claim::New | ownership::Claim::TakeOver => BTreeSet::new(),
        };
        if req.if_not_exists && live {
            return Ok(matches!(claim, ownership::Claim::Mine(_)).then_some(owned));
        }
        let mut data: serde_json::Map<String, serde_json::Value> = if live {
            let what = format!("{}: read {path}", store.display);
            self.request(store, async {
                bounded::kv2::read(client.as_ref(), &mount, path)
                    .await
                    .map_err(|e| from_client(e, &store.display, &what))
            })
            .await?
        } else {
            serde_json::Map::new()
        };
        let before = data.clone();
        let text = std::str::from_utf8(req.value)
            .map_err(|_| VaultError::Misconfigured(format!("{}: the value for {path} is not text", store.display)))?;
        let written = ownership::merge_push(&mut data, &owned, req.property, text).ok_or_else(|| {
            VaultError::Misconfigured(format!(
                "{}: without remoteRef.property the value for {path} must be a JSON object",
                store.display
            ))
        })?;
        let owned_now = ownership::owned_after(&owned, &written, &data);
        let old_custom = custom.clone().unwrap_or_default();
        let new_custom = ownership::with_record(&old_custom, req.owner, &owned_now)
            .map_err(|why| VaultError::Misconfigured(format!("{}: {path}: {why}", store.display)))?;
        // An existing secret: the record first, so that it covers the data
        // even when the data write fails.
        if meta.is_some() && new_custom != old_custom {
            self.set_custom_metadata(store, &client, path, new_custom.clone(), "record the owner of").await?;
        }
        if !(live && data == before) {
            self.write_cas(store, &client, path, &data, version, &format!("{}: write {path}", store.display)).await?;
        }
        if meta.is_none() {
            self.set_custom_metadata(store, &client, path, new_custom, "mark").await?;
        }
        Ok(Some(owned_now))
    }

    /// Writes `data` at `path` with check-and-set on `version` (the version
    /// read before deciding what to write; 0 for a new secret).
    async fn write_cas(
        &self,
        store: &ResolvedStore,
        client: &VaultClient,
        path: &str,
        data: &serde_json::Map<String, serde_json::Value>,
        version: u64,
        what: &str,
    ) -> Result<(), VaultError> {
        let cas = u32::try_from(version).unwrap_or(u32::MAX);
        self.request(store, async {
            bounded::kv2::set_with_options(
                client,
                &store.provider.path,
                path,
                data,
                vaultrs::api::kv2::requests::SetSecretRequestOptions { cas },
            )
            .await
            .map_err(|e| match e {
                // Most likely the check-and-set: someone wrote the path
                // since it was read (the next reconcile reads it again).
                // Not `Unavailable`: that would pause the whole store.
                ClientError::APIError { code: 400, .. } => VaultError::Denied(format!(
                    "{what}: refused (400): the secret changed since it was read (check-and-set), or the store does not accept the data"
                )),
                e => from_client(e, &store.display, what),
            })
        })
        .await
        .map(drop)
    }

    /// Replaces the custom metadata of the KV v2 secret at `path` (its
    /// other metadata settings are left as they are).
    async fn set_custom_metadata(
        &self,
        store: &ResolvedStore,
        client: &VaultClient,
        path: &str,
        custom: HashMap<String, String>,
        doing: &str,
    ) -> Result<(), VaultError> {
        let what = format!("{}: {doing} {path}", store.display);
        self.request(store, async {
            let mut opts = vaultrs::api::kv2::requests::SetSecretMetadataRequest::builder();
            opts.custom_metadata(custom);
            bounded::kv2::set_metadata(client, &store.provider.path, path, Some(&mut opts))
                .await
                .map_err(|e| from_client(e, &store.display, &what))
        })
        .await
    }

    /// Removes what `owner` pushed to `path`, as the secret's own record
    /// says (see [`ownership::plan_unpush`]): nothing at a path it does not
    /// own; the properties it wrote, the others kept; the whole secret
    /// (every version) only when nothing but its properties is left.
    /// Returns what was done.
    pub async fn unpush(
        &self,
        kube: &Client,
        store: &ResolvedStore,
        path: &str,
        owner: &ownership::PushOwner,
    ) -> Result<ownership::Unpush, VaultError> {
        let client = self.client(kube, store).await?;
        let mount = store.provider.path.clone();
        let Some(meta) = self.kv2_metadata(store, &client, path).await? else {
            return Ok(ownership::Unpush::NotMine);
        };
        let custom = meta.custom_metadata.clone().unwrap_or_default();
        let live = meta
            .versions
            .get(&meta.current_version.to_string())
            .is_some_and(|v| v.deletion_time.is_empty() && !v.destroyed);
        let what = format!("{}: delete {path}", store.display);
        // Read only at a path this PushSecret owns.
        if ownership::plan_unpush(&custom, owner, &BTreeSet::new()) == ownership::Unpush::NotMine {
            return Ok(ownership::Unpush::NotMine);
        }
        let mut data: serde_json::Map<String, serde_json::Value> = if live {
            self.request(store, async {
                bounded::kv2::read(client.as_ref(), &mount, path)
                    .await
                    .map_err(|e| from_client(e, &store.display, &what))
            })
            .await?
        } else {
            serde_json::Map::new()
        };
        let present: BTreeSet<String> = data.keys().cloned().collect();
        let plan = ownership::plan_unpush(&custom, owner, &present);
        match &plan {
            ownership::Unpush::NotMine => {}
            ownership::Unpush::DeleteAll => {
                self.request(store, async {
                    bounded::kv2::delete_metadata(client.as_ref(), &mount, path)
                        .await
                        .map_err(|e| from_client(e, &store.display, &what))
                })
                .await?;
            }
            ownership::Unpush::Remove(ours) => {
                data.retain(|k, _| !ours.contains(k));
                self.write_cas(store, &client, path, &data, meta.current_version, &what).await?;
                self.set_custom_metadata(store, &client, path, ownership::without_record(&custom), "release").await?;
            }
            ownership::Unpush::Release => {
                self.set_custom_metadata(store, &client, path, ownership::without_record(&custom), "release").await?;
            }
        }
        Ok(plan)
    }
}
