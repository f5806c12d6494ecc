//! The controller's age keys (see docs/architecture.md): generated at first start into a
//! labelled Secret in the controller's namespace, renewed on a period, never
//! deleted; every labelled Secret with a valid identity is loaded (bring your
//! own key, a Flux age key). The public recipients are published, newest
//! first, in a ConfigMap every authenticated user may read.
//!
//! Also holds the HMAC key that fingerprints materialized data (drift).

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::RwLock;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use zeroize::Zeroizing;

use seal_format::sops::Identities;
use seal_format::sops::hybrid::HybridIdentity;

pub use crate::api::annotations::{CREATED_AT_ANNOTATION, KEY_LABEL};
/// Value of [`KEY_LABEL`].
pub const KEY_LABEL_VALUE: &str = "age";
/// Data key of a generated identity (Flux's `.agekey` convention).
pub const KEY_DATA: &str = "age.agekey";
pub use seal_format::document::{RECIPIENTS_CONFIGMAP, RECIPIENTS_KEY, recipients_text};
/// Secret with the HMAC key for data fingerprints.
pub const HMAC_SECRET: &str = "seal-hmac-key";
/// Field manager of everything the controller writes.
pub const FIELD_MANAGER: &str = "seal-controller";

/// Errors of the key registry. No key material in messages.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The Kubernetes API failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// No randomness.
    #[error("the operating system's random source failed")]
    Random,
    /// The HMAC key Secret exists but does not hold a 32-byte `key`.
    #[error(
        "Secret {0} exists but its `key` is not 32 bytes; restore it from a backup (or delete it to start over: every managed Secret is then rewritten once)"
    )]
    MalformedHmacKey(String),
}

/// The kind of key the controller generates (`--key-type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyType {
    /// The post-quantum hybrid ML-KEM-768 + X25519 (`age1pq1…`).
    Pq,
    /// Classic X25519 (`age1…`).
    X25519,
}

/// A loaded identity of either kind. No `Debug`.
#[derive(Clone)]
pub enum ClusterIdentity {
    /// `AGE-SECRET-KEY-1…`.
    X25519(age::x25519::Identity),
    /// `AGE-SECRET-KEY-PQ-1…`.
    Hybrid(Box<HybridIdentity>),
}

impl ClusterIdentity {
    /// Parses one identity line of either kind.
    pub fn parse(line: &str) -> Option<ClusterIdentity> {
        if line.starts_with("AGE-SECRET-KEY-PQ-1") {
            HybridIdentity::parse(line).ok().map(|k| ClusterIdentity::Hybrid(Box::new(k)))
        } else {
            age::x25519::Identity::from_str(line).ok().map(ClusterIdentity::X25519)
        }
    }

    /// A new identity of `kind`.
    pub fn generate(kind: KeyType) -> Result<ClusterIdentity, KeyError> {
        Ok(match kind {
            KeyType::X25519 => ClusterIdentity::X25519(age::x25519::Identity::generate()),
            KeyType::Pq => ClusterIdentity::Hybrid(Box::new(HybridIdentity::generate().map_err(|_| KeyError::Random)?)),
        })
    }

    /// Its kind.
    pub fn kind(&self) -> KeyType {
        match self {
            ClusterIdentity::X25519(_) => KeyType::X25519,
            ClusterIdentity::Hybrid(_) => KeyType::Pq,
        }
    }

    /// Its public recipient.
    pub fn recipient(&self) -> String {
        match self {
            ClusterIdentity::X25519(k) => k.to_public().to_string(),
            ClusterIdentity::Hybrid(k) => k.to_public().to_string(),
        }
    }

    /// The identity line (secret).
    fn secret_line(&self) -> Zeroizing<String> {
        use age::secrecy::ExposeSecret;
        match self {
            ClusterIdentity::X25519(k) => Zeroizing::new(k.to_string().expose_secret().to_owned()),
            ClusterIdentity::Hybrid(k) => k.to_secret_string(),
        }
    }
}

/// One loaded identity and where it came from.
struct LoadedKey {
    secret: String,
    created: String,
    identity: ClusterIdentity,
}

#[derive(Default)]
struct State {
    /// Newest first.
    keys: Vec<LoadedKey>,
    hmac: Option<Zeroizing<[u8; 32]>>,
}

/// The identities and HMAC key the controller decrypts and fingerprints with.
pub struct KeyRegistry {
    client: Client,
    namespace: String,
    renew_period: Duration,
    /// `None`: hybrid for a new cluster, else the kind of the newest key.
    key_type: Option<KeyType>,
    state: RwLock<State>,
}

