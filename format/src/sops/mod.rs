//! The SOPS file format (age back end), shared by the `seal` CLI and the
//! controller. Specified in `docs/sops-format.md`; compatible
//! with sops 3.11 in both directions.
//!
//! This module knows nothing of Kubernetes or async runtimes: it turns bytes
//! into trees, trees into encrypted trees and back.
//!
//! Reading order: [`value`] (the tree), [`cipher`] (one value's envelope),
//! [`metadata`] (the `sops` block), [`recipients`] (the data key wrapped for age recipients), then the
//! walk below (which values are encrypted, the MAC), then the stores
//! ([`yaml`], [`json`], [`dotenv`]).

pub mod cipher;
pub mod compare;
pub mod dotenv;
pub mod error;
pub mod hybrid;
pub mod ini;
pub mod json;
pub mod limits;
pub mod metadata;
pub mod recipients;
pub mod tree_path;
pub mod value;
pub mod yaml;
mod yaml_block;
mod yaml_tabs;

use sha2::{Digest, Sha512};

pub use cipher::{Cipher, CipherError, DataKey};
pub use error::Error;
pub use metadata::{Metadata, Rule};
pub use recipients::{Identities, Recipient};
pub use value::{Item, Map, Text, Value};

use error::display_path;

/// `SHA-256("sops")`, fed first into the MAC when `mac_only_encrypted` is set
/// (`sops.go: MACOnlyEncryptedInitialization`).
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b, 0x0b, 0x97, 0x5b,
    0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// The file formats sops knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// YAML, possibly several documents.
    Yaml,
    /// JSON.
    Json,
    /// `KEY=VALUE` lines.
    Dotenv,
    /// INI sections of `key = value` lines.
    Ini,
    /// Any bytes, stored as one string under `data` in a JSON envelope.
    Binary,
}

impl Format {
    /// Detection by file suffix, as sops does (`formats.go: FormatForPath`).
    pub fn from_path(path: &str) -> Format {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Format::Yaml
        } else if lower.ends_with(".json") {
            Format::Json
        } else if lower.ends_with(".env") {
            Format::Dotenv
        } else if lower.ends_with(".ini") {
            Format::Ini
        } else {
            Format::Binary
        }
    }

    /// Parses a `--input-type`/`--output-type` name.
    pub fn from_name(name: &str) -> Option<Format> {
        Some(match name {
            "yaml" | "yml" => Format::Yaml,
            "json" => Format::Json,
            "dotenv" | "env" => Format::Dotenv,
            "ini" => Format::Ini,
            "binary" => Format::Binary,
            _ => return None,
        })
    }

    /// Human name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "YAML",
            Format::Json => "JSON",
            Format::Dotenv => "dotenv",
            Format::Ini => "INI",
            Format::Binary => "binary",
        }
    }
}

fn utf8(bytes: &[u8], format: Format) -> Result<&str, Error> {
    std::str::from_utf8(bytes).map_err(|e| Error::Syntax {
        format: format.name(),
        reason: format!("the input is not UTF-8 (invalid byte at offset {})", e.valid_up_to()),
    })
}

/// Parses a plaintext file into branches (several only for YAML).
pub fn parse_plain(bytes: &[u8], format: Format) -> Result<Vec<Map>, Error> {
    limits::check_input_size(bytes.len())?;
    let branches = match format {
        Format::Yaml => yaml::parse(utf8(bytes, format)?)?,
        Format::Json => vec![json::parse(utf8(bytes, format)?)?],
        Format::Dotenv => vec![dotenv::parse(utf8(bytes, format)?)?],
        Format::Ini => vec![ini::parse(utf8(bytes, format)?)?],
        Format::Binary => {
            let text = std::str::from_utf8(bytes).map_err(|_| {
                Error::Structure(
                    "binary input must be UTF-8 text to be stored by sops; base64-encode it first (e.g. seal secret --from-file)"
                        .into(),
                )
            })?;
            let mut m = Map::new();
            m.push("data", Value::str(text));
            vec![m]
        }
    };
    for (i, b) in branches.iter().enumerate() {
        if b.get("sops").is_some() {
            return Err(Error::Structure(format!(
                "document {} already has a top-level `sops` key: the file is already encrypted",
                i + 1
            )));
        }
        if format == Format::Dotenv && b.pairs().any(|(k, _)| k.starts_with("sops_")) {
            return Err(Error::Structure("dotenv keys may not start with `sops_` (reserved for the metadata)".into()));
        }
    }
    Ok(branches)
}

