//! Keys: ESO's `jwkPublicKeyPem` and `jwkPrivateKeyPem` (a JSON Web Key as
//! PKIX or PKCS#8 PEM) and `rsaDecrypt` (RSA-OAEP with SHA-1, SHA-256 or
//! SHA-512, as ESO's `rsaDecrypt scheme hash ciphertext key`).
//!
//! A JWK's PEM form is DER built from its fields: no arithmetic, so no key
//! crate. RSA decryption is one modular exponentiation, done with
//! `crypto-bigint` (constant-time, already in the build through `age`'s
//! P-256) on keys of at most 4096 bits; each decryption is counted in the
//! object's budget like a bcrypt hash. The OAEP padding is checked without
//! an early exit, and every failure gives the same message, as Go's.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use base64::Engine;
use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Limb, Uint};
use gotmpl::{FuncMap, Value};
use sha2::Digest;
use zeroize::Zeroizing;

use super::{arg, checked, current, fail, text};
use crate::bytes::{bytes_from_text, text_from_bytes};
use crate::gopem;
use crate::pkcs12::der::{Der, INT, NULL, OCTETS, OID, SEQ, oid, tlv};

/// Most RSA decryptions of one object's templates in one reconcile.
pub const MAX_RSA_CALLS: usize = 64;
const BITS: u8 = 0x03;

pub(super) fn register(fm: &mut FuncMap) {
    fm.insert(
        "jwkPublicKeyPem".into(),
        Arc::new(|args: &[Value]| {
            let jwk = text(arg(args, 0, "jwkPublicKeyPem", 1)?);
            let der = jwk_public(&jwk).map_err(|why| fail("jwkPublicKeyPem", &why))?;
            checked("jwkPublicKeyPem", crate::pkcs12::pem("PUBLIC KEY", &der))
        }),
    );
    fm.insert(
        "jwkPrivateKeyPem".into(),
        Arc::new(|args: &[Value]| {
            let jwk = Zeroizing::new(text(arg(args, 0, "jwkPrivateKeyPem", 1)?));
            let der = jwk_private(&jwk).map_err(|why| fail("jwkPrivateKeyPem", &why))?;
            checked("jwkPrivateKeyPem", crate::pkcs12::pem("PRIVATE KEY", &der))
        }),
    );
    fm.insert(
        "rsaDecrypt".into(),
        Arc::new(move |args: &[Value]| {
            let name = "rsaDecrypt";
            let (scheme, hash) = (text(arg(args, 0, name, 4)?), text(arg(args, 1, name, 4)?));
            let input = text(arg(args, 2, name, 4)?);
            let key = Zeroizing::new(bytes_from_text(&text(arg(args, 3, name, 4)?)));
            match scheme.as_str() {
                "None" => return Ok(Value::String(Arc::from(input.as_str()))),
                "RSA-OAEP" => {}
                _ => return Err(fail(name, "the decryption scheme is not supported (RSA-OAEP or None)")),
            }
            if current(name)?.work.rsa_calls.fetch_add(1, Ordering::Relaxed) >= MAX_RSA_CALLS {
                return Err(fail(name, &format!("called more than {MAX_RSA_CALLS} times by the object's templates")));
            }
            let plain = rsa_oaep_decrypt(&hash, &bytes_from_text(&input), &key).map_err(|why| fail(name, why))?;
            checked(name, text_from_bytes(&plain))
        }),
    );
}

/// A JSON Web Key's fields, decoded.
struct Jwk(serde_json::Map<String, serde_json::Value>);

impl Jwk {
    fn parse(json: &str) -> Result<Jwk, String> {
        match serde_json::from_str(json) {
            Ok(serde_json::Value::Object(m)) => Ok(Jwk(m)),
            _ => Err("the value is not a JSON Web Key (a JSON object)".into()),
        }
    }

    fn str(&self, field: &str) -> Option<&str> {
        self.0.get(field).and_then(|v| v.as_str())
    }

