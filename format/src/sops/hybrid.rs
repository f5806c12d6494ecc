//! The post-quantum hybrid age recipient type `mlkem768x25519` (C2SP's age
//! specification, c2sp.org/age): recipients `age1pq1…`, identities
//! `AGE-SECRET-KEY-PQ-1…`, and the stanza
//! `-> mlkem768x25519 <base64 enc>` whose body is the HPKE `SealBase`
//! ciphertext of the file key.
//!
//! Why not a crate: the age crate 0.12 has the `Recipient`/`Identity`
//! traits and the stanza format but not this recipient type (only the
//! hardware-key `tagpq` one). It is built here from the RustCrypto
//! primitives age itself uses:
//!
//! - KEM: MLKEM768-X25519 (X-Wing, HPKE KEM id `0x647a`): a 32-byte seed
//!   expanded with SHAKE-256 into the ML-KEM-768 key (`d`, `z`) and the
//!   X25519 scalar; shared secret
//!   `SHA3-256(ss_mlkem || ss_x25519 || ct_x25519 || pk_x25519 || "\.//^\")`;
//!   the encapsulated key is `ct_mlkem (1088) || ct_x25519 (32)`, the public
//!   key `ek_mlkem (1184) || pk_x25519 (32)`.
//! - HPKE (RFC 9180) base mode, single shot: HKDF-SHA256, ChaCha20-Poly1305,
//!   `info = "age-encryption.org/mlkem768x25519"`, empty AAD.
//!
//! Nothing here panics on input: lengths are checked before any slice is
//! taken, and the only secret-dependent test (the all-zero X25519 output
//! the specification forbids) is done in constant time. Secrets are
//! zeroized on drop: the seed, the ML-KEM-768 decapsulation key (ml-kem's
//! `zeroize` feature), the X25519 scalar (x25519-dalek's `StaticSecret`,
//! so unwrapping never copies it out), the ephemeral scalar and message of
//! an encapsulation, both shared secrets, their combination and the HPKE
//! key and nonce. What the primitives copy inside (ml-kem's decrypted
//! message, HKDF's pseudorandom key) is theirs to clear; they do not.

use std::collections::HashSet;
use std::fmt;

use age_core::format::{FileKey, Stanza};
use age_core::primitives::{bech32_decode, bech32_encode};
use age_core::secrecy::ExposeSecret;
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use hkdf::{Hkdf, HkdfExtract};
use ml_kem::kem::Decapsulate;
use ml_kem::{B32, EncapsulateDeterministic, EncodedSizeUser, KemCore, MlKem768};
use sha2::Sha256;
use sha3::digest::{ExtendableOutput, Update, XofReader};
use sha3::{Digest, Sha3_256, Shake256};
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The stanza's first argument.
pub const STANZA_TAG: &str = "mlkem768x25519";
/// HPKE `info`, and the label of the hybrid recipient in age.
const INFO: &[u8] = b"age-encryption.org/mlkem768x25519";
/// The label age attaches to post-quantum recipients: recipients with
/// different labels are not mixed in one age file.
pub const POSTQUANTUM_LABEL: &str = "postquantum";
/// Bech32 prefixes.
pub const RECIPIENT_HRP: &str = "age1pq";
pub const IDENTITY_HRP: &str = "AGE-SECRET-KEY-PQ-";

/// X-Wing's domain separator, the last input of the combiner.
const XWING_LABEL: &[u8] = b"\\.//^\\";
/// HPKE suite: KEM MLKEM768-X25519, KDF HKDF-SHA256, AEAD ChaCha20Poly1305.
const SUITE_ID: [u8; 10] = [b'H', b'P', b'K', b'E', 0x64, 0x7a, 0x00, 0x01, 0x00, 0x03];

const MLKEM_EK_LEN: usize = 1184;
const MLKEM_CT_LEN: usize = 1088;
/// Encoded recipient: ML-KEM-768 encapsulation key and X25519 point.
pub const RECIPIENT_LEN: usize = MLKEM_EK_LEN + 32;
/// Encapsulated key (`enc`): ML-KEM-768 ciphertext and X25519 point.
pub const ENC_LEN: usize = MLKEM_CT_LEN + 32;
/// Base64 length of `enc` without padding.
const ENC_B64_LEN: usize = (ENC_LEN * 4).div_ceil(3);
/// The stanza body: a 16-byte file key and the Poly1305 tag.
const BODY_LEN: usize = 16 + 16;

type EncapsulationKey = <MlKem768 as KemCore>::EncapsulationKey;
type DecapsulationKey = <MlKem768 as KemCore>::DecapsulationKey;

/// Why a hybrid key does not parse. Never holds key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(pub &'static str);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A hybrid recipient (`age1pq1…`).
#[derive(Clone)]
pub struct HybridRecipient {
    ek: EncapsulationKey,
    pk_x: [u8; 32],
    encoded: Box<[u8; RECIPIENT_LEN]>,
}