/// How YAML and JSON files are indented: sops' `stores` settings in
/// `.sops.yaml` (`yaml.indent`, `json.indent`, `json_binary.indent`) and
/// its `--indent` flag, with sops' meanings. The default is sops' own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// YAML: 0 is sops' 4; 2 to 9 spaces (go-yaml writes 2 for any other
    /// positive number); negative is refused.
    pub yaml: i64,
    /// JSON: -1 is a tab; 0 or more, that many spaces (0: one line per
    /// value, none indented); below -1 is refused.
    pub json: i64,
    /// The JSON of the binary format's encrypted file, as `json`.
    pub json_binary: i64,
}

impl Default for Layout {
    fn default() -> Layout {
        Layout { yaml: 0, json: -1, json_binary: -1 }
    }
}

/// Most spaces of JSON indentation seal writes (sops has no bound).
pub const MAX_JSON_INDENT: i64 = 64;

impl Layout {
    /// The YAML indentation, as sops' YAML store and go-yaml make it.
    pub fn yaml_indent(&self) -> Result<usize, Error> {
        match self.yaml {
            0 => Ok(4),
            n @ 2..=9 => Ok(n.unsigned_abs() as usize),
            n if n > 0 => Ok(2),
            _ => Err(Error::Emit { format: "YAML", reason: "YAML Negative indentation not accepted".into() }),
        }
    }

    /// The JSON indentation string for `format` (JSON or binary).
    pub fn json_indent(&self, format: Format) -> Result<String, Error> {
        let n = if format == Format::Binary { self.json_binary } else { self.json };
        match n {
            -1 => Ok("\t".to_owned()),
            n @ 0..=MAX_JSON_INDENT => Ok(" ".repeat(n.unsigned_abs() as usize)),
            n if n > 0 => Err(Error::Limit(format!(
                "a JSON indentation of {n} spaces is more than seal writes ({MAX_JSON_INDENT}); set a smaller indent"
            ))),
            _ => Err(Error::Emit {
                format: "JSON",
                reason: "JSON Indentation parameter smaller than -1 is not accepted".into(),
            }),
        }
    }
}

/// Writes branches as plaintext.
pub fn emit_plain(branches: &[Map], format: Format) -> Result<Vec<u8>, Error> {
    emit_plain_in(branches, format, &Layout::default())
}

/// Writes branches as plaintext, indented as `layout` says.
pub fn emit_plain_in(branches: &[Map], format: Format, layout: &Layout) -> Result<Vec<u8>, Error> {
    Ok(match format {
        Format::Yaml => yaml::emit(&branches.iter().collect::<Vec<_>>(), layout.yaml_indent()?).into_bytes(),
        Format::Json => json::emit(single(branches, format)?, &layout.json_indent(format)?)?.into_bytes(),
        Format::Dotenv => dotenv::emit(single(branches, format)?)?.into_bytes(),
        Format::Ini => ini::emit(single(branches, format)?)?.into_bytes(),
        Format::Binary => match single(branches, format)?.get("data") {
            Some(Value::Str(s)) => s.as_bytes().to_vec(),
            _ => {
                return Err(Error::Emit { format: "binary", reason: "the document has no string `data` key".into() });
            }
        },
    })
}

