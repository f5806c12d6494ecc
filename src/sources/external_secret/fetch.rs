//! What an ExternalSecret reads, in one function ([`fetch`]): its `data`
//! items, its `dataFrom` entries (`extract`, `find`, `sourceRef.generatorRef`)
//! with their key conversion or rewrite rules. Reads go through the pool,
//! so a path is read once per read window however many objects and keys
//! name it.

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use zeroize::Zeroizing;

use super::error::{EsError, GeneratorError};
use super::keys::{bounded_regex, convert_keys, decode, property, rewrite_in};
use super::templates::engine::Work;
use crate::api::external_secret::{ExternalSecret, GeneratorRef};
use crate::sources::vault::{ResolvedStore, VaultError, VaultSecret};
use crate::sources::{SecretData, SourceContext};

/// A whole secret as one value: its properties as a JSON object.
fn as_json(secret: &VaultSecret) -> Zeroizing<Vec<u8>> {
    let map: serde_json::Map<String, serde_json::Value> =
        secret.0.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.to_string()))).collect();
    Zeroizing::new(serde_json::to_vec(&map).unwrap_or_default())
}

/// Reads every value the ExternalSecret names (each path once per read
/// window, `max_age`; `epoch` is the generators' refresh epoch); rewrite
/// transforms are charged to `work`, the object's template budget.
pub async fn fetch(
    ctx: &SourceContext,
    es: &ExternalSecret,
    store: Option<&ResolvedStore>,
    max_age: Duration,
    epoch: u64,
    work: &Arc<Work>,
) -> Result<SecretData, EsError> {
    // `data[]` is read first (its errors come first, as before) but applied
    // last: ESO reads `dataFrom`, then `data[]`, so an item wins over a
    // `dataFrom` key of the same name.
    let mut items = SecretData::default();
    let no_store = || VaultError::Misconfigured("spec.secretStoreRef names no store".into());
    for d in &es.spec.data {
        let r = &d.remote_ref;
        let store = store.ok_or_else(no_store)?;
        let secret =
            ctx.vault.read(&ctx.client, store, &r.key, r.version.as_deref(), r.fetch_metadata(), max_age).await?;
        let value: Zeroizing<Vec<u8>> = match &r.property {
            Some(p) => property(&secret, p).ok_or_else(|| {
                VaultError::PropertyNotFound(format!("{}: {} has no property {p:?}", store.display, r.key))
            })?,
            None => as_json(&secret),
        };
        items.0.insert(d.secret_key.clone(), decode(value, r.decoding_strategy, &d.secret_key)?);
    }
    let mut data = SecretData::default();
    for (i, df) in es.spec.data_from.iter().enumerate() {
        let mut entry = SecretData::default();
        if let Some(r) = &df.extract {
            let store = store.ok_or_else(no_store)?;
            let secret =
                ctx.vault.read(&ctx.client, store, &r.key, r.version.as_deref(), r.fetch_metadata(), max_age).await?;
            for (k, v) in &secret.0 {
                let value = decode(Zeroizing::new(v.as_bytes().to_vec()), r.decoding_strategy, k)?;
                entry.0.insert(k.clone(), value);
            }
        }
        if let Some(f) = &df.find {
            let store = store.ok_or_else(no_store)?;
            let name = match &f.name {
                Some(n) => Some(bounded_regex(&n.regexp, &format!("spec.dataFrom[{i}].find.name.regexp"))?),
                None => None,
            };
            let found = ctx.vault.find(&ctx.client, store, f.path.as_deref().unwrap_or(""), !f.tags.is_empty()).await?;
            for (path, meta) in found {
                if name.as_ref().is_some_and(|re| !re.is_match(&path))
                    || f.tags.iter().any(|(k, v)| meta.get(k) != Some(v))
                {
                    continue;
                }
                let secret = ctx.vault.read(&ctx.client, store, &path, None, false, max_age).await?;
                // Named by path ("a/b"); without rewrite rules the `/`
                // becomes `_` by the conversion strategy below, as ESO does.
                let value = decode(as_json(&secret), f.decoding_strategy, &path)?;
                entry.0.insert(path, value);
            }
        }
        if let Some(g) = df.source_ref.as_ref().and_then(|r| r.generator_ref.as_ref()) {
            let field = format!("spec.dataFrom[{i}].sourceRef.generatorRef");
            let (ns, uid) = (es.namespace().unwrap_or_default(), es.uid().unwrap_or_default());
            for (key, value) in generator_values(ctx, &ns, &uid, g, &field, epoch).await? {
                entry.0.insert(key, value);
            }
        }
        // ESO: the rewrite rules, or, when there are none, the key
        // conversion of the entry's source.
        let entry = if df.rewrite.is_empty() {
            let strategy = df
                .extract
                .as_ref()
                .and_then(|r| r.conversion_strategy)
                .or(df.find.as_ref().and_then(|f| f.conversion_strategy));
            convert_keys(entry, strategy.unwrap_or_default(), i)?
        } else {
            // Transform rules are tenant templates: off the async workers,
            // and charged to the object's one template budget.
            let (rules, work) = (df.rewrite.clone(), work.clone());
            tokio::task::spawn_blocking(move || rewrite_in(&work, entry, &rules, i)).await.map_err(|_| {
                super::keys::KeyError::Transform(format!(
                    "spec.dataFrom[{i}].rewrite: the rewrite stopped unexpectedly"
                ))
            })??
        };
        data.0.extend(entry.0);
    }
    data.0.extend(items.0);
    Ok(data)
}