    /// A base64url field (padded or not, either alphabet, as jwx reads it).
    fn bytes(&self, field: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        let v = self.str(field).ok_or_else(|| format!("the JWK has no {field:?}"))?;
        let url: String = v.trim_end_matches('=').replace('+', "-").replace('/', "_");
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(url)
            .map(Zeroizing::new)
            .map_err(|_| format!("the JWK's {field:?} is not base64url"))
    }

    fn has(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }
}

/// A DER INTEGER of an unsigned big-endian number.
fn der_big(x: &[u8]) -> Vec<u8> {
    let skip = x.iter().take_while(|b| **b == 0).count();
    let mut body = x.get(skip..).unwrap_or_default().to_vec();
    if body.first().is_none_or(|b| b & 0x80 != 0) {
        body.insert(0, 0);
    }
    tlv(INT, &[&body])
}

/// A curve's OID and its field size in bytes.
fn curve(jwk: &Jwk) -> Result<(&'static [u8], usize), String> {
    match jwk.str("crv") {
        Some("P-256") => Ok((oid::P256, 32)),
        Some("P-384") => Ok((oid::P384, 48)),
        Some("P-521") => Ok((oid::P521, 66)),
        _ => Err("the JWK's curve is not P-256, P-384 or P-521".into()),
    }
}

/// A coordinate or scalar left-padded to `size` bytes.
fn fixed(x: &[u8], size: usize, field: &str) -> Result<Vec<u8>, String> {
    let x = x.get(x.iter().take_while(|b| **b == 0).count()..).unwrap_or_default();
    if x.len() > size {
        return Err(format!("the JWK's {field:?} is longer than its curve allows"));
    }
    let mut out = vec![0u8; size - x.len()];
    out.extend_from_slice(x);
    Ok(out)
}

fn okp(jwk: &Jwk) -> Result<&'static [u8], String> {
    match jwk.str("crv") {
        Some("Ed25519") => Ok(oid::ED25519),
        Some("X25519") => Ok(oid::X25519),
        _ => Err("the JWK's curve is not Ed25519 or X25519".into()),
    }
}

/// The PKIX (SubjectPublicKeyInfo) DER of a public JWK.
fn jwk_public(json: &str) -> Result<Vec<u8>, String> {
    let jwk = Jwk::parse(json)?;
    if jwk.has("d") {
        // ESO marshals the key jwx returns, a private key, and Go refuses it.
        return Err("the JWK is a private key (use jwkPrivateKeyPem)".into());
    }
    let (alg, key) = match jwk.str("kty") {
        Some("RSA") => (
            tlv(SEQ, &[&tlv(OID, &[oid::RSA]), &tlv(NULL, &[])]),
            tlv(SEQ, &[&der_big(&jwk.bytes("n")?), &der_big(&jwk.bytes("e")?)]),
        ),
        Some("EC") => {
            let (curve, size) = curve(&jwk)?;
            let mut point = vec![4u8];
            point.extend(fixed(&jwk.bytes("x")?, size, "x")?);
            point.extend(fixed(&jwk.bytes("y")?, size, "y")?);
            (tlv(SEQ, &[&tlv(OID, &[oid::EC_PUBLIC_KEY]), &tlv(OID, &[curve])]), point)
        }
        Some("OKP") => (tlv(SEQ, &[&tlv(OID, &[okp(&jwk)?])]), jwk.bytes("x")?.to_vec()),
        _ => return Err("the JWK's key type is not RSA, EC or OKP".into()),
    };
    Ok(tlv(SEQ, &[&alg, &tlv(BITS, &[&[0], &key])]))
}

