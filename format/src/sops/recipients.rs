//! Wrapping the data key for age recipients (one armored age file per
//! recipient, as sops writes) and recovering it with age identities,
//! including Shamir-split key groups (`shamir/shamir.go`).

use std::io::{Read, Write};
use std::str::FromStr;

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use zeroize::Zeroizing;

use super::cipher::DataKey;
use super::error::Error;
use super::metadata::{AgeEntry, KeyGroup, Metadata};

/// A parsed age X25519 recipient.
#[derive(Clone)]
pub struct Recipient {
    text: String,
    key: age::x25519::Recipient,
}

impl Recipient {
    /// Parses an `age1…` recipient (trimmed, as sops does).
    pub fn parse(s: &str) -> Result<Recipient, Error> {
        let text = s.trim().to_owned();
        let key = age::x25519::Recipient::from_str(&text).map_err(|e| Error::Recipient {
            recipient: text.clone(),
            reason: if text.starts_with("ssh-") || text.starts_with("age1") && text.matches('1').count() > 1 {
                "SSH and plugin recipients are not supported by seal; use an age X25519 recipient (age1…)".into()
            } else {
                format!("not a valid age recipient ({e})")
            },
        })?;
        Ok(Recipient { text, key })
    }

    /// The recipient string.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// A set of age identities that may decrypt data keys. No `Debug`.
#[derive(Clone, Default)]
pub struct Identities {
    keys: Vec<age::x25519::Identity>,
}

impl Identities {
    /// No identities.
    pub fn new() -> Identities {
        Identities::default()
    }

    /// Adds one identity.
    pub fn push(&mut self, id: age::x25519::Identity) {
        self.keys.push(id);
    }

    /// Parses identity text: one `AGE-SECRET-KEY-1…` per line; blank lines
    /// and `#` comments skipped; anything else is an error naming the line.
    pub fn add_text(&mut self, text: &str, source: &str) -> Result<usize, Error> {
        let mut n = 0;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let id = age::x25519::Identity::from_str(line).map_err(|_| {
                Error::NoMatchingKey(format!(
                    "{source}, line {}: not an age identity (expected AGE-SECRET-KEY-1…)",
                    i + 1
                ))
            })?;
            self.keys.push(id);
            n += 1;
        }
        Ok(n)
    }

    /// How many identities are loaded.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when none are loaded.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The public recipients of the loaded identities.
    pub fn recipients(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.to_public().to_string()).collect()
    }

    fn as_dyn(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.keys.iter().map(|k| k as &dyn age::Identity)
    }
}

/// Encrypts `secret` to one recipient as an armored age file.
pub fn wrap(secret: &[u8], recipient: &Recipient) -> Result<String, Error> {
    let enc = age::Encryptor::with_recipients(std::iter::once(&recipient.key as &dyn age::Recipient))
        .map_err(|e| Error::Wrap(e.to_string()))?;
    let mut out = Vec::with_capacity(400);
    let io = |e: std::io::Error| Error::Wrap(e.to_string());
    let armor = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).map_err(io)?;
    let mut w = enc.wrap_output(armor).map_err(io)?;
    w.write_all(secret).map_err(io)?;
    w.finish().and_then(|a| a.finish()).map_err(io)?;
    let mut s = String::from_utf8(out).map_err(|_| Error::Wrap("armor is not text".into()))?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// Largest wrapped data key accepted (an age file of one or two stanzas and
/// a 32-byte key is a few hundred bytes).
pub const MAX_AGE_FILE: usize = 16 * 1024;
/// Most stanzas an age file may have: each costs an X25519 operation per
/// identity, so thousands of them would make one document slow for all.
pub const MAX_STANZAS: usize = 16;
/// Largest payload (a data key or a Shamir share) accepted.
const MAX_PAYLOAD: u64 = 1024;

/// Decrypts one armored age file with any of the identities.
pub fn unwrap(enc: &str, ids: &Identities) -> Result<Zeroizing<Vec<u8>>, String> {
    if enc.len() > MAX_AGE_FILE {
        return Err(format!("the age file is larger than {MAX_AGE_FILE} bytes"));
    }
    let mut binary = Vec::new();
    ArmoredReader::new(enc.as_bytes())
        .take(MAX_AGE_FILE as u64)
        .read_to_end(&mut binary)
        .map_err(|e| format!("the age file is damaged ({e})"))?;
    let stanzas = count_stanzas(&binary);
    if stanzas > MAX_STANZAS {
        return Err(format!("the age file has {stanzas} stanzas; at most {MAX_STANZAS} are accepted"));
    }
    let dec = age::Decryptor::new_buffered(&binary[..]).map_err(|e| format!("the age file is damaged ({e})"))?;
    let r = dec.decrypt(ids.as_dyn()).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys => "no matching identity".to_owned(),
        other => format!("age decryption failed ({other})"),
    })?;
    let mut out = Zeroizing::new(Vec::with_capacity(33));
    r.take(MAX_PAYLOAD).read_to_end(&mut out).map_err(|e| format!("the age payload is damaged ({e})"))?;
    Ok(out)
}

