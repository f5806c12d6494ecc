//! What the subcommands share: reading input (bounded), writing output
//! (stdout or an atomic in-place replace), the format from a flag or a file
//! name, recipients and `.sops.yaml` lookup, opening and re-sealing an
//! encrypted file, and the exit code of a SealedSecret check.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use seal_format::document as sealed;
use seal_format::sops::{self, DecryptOptions, EncryptedDocument, Format, Identities, Recipient};

use crate::{Failure, config, exit};

/// Reads a file, or stdin for `-`, up to one byte past the format's input
/// limit: a larger input is refused without being read whole.
pub fn read_input(file: &str) -> Result<Vec<u8>, Failure> {
    let limit = sops::limits::MAX_INPUT_BYTES as u64 + 1;
    let mut buf = Vec::new();
    if file == "-" {
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut buf)
            .map_err(|e| Failure::input(format!("cannot read stdin: {e}")))?;
    } else {
        std::fs::File::open(file).and_then(|f| f.take(limit).read_to_end(&mut buf)).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                // sops' words and code.
                let abs = std::path::absolute(file).unwrap_or_else(|_| PathBuf::from(file));
                return Failure::new(
                    exit::NO_FILE_SPECIFIED,
                    format!("Error: cannot operate on non-existent file {:?}", abs.display().to_string()),
                );
            }
            Failure::input(format!("cannot read {file}: {e}"))
        })?;
    }
    if buf.len() > sops::limits::MAX_INPUT_BYTES {
        return Err(Failure::from(sops::Error::Limit(format!(
            "the input is larger than {} MiB, the most seal reads",
            sops::limits::MAX_INPUT_BYTES >> 20
        )))
        .in_file(file));
    }
    Ok(buf)
}

/// Writes bytes to stdout.
pub fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).and_then(|_| out.flush()).map_err(|e| Failure::output(format!("cannot write to stdout: {e}")))
}