fn single(branches: &[Map], format: Format) -> Result<&Map, Error> {
    match branches {
        [one] => Ok(one),
        _ => Err(Error::Emit {
            format: format.name(),
            reason: format!("{} documents cannot be written as one {} file", branches.len(), format.name()),
        }),
    }
}

/// An encrypted file: the tree (values as `ENC[…]`) and its metadata.
#[derive(Clone)]
pub struct EncryptedDocument {
    /// One map per document.
    pub branches: Vec<Map>,
    /// The `sops` block.
    pub metadata: Metadata,
}

/// Reads an encrypted file. The metadata comes from the first document;
/// copies in later YAML documents are dropped.
pub fn parse_encrypted(bytes: &[u8], format: Format) -> Result<EncryptedDocument, Error> {
    limits::check_input_size(bytes.len())?;
    let mut branches = match format {
        Format::Yaml => yaml::parse(utf8(bytes, format)?)?,
        Format::Json | Format::Binary => vec![json::parse(utf8(bytes, format)?)?],
        Format::Dotenv => vec![dotenv::parse(utf8(bytes, format)?)?],
        Format::Ini => vec![ini::parse(utf8(bytes, format)?)?],
    };
    let meta_map = if format == Format::Ini {
        // The `[sops]` section, flattened as for dotenv, line breaks as `\n`.
        let b = &mut branches[0];
        let mut flat = Vec::new();
        let mut found = false;
        b.items.retain(|item| match item {
            Item::Pair(k, Value::Map(section)) if k == "sops" => {
                found = true;
                for (k, v) in section.pairs() {
                    flat.push((k.to_owned(), v.as_str().unwrap_or_default().replace("\\n", "\n")));
                }
                false
            }
            _ => true,
        });
        if found { Some(metadata::unflatten(&flat)?) } else { None }
    } else if format == Format::Dotenv {
        let b = &mut branches[0];
        let mut flat = Vec::new();
        b.items.retain(|item| match item {
            Item::Pair(k, v) if k.starts_with("sops_") => {
                flat.push((k["sops_".len()..].to_owned(), v.as_str().unwrap_or_default().to_owned()));
                false
            }
            _ => true,
        });
        if flat.is_empty() { None } else { Some(metadata::unflatten(&flat)?) }
    } else {
        let mut first = None;
        for b in branches.iter_mut() {
            let m = b.remove("sops");
            if first.is_none() {
                first = Some(m);
            }
        }
        match first.flatten() {
            Some(Value::Map(m)) => Some(m),
            Some(_) => return Err(Error::Metadata("the `sops` key must be a mapping".into())),
            None => None,
        }
    };
    let meta_map = meta_map.ok_or_else(|| {
        Error::Metadata("the file has no `sops` metadata: it is not encrypted (or not a sops file)".into())
    })?;
    let metadata = Metadata::from_map(&meta_map)?;
    Ok(EncryptedDocument { branches, metadata })
}

/// Writes an encrypted file; the metadata goes last in every document.
pub fn emit_encrypted(doc: &EncryptedDocument, format: Format) -> Result<Vec<u8>, Error> {
    emit_encrypted_in(doc, format, &Layout::default())
}