impl HybridRecipient {
    /// Parses `age1pq1…` (Bech32 without its length limit, as age writes it).
    pub fn parse(s: &str) -> Result<HybridRecipient, KeyError> {
        if !s.starts_with("age1pq1") {
            return Err(KeyError("a hybrid recipient starts with age1pq1"));
        }
        let bytes = bech32_decode(
            s,
            |_| KeyError("not valid Bech32"),
            |hrp| if hrp.as_str() == RECIPIENT_HRP { Ok(()) } else { Err(KeyError("not an age1pq recipient")) },
            |_, bytes| {
                if bytes.len() != RECIPIENT_LEN {
                    return Err(KeyError("an age1pq recipient holds 1216 bytes"));
                }
                Ok(bytes.collect::<Vec<u8>>())
            },
        )?;
        HybridRecipient::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> Result<HybridRecipient, KeyError> {
        let encoded: Box<[u8; RECIPIENT_LEN]> = bytes
            .to_vec()
            .into_boxed_slice()
            .try_into()
            .map_err(|_| KeyError("an age1pq recipient holds 1216 bytes"))?;
        let (ek_bytes, pk_x) = encoded.split_at(MLKEM_EK_LEN);
        if !mlkem_ek_is_canonical(ek_bytes) {
            return Err(KeyError("the ML-KEM-768 key is not canonical (a coefficient is not below q)"));
        }
        let ek_arr = ml_kem::Encoded::<EncapsulationKey>::try_from(ek_bytes)
            .map_err(|_| KeyError("an age1pq recipient holds 1216 bytes"))?;
        let pk_x: [u8; 32] = pk_x.try_into().map_err(|_| KeyError("an age1pq recipient holds 1216 bytes"))?;
        Ok(HybridRecipient { ek: EncapsulationKey::from_bytes(&ek_arr), pk_x, encoded })
    }

    /// The encoded public key (1216 bytes).
    pub fn to_bytes(&self) -> &[u8] {
        &self.encoded[..]
    }

    /// Encapsulates: `(enc, shared secret)`.
    fn encap(&self) -> Result<([u8; ENC_LEN], Zeroizing<[u8; 32]>), String> {
        let rng_failed = |_| "the system random number generator failed".to_owned();
        let mut m = B32::default();
        getrandom::fill(&mut m[..]).map_err(rng_failed)?;
        let encapsulated = self.ek.encapsulate_deterministic(&m);
        m.as_mut_slice().zeroize();
        let (ct_m, mut ss_m) = encapsulated.map_err(|_| "ML-KEM-768 encapsulation failed".to_owned())?;
        let mut scalar = [0u8; 32];
        let filled = getrandom::fill(&mut scalar);
        let ek_x = StaticSecret::from(scalar);
        scalar.zeroize();
        filled.map_err(rng_failed)?;
        let ct_x = PublicKey::from(&ek_x).to_bytes();
        let ss_x = ek_x.diffie_hellman(&PublicKey::from(self.pk_x));
        let ss = combine(&ss_m, ss_x.as_bytes(), &ct_x, &self.pk_x);
        ss_m.as_mut_slice().zeroize();
        if bool::from(ss_x.as_bytes().ct_eq(&[0u8; 32])) {
            // Go's age refuses such a recipient the same way.
            return Err("the recipient's X25519 key is a low-order point".into());
        }
        let mut enc = [0u8; ENC_LEN];
        let (enc_m, enc_x) = enc.split_at_mut(MLKEM_CT_LEN);
        enc_m.copy_from_slice(ct_m.as_slice());
        enc_x.copy_from_slice(&ct_x);
        Ok((enc, ss))
    }
}

impl fmt::Display for HybridRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bech32_encode(bech32::Hrp::parse_unchecked(RECIPIENT_HRP), &self.encoded[..]))
    }
}

impl age::Recipient for HybridRecipient {
    fn wrap_file_key(&self, file_key: &FileKey) -> Result<(Vec<Stanza>, HashSet<String>), age::EncryptError> {
        let io = |e: String| age::EncryptError::Io(std::io::Error::other(e));
        let (enc, ss) = self.encap().map_err(io)?;
        let (key, nonce) = key_schedule(&ss);
        let body = ChaCha20Poly1305::new((&*key).into())
            .encrypt((&*nonce).into(), Payload { msg: file_key.expose_secret(), aad: b"" })
            .map_err(|_| io("ChaCha20-Poly1305 sealing failed".into()))?;
        let stanza = Stanza { tag: STANZA_TAG.to_owned(), args: vec![STANDARD_NO_PAD.encode(enc)], body };
        Ok((vec![stanza], [POSTQUANTUM_LABEL.to_owned()].into_iter().collect()))
    }
}