/// The number of recipient stanzas (`-> ` lines) in an age header, up to
/// the header's end (`--- `).
fn count_stanzas(binary: &[u8]) -> usize {
    let mut n = 0;
    for line in binary.split(|b| *b == b'\n') {
        if line.starts_with(b"--- ") {
            break;
        }
        if line.starts_with(b"-> ") {
            n += 1;
        }
    }
    n
}

/// Builds key groups for a new data key: one group (every recipient wraps
/// the whole key) or, with several groups, Shamir shares.
pub fn wrap_groups(key: &DataKey, groups: &[Vec<Recipient>], threshold: usize) -> Result<Vec<KeyGroup>, Error> {
    if groups.len() <= 1 {
        let rs = groups.first().map(Vec::as_slice).unwrap_or(&[]);
        if rs.is_empty() {
            return Err(Error::Recipient {
                recipient: String::new(),
                reason: "no recipients: give --age, a recipients file, or a .sops.yaml creation rule".into(),
            });
        }
        let age = rs
            .iter()
            .map(|r| Ok(AgeEntry { recipient: r.as_str().to_owned(), enc: wrap(key.as_bytes(), r)? }))
            .collect::<Result<_, Error>>()?;
        return Ok(vec![KeyGroup { age, other: Vec::new() }]);
    }
    let t = if threshold == 0 { groups.len() } else { threshold };
    let shares = shamir::split(key.as_bytes(), groups.len(), t)?;
    groups
        .iter()
        .zip(shares.iter())
        .map(|(rs, share)| {
            let age = rs
                .iter()
                .map(|r| Ok(AgeEntry { recipient: r.as_str().to_owned(), enc: wrap(share, r)? }))
                .collect::<Result<_, Error>>()?;
            Ok(KeyGroup { age, other: Vec::new() })
        })
        .collect()
}

/// Re-wraps an existing data key for the given recipients, keeping the
/// entries of recipients that are already present (their `enc` unchanged).
pub fn rewrap_single(key: &DataKey, existing: &KeyGroup, recipients: &[Recipient]) -> Result<KeyGroup, Error> {
    let mut age = Vec::new();
    for r in recipients {
        match existing.age.iter().find(|a| a.recipient == r.as_str()) {
            Some(a) => age.push(a.clone()),
            None => age.push(AgeEntry { recipient: r.as_str().to_owned(), enc: wrap(key.as_bytes(), r)? }),
        }
    }
    Ok(KeyGroup { age, other: existing.other.clone() })
}

/// Recovers the data key from the metadata with the given identities.
pub fn recover(md: &Metadata, ids: &Identities) -> Result<DataKey, Error> {
    let mut reasons: Vec<String> = Vec::new();
    if ids.is_empty() {
        return Err(Error::NoMatchingKey(
            "no age identity was found; set SOPS_AGE_KEY_FILE or SOPS_AGE_KEY, pass --identity, or put keys in ~/.config/sops/age/keys.txt".into(),
        ));
    }
    let mut shares: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    for (gi, g) in md.key_groups.iter().enumerate() {
        for a in &g.age {
            match unwrap(&a.enc, ids) {
                Ok(bytes) => {
                    shares.push(bytes);
                    break;
                }
                Err(e) => reasons.push(format!("{}: {e}", a.recipient)),
            }
        }
        if md.key_groups.len() == 1 {
            break;
        }
        let _ = gi;
    }
    let recipients: Vec<&str> = md.recipients().collect();
    let none = || {
        Error::NoMatchingKey(format!(
            "the file is encrypted for {} but the {} loaded identit{} (public key{} {}) match none of them",
            if recipients.is_empty() { "no age recipient".to_owned() } else { recipients.join(", ") },
            ids.len(),
            if ids.len() == 1 { "y" } else { "ies" },
            if ids.len() == 1 { "" } else { "s" },
            ids.recipients().join(", ")
        ))
    };
    if md.key_groups.len() <= 1 {
        let first = shares.into_iter().next().ok_or_else(|| {
            if reasons.iter().all(|r| r.ends_with("no matching identity")) {
                none()
            } else {
                Error::NoMatchingKey(reasons.join("; "))
            }
        })?;
        return DataKey::from_slice(&first)
            .ok_or_else(|| Error::NoMatchingKey(format!("the data key is {} bytes, expected 32", first.len())));
    }
    let t = if md.shamir_threshold == 0 { md.key_groups.len() } else { md.shamir_threshold };
    if shares.len() < t {
        return Err(Error::NoMatchingKey(format!(
            "Shamir threshold {t} of {} key groups not reached: only {} group(s) could be decrypted",
            md.key_groups.len(),
            shares.len()
        )));
    }
    let key = shamir::combine(&shares[..t])?;
    DataKey::from_slice(&key).ok_or_else(|| Error::NoMatchingKey("the combined data key is not 32 bytes".into()))
}