/// Writes an encrypted file, indented as `layout` says.
pub fn emit_encrypted_in(doc: &EncryptedDocument, format: Format, layout: &Layout) -> Result<Vec<u8>, Error> {
    let meta = doc.metadata.to_map();
    Ok(match format {
        Format::Yaml => {
            let indent = layout.yaml_indent()?;
            let with_meta: Vec<Map> = doc
                .branches
                .iter()
                .map(|b| {
                    let mut b = b.clone();
                    b.push("sops", Value::Map(meta.clone()));
                    b
                })
                .collect();
            yaml::emit(&with_meta.iter().collect::<Vec<_>>(), indent).into_bytes()
        }
        Format::Json | Format::Binary => {
            let mut b = single(&doc.branches, format)?.clone();
            b.push("sops", Value::Map(meta));
            json::emit(&b, &layout.json_indent(format)?)?.into_bytes()
        }
        Format::Dotenv => {
            let mut b = single(&doc.branches, format)?.clone();
            for (k, v) in metadata::flatten(&meta, "sops_") {
                b.push(&k, Value::str(v));
            }
            dotenv::emit(&b)?.into_bytes()
        }
        Format::Ini => {
            let mut b = single(&doc.branches, format)?.clone();
            let mut section = Map::new();
            for (k, v) in metadata::flatten(&meta, "") {
                section.push(&k, Value::str(v.replace('\n', "\\n")));
            }
            b.push("sops", Value::Map(section));
            ini::emit(&b)?.into_bytes()
        }
    })
}

/// What to encrypt and for whom.
pub struct EncryptOptions {
    /// Recipient groups: one group normally; several for Shamir.
    pub groups: Vec<Vec<Recipient>>,
    /// Shamir quorum (0 = all groups).
    pub shamir_threshold: usize,
    /// Which values to encrypt.
    pub rule: Rule,
    /// MAC only over encrypted values.
    pub mac_only_encrypted: bool,
}

/// Encrypts plaintext branches with a new data key.
pub fn encrypt_document(mut branches: Vec<Map>, opts: &EncryptOptions) -> Result<EncryptedDocument, Error> {
    let key = DataKey::generate()?;
    let key_groups = recipients::wrap_groups(&key, &opts.groups, opts.shamir_threshold)?;
    let mut metadata = Metadata {
        key_groups,
        shamir_threshold: if opts.groups.len() > 1 { opts.shamir_threshold } else { 0 },
        rule: opts.rule.clone(),
        mac_only_encrypted: opts.mac_only_encrypted,
        version: metadata::FORMAT_VERSION.to_owned(),
        ..Metadata::default()
    };
    let cipher = Cipher::new(key);
    encrypt_tree(&mut branches, &mut metadata, &cipher)?;
    Ok(EncryptedDocument { branches, metadata })
}

/// Options for decryption.
#[derive(Clone, Copy)]
pub struct DecryptOptions {
    /// Verify the MAC (off only for explicit `--ignore-mac`).
    pub verify_mac: bool,
    /// Remember IVs so unchanged values re-encrypt identically.
    pub stash: bool,
}

impl Default for DecryptOptions {
    fn default() -> Self {
        DecryptOptions { verify_mac: true, stash: false }
    }
}

/// Recovers the data key with `ids` and decrypts. Returns the plaintext
/// branches and the cipher (holding the key and, if asked, the IV stash).
pub fn decrypt_document(
    doc: EncryptedDocument,
    ids: &Identities,
    opts: DecryptOptions,
) -> Result<(Vec<Map>, Metadata, Cipher), Error> {
    let key = recipients::recover(&doc.metadata, ids)?;
    decrypt_with_key(doc, key, opts)
}

/// Decrypts with a known data key.
pub fn decrypt_with_key(
    doc: EncryptedDocument,
    key: DataKey,
    opts: DecryptOptions,
) -> Result<(Vec<Map>, Metadata, Cipher), Error> {
    let EncryptedDocument { mut branches, metadata } = doc;
    let mut cipher = if opts.stash { Cipher::with_stash(key) } else { Cipher::new(key) };
    decrypt_tree(&mut branches, &metadata, &mut cipher, opts.verify_mac)?;
    Ok((branches, metadata, cipher))
}

/// The current time as sops writes `lastmodified`.
pub fn now_lastmodified() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `lastmodified` re-formatted as Go's `time.RFC3339` after parsing: the
/// additional data of the MAC.
pub fn mac_aad(lastmodified: &str) -> Result<String, Error> {
    let t = chrono::DateTime::parse_from_rfc3339(lastmodified.trim())
        .map_err(|_| Error::Metadata("lastmodified is not an RFC 3339 time".into()))?;
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let off = t.offset().local_minus_utc();
    Ok(if off == 0 { base + "Z" } else { format!("{base}{}", t.format("%:z")) })
}

