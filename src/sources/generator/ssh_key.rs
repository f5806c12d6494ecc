//! The `SSHKey` generator: an SSH key pair drawn from the generator stream,
//! written as OpenSSH writes it — the private key in the unencrypted
//! `openssh-key-v1` format (PROTOCOL.key), the public key as an
//! `authorized_keys` line — so `ssh` and `ssh-keygen` read both.
//!
//! Why by hand rather than the `ssh-key` crate: the three key types seal
//! makes (RSA, Ed25519, ECDSA on P-256, P-384 and P-521) need a hundred
//! lines of length-prefixed fields; the curve arithmetic comes from
//! RustCrypto's curve crates, and the `rsa` crate finds the primes.
//!
//! RSA, ESO's default, costs a prime search (about a second at 4096 bits):
//! callers run [`generate`] on a blocking thread, and the last
//! [`MAX_REMEMBERED_RSA`] RSA pairs are remembered by an HMAC of the stream's
//! key, seed and position and the spec, so the reconciles of one refresh
//! epoch (which draw the same stream) search once.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha512};
use zeroize::Zeroizing;

use super::Stream;
use crate::api::generator::SshKeySpec;

/// Longest `spec.comment`, in bytes.
pub const MAX_COMMENT: usize = 256;

/// A key pair: the private key (PEM-armoured OpenSSH format) and the
/// public `authorized_keys` line, each ending in a newline.
#[derive(Clone)]
pub struct KeyPair {
    /// `-----BEGIN OPENSSH PRIVATE KEY-----` …
    pub private_key: Zeroizing<String>,
    /// `ssh-ed25519 AAAA… comment`
    pub public_key: String,
}

/// The key pair `spec` asks for, or which field cannot be honoured.
pub fn generate(spec: &SshKeySpec, rng: &mut Stream) -> Result<KeyPair, String> {
    let comment = spec.comment.as_deref().unwrap_or_default();
    if comment.len() > MAX_COMMENT {
        return Err(format!("spec.comment is longer than {MAX_COMMENT} bytes"));
    }
    // A line break in the comment would add a line to an authorized_keys
    // file the public key is appended to.
    if comment.chars().any(char::is_control) {
        return Err("spec.comment holds a control character (a line break would add a line to authorized_keys)".into());
    }
    match spec.key_type.as_deref() {
        Some("ed25519") => Ok(ed25519(rng, comment)),
        Some("ecdsa") => match spec.key_size {
            None | Some(256) => ecdsa(rng, comment, &P256),
            Some(384) => ecdsa(rng, comment, &P384),
            Some(521) => ecdsa(rng, comment, &P521),
            Some(n) => Err(format!("spec.keySize: {n}: ECDSA keys are of 256, 384 or 521 bits")),
        },
        // ESO's default when keyType is not set.
        Some("rsa") | None => match spec.key_size {
            None => rsa_remembered(rng, 2048, comment),
            Some(n @ (2048 | 3072 | 4096)) => rsa_remembered(rng, n.unsigned_abs() as usize, comment),
            Some(n) => Err(format!("spec.keySize: {n}: seal makes RSA keys of 2048, 3072 or 4096 bits")),
        },
        Some(other) => Err(format!("spec.keyType: {other:?} is not a key type: rsa, ed25519 or ecdsa")),
    }
}

/// SSH wire encoding: a string (u32 length, then the bytes).
fn put_string(out: &mut Vec<u8>, b: &[u8]) {
    // Every field here is a key, a name or a comment of at most a few hundred bytes.
    out.extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(b);
}

/// SSH wire encoding of a non-negative integer (mpint): big-endian, no
/// leading zero bytes, one zero byte first when the top bit is set.
fn put_mpint(out: &mut Vec<u8>, be: &[u8]) {
    let start = be.iter().position(|&b| b != 0).unwrap_or(be.len());
    let digits = be.get(start..).unwrap_or_default();
    let mut v = Zeroizing::new(Vec::with_capacity(digits.len() + 1));
    if digits.first().is_some_and(|&b| b & 0x80 != 0) {
        v.push(0);
    }
    v.extend_from_slice(digits);
    put_string(out, &v);
}