/// The PKCS#8 DER of a private JWK, as Go's `x509.MarshalPKCS8PrivateKey`
/// writes it.
fn jwk_private(json: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let jwk = Jwk::parse(json)?;
    if !jwk.has("d") {
        return Err("the JWK is a public key (use jwkPublicKeyPem)".into());
    }
    let (alg, inner) = match jwk.str("kty") {
        Some("RSA") => {
            if jwk.has("oth") {
                return Err("multi-prime RSA JWKs are not supported".into());
            }
            let mut parts = vec![der_big(&[0])];
            for field in ["n", "e", "d", "p", "q", "dp", "dq", "qi"] {
                parts.push(der_big(
                    &jwk.bytes(field)
                        .map_err(|why| format!("{why} (seal needs every CRT field of a private RSA JWK)"))?,
                ));
            }
            let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            (tlv(SEQ, &[&tlv(OID, &[oid::RSA]), &tlv(NULL, &[])]), Zeroizing::new(tlv(SEQ, &refs)))
        }
        Some("EC") => {
            let (curve, size) = curve(&jwk)?;
            let mut point = vec![4u8];
            point.extend(fixed(&jwk.bytes("x")?, size, "x")?);
            point.extend(fixed(&jwk.bytes("y")?, size, "y")?);
            let d = Zeroizing::new(fixed(&jwk.bytes("d")?, size, "d")?);
            let inner = tlv(SEQ, &[&der_big(&[1]), &tlv(OCTETS, &[&d]), &tlv(0xa1, &[&tlv(BITS, &[&[0], &point])])]);
            (tlv(SEQ, &[&tlv(OID, &[oid::EC_PUBLIC_KEY]), &tlv(OID, &[curve])]), Zeroizing::new(inner))
        }
        Some("OKP") => (tlv(SEQ, &[&tlv(OID, &[okp(&jwk)?])]), Zeroizing::new(tlv(OCTETS, &[&jwk.bytes("d")?]))),
        _ => return Err("the JWK's key type is not RSA, EC or OKP".into()),
    };
    Ok(Zeroizing::new(tlv(SEQ, &[&der_big(&[0]), &alg, &tlv(OCTETS, &[&inner])])))
}

/// An RSA private key's modulus and private exponent, from the first PEM
/// block (PKCS#1 or PKCS#8), as ESO's `parsePrivateKey` reads it.
fn rsa_key(pem: &[u8]) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), &'static str> {
    let (block, _) = gopem::decode(pem);
    let block = block.ok_or("failed to decode PEM block")?;
    let pkcs1 = |der: &[u8]| -> Option<(Vec<u8>, Zeroizing<Vec<u8>>)> {
        let mut k = Der(Der(der).take(SEQ, "").ok()?);
        k.take(INT, "").ok()?;
        let n = k.take(INT, "").ok()?.to_vec();
        k.take(INT, "").ok()?;
        let d = Zeroizing::new(k.take(INT, "").ok()?.to_vec());
        Some((n, d))
    };
    if let Some(key) = pkcs1(&block.bytes) {
        return Ok(key);
    }
    let mut p8 = Der(Der(&block.bytes).take(SEQ, "").map_err(|_| "could not parse private key")?);
    p8.take(INT, "").map_err(|_| "could not parse private key")?;
    let mut alg = Der(p8.take(SEQ, "").map_err(|_| "could not parse private key")?);
    let id = alg.take(OID, "").map_err(|_| "could not parse private key")?;
    let inner = p8.take(OCTETS, "").map_err(|_| "could not parse private key")?;
    if id != oid::RSA {
        return Err("could not parse RSA private key");
    }
    pkcs1(inner).ok_or("could not parse private key")
}

