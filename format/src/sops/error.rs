//! Errors of the format engine. They name files, paths inside documents and
//! reasons; they never carry a value, plaintext or ciphertext.

use super::cipher::CipherError;

/// Everything that can go wrong reading, writing, encrypting or decrypting a
/// SOPS document.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is not valid in its format.
    #[error("invalid {format}: {reason}")]
    Syntax {
        /// `YAML`, `JSON`, `dotenv`, …
        format: &'static str,
        /// Where and what (line and column, never the text).
        reason: String,
    },
    /// The document is valid in its format but cannot be a SOPS document.
    #[error("{0}")]
    Structure(String),
    /// The `sops` metadata is missing or malformed.
    #[error("sops metadata: {0}")]
    Metadata(String),
    /// A value could not be encrypted or decrypted.
    #[error("value at {path}: {source}")]
    Value {
        /// The path of the value, as `["a"]["b"]`.
        path: String,
        /// What failed.
        source: CipherError,
    },
    /// A value under an encrypted path is stored in clear.
    #[error(
        "value at {path} should be encrypted under the file's selection rule but is a cleartext {kind}; the file was edited by hand or its rule changed"
    )]
    NotEncrypted {
        /// The path of the value.
        path: String,
        /// Its kind (never the value).
        kind: &'static str,
    },
    /// The MAC does not match the values.
    #[error(
        "MAC mismatch: the encrypted values, their order, or `lastmodified` were changed after the file was written{hint}"
    )]
    MacMismatch {
        /// An extra hint (e.g. about key order), possibly empty.
        hint: String,
    },
    /// The MAC itself cannot be decrypted.
    #[error("the MAC could not be decrypted ({0}); the `mac` or `lastmodified` field was changed")]
    MacUndecryptable(CipherError),
    /// The document has no MAC.
    #[error("the file has no MAC (`sops.mac` is empty)")]
    MacMissing,
    /// None of the available identities can recover the data key.
    #[error("no identity could decrypt the data key: {0}")]
    NoMatchingKey(String),
    /// A recipient string is not usable.
    #[error("recipient {recipient:?}: {reason}")]
    Recipient {
        /// The public recipient string (public, safe to print).
        recipient: String,
        /// Why.
        reason: String,
    },
    /// Recipients that mix post-quantum hybrid and classic X25519 keys for
    /// one file (age's rule: the X25519 copy would undo the hybrid ones).
    #[error(
        "recipient {recipient:?}: a file cannot be sealed to both post-quantum (age1pq1…) and classic X25519 (age1…) recipients: \
         the X25519 copy of the data key would fall to a quantum computer and undo the hybrid ones. \
         A hybrid cluster key needs hybrid team keys too: make them with `seal keygen --pq`, \
         or seal to X25519 recipients only"
    )]
    MixedRecipients {
        /// The first classic recipient of the mix (public, safe to print).
        recipient: String,
    },
    /// Encrypting the data key to a recipient failed.
    #[error("could not wrap the data key: {0}")]
    Wrap(String),
    /// A value cannot be represented in the output format.
    #[error("cannot write {format}: {reason}")]
    Emit {
        /// The output format.
        format: &'static str,
        /// Why (no values).
        reason: String,
    },
    /// The input is beyond one of the reader limits ([`super::limits`]).
    #[error("the file is refused: {0}")]
    Limit(String),
    /// An error of the cipher outside any value (randomness).
    #[error("{0}")]
    Cipher(#[from] CipherError),
}

/// Renders an AAD path (`a:b:`) as sops' extract syntax (`["a"]["b"]`).
pub fn display_path(aad: &str) -> String {
    let trimmed = aad.strip_suffix(':').unwrap_or(aad);
    if trimmed.is_empty() {
        return "the top level".to_owned();
    }
    trimmed.split(':').map(|c| format!("[{c:?}]")).collect()
}