impl KeyRegistry {
    /// A registry for keys in `namespace`, renewed every `renew_period`
    /// with keys of `key_type` (`None`: hybrid for a cluster without keys,
    /// else the kind of its newest key).
    pub fn new(client: Client, namespace: &str, renew_period: Duration, key_type: Option<KeyType>) -> KeyRegistry {
        KeyRegistry {
            client,
            namespace: namespace.to_owned(),
            renew_period,
            key_type,
            state: RwLock::new(State::default()),
        }
    }

    /// A registry that already holds `identities` (newest first) and the
    /// HMAC key, with nothing to load: for tests of the reconcile flow.
    pub fn preloaded(
        client: Client,
        namespace: &str,
        identities: Vec<age::x25519::Identity>,
        hmac: [u8; 32],
    ) -> KeyRegistry {
        let keys = identities
            .into_iter()
            .enumerate()
            .map(|(i, identity)| LoadedKey {
                secret: format!("preloaded-{i}"),
                created: String::new(),
                identity: ClusterIdentity::X25519(identity),
            })
            .collect();
        let state = State { keys, hmac: Some(Zeroizing::new(hmac)) };
        KeyRegistry {
            client,
            namespace: namespace.to_owned(),
            renew_period: Duration::MAX,
            key_type: Some(KeyType::X25519),
            state: RwLock::new(state),
        }
    }

    /// The controller's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Loads every labelled key; creates a key when there is none, the
    /// newest is older than the renew period, or the newest is not of the
    /// kind `--key-type` names (a cluster moves from X25519 to hybrid by
    /// this renewal: its older keys stay loaded to decrypt); makes sure the
    /// HMAC key exists; publishes the recipients. Safe to call repeatedly.
    pub async fn sync(&self) -> Result<(), KeyError> {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        let mut keys = self.load(&secrets).await?;
        let newest_age = keys.first().and_then(|k| age_of(&k.created));
        let newest_kind = keys.first().map(|k| k.identity.kind());
        let kind = next_key_type(self.key_type, newest_kind);
        if newest_kind != Some(kind) || newest_age.is_some_and(|a| a >= self.renew_period) {
            self.generate(&secrets, kind).await?;
            keys = self.load(&secrets).await?;
            tracing::info!(keys = keys.len(), key_type = ?kind, "generated a new age key");
        }
        let hmac = self.hmac_key(&secrets).await?;
        // Only the newest key is published for sealing; older ones stay
        // loaded to decrypt what was sealed to them (retired).
        let active: Vec<String> = keys.iter().take(1).map(|k| k.identity.recipient()).collect();
        self.publish(&active).await?;
        let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
        st.keys = keys;
        st.hmac = Some(hmac);
        Ok(())
    }

    /// Loads the keys and the HMAC key without creating or publishing
    /// anything: what a standby replica does.
    pub async fn load_readonly(&self) -> Result<(), KeyError> {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        let keys = self.load(&secrets).await?;
        let hmac = match secrets.get_opt(HMAC_SECRET).await? {
            Some(s) => Some(hmac_of(&s)?),
            None => None,
        };
        let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
        st.keys = keys;
        st.hmac = hmac;
        Ok(())
    }

    /// How often [`sync`](Self::sync) should run to renew on time.
    pub fn check_interval(&self) -> Duration {
        (self.renew_period / 4).clamp(Duration::from_secs(1), Duration::from_secs(600))
    }