/// Encrypts every selected value in place, sets `lastmodified` and the MAC.
pub fn encrypt_tree(branches: &mut [Map], md: &mut Metadata, cipher: &Cipher) -> Result<(), Error> {
    let mut hasher = Sha512::new();
    if md.mac_only_encrypted {
        hasher.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    let mac_only = md.mac_only_encrypted;
    let mut walk = Walk::new(&md.rule);
    for b in branches.iter_mut() {
        walk.map(b, &mut |v, aad, encrypted| {
            let is_comment = matches!(v, Value::Comment(_));
            if (encrypted || !mac_only)
                && !is_comment
                && let Some((bytes, _)) = cipher::plaintext_bytes(v)
            {
                hasher.update(&bytes[..]);
            }
            if encrypted {
                let enc =
                    cipher.encrypt_value(v, aad).map_err(|source| Error::Value { path: display_path(aad), source })?;
                *v = Value::Str(Text::new(enc));
            }
            Ok(())
        })?;
    }
    md.lastmodified = now_lastmodified();
    let mac = hex::encode_upper(hasher.finalize());
    md.mac = cipher.encrypt(mac.as_bytes(), "str", &mac_aad(&md.lastmodified)?)?;
    Ok(())
}

/// Decrypts every selected value in place and (optionally) verifies the MAC.
pub fn decrypt_tree(branches: &mut [Map], md: &Metadata, cipher: &mut Cipher, verify_mac: bool) -> Result<(), Error> {
    let mut hasher = Sha512::new();
    if md.mac_only_encrypted {
        hasher.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    let mac_only = md.mac_only_encrypted;
    let mut walk = Walk::new(&md.rule);
    for b in branches.iter_mut() {
        walk.map(b, &mut |v, aad, encrypted| {
            if encrypted {
                match v {
                    Value::Str(s) => {
                        *v = cipher
                            .decrypt_value(s, aad)
                            .map_err(|source| Error::Value { path: display_path(aad), source })?;
                    }
                    Value::Comment(c) => {
                        // A mapping comment that does not decrypt was added in
                        // clear (by hand or an old sops): kept as it is.
                        if let Ok(Value::Comment(plain)) = cipher.decrypt_value(c, aad) {
                            *v = Value::Comment(plain);
                        }
                    }
                    other => {
                        return Err(Error::NotEncrypted { path: display_path(aad), kind: other.kind() });
                    }
                }
            }
            if (encrypted || !mac_only)
                && !matches!(v, Value::Comment(_))
                && let Some((bytes, _)) = cipher::plaintext_bytes(v)
            {
                hasher.update(&bytes[..]);
            }
            Ok(())
        })?;
    }
    if !verify_mac {
        return Ok(());
    }
    if md.mac.is_empty() {
        return Err(Error::MacMissing);
    }
    let computed = hex::encode_upper(hasher.finalize());
    let (stored, _) = cipher.decrypt(&md.mac, &mac_aad(&md.lastmodified)?).map_err(Error::MacUndecryptable)?;
    if stored.as_slice() != computed.as_bytes() {
        return Err(Error::MacMismatch { hint: String::new() });
    }
    Ok(())
}

/// The tree walk of `sops.go: walkBranch`/`walkSlice`: depth-first in
/// document order, list items sharing their key's path, comments as leaves.
struct Walk<'r> {
    rule: &'r Rule,
    /// `join(path, ":") + ":"`, the additional data of the current leaf.
    aad: String,
    /// For each depth, whether any path component so far matched the rule.
    matched: Vec<bool>,
    /// The comments seen since the last value, per nesting level.
    comments: Vec<Vec<String>>,
}

type Leaf<'f> = dyn FnMut(&mut Value, &str, bool) -> Result<(), Error> + 'f;

impl<'r> Walk<'r> {
    fn new(rule: &'r Rule) -> Walk<'r> {
        Walk { rule, aad: String::with_capacity(128), matched: vec![false], comments: Vec::new() }
    }

    /// `sops.go: shouldBeEncrypted`.
    fn should_encrypt(&self, is_comment: bool) -> bool {
        let any = *self.matched.last().unwrap_or(&false);
        match self.rule {
            Rule::UnencryptedSuffix(_) | Rule::UnencryptedRegex(_) => !any,
            Rule::Everything => true,
            Rule::EncryptedSuffix(_) | Rule::EncryptedRegex(_) => any,
            Rule::UnencryptedCommentRegex(re) => !self.comments.iter().flatten().any(|c| re.is_match(c)),
            Rule::EncryptedCommentRegex(re) => {
                let last_level = self.comments.len().saturating_sub(1);
                let last_len = self.comments.last().map_or(0, Vec::len);
                self.comments.iter().enumerate().any(|(i, cs)| {
                    cs.iter().enumerate().any(|(j, c)| {
                        // The comment line that matches is itself left clear.
                        !(is_comment && i == last_level && j + 1 == last_len) && re.is_match(c)
                    })
                })
            }
        }
    }

    fn note_comment(&mut self, text: &str) {
        if self.rule.is_comment_rule()
            && let Some(top) = self.comments.last_mut()
        {
            top.push(text.to_owned());
        }
    }

    fn clear_comments(&mut self) {
        if let Some(top) = self.comments.last_mut() {
            top.clear();
        }
    }

    fn map(&mut self, m: &mut Map, f: &mut Leaf<'_>) -> Result<(), Error> {
        self.comments.push(Vec::new());
        for item in m.items.iter_mut() {
            match item {
                Item::Comment(c) => {
                    self.note_comment(c);
                    let enc = self.should_encrypt(true);
                    let mut v = Value::Comment(std::mem::take(c));
                    // The empty path joins to "" and gets its ":" like any other.
                    let r = f(&mut v, if self.aad.is_empty() { ":" } else { &self.aad }, enc);
                    *c = match v {
                        Value::Comment(t) | Value::Str(t) => t,
                        _ => Text::default(),
                    };
                    r?;
                }
                Item::Pair(k, v) => {
                    let len = self.aad.len();
                    self.aad.push_str(k);
                    self.aad.push(':');
                    let parent = *self.matched.last().unwrap_or(&false);
                    self.matched.push(parent || self.rule.component_matches(k));
                    let r = self.value(v, f);
                    self.matched.pop();
                    self.aad.truncate(len);
                    r?;
                    self.clear_comments();
                }
            }
        }
        self.comments.pop();
        Ok(())
    }

    fn value(&mut self, v: &mut Value, f: &mut Leaf<'_>) -> Result<(), Error> {
        match v {
            Value::Map(m) => self.map(m, f),
            Value::List(l) => {
                self.comments.push(Vec::new());
                for item in l.iter_mut() {
                    let is_comment = if let Value::Comment(c) = item {
                        let text = c.as_str().to_owned();
                        self.note_comment(&text);
                        true
                    } else {
                        false
                    };
                    self.value(item, f)?;
                    if !is_comment {
                        self.clear_comments();
                    }
                }
                self.comments.pop();
                Ok(())
            }
            Value::Null => Ok(()),
            leaf => {
                let enc = self.should_encrypt(matches!(leaf, Value::Comment(_)));
                f(leaf, if self.aad.is_empty() { ":" } else { &self.aad }, enc)
            }
        }
    }
}

#[cfg(test)]
mod cctv_tests;
#[cfg(test)]
mod foreign_tests;
#[cfg(test)]
mod hybrid_file_tests;
#[cfg(test)]
mod limits_tests;
#[cfg(test)]
mod tests;
