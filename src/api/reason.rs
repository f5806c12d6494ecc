//! Status reasons: one typed list that status conditions, Events and metric
//! labels all take their names from, so a label set stays bounded and a
//! reason cannot be misspelled in one place.

use std::fmt;

/// Why an object is (or is not) Ready, or why it drifted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// The Secret holds the desired data.
    Materialized,
    /// The controller is logged in to the store.
    Authenticated,
    /// `spec.suspend` is true.
    Suspended,
    /// The object is not a usable document (schema, rule, fields).
    InvalidDocument,
    /// A sealed value does not decrypt.
    DecryptFailed,
    /// The MAC does not match the encrypted values.
    MacMismatch,
    /// The scope binding does not allow this namespace and name.
    ScopeMismatch,
    /// Keys were added or removed without a key to the file.
    KeySetMismatch,
    /// An older version of the document than the one last accepted.
    ReplayRefused,
    /// The Secret template asks for something seal refuses to write.
    TemplateRefused,
    /// A template of the Secret's values failed (syntax, a missing value, a bound).
    TemplateFailed,
    /// A rollout restart target has not opted in (or could not be restarted).
    RestartRefused,
    /// A Secret the object reads (a `templateFrom` source, a PushSecret's
    /// source) has not granted it.
    SecretNotShared,
    /// The controller failed on this object (a bug); retried with backoff.
    InternalError,
    /// No controller key is a recipient.
    NoMatchingKey,
    /// A Secret of that name belongs to someone else.
    SecretNotOwned,
    /// The API server refused a write (RBAC).
    Forbidden,
    /// The API server refused the Secret as written (invalid, immutable, too large).
    WriteFailed,
    /// The store is unreachable, sealed, or failing.
    StoreUnavailable,
    /// The store refused the login or the read.
    StoreAccessDenied,
    /// The store has no such path (or a Secret the object reads does not exist).
    SecretNotFound,
    /// The path has no such property (or a PushSecret's source Secret no such key).
    PropertyNotFound,
    /// The store or its credentials are not usable as configured.
    StoreMisconfigured,
    /// The named store does not exist.
    StoreNotFound,
    /// A ClusterSecretStore does not serve this namespace.
    NamespaceNotAllowed,
    /// Drift restored (Revert).
    DriftReverted,
    /// Drift left in place (Alert).
    DriftDetected,
    /// Drift left in place and writing stopped (Pause).
    DriftPaused,
    /// No drift (a `Drifted` condition cleared).
    NoDrift,
    /// A PushSecret's values are in every store it names (ESO's reason).
    Synced,
    /// A ClusterExternalSecret's ExternalSecret is in every namespace it chooses.
    Provisioned,
    /// A ClusterExternalSecret could not write its ExternalSecret in some
    /// namespaces (listed in `status.failedNamespaces`).
    ProvisioningFailed,
    /// A value read from the store is not in the encoding its
    /// `decodingStrategy` names (e.g. not base64).
    DecodeFailed,
    /// A generator (`Password`) the object names does not exist or cannot
    /// be read.
    GeneratorFailed,
    /// The controller's keys are not loaded yet (it is starting); retried.
    KeysNotLoaded,
    /// The object uses a field of External Secrets Operator's schema that
    /// seal does not implement (named in the message).
    Unsupported,
}

impl Reason {
    /// Every reason, for tests and documentation.
    pub const ALL: [Reason; 36] = [
        Reason::Materialized,
        Reason::Authenticated,
        Reason::Suspended,
        Reason::InvalidDocument,
        Reason::DecryptFailed,
        Reason::MacMismatch,
        Reason::ScopeMismatch,
        Reason::KeySetMismatch,
        Reason::ReplayRefused,
        Reason::TemplateRefused,
        Reason::TemplateFailed,
        Reason::RestartRefused,
        Reason::SecretNotShared,
        Reason::InternalError,
        Reason::NoMatchingKey,
        Reason::SecretNotOwned,
        Reason::Forbidden,
        Reason::WriteFailed,
        Reason::StoreUnavailable,
        Reason::StoreAccessDenied,
        Reason::SecretNotFound,
        Reason::PropertyNotFound,
        Reason::StoreMisconfigured,
        Reason::StoreNotFound,
        Reason::NamespaceNotAllowed,
        Reason::DriftReverted,
        Reason::DriftDetected,
        Reason::DriftPaused,
        Reason::NoDrift,
        Reason::Synced,
        Reason::Provisioned,
        Reason::ProvisioningFailed,
        Reason::DecodeFailed,
        Reason::GeneratorFailed,
        Reason::KeysNotLoaded,
        Reason::Unsupported,
    ];

    /// The CamelCase name (condition reason, Event reason, metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Materialized => "Materialized",
            Reason::Authenticated => "Authenticated",
            Reason::Suspended => "Suspended",
            Reason::InvalidDocument => "InvalidDocument",
            Reason::DecryptFailed => "DecryptFailed",
            Reason::MacMismatch => "MacMismatch",
            Reason::ScopeMismatch => "ScopeMismatch",
            Reason::KeySetMismatch => "KeySetMismatch",
            Reason::ReplayRefused => "ReplayRefused",
            Reason::TemplateRefused => "TemplateRefused",
            Reason::TemplateFailed => "TemplateFailed",
            Reason::RestartRefused => "RestartRefused",
            Reason::SecretNotShared => "SecretNotShared",
            Reason::InternalError => "InternalError",
            Reason::NoMatchingKey => "NoMatchingKey",
            Reason::SecretNotOwned => "SecretNotOwned",
            Reason::Forbidden => "Forbidden",
            Reason::WriteFailed => "WriteFailed",
            Reason::StoreUnavailable => "StoreUnavailable",
            Reason::StoreAccessDenied => "StoreAccessDenied",
            Reason::SecretNotFound => "SecretNotFound",
            Reason::PropertyNotFound => "PropertyNotFound",
            Reason::StoreMisconfigured => "StoreMisconfigured",
            Reason::StoreNotFound => "StoreNotFound",
            Reason::NamespaceNotAllowed => "NamespaceNotAllowed",
            Reason::DriftReverted => "DriftReverted",
            Reason::DriftDetected => "DriftDetected",
            Reason::DriftPaused => "DriftPaused",
            Reason::NoDrift => "NoDrift",
            Reason::Synced => "Synced",
            Reason::Provisioned => "Provisioned",
            Reason::ProvisioningFailed => "ProvisioningFailed",
            Reason::DecodeFailed => "DecodeFailed",
            Reason::GeneratorFailed => "GeneratorFailed",
            Reason::KeysNotLoaded => "KeysNotLoaded",
            Reason::Unsupported => "Unsupported",
        }
    }

    /// The reason named `s`, if it is one of ours (e.g. read back from a status).
    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Reason;

    #[test]
    fn every_reason_is_listed_once_and_round_trips() {
        let mut names: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
            assert!(r.as_str().chars().next().is_some_and(|c| c.is_ascii_uppercase()), "{r} is not CamelCase");
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Reason::ALL.len());
        assert_eq!(Reason::parse("NotAReason"), None);
    }
}