/// `c^d mod n` in `LIMBS` limbs, as `k` big-endian bytes; `None` when a
/// number does not fit, the modulus is even or the ciphertext not below it.
fn modpow<const LIMBS: usize>(n: &[u8], d: &[u8], c: &[u8], k: usize) -> Option<Zeroizing<Vec<u8>>> {
    let width = LIMBS * Limb::BYTES;
    let load = |x: &[u8]| -> Option<Uint<LIMBS>> {
        let x = x.get(x.iter().take_while(|b| **b == 0).count()..)?;
        let mut buf = Zeroizing::new(vec![0u8; width.checked_sub(x.len())?]);
        buf.extend_from_slice(x);
        Some(Uint::<LIMBS>::from_be_slice(&buf))
    };
    let (n, d, c) = (load(n)?, load(d)?, load(c)?);
    if c >= n {
        return None;
    }
    // `new` panics on an even modulus: checked first.
    if n.as_words().first().is_none_or(|w| w & 1 == 0) {
        return None;
    }
    let params = DynResidueParams::new(&n);
    let m = DynResidue::new(&c, params).pow(&d).retrieve();
    let mut out = Zeroizing::new(Vec::with_capacity(width));
    for w in m.as_words().iter().rev() {
        out.extend_from_slice(&w.to_be_bytes());
    }
    Some(Zeroizing::new(out.get(width.checked_sub(k)?..)?.to_vec()))
}

/// RSAES-OAEP decryption (RFC 8017 7.1.2) with `hash` for the label and
/// MGF1, as Go's `rsa.DecryptOAEP` with ESO's `getHash` (SHA-256 for an
/// unknown name).
fn rsa_oaep_decrypt(hash: &str, c: &[u8], pem: &[u8]) -> Result<Zeroizing<Vec<u8>>, &'static str> {
    match hash {
        "SHA1" => oaep::<sha1::Sha1>(c, pem),
        "SHA512" => oaep::<sha2::Sha512>(c, pem),
        _ => oaep::<sha2::Sha256>(c, pem),
    }
}

fn mgf1<D: Digest>(seed: &[u8], out: &mut [u8]) {
    for (counter, chunk) in out.chunks_mut(<D as Digest>::output_size()).enumerate() {
        let mut h = D::new();
        h.update(seed);
        h.update((counter as u32).to_be_bytes());
        for (o, m) in chunk.iter_mut().zip(h.finalize()) {
            *o ^= m;
        }
    }
}

fn oaep<D: Digest>(c: &[u8], pem: &[u8]) -> Result<Zeroizing<Vec<u8>>, &'static str> {
    const FAILED: &str = "error decrypting data with RSA";
    let (n, d) = rsa_key(gopem::trim_junk(pem))?;
    let n = n.get(n.iter().take_while(|b| **b == 0).count()..).unwrap_or_default().to_vec();
    let (k, h) = (n.len(), <D as Digest>::output_size());
    if k > 512 {
        return Err("RSA keys larger than 4096 bits are not supported");
    }
    if c.len() > k || k < 2 * h + 2 {
        return Err(FAILED);
    }
    let em = match k {
        0..=128 => modpow::<{ 1024 / Limb::BITS }>(&n, &d, c, k),
        129..=256 => modpow::<{ 2048 / Limb::BITS }>(&n, &d, c, k),
        _ => modpow::<{ 4096 / Limb::BITS }>(&n, &d, c, k),
    };
    let mut em = em.ok_or(FAILED)?;
    let (y, rest) = em.split_first_mut().ok_or(FAILED)?;
    let (seed, db) = rest.split_at_mut(h);
    mgf1::<D>(db, seed);
    mgf1::<D>(seed, db);
    let (label_hash, tail) = db.split_at(h);
    // Every check below runs whatever the earlier ones found.
    let mut bad = u8::from(*y != 0);
    bad |= label_hash.iter().zip(D::digest([]).iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    let (mut found, mut at, mut junk) = (0u8, 0usize, 0u8);
    for (i, b) in tail.iter().enumerate() {
        let is_one = u8::from(*b == 1);
        let is_zero = u8::from(*b == 0);
        let first = is_one & (found ^ 1);
        at |= i & usize::from(first).wrapping_neg();
        junk |= (found ^ 1) & (is_zero ^ 1) & (is_one ^ 1);
        found |= is_one;
    }
    if bad != 0 || found == 0 || junk != 0 {
        return Err(FAILED);
    }
    Ok(Zeroizing::new(tail.get(at + 1..).ok_or(FAILED)?.to_vec()))
}
