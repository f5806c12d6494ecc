//! Why an ExternalSecret could not be turned into data, typed: each kind of
//! failure has its status reason and its retry in one place
//! ([`EsError::reason`], [`EsError::retry`]), so a decode failure cannot be
//! reported as a missing property, nor a controller still starting as a
//! store problem.
//!
//! Messages keep the source rules: names, fields and paths, never values,
//! never template output, never a key a rule made.

use std::time::Duration;

use super::keys::KeyError;
use super::templates::TemplateError;
use crate::api::Reason;
use crate::sources::vault::VaultError;
use crate::sources::{Retry, SourceError};

/// The object breaks a rule ESO's admission webhook or schema enforces
/// (the message names the field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSpec(pub String);

/// Why a `sourceRef.generatorRef` made no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeneratorError {
    /// A generator seal does not have (seal has `Password`, `UUID`,
    /// `SSHKey`, `VaultDynamicSecret`).
    #[error(
        "{field}: {api_version} {kind}: seal's generators are seal.dev/v1alpha1 Password, UUID, SSHKey and VaultDynamicSecret"
    )]
    Unsupported {
        /// `spec.dataFrom[i].sourceRef.generatorRef`.
        field: String,
        /// Its `apiVersion`.
        api_version: String,
        /// Its `kind`.
        kind: String,
    },
    /// The Password does not exist or cannot be read.
    #[error("{field}: {why}")]
    Unavailable {
        /// `spec.dataFrom[i].sourceRef.generatorRef`.
        field: String,
        /// Which object and why (the API server's code, not its message).
        why: String,
    },
    /// The Password asks for a shape that cannot be made (refused before
    /// anything is drawn).
    #[error("{field}: {why}")]
    Impossible {
        /// `spec.dataFrom[i].sourceRef.generatorRef`.
        field: String,
        /// Which rule of the Password's spec.
        why: String,
    },
    /// The generator uses fields of ESO's schema seal does not implement.
    #[error("{field}: {why}")]
    NotImplemented {
        /// `spec.dataFrom[i].sourceRef.generatorRef`.
        field: String,
        /// Which generator and which of its fields.
        why: String,
    },
}

