//! Every `seal.dev/` annotation and label a user can set or see, in one
//! place: on seal's own objects, on the Secrets it writes, on the Secrets,
//! workloads and ServiceAccounts that grant it something, and in a Vault
//! secret's custom metadata. The modules that act on them re-export these
//! names; none spells one out itself.
//!
//! What a user sets is a grant or a request; what a user sees is seal's
//! bookkeeping, and changing it by hand makes seal treat the Secret as
//! drifted or not its own.

// ---------------------------------------------------------------------------
// Set by users: grants

/// On a Secret: the ExternalSecrets (comma-separated names, or `*`) that may
/// merge keys into it (`creationPolicy: Merge`).
pub const ALLOW_MERGE_ANNOTATION: &str = "seal.dev/allow-merge-from";
/// On a Secret: the ExternalSecrets (names) and PushSecrets
/// (`PushSecret/NAME`), or `*`, whose templates may read it through
/// `templateFrom[].secret`.
pub const ALLOW_TEMPLATE_READ_ANNOTATION: &str = "seal.dev/allow-template-read";
/// On a Secret: the PushSecrets (names, or `*`) that may push its values.
pub const ALLOW_PUSH_ANNOTATION: &str = "seal.dev/allow-push";
/// On a Secret or ServiceAccount: the stores that may use it as a
/// credential (`SecretStore/<name>` of its namespace,
/// `ClusterSecretStore/<name>`, or `*`).
pub const ALLOWED_STORES_ANNOTATION: &str = "seal.dev/allowed-stores";
/// On a workload: the SealedSecrets and ExternalSecrets (names, or `*`)
/// allowed to restart it.
pub const RESTART_ON_ANNOTATION: &str = "seal.dev/restart-on";
/// On an existing Secret: the controller may take it over.
pub const ADOPT_ANNOTATION: &str = "seal.dev/adopt";

// ---------------------------------------------------------------------------
// Set by users: requests on seal's objects

/// On a SealedSecret or ExternalSecret: a new value resumes a paused Secret.
pub const RESUME_ANNOTATION: &str = "seal.dev/resume";
/// On a SealedSecret: accept a document older than the last one accepted
/// (a deliberate rollback).
pub const ALLOW_REPLAY_ANNOTATION: &str = "seal.dev/allow-replay";

// ---------------------------------------------------------------------------
// Written by seal, seen by users

/// Label on every Secret seal writes (value `seal-controller`).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// On a written Secret: keyed HMAC of the data the controller last wrote.
pub const DATA_HMAC_ANNOTATION: &str = "seal.dev/data-hmac";
/// On a written Secret: digest of the inputs the data was made from.
pub const INPUT_DIGEST_ANNOTATION: &str = "seal.dev/input-digest";
/// On a written Secret: UID of the object it was written for (also without
/// an owner reference, as with `creationPolicy: Orphan`).
pub const OWNER_UID_ANNOTATION: &str = "seal.dev/owner-uid";
/// On a written Secret: the owner's generation the data was written for.
pub const GENERATION_ANNOTATION: &str = "seal.dev/generation";
/// On a written Secret: the resume annotation value the last write acted on.
pub const RESUMED_ANNOTATION: &str = "seal.dev/resumed";
/// Prefix of the annotation a merging object records its input digest
/// under (`merge.seal.dev/<owner uid>`): each merging object has its own.
pub const MERGE_DIGEST_PREFIX: &str = "merge.seal.dev/";
/// Pod-template annotation set on restarted workloads.
pub const RESTARTED_AT_ANNOTATION: &str = "seal.dev/restartedAt";
/// Label on the ExternalSecrets a ClusterExternalSecret made: its name.
pub const CLUSTER_EXTERNAL_SECRET_LABEL: &str = "seal.dev/cluster-external-secret";
/// The finalizer of a PushSecret with `deletionPolicy: Delete`.
pub const PUSH_SECRET_FINALIZER: &str = "seal.dev/push-secret";
/// Label on the Secrets holding the controller's age identities.
pub const KEY_LABEL: &str = "seal.dev/key";
/// On a key Secret: when the key was made (RFC 3339).
pub const CREATED_AT_ANNOTATION: &str = "seal.dev/created-at";
/// In a Vault secret's custom metadata: the PushSecret that owns the path
/// (`NAMESPACE/NAME/UID`).
pub const PUSHED_BY_KEY: &str = "seal.dev/pushed-by";
/// In a Vault secret's custom metadata: the properties (a JSON array) its
/// owner wrote.
pub const PUSHED_PROPERTIES_KEY: &str = "seal.dev/pushed-properties";

// ---------------------------------------------------------------------------
// Internal, never written

/// On the controller's cached copy of a managed Secret only: the HMAC of
/// the data it held when it was cached.
pub const CACHED_HMAC_ANNOTATION: &str = "seal.dev/cached-data-hmac";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_distinct_and_in_seals_domain() {
        let all = [
            ALLOW_MERGE_ANNOTATION,
            ALLOW_TEMPLATE_READ_ANNOTATION,
            ALLOW_PUSH_ANNOTATION,
            ALLOWED_STORES_ANNOTATION,
            RESTART_ON_ANNOTATION,
            ADOPT_ANNOTATION,
            RESUME_ANNOTATION,
            ALLOW_REPLAY_ANNOTATION,
            DATA_HMAC_ANNOTATION,
            INPUT_DIGEST_ANNOTATION,
            OWNER_UID_ANNOTATION,
            GENERATION_ANNOTATION,
            RESUMED_ANNOTATION,
            RESTARTED_AT_ANNOTATION,
            CLUSTER_EXTERNAL_SECRET_LABEL,
            PUSH_SECRET_FINALIZER,
            KEY_LABEL,
            CREATED_AT_ANNOTATION,
            PUSHED_BY_KEY,
            PUSHED_PROPERTIES_KEY,
            CACHED_HMAC_ANNOTATION,
        ];
        let mut names = all.to_vec();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len(), "a name is listed twice");
        assert!(all.iter().all(|n| n.starts_with("seal.dev/")), "{all:?}");
        assert!(MERGE_DIGEST_PREFIX.ends_with("seal.dev/"));
    }
}