/// A generator's values (`Password`, `UUID`, `SSHKey` or
/// `VaultDynamicSecret`, from the namespace `ns` of the object with UID
/// `uid` that names it) under ESO's keys for that generator, the same
/// within one refresh epoch (see `sources::generator`). A spec that
/// cannot be honoured is refused before anything is drawn; each draw is
/// bounded and cheap (a password of at most 1024 characters with no
/// rejection loop, one UUID, one Ed25519 or P-256 key), so it runs here,
/// except an SSH key, which may be RSA (a prime search of up to a second
/// or so): that runs on a blocking thread.
pub(crate) async fn generator_values(
    ctx: &SourceContext,
    ns: &str,
    uid: &str,
    g: &GeneratorRef,
    field: &str,
    epoch: u64,
) -> Result<Vec<(String, Zeroizing<Vec<u8>>)>, EsError> {
    use crate::api::generator::{Password, SshKey, Uuid};
    use crate::sources::generator;
    let known = matches!(g.kind.as_str(), "Password" | "UUID" | "SSHKey" | "VaultDynamicSecret");
    if !known || g.api_version.as_deref().is_some_and(|v| !v.starts_with("seal.dev/")) {
        return Err(GeneratorError::Unsupported {
            field: field.to_owned(),
            api_version: g.api_version.clone().unwrap_or_default(),
            kind: g.kind.clone(),
        }
        .into());
    }
    if g.kind == "VaultDynamicSecret" {
        return super::vault_dynamic::values(ctx, ns, uid, g, field, epoch).await;
    }
    let key = ctx.registry.hmac_key_bytes().ok_or(EsError::KeysNotLoaded)?;
    let seed = format!("{}\0{uid}\0{}\0{epoch}", g.kind.to_ascii_lowercase(), g.name);
    let mut stream = generator::Stream::new(&key[..], seed.as_bytes());
    // Fields of ESO's schema seal does not implement: refused by name.
    let not_implemented = |unsupported: &[String], kind: &str, name: &str| {
        if unsupported.is_empty() {
            return Ok(());
        }
        let why = format!("{kind} {ns}/{name}: {}", crate::api::unknown::unsupported_message(unsupported));
        Err(GeneratorError::NotImplemented { field: field.to_owned(), why })
    };
    let impossible = |e: String| GeneratorError::Impossible {
        field: field.to_owned(),
        why: format!("{} {ns}/{}: {e}", g.kind, g.name),
    };
    Ok(match g.kind.as_str() {
        "Password" => {
            let p: Password = read_generator(ctx, ns, g, field).await?;
            not_implemented(&p.spec.unsupported, "Password", &g.name)?;
            generator::passwords(&p.spec, &mut stream).map_err(impossible)?
        }
        "UUID" => {
            // Only its existence matters (ESO's spec is empty, and may be left out).
            let unavailable = |why: String| GeneratorError::Unavailable { field: field.to_owned(), why };
            let api: kube::Api<Uuid> = kube::Api::namespaced(ctx.client.clone(), ns);
            api.get_metadata_opt(&g.name)
                .await
                .map_err(|e| {
                    unavailable(format!("cannot read UUID {ns}/{}: {}", g.name, super::templates::api_reason(&e)))
                })?
                .ok_or_else(|| unavailable(format!("UUID {ns}/{} does not exist", g.name)))?;
            vec![("uuid".to_owned(), Zeroizing::new(generator::uuid(&mut stream).into_bytes()))]
        }
        _ => {
            let k: SshKey = read_generator(ctx, ns, g, field).await?;
            not_implemented(&k.spec.unsupported, "SSHKey", &g.name)?;
            // An RSA prime search takes up to a second or so of a core: at
            // most `RSA_AT_ONCE` run at a time, whoever asks, so many RSA
            // SSHKeys cannot fill the blocking pool the template budget and
            // rewrites also run on.
            let _slot = match k.spec.key_type.as_deref() {
                None | Some("rsa") => Some(RSA_SLOTS.acquire().await.map_err(|_| impossible("closed".into()))?),
                _ => None,
            };
            let pair = tokio::task::spawn_blocking(move || generator::ssh_key::generate(&k.spec, &mut stream))
                .await
                .map_err(|_| impossible("the key generation stopped unexpectedly".into()))?
                .map_err(impossible)?;
            vec![
                ("privateKey".to_owned(), Zeroizing::new(pair.private_key.as_bytes().to_vec())),
                ("publicKey".to_owned(), Zeroizing::new(pair.public_key.into_bytes())),
            ]
        }
    })
}

/// How many RSA key generations run at once (see `generator_values`).
const RSA_AT_ONCE: usize = 2;

static RSA_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(RSA_AT_ONCE);

/// The generator object `g` names, in the ExternalSecret's namespace.
pub(super) async fn read_generator<K>(
    ctx: &SourceContext,
    ns: &str,
    g: &GeneratorRef,
    field: &str,
) -> Result<K, EsError>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let unavailable = |why: String| GeneratorError::Unavailable { field: field.to_owned(), why };
    let api: kube::Api<K> = kube::Api::namespaced(ctx.client.clone(), ns);
    let found = api.get_opt(&g.name).await.map_err(|e| {
        unavailable(format!("cannot read {} {ns}/{}: {}", g.kind, g.name, super::templates::api_reason(&e)))
    })?;
    Ok(found.ok_or_else(|| unavailable(format!("{} {ns}/{} does not exist", g.kind, g.name)))?)
}