/// Shamir's secret sharing over GF(2^8) with the AES polynomial, in sops'
/// share layout: y-values followed by one x-coordinate byte.
pub mod shamir {
    use super::Error;
    use zeroize::Zeroizing;

    fn mul(mut a: u8, mut b: u8) -> u8 {
        let mut p = 0u8;
        while b != 0 {
            if b & 1 != 0 {
                p ^= a;
            }
            let hi = a & 0x80;
            a <<= 1;
            if hi != 0 {
                a ^= 0x1b;
            }
            b >>= 1;
        }
        p
    }

    fn inv(a: u8) -> u8 {
        // a^254 = a^-1 in GF(2^8)
        let mut r = 1u8;
        let mut base = a;
        let mut e = 254u32;
        while e > 0 {
            if e & 1 == 1 {
                r = mul(r, base);
            }
            base = mul(base, base);
            e >>= 1;
        }
        r
    }

    /// Splits `secret` into `parts` shares, any `threshold` of which recover it.
    /// Share `i` has x-coordinate `i + 1`.
    pub fn split(secret: &[u8], parts: usize, threshold: usize) -> Result<Vec<Zeroizing<Vec<u8>>>, Error> {
        if threshold < 2 || threshold > parts || parts > 255 {
            return Err(Error::Metadata(format!("invalid Shamir parameters: threshold {threshold} of {parts} groups")));
        }
        let mut shares: Vec<Zeroizing<Vec<u8>>> =
            (0..parts).map(|_| Zeroizing::new(Vec::with_capacity(secret.len() + 1))).collect();
        let mut coeffs = Zeroizing::new(vec![0u8; threshold]);
        for &s in secret {
            coeffs[0] = s;
            getrandom::fill(&mut coeffs[1..]).map_err(|_| Error::Cipher(super::super::cipher::CipherError::Random))?;
            for (i, share) in shares.iter_mut().enumerate() {
                let x = (i + 1) as u8;
                let mut y = 0u8;
                for &c in coeffs.iter().rev() {
                    y = mul(y, x) ^ c;
                }
                share.push(y);
            }
        }
        for (i, share) in shares.iter_mut().enumerate() {
            share.push((i + 1) as u8);
        }
        Ok(shares)
    }

    /// Recovers the secret from shares (Lagrange interpolation at x = 0).
    pub fn combine(shares: &[Zeroizing<Vec<u8>>]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let len = shares.first().map(|s| s.len()).unwrap_or(0);
        if len < 2 || shares.iter().any(|s| s.len() != len) {
            return Err(Error::NoMatchingKey("Shamir shares have different lengths".into()));
        }
        let xs: Vec<u8> = shares.iter().map(|s| s[len - 1]).collect();
        let mut out = Zeroizing::new(Vec::with_capacity(len - 1));
        for b in 0..len - 1 {
            let mut acc = 0u8;
            for (i, s) in shares.iter().enumerate() {
                let mut num = 1u8;
                let mut den = 1u8;
                for (j, &xj) in xs.iter().enumerate() {
                    if i != j {
                        num = mul(num, xj);
                        den = mul(den, xs[i] ^ xj);
                    }
                }
                if den == 0 {
                    return Err(Error::NoMatchingKey("duplicate Shamir shares".into()));
                }
                acc ^= mul(s[b], mul(num, inv(den)));
            }
            out.push(acc);
        }
        Ok(out)
    }
}
