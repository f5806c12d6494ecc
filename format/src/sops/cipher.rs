//! The `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` envelope
//! (`aes/cipher.go` in sops): AES-256-GCM with a 32-byte nonce, the value's
//! path as additional data, and the value's type as a tag.

use std::collections::HashMap;

use aes_gcm::aead::consts::{U12, U32};
use aes_gcm::aes::Aes256;
use aes_gcm::{AeadInOut, AesGcm, KeyInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::{Zeroize, Zeroizing};

use super::value::{Text, Time, Value};

/// AES-256-GCM with sops' 32-byte nonce.
type Gcm32 = AesGcm<Aes256, U32>;
/// Files from other writers may use the usual 12-byte nonce; sops reads them.
type Gcm12 = AesGcm<Aes256, U12>;

/// The 32-byte data key of a document. Zeroized on drop; no `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey([u8; 32]);

impl DataKey {
    /// A fresh random key from the OS.
    pub fn generate() -> Result<DataKey, CipherError> {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).map_err(|_| CipherError::Random)?;
        Ok(DataKey(k))
    }

    /// A key from exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<DataKey> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(DataKey(arr))
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Why a value could not be encrypted or decrypted. Never carries the value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CipherError {
    /// The text is not an `ENC[AES256_GCM,…]` envelope.
    #[error("not a sops encrypted value (expected ENC[AES256_GCM,data:…,iv:…,tag:…,type:…])")]
    Format,
    /// A field is not valid base64.
    #[error("the {0} field of the encrypted value is not valid base64")]
    Base64(&'static str),
    /// The nonce length is not one seal can use.
    #[error("unsupported IV length {0} (expected 32 or 12 bytes)")]
    IvLength(usize),
    /// The tag is not 16 bytes.
    #[error("the tag is {0} bytes, expected 16")]
    TagLength(usize),
    /// GCM authentication failed.
    #[error(
        "authentication failed: the ciphertext was changed, moved to another key, or encrypted with another data key"
    )]
    Authentication,
    /// The decrypted bytes do not fit the type tag.
    #[error("the decrypted value does not parse as type {0}")]
    BadType(String),
    /// An unknown type tag.
    #[error("unknown value type {0:?}")]
    UnknownType(String),
    /// No randomness.
    #[error("the operating system's random source failed")]
    Random,
}

/// Per path (AAD), the plaintexts decrypted under it, the IV each had and
/// the envelope it was read from.
type IvStash = HashMap<Box<str>, Vec<Stashed>>;

/// One decrypted value of the stash.
struct Stashed {
    plaintext: Zeroizing<Vec<u8>>,
    ty: String,
    iv: [u8; 32],
    /// The envelope, as read: re-encrypting the same plaintext and type
    /// with this IV gives the same ciphertext and tag, so `set`, `unset`
    /// and `edit` reuse it instead of encrypting every unchanged value again.
    envelope: String,
}

/// Encrypts and decrypts values under one data key, remembering the IV of
/// each decrypted (path, plaintext) pair so that re-encrypting an unchanged
/// value gives the identical ciphertext (sops' IV stash, which keeps diffs small).
pub struct Cipher {
    key: DataKey,
    gcm: Gcm32,
    /// Per path: the (plaintext, IV) pairs seen while decrypting.
    stash: Option<IvStash>,
}

/// The parts of a parsed envelope.
struct Envelope {
    data: Vec<u8>,
    iv: Vec<u8>,
    tag: Vec<u8>,
}

impl Cipher {
    /// A cipher for `key`, without the IV stash.
    pub fn new(key: DataKey) -> Cipher {
        let gcm = Gcm32::new(key.as_bytes().into());
        Cipher { key, gcm, stash: None }
    }

    /// A cipher that records decrypted IVs and reuses them on re-encryption.
    pub fn with_stash(key: DataKey) -> Cipher {
        let mut c = Cipher::new(key);
        c.stash = Some(HashMap::new());
        c
    }

    /// The data key.
    pub fn key(&self) -> &DataKey {
        &self.key
    }