/// The `openssh-key-v1` private key file around one key: `public` is the
/// public key blob, `private` the key-type-specific private fields.
fn openssh_private(
    rng: &mut Stream,
    key_type: &str,
    public: &[u8],
    private: &[u8],
    comment: &str,
) -> Zeroizing<String> {
    let mut check = [0u8; 4];
    rng.fill(&mut check);
    let mut section = Zeroizing::new(Vec::new());
    section.extend_from_slice(&check);
    section.extend_from_slice(&check);
    put_string(&mut section, key_type.as_bytes());
    section.extend_from_slice(private);
    put_string(&mut section, comment.as_bytes());
    // Padding 1, 2, 3, … to the cipher block size ("none": 8).
    let mut pad = 1u8;
    while section.len() % 8 != 0 {
        section.push(pad);
        pad = pad.wrapping_add(1);
    }
    let mut file = Zeroizing::new(b"openssh-key-v1\0".to_vec());
    put_string(&mut file, b"none");
    put_string(&mut file, b"none");
    put_string(&mut file, b"");
    file.extend_from_slice(&1u32.to_be_bytes());
    put_string(&mut file, public);
    put_string(&mut file, &section);
    let b64 = Zeroizing::new(STANDARD.encode(&file[..]));
    let mut pem = Zeroizing::new(String::from("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
    for line in b64.as_bytes().chunks(70) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END OPENSSH PRIVATE KEY-----\n");
    pem
}

/// The `authorized_keys` line: type, blob, and the comment when there is one.
fn public_line(key_type: &str, public: &[u8], comment: &str) -> String {
    let blob = STANDARD.encode(public);
    if comment.is_empty() { format!("{key_type} {blob}\n") } else { format!("{key_type} {blob} {comment}\n") }
}

fn ed25519(rng: &mut Stream, comment: &str) -> KeyPair {
    use curve25519_dalek::edwards::EdwardsPoint;
    let mut seed = Zeroizing::new([0u8; 32]);
    rng.fill(&mut seed[..]);
    // RFC 8032 §5.1.5: the secret scalar is the clamped first half of SHA-512(seed).
    let h = Zeroizing::new(Sha512::digest(&seed[..]));
    let mut scalar = Zeroizing::new([0u8; 32]);
    scalar.copy_from_slice(&h[..32]);
    let public_point = EdwardsPoint::mul_base_clamped(*scalar).compress().to_bytes();
    let mut blob = Vec::new();
    put_string(&mut blob, b"ssh-ed25519");
    put_string(&mut blob, &public_point);
    let mut private = Zeroizing::new(Vec::new());
    put_string(&mut private, &public_point);
    let mut both = Zeroizing::new(seed.to_vec());
    both.extend_from_slice(&public_point);
    put_string(&mut private, &both);
    KeyPair {
        private_key: openssh_private(rng, "ssh-ed25519", &blob, &private, comment),
        public_key: public_line("ssh-ed25519", &blob, comment),
    }
}

/// An ECDSA curve as OpenSSH names it, and how a scalar is made into a key.
struct Curve {
    /// `nistp256`, `nistp384`, `nistp521`.
    name: &'static str,
    /// The scalar's length in bytes.
    scalar_len: usize,
    /// Mask of the scalar's first byte (P-521's scalar has 521 bits).
    top_mask: u8,
    /// The uncompressed public point and the scalar, if `d` is in [1, n).
    key: fn(&[u8]) -> Option<PointAndScalar>,
}

/// An ECDSA key: its public point (uncompressed SEC1) and its scalar.
type PointAndScalar = (Vec<u8>, Zeroizing<Vec<u8>>);

/// The point and scalar of the secret key `d` on a curve of the
/// `elliptic-curve` family.
macro_rules! curve_key {
    ($krate:ident) => {
        |d: &[u8]| {
            use $krate::elliptic_curve::sec1::ToEncodedPoint;
            let k = $krate::SecretKey::from_slice(d).ok()?;
            let q = k.public_key().to_encoded_point(false).as_bytes().to_vec();
            Some((q, Zeroizing::new(k.to_bytes().to_vec())))
        }
    };
}

const P256: Curve = Curve { name: "nistp256", scalar_len: 32, top_mask: 0xff, key: curve_key!(p256) };
const P384: Curve = Curve { name: "nistp384", scalar_len: 48, top_mask: 0xff, key: curve_key!(p384) };
const P521: Curve = Curve { name: "nistp521", scalar_len: 66, top_mask: 0x01, key: curve_key!(p521) };

fn ecdsa(rng: &mut Stream, comment: &str, curve: &Curve) -> Result<KeyPair, String> {
    // A scalar in [1, n): rejection, each try failing with probability
    // below 2^-32, bounded so no stream can make it loop.
    let mut made = None;
    for _ in 0..64 {
        let mut d = Zeroizing::new(vec![0u8; curve.scalar_len]);
        rng.fill(&mut d[..]);
        if let Some(first) = d.first_mut() {
            *first &= curve.top_mask;
        }
        if let Some(k) = (curve.key)(&d) {
            made = Some(k);
            break;
        }
    }
    let (q, d) = made.ok_or_else(|| format!("no {} scalar in 64 draws", curve.name))?;
    let key_type = format!("ecdsa-sha2-{}", curve.name);
    let mut blob = Vec::new();
    put_string(&mut blob, key_type.as_bytes());
    put_string(&mut blob, curve.name.as_bytes());
    put_string(&mut blob, &q);
    let mut private = Zeroizing::new(Vec::new());
    put_string(&mut private, curve.name.as_bytes());
    put_string(&mut private, &q);
    put_mpint(&mut private, &d);
    Ok(KeyPair {
        private_key: openssh_private(rng, &key_type, &blob, &private, comment),
        public_key: public_line(&key_type, &blob, comment),
    })
}

/// RSA key pairs remembered (see the module docs).
pub const MAX_REMEMBERED_RSA: usize = 32;

/// The RSA pairs made lately, by [`rsa_memo_key`]; the oldest goes first.
static RSA_MADE: std::sync::Mutex<std::collections::VecDeque<(String, KeyPair)>> =
    std::sync::Mutex::new(std::collections::VecDeque::new());

/// What identifies an RSA pair drawn now from `rng`: an HMAC of the
/// stream's key, its seed and position, the size and the comment.
fn rsa_memo_key(rng: &Stream, bits: usize, comment: &str) -> String {
    seal_format::document::data_hmac(
        &rng.key,
        [
            ("ssh-rsa-remembered", &rng.seed[..]),
            ("counter", &rng.counter.to_be_bytes()[..]),
            ("at", &rng.at.to_be_bytes()[..]),
            ("bits", &bits.to_be_bytes()[..]),
            ("comment", comment.as_bytes()),
        ]
        .into_iter(),
    )
}

fn rsa_remembered(rng: &mut Stream, bits: usize, comment: &str) -> Result<KeyPair, String> {
    let id = rsa_memo_key(rng, bits, comment);
    let made =
        RSA_MADE.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|(k, _)| *k == id).map(|(_, p)| p.clone());
    if let Some(pair) = made {
        return Ok(pair);
    }
    let pair = rsa(rng, bits, comment)?;
    let mut all = RSA_MADE.lock().unwrap_or_else(|p| p.into_inner());
    if all.len() >= MAX_REMEMBERED_RSA {
        all.pop_front();
    }
    all.push_back((id, pair.clone()));
    Ok(pair)
}

/// The generator stream as the `rsa` crate's random source.
struct StreamRng<'a>(&'a mut Stream);