/// Why an ExternalSecret's data could not be made.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EsError {
    /// The object is not valid (tried again when it changes).
    #[error(transparent)]
    Invalid(#[from] InvalidSpec),
    /// The store could not be resolved (missing, or not for this namespace).
    #[error("{message}")]
    Resolve {
        /// `StoreNotFound` or `NamespaceNotAllowed`.
        reason: Reason,
        /// What is wrong.
        message: String,
    },
    /// The store failed (login, read, list) or has no such path or property.
    #[error(transparent)]
    Store(#[from] VaultError),
    /// A value or key could not be made from what was read.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// A generator made no value.
    #[error(transparent)]
    Generator(#[from] GeneratorError),
    /// `target.template` failed.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The controller's keys (the HMAC key that seeds generators and
    /// templates) are not loaded yet: the controller is starting.
    #[error("the controller's keys are not loaded yet; retried shortly")]
    KeysNotLoaded,
}

impl EsError {
    /// The status reason (also the bounded metric label).
    pub fn reason(&self) -> Reason {
        match self {
            EsError::Invalid(_) => Reason::InvalidDocument,
            EsError::Resolve { reason, .. } => *reason,
            EsError::Store(e) => e.reason(),
            EsError::Keys(e) => e.reason(),
            EsError::Generator(GeneratorError::Unsupported { .. } | GeneratorError::Impossible { .. }) => {
                Reason::InvalidDocument
            }
            EsError::Generator(GeneratorError::Unavailable { .. }) => Reason::GeneratorFailed,
            EsError::Generator(GeneratorError::NotImplemented { .. }) => Reason::Unsupported,
            EsError::Template(e) => e.reason(),
            EsError::KeysNotLoaded => Reason::KeysNotLoaded,
        }
    }

    /// When to try again. A paused store is tried when the pause ends:
    /// failing fast while it lasts must not grow the object's own backoff.
    /// What only a change of the object can fix waits for that change;
    /// everything else (the store, the values, a Password, a granted
    /// Secret may change) backs off.
    pub fn retry(&self) -> Retry {
        match self {
            EsError::Store(VaultError::Paused(_, left)) => {
                Retry::After(*left + crate::sources::jitter(Duration::from_secs(1)))
            }
            EsError::Invalid(_) | EsError::Template(TemplateError::Refused(_)) => Retry::AwaitChange,
            _ => Retry::Backoff,
        }
    }
}

impl From<EsError> for SourceError {
    fn from(e: EsError) -> SourceError {
        // Only a plain 404 from the store says the values are gone.
        let gone = matches!(e, EsError::Store(VaultError::NotFound(_)));
        SourceError { reason: e.reason(), message: e.to_string(), retry: e.retry(), gone }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(e: EsError) -> SourceError {
        e.into()
    }

    #[test]
    fn a_paused_store_is_retried_when_the_pause_ends() {
        let se = source(VaultError::Paused("s: Vault is unreachable".into(), Duration::from_secs(4)).into());
        assert_eq!(se.reason, Reason::StoreUnavailable);
        assert_eq!(se.message, "s: Vault is unreachable");
        match se.retry {
            Retry::After(d) => assert!(d >= Duration::from_secs(4) && d <= Duration::from_secs(5), "{d:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_a_plain_not_found_marks_the_values_gone() {
        assert!(source(VaultError::NotFound("p".into()).into()).gone);
        for e in [
            VaultError::Unavailable("u".into()),
            VaultError::Denied("d".into()),
            VaultError::PropertyNotFound("p".into()),
            VaultError::Misconfigured("m".into()),
        ] {
            let r = e.reason();
            let se = source(e.into());
            assert!(!se.gone);
            assert_eq!(se.reason, r);
            assert_eq!(se.retry, Retry::Backoff);
        }
    }

    #[test]
    fn each_failure_has_its_own_reason() {
        let field = || "spec.dataFrom[0].sourceRef.generatorRef".to_owned();
        let cases: Vec<(EsError, Reason, Retry)> = vec![
            (KeyError::NotBase64 { key: "k".into() }.into(), Reason::DecodeFailed, Retry::Backoff),
            (KeyError::ConvertedTooLong { entry: 0 }.into(), Reason::InvalidDocument, Retry::Backoff),
            (KeyError::Transform("t".into()).into(), Reason::TemplateFailed, Retry::Backoff),
            (EsError::KeysNotLoaded, Reason::KeysNotLoaded, Retry::Backoff),
            (
                GeneratorError::Unavailable { field: field(), why: "Password team/p does not exist".into() }.into(),
                Reason::GeneratorFailed,
                Retry::Backoff,
            ),
            (
                GeneratorError::Impossible { field: field(), why: "spec.symbols".into() }.into(),
                Reason::InvalidDocument,
                Retry::Backoff,
            ),
            (InvalidSpec("spec.data[0].secretKey is empty".into()).into(), Reason::InvalidDocument, Retry::AwaitChange),
            (TemplateError::Refused("engine".into()).into(), Reason::TemplateFailed, Retry::AwaitChange),
            (TemplateError::NotShared("grant".into()).into(), Reason::SecretNotShared, Retry::Backoff),
        ];
        for (e, reason, retry) in cases {
            let what = format!("{e:?}");
            let se = source(e);
            assert_eq!((se.reason, se.retry), (reason, retry), "{what}");
            assert!(!se.gone);
        }
        // Starting up is not a store problem.
        assert!(!matches!(
            EsError::KeysNotLoaded.reason(),
            Reason::StoreUnavailable | Reason::StoreMisconfigured | Reason::StoreAccessDenied
        ));
    }
}