    async fn load(&self, secrets: &Api<Secret>) -> Result<Vec<LoadedKey>, KeyError> {
        let list = secrets.list(&ListParams::default().labels(&format!("{KEY_LABEL}={KEY_LABEL_VALUE}"))).await?;
        let mut keys = Vec::new();
        for s in list.items {
            let name = s.metadata.name.clone().unwrap_or_default();
            let created = s
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(CREATED_AT_ANNOTATION).cloned())
                .or_else(|| s.metadata.creation_timestamp.as_ref().map(|t| t.0.to_string()))
                .unwrap_or_default();
            if let Err(why) = check_created(&created, chrono::Utc::now()) {
                // A key dated in the future would stay "newest" (published
                // for sealing, never renewed) for as long as its date says.
                tracing::warn!(secret = %name, reason = %why, "refusing a key Secret; it is neither loaded nor published");
                continue;
            }
            let mut found = 0;
            for (field, value) in s.data.iter().flatten() {
                let text = Zeroizing::new(String::from_utf8_lossy(&value.0).into_owned());
                for line in text.lines().map(str::trim) {
                    if line.starts_with("AGE-SECRET-KEY-1") || line.starts_with("AGE-SECRET-KEY-PQ-1") {
                        match ClusterIdentity::parse(line) {
                            Some(identity) => {
                                found += 1;
                                keys.push(LoadedKey { secret: name.clone(), created: created.clone(), identity });
                            }
                            None => {
                                tracing::warn!(secret = %name, field = %field, "ignoring an invalid age identity")
                            }
                        }
                    }
                }
            }
            if found == 0 {
                tracing::warn!(secret = %name, "a Secret labelled {KEY_LABEL}={KEY_LABEL_VALUE} holds no age identity");
            }
        }
        // Newest first; ties broken by name so the order is stable.
        keys.sort_by(|a, b| b.created.cmp(&a.created).then(b.secret.cmp(&a.secret)));
        Ok(keys)
    }

    async fn generate(&self, secrets: &Api<Secret>, kind: KeyType) -> Result<(), KeyError> {
        let id = ClusterIdentity::generate(kind)?;
        let now = chrono::Utc::now();
        let name = format!("seal-key-{}", now.format("%Y%m%d%H%M%S"));
        let text = Zeroizing::new(format!(
            "# created: {}\n# public key: {}\n{}\n",
            now.to_rfc3339(),
            id.recipient(),
            &*id.secret_line()
        ));
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(self.namespace.clone()),
                labels: Some(BTreeMap::from([(KEY_LABEL.to_owned(), KEY_LABEL_VALUE.to_owned())])),
                annotations: Some(BTreeMap::from([(
                    CREATED_AT_ANNOTATION.to_owned(),
                    now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                )])),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(KEY_DATA.to_owned(), ByteString(text.as_bytes().to_vec()))])),
            type_: Some("Opaque".into()),
            ..Default::default()
        };
        match secrets.create(&PostParams::default(), &secret).await {
            Ok(_) => Ok(()),
            // Another replica made one in the same second: use theirs.
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn hmac_key(&self, secrets: &Api<Secret>) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        if let Some(s) = secrets.get_opt(HMAC_SECRET).await? {
            return hmac_of(&s);
        }
        let mut k = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut k[..]).map_err(|_| KeyError::Random)?;
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(HMAC_SECRET.into()),
                namespace: Some(self.namespace.clone()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([("key".to_owned(), ByteString(k.to_vec()))])),
            ..Default::default()
        };
        match secrets.create(&PostParams::default(), &secret).await {
            Ok(_) => Ok(k),
            // Another replica made it first: use theirs.
            Err(kube::Error::Api(e)) if e.code == 409 => hmac_of(&secrets.get(HMAC_SECRET).await?),
            Err(e) => Err(e.into()),
        }
    }

    async fn publish(&self, recipients: &[String]) -> Result<(), KeyError> {
        let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        let body = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": RECIPIENTS_CONFIGMAP, "namespace": self.namespace,
                         "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER}},
            "data": {RECIPIENTS_KEY: recipients_text(recipients)},
        });
        cms.patch(RECIPIENTS_CONFIGMAP, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&body)).await?;
        Ok(())
    }

    /// All identities, newest first.
    pub fn identities(&self) -> Identities {
        let st = self.state.read().unwrap_or_else(|p| p.into_inner());
        let mut ids = Identities::new();
        for k in &st.keys {
            match &k.identity {
                ClusterIdentity::X25519(id) => ids.push(id.clone()),
                ClusterIdentity::Hybrid(id) => ids.push_hybrid(id.as_ref().clone()),
            }
        }
        ids
    }

    /// The recipient to seal to: the newest key's (published). Older keys
    /// are retired: still loaded to decrypt, never published.
    pub fn recipients(&self) -> Vec<String> {
        let st = self.state.read().unwrap_or_else(|p| p.into_inner());
        st.keys.iter().take(1).map(|k| k.identity.recipient()).collect()
    }

    /// Every loaded key's recipient, newest first (what can decrypt).
    pub fn all_recipients(&self) -> Vec<String> {
        let st = self.state.read().unwrap_or_else(|p| p.into_inner());
        st.keys.iter().map(|k| k.identity.recipient()).collect()
    }

    /// How many identities are loaded.
    pub fn len(&self) -> usize {
        self.state.read().unwrap_or_else(|p| p.into_inner()).keys.len()
    }

    /// True before the first successful sync.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The HMAC key, once loaded.
    pub fn hmac_key_bytes(&self) -> Option<Zeroizing<[u8; 32]>> {
        self.state.read().unwrap_or_else(|p| p.into_inner()).hmac.clone()
    }
}