impl rand_core::RngCore for StreamRng<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.0.fill(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

/// An HMAC-SHA256 stream under the controller's secret key.
impl rand_core::CryptoRng for StreamRng<'_> {}

/// An RSA key of `bits` (e = 65537), in OpenSSH's `ssh-rsa` encoding:
/// public `e, n`; private `n, e, d, iqmp, p, q` (PROTOCOL.key).
fn rsa(rng: &mut Stream, bits: usize, comment: &str) -> Result<KeyPair, String> {
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};
    let key = rsa::RsaPrivateKey::new(&mut StreamRng(rng), bits).map_err(|_| "the RSA key search failed")?;
    let be = |n: &rsa::BigUint| Zeroizing::new(n.to_bytes_be());
    let (p, q) = match key.primes() {
        [p, q] => (be(p), be(q)),
        _ => return Err("the RSA key has not two primes".into()),
    };
    let iqmp = be(&key.crt_coefficient().ok_or("the RSA primes have no CRT coefficient")?);
    let mut blob = Vec::new();
    put_string(&mut blob, b"ssh-rsa");
    put_mpint(&mut blob, &be(key.e()));
    put_mpint(&mut blob, &be(key.n()));
    let mut private = Zeroizing::new(Vec::new());
    put_mpint(&mut private, &be(key.n()));
    put_mpint(&mut private, &be(key.e()));
    put_mpint(&mut private, &be(key.d()));
    put_mpint(&mut private, &iqmp);
    put_mpint(&mut private, &p);
    put_mpint(&mut private, &q);
    Ok(KeyPair {
        private_key: openssh_private(rng, "ssh-rsa", &blob, &private, comment),
        public_key: public_line("ssh-rsa", &blob, comment),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(key_type: Option<&str>, key_size: Option<i64>, comment: Option<&str>) -> SshKeySpec {
        SshKeySpec {
            key_type: key_type.map(Into::into),
            key_size,
            comment: comment.map(Into::into),
            ..SshKeySpec::default()
        }
    }

    fn key(s: &SshKeySpec, seed: &str) -> Result<KeyPair, String> {
        generate(s, &mut Stream::new(b"k", seed.as_bytes()))
    }

    #[test]
    fn ed25519_public_key_matches_rfc8032_test_vector_1() {
        // RFC 8032 §7.1 TEST 1: this secret key has this public key.
        let seed = hex_bytes("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let h = Sha512::digest(&seed);
        let mut s = [0u8; 32];
        s.copy_from_slice(&h[..32]);
        let public = curve25519_dalek::edwards::EdwardsPoint::mul_base_clamped(s).compress().to_bytes();
        assert_eq!(public.to_vec(), hex_bytes("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"));
    }

    fn hex_bytes(h: &str) -> Vec<u8> {
        (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap_or_default()).collect()
    }

    #[test]
    fn same_stream_same_key_other_stream_other_key() {
        let s = spec(Some("ed25519"), None, Some("ci@example"));
        let (a, b, c) = (key(&s, "one").unwrap(), key(&s, "one").unwrap(), key(&s, "two").unwrap());
        assert_eq!(*a.private_key, *b.private_key);
        assert_ne!(a.public_key, c.public_key);
        assert!(
            a.public_key.starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5") && a.public_key.ends_with(" ci@example\n")
        );
        assert!(a.private_key.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
        assert!(a.private_key.lines().all(|l| l.len() <= 70));
    }

    #[test]
    fn ecdsa_p256_public_blob_has_the_uncompressed_point() {
        let k = key(&spec(Some("ecdsa"), Some(256), None), "e").unwrap();
        let blob = STANDARD.decode(k.public_key.trim_end().split(' ').nth(1).unwrap()).unwrap();
        // string "ecdsa-sha2-nistp256" (4+19), string "nistp256" (4+8), string Q (4+65).
        assert_eq!(blob.len(), 23 + 12 + 69);
        assert_eq!(blob[39], 0x04, "uncompressed SEC1 point");
        assert!(k.public_key.starts_with("ecdsa-sha2-nistp256 ") && k.public_key.ends_with("=\n"));
    }

    #[test]
    fn ecdsa_p384_and_p521_blobs_have_their_curve_and_uncompressed_point() {
        for (size, name, point) in [(384, "nistp384", 97), (521, "nistp521", 133)] {
            let k = key(&spec(Some("ecdsa"), Some(size), None), "e").unwrap();
            let blob = STANDARD.decode(k.public_key.trim_end().split(' ').nth(1).unwrap()).unwrap();
            // string "ecdsa-sha2-NAME" (4+19), string NAME (4+8), string Q (4+point).
            assert_eq!(blob.len(), 23 + 12 + 4 + point, "{name}");
            assert_eq!(&blob[27..35], name.as_bytes());
            assert_eq!(blob[39], 0x04, "uncompressed SEC1 point");
            assert!(k.public_key.starts_with(&format!("ecdsa-sha2-{name} ")));
            assert!(k.private_key.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
            assert_eq!(k.public_key, key(&spec(Some("ecdsa"), Some(size), None), "e").unwrap().public_key);
        }
    }

    #[test]
    fn other_sizes_and_unsafe_comments_are_refused_naming_the_field() {
        for (s, field) in [
            (spec(None, Some(1024), None), "spec.keySize: 1024"),
            (spec(Some("rsa"), Some(8192), None), "spec.keySize: 8192"),
            (spec(Some("dsa"), None, None), "spec.keyType"),
            (spec(Some("ecdsa"), Some(512), None), "spec.keySize: 512"),
            (spec(Some("ed25519"), None, Some("a\nssh-ed25519 AAAA evil")), "spec.comment"),
            (spec(Some("ed25519"), None, Some(&"x".repeat(MAX_COMMENT + 1))), "spec.comment"),
        ] {
            let e = key(&s, "r").err().expect("refused");
            assert!(e.starts_with(field), "{e}");
        }
    }

    #[test]
    fn mpint_strips_zeros_and_keeps_the_sign_bit_clear() {
        let mut out = Vec::new();
        put_mpint(&mut out, &[0, 0, 0x80, 1]);
        assert_eq!(out, vec![0, 0, 0, 3, 0, 0x80, 1]);
        out.clear();
        put_mpint(&mut out, &[0, 0x7f]);
        assert_eq!(out, vec![0, 0, 0, 1, 0x7f]);
    }

    #[test]
    fn rsa_is_esos_default_and_the_same_stream_gives_the_same_key() {
        let s = spec(None, None, Some("ci@example"));
        let a = key(&s, "rsa-a").expect("an RSA key");
        assert!(a.public_key.starts_with("ssh-rsa AAAAB3NzaC1yc2E") && a.public_key.ends_with(" ci@example\n"));
        // string "ssh-rsa" (4+7), mpint e = 65537 (4+3), mpint n (4+1+256).
        let blob = STANDARD.decode(a.public_key.split(' ').nth(1).expect("blob")).expect("base64");
        assert_eq!(blob.len(), 11 + 7 + 261);
        assert_eq!(&blob[11..18], &[0, 0, 0, 3, 1, 0, 1]);
        // Made again (not remembered: another memo entry would be equal
        // anyway), the same stream gives the same key.
        let fresh = rsa(&mut Stream::new(b"k", b"rsa-a"), 2048, "ci@example").expect("an RSA key");
        assert_eq!(*fresh.private_key, *a.private_key);
        assert_ne!(key(&s, "rsa-b").expect("an RSA key").public_key, a.public_key);
    }
}
