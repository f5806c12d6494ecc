//! Wrapping the data key for age recipients (one armored age file per
//! recipient, as sops writes) and recovering it with age identities,
//! including Shamir-split key groups (`shamir/shamir.go`).

use std::io::{Read, Write};
use std::str::FromStr;

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use zeroize::Zeroizing;

use super::cipher::DataKey;
use super::error::Error;
use super::hybrid::{HybridIdentity, HybridRecipient};
use super::metadata::{AgeEntry, KeyGroup, Metadata};

/// A parsed age recipient: X25519 (`age1…`) or the post-quantum hybrid
/// `mlkem768x25519` (`age1pq1…`).
#[derive(Clone)]
pub struct Recipient {
    text: String,
    key: RecipientKey,
}

#[derive(Clone)]
enum RecipientKey {
    X25519(age::x25519::Recipient),
    Hybrid(Box<HybridRecipient>),
}

impl Recipient {
    /// Parses an `age1…` or `age1pq1…` recipient (trimmed, as sops does).
    pub fn parse(s: &str) -> Result<Recipient, Error> {
        let text = s.trim().to_owned();
        let refuse = |reason: String| Error::Recipient { recipient: text.clone(), reason };
        if text.starts_with("age1pq1") {
            let key = HybridRecipient::parse(&text)
                .map_err(|e| refuse(format!("not a valid post-quantum age recipient ({e})")))?;
            return Ok(Recipient { key: RecipientKey::Hybrid(Box::new(key)), text });
        }
        if text.starts_with("age1tag1") || text.starts_with("age1tagpq1") {
            return Err(refuse(
                "age's tagged (hardware-key) recipients are not supported by seal; use an age X25519 (age1…) or hybrid (age1pq1…) recipient".into(),
            ));
        }
        let key = age::x25519::Recipient::from_str(&text).map_err(|e| {
            refuse(if text.starts_with("ssh-") || text.starts_with("age1") && text.matches('1').count() > 1 {
                "SSH and plugin recipients are not supported by seal; use an age X25519 (age1…) or hybrid (age1pq1…) recipient".into()
            } else {
                format!("not a valid age recipient ({e})")
            })
        })?;
        Ok(Recipient { text, key: RecipientKey::X25519(key) })
    }

    /// The recipient string.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True for a post-quantum hybrid (`age1pq1…`) recipient.
    pub fn is_post_quantum(&self) -> bool {
        matches!(self.key, RecipientKey::Hybrid(_))
    }

    fn as_dyn(&self) -> &dyn age::Recipient {
        match &self.key {
            RecipientKey::X25519(k) => k,
            RecipientKey::Hybrid(k) => k.as_ref(),
        }
    }
}

/// Refuses a set of recipients that mixes post-quantum hybrid and classic
/// X25519 keys, as age does for the recipients of one file: the data key
/// wrapped for the X25519 one would fall to a quantum computer, and with it
/// every value, so the hybrid ones would protect nothing.
pub fn check_not_mixed<'a>(recipients: impl IntoIterator<Item = &'a Recipient>) -> Result<(), Error> {
    let (mut pq, mut classic) = (None, None);
    for r in recipients {
        let slot = if r.is_post_quantum() { &mut pq } else { &mut classic };
        slot.get_or_insert(r);
    }
    if let (Some(_), Some(c)) = (pq, classic) {
        return Err(Error::MixedRecipients { recipient: c.as_str().to_owned() });
    }
    Ok(())
}

/// A set of age identities (X25519 and hybrid) that may decrypt data keys.
/// No `Debug`.
#[derive(Clone, Default)]
pub struct Identities {
    keys: Vec<age::x25519::Identity>,
    hybrid: Vec<HybridIdentity>,
}

impl Identities {
    /// No identities.
    pub fn new() -> Identities {
        Identities::default()
    }

    /// Adds one X25519 identity.
    pub fn push(&mut self, id: age::x25519::Identity) {
        self.keys.push(id);
    }

    /// Adds one post-quantum hybrid identity.
    pub fn push_hybrid(&mut self, id: HybridIdentity) {
        self.hybrid.push(id);
    }