/// The kind of the next key: the one `--key-type` names; without the flag,
/// hybrid for a cluster that has no key yet and the newest key's kind for
/// one that has (so upgrading the controller never changes the recipient
/// teams seal to: a hybrid cluster key needs hybrid team keys).
pub fn next_key_type(flag: Option<KeyType>, newest: Option<KeyType>) -> KeyType {
    flag.or(newest).unwrap_or(KeyType::Pq)
}

/// Clock skew tolerated on a key's date.
const MAX_SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// Checks a key's creation date: an RFC 3339 time not in the future.
pub fn check_created(created: &str, now: chrono::DateTime<chrono::Utc>) -> Result<(), String> {
    let t = chrono::DateTime::parse_from_rfc3339(created.trim())
        .map_err(|_| format!("its date {created:?} is not an RFC 3339 time"))?;
    if t.with_timezone(&chrono::Utc) > now + MAX_SKEW {
        return Err(format!("it is dated in the future ({created})"));
    }
    Ok(())
}

/// The HMAC key held by `seal-hmac-key`: exactly 32 bytes, or an error
/// (never a fallback key, which would let drift go unseen).
fn hmac_of(s: &Secret) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    s.data
        .as_ref()
        .and_then(|d| d.get("key"))
        .and_then(|v| <[u8; 32]>::try_from(v.0.as_slice()).ok())
        .map(Zeroizing::new)
        .ok_or_else(|| KeyError::MalformedHmacKey(HMAC_SECRET.to_owned()))
}

fn age_of(created: &str) -> Option<Duration> {
    let t = chrono::DateTime::parse_from_rfc3339(created).ok()?;
    (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_cluster_gets_a_hybrid_key_an_existing_one_keeps_its_kind_unless_the_flag_names_another() {
        assert_eq!(next_key_type(None, None), KeyType::Pq);
        assert_eq!(next_key_type(None, Some(KeyType::X25519)), KeyType::X25519);
        assert_eq!(next_key_type(None, Some(KeyType::Pq)), KeyType::Pq);
        assert_eq!(next_key_type(Some(KeyType::Pq), Some(KeyType::X25519)), KeyType::Pq);
        assert_eq!(next_key_type(Some(KeyType::X25519), None), KeyType::X25519);
        assert_eq!(next_key_type(Some(KeyType::X25519), Some(KeyType::Pq)), KeyType::X25519);
    }

    #[test]
    fn key_secret_lines_of_either_kind_parse_and_give_their_recipient() {
        let pq = ClusterIdentity::generate(KeyType::Pq).expect("pq");
        let x = ClusterIdentity::generate(KeyType::X25519).expect("x25519");
        for id in [&pq, &x] {
            let back = ClusterIdentity::parse(&id.secret_line()).expect("parses");
            assert_eq!(back.kind(), id.kind());
            assert_eq!(back.recipient(), id.recipient());
        }
        assert!(pq.recipient().starts_with("age1pq1") && !x.recipient().starts_with("age1pq1"));
        assert!(ClusterIdentity::parse("AGE-SECRET-KEY-PQ-1QQQQ").is_none());
    }

    #[test]
    fn key_dates_in_the_future_or_malformed_are_refused() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z").expect("t").with_timezone(&chrono::Utc);
        assert!(check_created("2026-05-01T00:00:00Z", now).is_ok());
        assert!(check_created("2026-06-01T00:04:00Z", now).is_ok(), "within the clock skew");
        assert!(check_created("2030-01-01T00:00:00Z", now).is_err());
        assert!(check_created("yesterday", now).is_err());
        assert!(check_created("", now).is_err());
    }

    #[test]
    fn a_malformed_hmac_key_is_an_error_not_a_zero_key() {
        let mut s = Secret::default();
        assert!(matches!(hmac_of(&s), Err(KeyError::MalformedHmacKey(_))));
        s.data = Some(BTreeMap::from([("key".to_owned(), ByteString(vec![1; 31]))]));
        assert!(hmac_of(&s).is_err());
        s.data = Some(BTreeMap::from([("key".to_owned(), ByteString(vec![1; 32]))]));
        assert_eq!(hmac_of(&s).map(|k| *k).ok(), Some([1; 32]));
    }
}