/// Replaces a file atomically (temporary file in the same folder, then
/// rename), keeping its permissions.
pub fn write_in_place(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let fail = |e: std::io::Error| Failure::output(format!("cannot write {}: {e}", path.display()));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    if let Ok(meta) = std::fs::metadata(path) {
        tmp.as_file().set_permissions(meta.permissions()).map_err(fail)?;
    }
    tmp.write_all(bytes).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Where a command's result goes: `--in-place` (the input file), `--output
/// FILE`, or stdout. Checked before any work, with sops' errors (exit 8).
pub struct OutputTarget {
    in_place: Option<PathBuf>,
    output: Option<PathBuf>,
}

impl OutputTarget {
    /// The target for `--in-place`/`--output` of the input `file` (`-` is stdin).
    pub fn new(in_place: bool, output: Option<&Path>, file: &str) -> Result<OutputTarget, Failure> {
        let conflict = |m: &str| Failure::new(exit::CONFLICTING_PARAMETERS, m);
        if in_place && output.is_some() {
            return Err(conflict("Error: cannot operate on both --output and --in-place"));
        }
        if in_place && file == "-" {
            return Err(conflict("Error: cannot use --in-place when reading from stdin"));
        }
        Ok(OutputTarget { in_place: in_place.then(|| PathBuf::from(file)), output: output.map(Path::to_path_buf) })
    }

    /// Writes the result: in place and `--output` atomically (a new
    /// `--output` file is created 0600), else to stdout.
    pub fn write(&self, bytes: &[u8]) -> Result<(), Failure> {
        match (&self.in_place, &self.output) {
            (Some(path), _) | (None, Some(path)) => write_in_place(path, bytes),
            (None, None) => write_stdout(bytes),
        }
    }
}

/// The format from a flag or the file name.
pub fn format_of(flag: Option<&str>, file: &str, default_stdin: Format) -> Result<Format, Failure> {
    match flag {
        Some(name) => Format::from_name(name).ok_or_else(|| {
            Failure::unsupported(format!("unknown type {name:?} (expected yaml, json, dotenv, ini or binary)"))
        }),
        None if file == "-" => Ok(default_stdin),
        None => Ok(Format::from_path(file)),
    }
}

/// Parses recipients, skipping blank entries (as from `--age a,,b`).
pub fn parse_recipients(list: &[String]) -> Result<Vec<Recipient>, Failure> {
    list.iter().filter(|r| !r.trim().is_empty()).map(|r| Recipient::parse(r).map_err(Failure::from)).collect()
}

/// The `.sops.yaml` to use: the explicit one, else the nearest from the current directory up.
pub fn find_config(explicit: Option<&Path>) -> Option<PathBuf> {
    explicit.map(Path::to_path_buf).or_else(|| std::env::current_dir().ok().and_then(|d| config::find(&d)))
}

/// How output is indented, as sops decides it: the `stores` section of the
/// `.sops.yaml` in use (`config`, else `SOPS_CONFIG`, else the one found
/// from the current directory), then `--indent` over every store.
pub fn layout(indent: &crate::IndentArgs, config: Option<&Path>) -> Result<sops::Layout, Failure> {
    let env = std::env::var_os("SOPS_CONFIG").filter(|v| !v.is_empty()).map(PathBuf::from);
    let found = find_config(config.or(env.as_deref()));
    let mut layout = match found {
        Some(path) => config::layout(&path).map_err(Failure::general)?,
        None => sops::Layout::default(),
    };
    if let Some(n) = indent.indent {
        layout = sops::Layout { yaml: n, json: n, json_binary: n };
    }
    Ok(layout)
}

/// Parses an encrypted file and recovers its plaintext.
pub fn open(
    file: &str,
    bytes: &[u8],
    format: Format,
    ids: &Identities,
    opts: DecryptOptions,
) -> Result<(Vec<sops::Map>, sops::Metadata, sops::Cipher), Failure> {
    let doc = sops::parse_encrypted(bytes, format).map_err(|e| encrypted_input_failure(e).in_file(file))?;
    let sealed_unsorted = doc.branches.first().filter(|b| sealed::is_sealed_secret(b)).and_then(sealed::unsorted_map);
    sops::decrypt_document(doc, ids, opts).map_err(|e| {
        let e = match (e, sealed_unsorted) {
            (sops::Error::MacMismatch { .. }, Some(path)) => sops::Error::MacMismatch {
                hint: format!(
                    ". The keys of {path} are not in sorted order; if a tool reordered them, re-seal the values with `seal secret` (seal writes sorted keys, which the Kubernetes API server keeps)"
                ),
            },
            (e, _) => e,
        };
        Failure::from(e).in_file(file)
    })
}

/// The failure of an encrypted file that does not load: sops 3.11 exits
/// 1 when it cannot parse an encrypted file or finds no `sops` metadata
/// (2 is for a plaintext input it cannot parse).
fn encrypted_input_failure(e: sops::Error) -> Failure {
    let syntax = matches!(e, sops::Error::Syntax { .. } | sops::Error::Structure(_));
    let mut f = Failure::from(e);
    if syntax {
        f.code = exit::ERROR_GENERIC;
    }
    f
}

/// The failure of a `.sops.yaml` that cannot be used: sops exits 1 for
/// these; a rule naming keys seal does not implement is seal's own refusal.
pub fn config_failure(message: String) -> Failure {
    if message.contains(config::AGE_ONLY) { Failure::unsupported(message) } else { Failure::general(message) }
}

/// Re-encrypts an edited tree with the file's data key and IV stash, so that
/// unchanged values keep their ciphertext.
pub fn reseal(
    mut branches: Vec<sops::Map>,
    mut metadata: sops::Metadata,
    cipher: &sops::Cipher,
) -> Result<EncryptedDocument, Failure> {
    if let Some(first) = branches.first_mut()
        && sealed::is_sealed_secret(first)
    {
        check_sealed_plaintext(first)?;
        sealed::normalize(first);
    }
    sops::encrypt_tree(&mut branches, &mut metadata, cipher)?;
    Ok(EncryptedDocument { branches, metadata })
}

fn check_sealed_plaintext(doc: &sops::Map) -> Result<(), Failure> {
    sealed::check_plaintext(doc).map_err(Failure::input)
}

/// The exit code of a SealedSecret check: a broken document is bad input;
/// a MAC or a value that fails is sops' code for it; a scope that does not
/// match is seal's own.
pub fn sealed_failure(e: sealed::SealedError) -> Failure {
    use sealed::SealedError as E;
    let code = match &e {
        E::InvalidDocument(_) => exit::COULD_NOT_READ_INPUT_FILE,
        E::NoMatchingKey(_) => exit::COULD_NOT_RETRIEVE_KEY,
        E::DecryptFailed(_) => exit::ERROR_DECRYPTING_TREE,
        E::MacMismatch(_) => exit::MAC_MISMATCH,
        E::ScopeMismatch(_) | E::KeysChanged(_) => exit::SCOPE_MISMATCH,
    };
    Failure { code, message: e.to_string() }
}
