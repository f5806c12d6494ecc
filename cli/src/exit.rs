//! Exit codes. A failure sops has a code for exits with sops' code (its
//! `cmd/sops/codes`; the constants carry sops' names), so that scripts written for `sops`
//! read seal's exit status the same way. Failures only seal has use 64–68,
//! which sops does not use. The table is in the README and in
//! docs/sops-compatibility.md.
//!
//! sops 3.11 exits 1 (`ErrorGeneric`) for errors it gives no code of their
//! own: a `.sops.yaml` it cannot read or use, no recipients, an encrypted
//! file it cannot parse or that has no `sops` metadata, `--extract` of a
//! value the file does not have. seal does the same.

/// Any failure without a code of its own (sops' `ErrorGeneric`).
pub const ERROR_GENERIC: u8 = 1;
/// The input file cannot be read, or a plaintext input cannot be parsed
/// (sops' `CouldNotReadInputFile`).
pub const COULD_NOT_READ_INPUT_FILE: u8 = 2;
/// The output (stdout, `--output`, the file in place) cannot be written
/// (sops' `CouldNotWriteOutputFile`).
pub const COULD_NOT_WRITE_OUTPUT_FILE: u8 = 3;
/// The tree cannot be written in the output format, e.g. a nested value
/// into dotenv (sops' `ErrorDumpingTree`).
pub const ERROR_DUMPING_TREE: u8 = 4;
/// `--set`/`set`'s path or value is malformed (sops' `ErrorInvalidSetFormat`).
pub const INVALID_SET_FORMAT: u8 = 7;
/// Flags that cannot be used together (sops' `ErrorConflictingParameters`).
pub const CONFLICTING_PARAMETERS: u8 = 8;
/// A value cannot be encrypted, e.g. under a key that is not a string
/// (sops' `ErrorEncryptingTree`).
pub const ERROR_ENCRYPTING_TREE: u8 = 23;
/// A value does not decrypt: tampered, or in clear where the rule says
/// encrypted (sops' `ErrorDecryptingTree`).
pub const ERROR_DECRYPTING_TREE: u8 = 25;
/// `--add-*`/`--rm-*` on a file that does not exist
/// (sops' `CannotChangeKeysFromNonExistentFile`).
pub const CANNOT_CHANGE_KEYS_FROM_NON_EXISTENT_FILE: u8 = 49;
/// The MAC does not match, cannot be decrypted, or is missing (sops'
/// `MacMismatch`; sops 3.11 never uses its `MacNotFound`, 52).
pub const MAC_MISMATCH: u8 = 51;
/// An `--extract`/`set`/`unset` path that is not `["key"][0]` syntax
/// (sops' `InvalidTreePathFormat`).
pub const INVALID_TREE_PATH_FORMAT: u8 = 91;
/// An input with no document at all (sops' `NeedAtLeastOneDocument`).
pub const NEED_AT_LEAST_ONE_DOCUMENT: u8 = 92;
/// No file given where one is needed, or the file does not exist
/// (sops' `NoFileSpecified`).
pub const NO_FILE_SPECIFIED: u8 = 100;
/// `--decryption-order` names a key type twice (sops'
/// `DuplicateDecryptionKeyType`).
pub const DUPLICATE_DECRYPTION_KEY_TYPE: u8 = 112;
/// No identity recovers the data key (sops' `CouldNotRetrieveKey`).
pub const COULD_NOT_RETRIEVE_KEY: u8 = 128;
/// `edit` ended with the file unchanged (sops' `FileHasNotBeenModified`).
pub const FILE_HAS_NOT_BEEN_MODIFIED: u8 = 200;
/// The editor could not be started or failed (sops' `NoEditorFound`).
pub const NO_EDITOR_FOUND: u8 = 201;
/// `encrypt` of a file that already has `sops` metadata
/// (sops' `FileAlreadyEncrypted`).
pub const FILE_ALREADY_ENCRYPTED: u8 = 203;

/// seal only: the command line is wrong (an unknown flag, a missing
/// argument). sops exits 1 for these.
pub const USAGE: u8 = 64;
/// seal only: `seal verify` found a problem in at least one file.
pub const VERIFY_FAILED: u8 = 65;
/// seal only: a SealedSecret decrypts but is bound to another
/// namespace/name, or its value names changed since it was sealed.
pub const SCOPE_MISMATCH: u8 = 66;
/// seal only: the input asks for something seal does not implement (pgp,
/// kms, … keys; a file type it does not know) or refuses to write (one
/// file sealed to both hybrid `age1pq1…` and X25519 recipients, wherever
/// they come from: flags, a recipients file, `.sops.yaml`, the file's own
/// recipients on `rotate`). sops would go on.
pub const UNSUPPORTED: u8 = 67;
/// seal only: the input is beyond seal's reader limits (size, depth,
/// expanded aliases). sops has no such limits.
pub const LIMIT: u8 = 68;