/// A hybrid identity (`AGE-SECRET-KEY-PQ-1…`): the seed, and the keys it
/// expands to once, when it is parsed. Its `Debug` shows the recipient
/// only; every secret part is zeroized on drop.
#[derive(Clone, ZeroizeOnDrop)]
pub struct HybridIdentity {
    seed: Zeroizing<[u8; 32]>,
    dk: DecapsulationKey,
    sk_x: StaticSecret,
    #[zeroize(skip)]
    pk_x: [u8; 32],
    /// The recipient string, made once: metadata names each wrapped key's
    /// recipient, and matching it picks the identity to try first.
    #[zeroize(skip)]
    recipient: String,
}

impl fmt::Debug for HybridIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.recipient;
        // The recipient's first characters name it; the rest is 1.9 KB.
        f.debug_struct("HybridIdentity")
            .field("recipient", &format_args!("{}…", r.get(..16).unwrap_or(r)))
            .finish_non_exhaustive()
    }
}

impl HybridIdentity {
    /// A new identity from the system's random number generator.
    pub fn generate() -> Result<HybridIdentity, KeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut seed[..]).map_err(|_| KeyError("the system random number generator failed"))?;
        Ok(HybridIdentity::from_seed(seed))
    }

    /// Parses `AGE-SECRET-KEY-PQ-1…` (upper or lower case, as Bech32 allows).
    pub fn parse(s: &str) -> Result<HybridIdentity, KeyError> {
        let seed = bech32_decode(
            s,
            |_| KeyError("not valid Bech32"),
            |hrp| {
                if hrp.as_str().eq_ignore_ascii_case(IDENTITY_HRP) {
                    Ok(())
                } else {
                    Err(KeyError("not an AGE-SECRET-KEY-PQ- identity"))
                }
            },
            |_, bytes| {
                if bytes.len() != 32 {
                    return Err(KeyError("an AGE-SECRET-KEY-PQ- identity holds 32 bytes"));
                }
                let mut seed = Zeroizing::new([0u8; 32]);
                for (d, b) in seed.iter_mut().zip(bytes) {
                    *d = b;
                }
                Ok(seed)
            },
        )?;
        Ok(HybridIdentity::from_seed(seed))
    }

    fn from_seed(seed: Zeroizing<[u8; 32]>) -> HybridIdentity {
        let mut expanded = Zeroizing::new([0u8; 96]);
        Shake256::default().chain(&seed[..]).finalize_xof().read(&mut expanded[..]);
        let (d, rest) = expanded.split_at(32);
        let (z, x) = rest.split_at(32);
        let (mut d, mut z) = (array32(d), array32(z));
        let (dk, _) = MlKem768::generate_deterministic(&d, &z);
        d.as_mut_slice().zeroize();
        z.as_mut_slice().zeroize();
        let mut scalar = [0u8; 32];
        scalar.copy_from_slice(x);
        let sk_x = StaticSecret::from(scalar);
        scalar.zeroize();
        let pk_x = PublicKey::from(&sk_x).to_bytes();
        let mut id = HybridIdentity { seed, dk, sk_x, pk_x, recipient: String::new() };
        id.recipient = id.to_public().to_string();
        id
    }

    /// The Bech32 identity string (upper case, as age writes it).
    pub fn to_secret_string(&self) -> Zeroizing<String> {
        Zeroizing::new(bech32_encode(bech32::Hrp::parse_unchecked(IDENTITY_HRP), &self.seed[..]).to_uppercase())
    }

    /// The matching recipient's string (`age1pq1…`), made when the identity
    /// was parsed.
    pub fn recipient(&self) -> &str {
        &self.recipient
    }

    /// The matching recipient.
    pub fn to_public(&self) -> HybridRecipient {
        let mut encoded = Box::new([0u8; RECIPIENT_LEN]);
        let (ek, x) = encoded.split_at_mut(MLKEM_EK_LEN);
        ek.copy_from_slice(self.dk.encapsulation_key().as_bytes().as_slice());
        x.copy_from_slice(&self.pk_x);
        HybridRecipient { ek: self.dk.encapsulation_key().clone(), pk_x: self.pk_x, encoded }
    }

    /// `Ok(None)`: the stanza is sealed to another key; `Err`: it is malformed.
    fn unwrap(&self, stanza: &Stanza) -> Result<Option<FileKey>, age::DecryptError> {
        let [enc_b64] = stanza.args.as_slice() else {
            return Err(age::DecryptError::InvalidHeader);
        };
        if enc_b64.len() != ENC_B64_LEN {
            return Err(age::DecryptError::InvalidHeader);
        }
        let enc = STANDARD_NO_PAD.decode(enc_b64).map_err(|_| age::DecryptError::InvalidHeader)?;
        // Checked before decrypting, against partitioning oracles.
        if enc.len() != ENC_LEN || stanza.body.len() != BODY_LEN {
            return Err(age::DecryptError::InvalidHeader);
        }
        let (ct_m, ct_x) = enc.split_at(MLKEM_CT_LEN);
        let ct_m = ml_kem::Ciphertext::<MlKem768>::try_from(ct_m).map_err(|_| age::DecryptError::InvalidHeader)?;
        let ct_x: [u8; 32] = ct_x.try_into().map_err(|_| age::DecryptError::InvalidHeader)?;
        let mut ss_m = self.dk.decapsulate(&ct_m).map_err(|_| age::DecryptError::InvalidHeader)?;
        let ss_x = self.sk_x.diffie_hellman(&PublicKey::from(ct_x));
        let ss = combine(&ss_m, ss_x.as_bytes(), &ct_x, &self.pk_x);
        ss_m.as_mut_slice().zeroize();
        if bool::from(ss_x.as_bytes().ct_eq(&[0u8; 32])) {
            return Err(age::DecryptError::InvalidHeader);
        }
        let (key, nonce) = key_schedule(&ss);
        let opened =
            ChaCha20Poly1305::new((&*key).into()).decrypt((&*nonce).into(), Payload { msg: &stanza.body, aad: b"" });
        let Ok(plain) = opened else { return Ok(None) };
        let plain = Zeroizing::new(plain);
        FileKey::try_init_with_mut(|k| {
            if plain.len() != k.len() {
                return Err(age::DecryptError::InvalidHeader);
            }
            k.copy_from_slice(&plain);
            Ok(())
        })
        .map(Some)
    }
}