    /// Parses identity text: one `AGE-SECRET-KEY-1…` or
    /// `AGE-SECRET-KEY-PQ-1…` per line; blank lines and `#` comments
    /// skipped; anything else is an error naming the line.
    pub fn add_text(&mut self, text: &str, source: &str) -> Result<usize, Error> {
        let mut n = 0;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.get(..19).is_some_and(|p| p.eq_ignore_ascii_case("AGE-SECRET-KEY-PQ-1")) {
                let id = HybridIdentity::parse(line).map_err(|e| {
                    Error::NoMatchingKey(format!(
                        "{source}, line {}: not a valid post-quantum age identity ({e})",
                        i + 1
                    ))
                })?;
                self.hybrid.push(id);
                n += 1;
                continue;
            }
            let id = age::x25519::Identity::from_str(line).map_err(|_| {
                Error::NoMatchingKey(format!(
                    "{source}, line {}: not an age identity (expected AGE-SECRET-KEY-1… or AGE-SECRET-KEY-PQ-1…)",
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
        self.keys.len() + self.hybrid.len()
    }

    /// True when none are loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The public recipients of the loaded identities.
    pub fn recipients(&self) -> Vec<String> {
        let classic = self.keys.iter().map(|k| k.to_public().to_string());
        classic.chain(self.hybrid.iter().map(|k| k.recipient().to_owned())).collect()
    }

    /// The loaded hybrid identity whose recipient is `recipient`.
    fn hybrid_for(&self, recipient: &str) -> Option<&HybridIdentity> {
        if !recipient.starts_with("age1pq1") {
            return None;
        }
        self.hybrid.iter().find(|h| h.recipient() == recipient)
    }

    /// Every identity, `first` (one of them) first.
    fn as_dyn<'a>(&'a self, first: Option<&'a HybridIdentity>) -> impl Iterator<Item = &'a dyn age::Identity> {
        let classic = self.keys.iter().map(|k| k as &dyn age::Identity);
        let hybrid = self.hybrid.iter().filter(move |h| !first.is_some_and(|f| std::ptr::eq(*h, f)));
        let first = first.map(|f| f as &dyn age::Identity);
        first.into_iter().chain(classic).chain(hybrid.map(|k| k as &dyn age::Identity))
    }
}

/// Encrypts `secret` to one recipient as an armored age file.
pub fn wrap(secret: &[u8], recipient: &Recipient) -> Result<String, Error> {
    let enc =
        age::Encryptor::with_recipients(std::iter::once(recipient.as_dyn())).map_err(|e| Error::Wrap(e.to_string()))?;
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

/// Most stanzas one age file may have. sops and seal write one per file
/// (one file per recipient); the `age` tool writes one per recipient of a
/// file. Every stanza costs a decapsulation for each identity of its type.
pub const MAX_STANZAS: usize = 16;
/// Largest stanza a native identity reads, in the binary header: the hybrid
/// `mlkem768x25519` one is 1,557 bytes (`-> mlkem768x25519 `, its 1,120-byte
/// `enc` in 1,494 base64 characters, the 43-character body, two newlines);
/// an X25519 one is 101.
const MAX_STANZA_BYTES: usize = 1600;
/// Largest age file in binary: the version line and MAC (70 bytes), at most
/// [`MAX_STANZAS`] stanzas, and the payload (a 16-byte nonce and a 33-byte
/// Shamir share or 32-byte data key with its 16-byte tag).
const MAX_AGE_BINARY: usize = 128 + MAX_STANZAS * MAX_STANZA_BYTES + 128;
/// Largest wrapped data key accepted, armored: [`MAX_AGE_BINARY`] in base64
/// with a newline every 64 characters and the two armor lines (35,142 bytes;
/// a file sealed to one hybrid recipient is about 2.2 KB, to one X25519
/// recipient about 0.3 KB).
pub const MAX_AGE_FILE: usize = MAX_AGE_BINARY.div_ceil(3) * 4 * 65 / 64 + 128;
/// Most native stanzas (`X25519` and `mlkem768x25519`, the ones an identity
/// does public-key work for) tried over all the age files of one document,
/// so that a document's cost does not grow with its recipients times their
/// stanzas: [`MAX_RECIPIENTS`](crate::document::MAX_RECIPIENTS) files of one
/// native stanza each, as sops and seal write them (the age crate adds one
/// grease stanza, which costs nothing). A hybrid stanza costs about twice
/// an X25519 one (docs/scale.md), so a hostile document costs at most 64
/// hybrid decapsulations per identity, where it could cost 64 × 16 X25519
/// ones before this budget.
pub const MAX_DOCUMENT_STANZAS: usize = 64;
/// Largest payload (a data key or a Shamir share) accepted.
const MAX_PAYLOAD: u64 = 1024;

/// Decrypts one armored age file with any of the identities.
pub fn unwrap(enc: &str, ids: &Identities) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut unlimited = usize::MAX;
    unwrap_counted(enc, ids, None, &mut unlimited)
}

/// [`unwrap`], trying `first` before the other identities and charging
/// the file's stanzas to `budget` first.
fn unwrap_counted(
    enc: &str,
    ids: &Identities,
    first: Option<&HybridIdentity>,
    budget: &mut usize,
) -> Result<Zeroizing<Vec<u8>>, String> {
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
    match budget.checked_sub(count_native_stanzas(&binary)) {
        Some(left) => *budget = left,
        None => {
            *budget = 0;
            return Err(format!(
                "the document's age files hold more than {MAX_DOCUMENT_STANZAS} X25519 and mlkem768x25519 stanzas in all; no more are tried"
            ));
        }
    }
    let dec = age::Decryptor::new_buffered(&binary[..]).map_err(|e| format!("the age file is damaged ({e})"))?;
    let r = dec.decrypt(ids.as_dyn(first)).map_err(|e| match e {
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

/// The stanzas an identity does public-key work for.
fn count_native_stanzas(binary: &[u8]) -> usize {
    let mut n = 0;
    for line in binary.split(|b| *b == b'\n') {
        if line.starts_with(b"--- ") {
            break;
        }
        let tag = line.strip_prefix(b"-> ").and_then(|l| l.split(|b| *b == b' ').next());
        if matches!(tag, Some(b"X25519" | b"mlkem768x25519")) {
            n += 1;
        }
    }
    n
}

/// Builds key groups for a new data key: one group (every recipient wraps
/// the whole key) or, with several groups, Shamir shares.
pub fn wrap_groups(key: &DataKey, groups: &[Vec<Recipient>], threshold: usize) -> Result<Vec<KeyGroup>, Error> {
    check_not_mixed(groups.iter().flatten())?;
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
    check_not_mixed(recipients)?;
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
    let mut budget = MAX_DOCUMENT_STANZAS;
    for (gi, g) in md.key_groups.iter().enumerate() {
        // An entry whose recipient is a loaded hybrid identity's first, and
        // with that identity first: one decapsulation opens it, where trying
        // the entries in order costs one per hybrid identity for each entry
        // before it (a cluster's older keys, team keys sealed to beside it).
        // The recipient field is not authenticated: when it lies, the other
        // entries and identities are still tried.
        let (mine, others): (Vec<&AgeEntry>, Vec<&AgeEntry>) =
            g.age.iter().partition(|a| ids.hybrid_for(&a.recipient).is_some());
        for a in mine.into_iter().chain(others) {
            match unwrap_counted(&a.enc, ids, ids.hybrid_for(&a.recipient), &mut budget) {
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
    let Some(enough) = shares.get(..t) else {
        return Err(Error::NoMatchingKey(format!(
            "Shamir threshold {t} of {} key groups not reached: only {} group(s) could be decrypted{}",
            md.key_groups.len(),
            shares.len(),
            foreign_groups(md)
        )));
    };
    let key = shamir::combine(enough)?;
    DataKey::from_slice(&key).ok_or_else(|| Error::NoMatchingKey("the combined data key is not 32 bytes".into()))
}

/// Names the key groups that hold no age recipient, only keys seal cannot
/// use (pgp, kms, …), for a threshold that was not reached: those groups'
/// shares need sops and those keys. Empty when there are none.
fn foreign_groups(md: &Metadata) -> String {
    let named: Vec<String> = md
        .key_groups
        .iter()
        .enumerate()
        .filter(|(_, g)| g.age.is_empty())
        .filter_map(|(i, g)| {
            let types: Vec<&str> = g.foreign_types().collect();
            (!types.is_empty()).then(|| format!("key group {i} holds only {} keys", types.join(", ")))
        })
        .collect();
    if named.is_empty() {
        return String::new();
    }
    format!("; {}, which seal cannot use: decrypt it with sops and those keys", named.join(", "))
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