    /// Encrypts `plaintext` with the given type tag and additional data.
    /// An empty plaintext is never encrypted (sops' `isEmpty`).
    pub fn encrypt(&self, plaintext: &[u8], ty: &str, aad: &str) -> Result<String, CipherError> {
        if plaintext.is_empty() {
            return Ok(String::new());
        }
        let stashed = self
            .stash
            .as_ref()
            .and_then(|s| s.get(aad))
            .and_then(|seen| seen.iter().find(|s| s.plaintext.as_slice() == plaintext));
        let iv = match stashed {
            Some(s) if s.ty == ty => return Ok(s.envelope.clone()),
            Some(s) => s.iv,
            None => {
                let mut iv = [0u8; 32];
                getrandom::fill(&mut iv).map_err(|_| CipherError::Random)?;
                iv
            }
        };
        let mut buf = plaintext.to_vec();
        let tag = self
            .gcm
            .encrypt_inout_detached(&iv.into(), aad.as_bytes(), buf.as_mut_slice().into())
            .map_err(|_| CipherError::Authentication)?;
        let mut out = String::with_capacity(buf.len() * 4 / 3 + 120);
        out.push_str("ENC[AES256_GCM,data:");
        B64.encode_string(&buf, &mut out);
        out.push_str(",iv:");
        B64.encode_string(iv, &mut out);
        out.push_str(",tag:");
        B64.encode_string(tag, &mut out);
        out.push_str(",type:");
        out.push_str(ty);
        out.push(']');
        Ok(out)
    }

    /// Decrypts an envelope, returning the plaintext bytes and the type tag.
    /// An empty string decrypts to an empty string.
    pub fn decrypt(&mut self, envelope: &str, aad: &str) -> Result<(Zeroizing<Vec<u8>>, String), CipherError> {
        if envelope.is_empty() {
            return Ok((Zeroizing::new(Vec::new()), "str".to_owned()));
        }
        let (env, ty) = parse_envelope(envelope)?;
        let Envelope { mut data, iv, tag } = env;
        if tag.len() != 16 {
            return Err(CipherError::TagLength(tag.len()));
        }
        let tag_arr: [u8; 16] = tag.as_slice().try_into().map_err(|_| CipherError::TagLength(tag.len()))?;
        let ok = match iv.len() {
            32 => {
                let nonce: [u8; 32] = iv.as_slice().try_into().map_err(|_| CipherError::IvLength(32))?;
                self.gcm
                    .decrypt_inout_detached(&nonce.into(), aad.as_bytes(), data.as_mut_slice().into(), &tag_arr.into())
                    .is_ok()
            }
            12 => {
                let nonce: [u8; 12] = iv.as_slice().try_into().map_err(|_| CipherError::IvLength(12))?;
                Gcm12::new(self.key.as_bytes().into())
                    .decrypt_inout_detached(&nonce.into(), aad.as_bytes(), data.as_mut_slice().into(), &tag_arr.into())
                    .is_ok()
            }
            n => return Err(CipherError::IvLength(n)),
        };
        let data = Zeroizing::new(data);
        if !ok {
            return Err(CipherError::Authentication);
        }
        if let (Some(stash), Ok(iv)) = (self.stash.as_mut(), <[u8; 32]>::try_from(iv.as_slice())) {
            let seen = stash.entry(Box::from(aad)).or_default();
            let entry = Stashed { plaintext: data.clone(), ty: ty.to_owned(), iv, envelope: envelope.to_owned() };
            // One IV per (path, plaintext), the last one seen, as sops' map does.
            match seen.iter_mut().find(|s| s.plaintext == data) {
                Some(slot) => *slot = entry,
                None => seen.push(entry),
            }
        }
        Ok((data, ty.to_owned()))
    }

    /// Encrypts a leaf value; the result is the envelope string (or `""`).
    pub fn encrypt_value(&self, v: &Value, aad: &str) -> Result<String, CipherError> {
        let Some((bytes, ty)) = plaintext_bytes(v) else {
            return Err(CipherError::UnknownType(v.kind().to_owned()));
        };
        self.encrypt(&bytes, ty, aad)
    }

    /// Decrypts an envelope into a typed value.
    pub fn decrypt_value(&mut self, envelope: &str, aad: &str) -> Result<Value, CipherError> {
        if envelope.is_empty() {
            return Ok(Value::str(""));
        }
        let (bytes, ty) = self.decrypt(envelope, aad)?;
        value_from_bytes(&bytes, &ty)
    }
}

/// True when the text has the shape of an encrypted value.
pub fn is_envelope(s: &str) -> bool {
    s.starts_with("ENC[AES256_GCM,data:")
}