impl age::Identity for HybridIdentity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        if stanza.tag != STANZA_TAG {
            return None;
        }
        self.unwrap(stanza).transpose()
    }
}

fn array32(b: &[u8]) -> B32 {
    let mut out = B32::default();
    if let Some(b) = b.get(..32) {
        out.copy_from_slice(b);
    }
    out
}

/// FIPS 203's modulus check on an encapsulation key: every 12-bit
/// coefficient of the encoded vector is below q = 3329.
fn mlkem_ek_is_canonical(ek: &[u8]) -> bool {
    const Q: u16 = 3329;
    let Some(t) = ek.get(..MLKEM_EK_LEN - 32) else { return false };
    t.chunks_exact(3).all(|c| match *c {
        [b0, b1, b2] => {
            let (b0, b1, b2) = (u16::from(b0), u16::from(b1), u16::from(b2));
            (b0 | ((b1 & 0x0f) << 8)) < Q && ((b1 >> 4) | (b2 << 4)) < Q
        }
        _ => false,
    })
}

/// X-Wing's combiner.
fn combine(ss_m: &[u8], ss_x: &[u8; 32], ct_x: &[u8; 32], pk_x: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut h = Sha3_256::new();
    Digest::update(&mut h, ss_m);
    Digest::update(&mut h, ss_x);
    Digest::update(&mut h, ct_x);
    Digest::update(&mut h, pk_x);
    Digest::update(&mut h, XWING_LABEL);
    Zeroizing::new(h.finalize().into())
}

/// RFC 9180's key schedule in base mode (no PSK): the AEAD key and base
/// nonce for this suite and [`INFO`].
fn key_schedule(shared_secret: &[u8; 32]) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 12]>) {
    let labeled_extract = |salt: &[u8], label: &[u8], ikm: &[u8]| {
        let mut e = HkdfExtract::<Sha256>::new(Some(salt));
        e.input_ikm(b"HPKE-v1");
        e.input_ikm(&SUITE_ID);
        e.input_ikm(label);
        e.input_ikm(ikm);
        e.finalize()
    };
    let (psk_id_hash, _) = labeled_extract(b"", b"psk_id_hash", b"");
    let (info_hash, _) = labeled_extract(b"", b"info_hash", INFO);
    let (_, secret) = labeled_extract(shared_secret, b"secret", b"");
    let expand = |secret: &Hkdf<Sha256>, label: &[u8], out: &mut [u8]| {
        let len = u16::try_from(out.len()).unwrap_or(0).to_be_bytes();
        // ks_context = mode_base (0) || psk_id_hash || info_hash
        let info: [&[u8]; 7] = [&len, b"HPKE-v1", &SUITE_ID, label, &[0u8], &psk_id_hash, &info_hash];
        // 32 and 12 bytes are far below HKDF-SHA256's limit of 8160.
        let _ = secret.expand_multi_info(&info, out);
    };
    let mut key = Zeroizing::new([0u8; 32]);
    let mut nonce = Zeroizing::new([0u8; 12]);
    expand(&secret, b"key", &mut key[..]);
    expand(&secret, b"base_nonce", &mut nonce[..]);
    (key, nonce)
}

#[cfg(test)]
#[path = "hybrid_tests.rs"]
mod tests;