fn parse_envelope(s: &str) -> Result<(Envelope, &str), CipherError> {
    // Same grammar as sops' anchored regex
    // ^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]
    let rest = s.strip_prefix("ENC[AES256_GCM,data:").ok_or(CipherError::Format)?;
    let close = rest.rfind(']').ok_or(CipherError::Format)?;
    let body = &rest[..close];
    let t = body.rfind(",type:").ok_or(CipherError::Format)?;
    let ty = &body[t + 6..];
    let body = &body[..t];
    let g = body.rfind(",tag:").ok_or(CipherError::Format)?;
    let tag = &body[g + 5..];
    let body = &body[..g];
    let i = body.rfind(",iv:").ok_or(CipherError::Format)?;
    let iv = &body[i + 4..];
    let data = &body[..i];
    if data.is_empty() || iv.is_empty() || tag.is_empty() || ty.is_empty() {
        return Err(CipherError::Format);
    }
    Ok((
        Envelope {
            data: B64.decode(data).map_err(|_| CipherError::Base64("data"))?,
            iv: B64.decode(iv).map_err(|_| CipherError::Base64("iv"))?,
            tag: B64.decode(tag).map_err(|_| CipherError::Base64("tag"))?,
        },
        ty,
    ))
}

/// The bytes sops encrypts and hashes for a leaf, and its type tag
/// (`aes/cipher.go: Encrypt`, `sops.go: ToBytes`). `None` for non-leaves.
pub fn plaintext_bytes(v: &Value) -> Option<(Zeroizing<Vec<u8>>, &'static str)> {
    let (bytes, ty) = match v {
        Value::Str(s) => (s.as_bytes().to_vec(), "str"),
        Value::Int(i) => (i.to_string().into_bytes(), "int"),
        Value::Float(f) => (go_format_f(*f).into_bytes(), "float"),
        Value::Bool(b) => ((if *b { "True" } else { "False" }).as_bytes().to_vec(), "bool"),
        Value::Time(t) => (t.0.as_bytes().to_vec(), "time"),
        Value::Comment(c) => (c.as_bytes().to_vec(), "comment"),
        Value::Null | Value::Map(_) | Value::List(_) => return None,
    };
    Some((Zeroizing::new(bytes), ty))
}

/// Turns decrypted bytes back into a value of the tagged type.
pub fn value_from_bytes(bytes: &[u8], ty: &str) -> Result<Value, CipherError> {
    let text = || std::str::from_utf8(bytes).map(str::to_owned).map_err(|_| CipherError::BadType(ty.to_owned()));
    Ok(match ty {
        "str" | "bytes" => Value::Str(Text::new(text()?)),
        "comment" => Value::Comment(Text::new(text()?)),
        "int" => Value::Int(text()?.parse::<i64>().map_err(|_| CipherError::BadType(ty.to_owned()))?),
        "float" => Value::Float(parse_go_float(&text()?).ok_or_else(|| CipherError::BadType(ty.to_owned()))?),
        "bool" => Value::Bool(match text()?.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
            "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
            _ => return Err(CipherError::BadType(ty.to_owned())),
        }),
        "time" => Value::Time(Time(text()?)),
        other => return Err(CipherError::UnknownType(other.to_owned())),
    })
}

/// Go's `strconv.ParseFloat` for the forms sops writes.
pub fn parse_go_float(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "nan" => Some(f64::NAN),
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => s.replace('_', "").parse::<f64>().ok(),
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest digits, no exponent.
pub fn go_format_f(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{f}")
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`, which go-yaml uses to print
/// floats: the exponent form when the decimal exponent is below -4 or at
/// least 6 (Go uses precision 6 for that decision in shortest mode).
pub fn go_format_g(f: f64) -> String {
    if !f.is_finite() {
        return go_format_f(f);
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let (mantissa, exp) = sci_parts(f);
    if !(-4..6).contains(&exp) { format_exp(&mantissa, exp) } else { format!("{f}") }
}

/// `encoding/json`'s float format: 'f' for 1e-6 <= |x| < 1e21, else 'e' with
/// a one-digit minimum exponent.
pub fn go_json_float(f: f64) -> String {
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let (m, e) = sci_parts(f);
        let sign = if e < 0 { '-' } else { '+' };
        format!("{m}e{sign}{}", e.abs())
    } else {
        format!("{f}")
    }
}

fn sci_parts(f: f64) -> (String, i32) {
    let s = format!("{f:e}");
    let (m, e) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    (m.to_owned(), e.parse().unwrap_or(0))
}

fn format_exp(mantissa: &str, exp: i32) -> String {
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}
