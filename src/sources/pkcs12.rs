//! PKCS#12 (RFC 7292) for ESO's template functions `pkcs12key`,
//! `pkcs12cert` and `pemToPkcs12` (and their `…Pass` forms).
//!
//! A PKCS#12 file in a template comes from a tenant's store, so it is read
//! as hostile input:
//! - a small DER reader of its own, definite lengths only, with no
//!   recursion (the structure's depth is fixed by the code that walks it);
//! - at most [`MAX_INPUT`] bytes and [`MAX_BAGS`] bags;
//! - key derivation costs what the file says (its iteration counts), so
//!   every derivation is charged to a [`Budget`] shared by every template
//!   of one object in one reconcile before it runs; scrypt is not supported
//!   at all.
//!
//! What is read: the MAC (SHA-1/SHA-2 with the PKCS#12 KDF), `data` and
//! `encryptedData` content, key bags (plain and shrouded) and X.509
//! certificate bags; encryption with PBES2 (PBKDF2 with HMAC-SHA-1/SHA-2,
//! AES-CBC) or the legacy PKCS#12 PBE schemes (SHA-1 with 3DES or RC2).
//! What is written is what Go's `go-pkcs12` `Modern` encoder writes:
//! PBES2 with PBKDF2-HMAC-SHA-256 and AES-256-CBC, 2048 iterations, and a
//! SHA-256 MAC; its salts and IVs are derived from the controller's key and
//! the input, so the same input gives the same file (no rewrite per
//! refresh).
//!
//! Errors name what is wrong with the structure, never a byte of it.

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyInit, KeyIvInit, block_padding::Pkcs7};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::digest::core_api::BlockSizeUser;
use sha2::{Digest, Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

/// Largest PKCS#12 file read (keystores with a chain are a few KiB).
pub const MAX_INPUT: usize = 256 * 1024;
/// Most bags in one file.
pub const MAX_BAGS: usize = 64;
/// Most key-derivation iterations (MAC and decryption, all files) in one
/// template execution: OpenSSL writes 2,048 per derivation, Java's keytool
/// 10,000.
pub const MAX_ITERATIONS: u64 = 1_000_000;
/// Iterations of the files seal writes, as `go-pkcs12`'s `Modern` encoder.
const WRITE_ITERATIONS: u64 = 2048;
/// What writing one file costs from a [`Budget`]: two encryptions, one MAC.
pub const WRITE_COST: u64 = 3 * WRITE_ITERATIONS;

/// What is left of one object's key-derivation iterations in one reconcile.
#[derive(Debug)]
pub struct Budget(u64);

impl Default for Budget {
    fn default() -> Self {
        Budget(MAX_ITERATIONS)
    }
}

impl Budget {
    pub fn charge(&mut self, iterations: u64) -> Result<(), String> {
        if iterations == 0 {
            return Err("an iteration count of 0".into());
        }
        match self.0.checked_sub(iterations) {
            Some(left) => {
                self.0 = left;
                Ok(())
            }
            None => Err(format!(
                "its key derivation asks for more iterations than seal allows one object in one reconcile ({MAX_ITERATIONS})"
            )),
        }
    }
}

/// The private key (PKCS#8 DER) and the certificates (DER, in file order:
/// the first is the leaf, as Go's `pkcs12.DecodeChain` takes it) of a file.
pub struct Contents {
    pub key: Zeroizing<Vec<u8>>,
    pub certs: Vec<Vec<u8>>,
}

mod oid {
    pub const DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
    pub const ENCRYPTED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x06];
    pub const KEY_BAG: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x01];
    pub const SHROUDED_KEY_BAG: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x02];
    pub const CERT_BAG: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x03];
    pub const X509_CERT: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x16, 0x01];
    pub const LOCAL_KEY_ID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x15];
    pub const PBES2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];
    pub const PBKDF2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c];
    pub const HMAC_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x07];
    pub const HMAC_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x09];
    pub const HMAC_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x0a];
    pub const HMAC_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x0b];
    pub const AES128_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02];
    pub const AES192_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x16];
    pub const AES256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];
    pub const PBE_SHA1_3DES: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x03];
    pub const PBE_SHA1_RC2_128: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x05];
    pub const PBE_SHA1_RC2_40: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x06];
    pub const SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
    pub const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    pub const SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
    pub const SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];
    pub const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    pub const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    pub const SUBJECT_KEY_ID: &[u8] = &[0x55, 0x1d, 0x0e];
    pub const AUTHORITY_KEY_ID: &[u8] = &[0x55, 0x1d, 0x23];
}

const SEQ: u8 = 0x30;
const SET: u8 = 0x31;
const INT: u8 = 0x02;
const OCTETS: u8 = 0x04;
const OID: u8 = 0x06;
const NULL: u8 = 0x05;
const EXPLICIT0: u8 = 0xa0;
const IMPLICIT0: u8 = 0x80;

/// A reader over DER: one element at a time, definite lengths only.
#[derive(Clone, Copy)]
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }

    /// The next element: tag, contents, and the whole encoding.
    fn next(&mut self, what: &str) -> Result<(u8, &'a [u8], &'a [u8]), String> {
        let short = || format!("{what} is cut short");
        let start = self.0;
        let (&tag, rest) = self.0.split_first().ok_or_else(short)?;
        if tag & 0x1f == 0x1f {
            return Err(format!("{what} has a tag seal does not read"));
        }
        let (&first, rest) = rest.split_first().ok_or_else(short)?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 {
                return Err(format!(
                    "{what} uses an indefinite (BER) length; re-export the file as DER (openssl pkcs12 writes DER)"
                ));
            }
            if n > 4 {
                return Err(format!("{what} has a length beyond this reader's limit"));
            }
            let (bytes, rest) = rest.split_at_checked(n).ok_or_else(short)?;
            (bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)), rest)
        };
        let (body, after) = rest.split_at_checked(len).ok_or_else(short)?;
        let whole = start.get(..start.len() - after.len()).ok_or_else(short)?;
        self.0 = after;
        Ok((tag, body, whole))
    }

    fn take(&mut self, tag: u8, what: &str) -> Result<&'a [u8], String> {
        match self.next(what)? {
            (t, body, _) if t == tag => Ok(body),
            _ => Err(format!("{what} is not where the format puts it")),
        }
    }

    fn take_whole(&mut self, tag: u8, what: &str) -> Result<&'a [u8], String> {
        match self.next(what)? {
            (t, _, whole) if t == tag => Ok(whole),
            _ => Err(format!("{what} is not where the format puts it")),
        }
    }

    fn uint(&mut self, what: &str) -> Result<u64, String> {
        let body = self.take(INT, what)?;
        match body.split_first() {
            Some((b, _)) if b & 0x80 != 0 => Err(format!("{what} is negative")),
            Some(_) => {
                let digits = body.iter().skip_while(|b| **b == 0).count();
                if digits > 8 {
                    return Err(format!("{what} is too large"));
                }
                Ok(body.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
            }
            None => Err(format!("{what} is an empty integer")),
        }
    }

    fn done(&self, what: &str) -> Result<(), String> {
        if self.is_empty() { Ok(()) } else { Err(format!("{what} has unexpected trailing data")) }
    }
}

/// An AlgorithmIdentifier: its OID and its parameters (encoded, may be empty).
fn algorithm<'a>(body: &'a [u8], what: &str) -> Result<(&'a [u8], Der<'a>), String> {
    let mut d = Der(body);
    let oid = d.take(OID, what)?;
    Ok((oid, d))
}

/// The password as PKCS#12's KDF takes it: UTF-16BE with a final 0x0000.
fn bmp(password: &str) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(password.len() * 2 + 2));
    for unit in password.encode_utf16().chain([0]) {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out
}

/// RFC 7292 appendix B.2: `n` bytes of key material of purpose `id`
/// (1 key, 2 IV, 3 MAC key).
fn p12_kdf<D: Digest + BlockSizeUser>(
    pass: &[u8],
    salt: &[u8],
    id: u8,
    iterations: u64,
    n: usize,
) -> Zeroizing<Vec<u8>> {
    let v = <D as BlockSizeUser>::block_size();
    let fill = |x: &[u8]| -> Vec<u8> {
        if x.is_empty() { Vec::new() } else { x.iter().cycle().take(v * x.len().div_ceil(v)).copied().collect() }
    };
    let mut i = Zeroizing::new(fill(salt));
    i.extend_from_slice(&fill(pass));
    let d = vec![id; v];
    let mut out = Zeroizing::new(Vec::with_capacity(n));
    loop {
        let mut a = D::new().chain_update(&d).chain_update(i.as_slice()).finalize();
        for _ in 1..iterations {
            a = D::digest(&a);
        }
        let want = n.saturating_sub(out.len()).min(a.len());
        out.extend(a.iter().take(want));
        if out.len() >= n {
            return out;
        }
        let b: Vec<u8> = a.iter().cycle().take(v).copied().collect();
        for block in i.chunks_mut(v) {
            let mut carry = 1u16;
            for (x, y) in block.iter_mut().rev().zip(b.iter().rev()) {
                let sum = u16::from(*x) + u16::from(*y) + carry;
                *x = sum as u8;
                carry = sum >> 8;
            }
        }
    }
}

fn pbkdf2(prf: &[u8], password: &[u8], salt: &[u8], iterations: u32, key: &mut [u8]) -> Result<(), String> {
    match prf {
        oid::HMAC_SHA1 => pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, key),
        oid::HMAC_SHA256 => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, key),
        oid::HMAC_SHA384 => pbkdf2::pbkdf2_hmac::<Sha384>(password, salt, iterations, key),
        oid::HMAC_SHA512 => pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, key),
        _ => return Err("its PBKDF2 uses a PRF seal does not support (HMAC-SHA-1/256/384/512 are)".into()),
    }
    Ok(())
}

fn cbc_decrypt<C: BlockDecryptMut + KeyInit + aes::cipher::BlockCipher>(
    key: &[u8],
    iv: &[u8],
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut buf = Zeroizing::new(data.to_vec());
    let dec = cbc::Decryptor::<C>::new_from_slices(key, iv).map_err(|_| "its cipher parameters have a wrong length")?;
    let len = dec
        .decrypt_padded_mut::<Pkcs7>(&mut buf)
        .map_err(|_| "cannot decrypt it: wrong password, or the file is damaged")?
        .len();
    buf.truncate(len);
    Ok(buf)
}

/// Decrypts `data` with the scheme of the AlgorithmIdentifier `alg`.
fn decrypt(
    alg: &[u8],
    data: &[u8],
    password: &str,
    bmp_pass: &[u8],
    budget: &mut Budget,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let (scheme, mut params) = algorithm(alg, "an encryption algorithm")?;
    match scheme {
        oid::PBES2 => {
            let mut p = Der(params.take(SEQ, "the PBES2 parameters")?);
            let (kdf, mut kdf_params) = algorithm(p.take(SEQ, "the PBES2 KDF")?, "the PBES2 KDF")?;
            if kdf != oid::PBKDF2 {
                return Err("it uses a PBES2 key derivation seal does not support (PBKDF2 is; scrypt is not)".into());
            }
            let mut k = Der(kdf_params.take(SEQ, "the PBKDF2 parameters")?);
            let salt = k.take(OCTETS, "the PBKDF2 salt")?;
            let iterations = k.uint("the PBKDF2 iteration count")?;
            let key_len = if k.peek() == Some(INT) { Some(k.uint("the PBKDF2 key length")?) } else { None };
            let prf =
                if k.is_empty() { oid::HMAC_SHA1 } else { algorithm(k.take(SEQ, "the PBKDF2 PRF")?, "the PRF")?.0 };
            let (cipher, mut cipher_params) = algorithm(p.take(SEQ, "the PBES2 cipher")?, "the PBES2 cipher")?;
            let iv = cipher_params.take(OCTETS, "the AES IV")?;
            let size = match cipher {
                oid::AES128_CBC => 16,
                oid::AES192_CBC => 24,
                oid::AES256_CBC => 32,
                _ => return Err("it uses a PBES2 cipher seal does not support (AES-CBC is)".into()),
            };
            if key_len.is_some_and(|l| l != size as u64) {
                return Err("its PBKDF2 key length does not match its cipher".into());
            }
            budget.charge(iterations)?;
            let rounds = u32::try_from(iterations).map_err(|_| "its PBKDF2 iteration count is too large")?;
            let mut key = Zeroizing::new(vec![0u8; size]);
            pbkdf2(prf, password.as_bytes(), salt, rounds, &mut key)?;
            match size {
                16 => cbc_decrypt::<aes::Aes128>(&key, iv, data),
                24 => cbc_decrypt::<aes::Aes192>(&key, iv, data),
                _ => cbc_decrypt::<aes::Aes256>(&key, iv, data),
            }
        }
        oid::PBE_SHA1_3DES | oid::PBE_SHA1_RC2_128 | oid::PBE_SHA1_RC2_40 => {
            let mut p = Der(params.take(SEQ, "the PBE parameters")?);
            let salt = p.take(OCTETS, "the PBE salt")?;
            let iterations = p.uint("the PBE iteration count")?;
            budget.charge(iterations.saturating_mul(2))?;
            let size = match scheme {
                oid::PBE_SHA1_3DES => 24,
                oid::PBE_SHA1_RC2_128 => 16,
                _ => 5,
            };
            let key = p12_kdf::<Sha1>(bmp_pass, salt, 1, iterations, size);
            let iv = p12_kdf::<Sha1>(bmp_pass, salt, 2, iterations, 8);
            match scheme {
                oid::PBE_SHA1_3DES => cbc_decrypt::<des::TdesEde3>(&key, &iv, data),
                _ => cbc_decrypt::<rc2::Rc2>(&key, &iv, data),
            }
        }
        _ => Err("it is encrypted with a scheme seal does not support (PBES2 with AES, or SHA-1 with 3DES/RC2)".into()),
    }
}

/// Checks the MacData over `content`; returns the password bytes that
/// matched (an empty password is written as 0x0000 by some tools and as
/// nothing by others, as Go's reader also allows).
fn verify_mac(
    mac_data: &[u8],
    content: &[u8],
    password: &str,
    budget: &mut Budget,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut m = Der(mac_data);
    let mut digest_info = Der(m.take(SEQ, "the MAC")?);
    let (hash, _) = algorithm(digest_info.take(SEQ, "the MAC algorithm")?, "the MAC algorithm")?;
    let expected = digest_info.take(OCTETS, "the MAC value")?;
    let salt = m.take(OCTETS, "the MAC salt")?;
    let iterations = if m.is_empty() { 1 } else { m.uint("the MAC iteration count")? };
    let mut candidates = vec![bmp(password)];
    if password.is_empty() {
        candidates.push(Zeroizing::new(Vec::new()));
    }
    for pass in candidates {
        budget.charge(iterations)?;
        let ok = match hash {
            oid::SHA1 => mac_matches::<Sha1>(&pass, salt, iterations, content, expected),
            oid::SHA256 => mac_matches::<Sha256>(&pass, salt, iterations, content, expected),
            oid::SHA384 => mac_matches::<Sha384>(&pass, salt, iterations, content, expected),
            oid::SHA512 => mac_matches::<Sha512>(&pass, salt, iterations, content, expected),
            _ => return Err("its MAC uses a hash seal does not support (SHA-1/256/384/512 are)".into()),
        };
        if ok {
            return Ok(pass);
        }
    }
    Err("its MAC does not match: wrong password, or the file was changed".into())
}

fn mac_matches<D: Digest + BlockSizeUser + Clone>(
    pass: &[u8],
    salt: &[u8],
    iterations: u64,
    content: &[u8],
    expected: &[u8],
) -> bool {
    let key = p12_kdf::<D>(pass, salt, 3, iterations, <D as Digest>::output_size());
    let Ok(mut mac) = <hmac::SimpleHmac<D> as KeyInit>::new_from_slice(&key) else { return false };
    mac.update(content);
    mac.verify_slice(expected).is_ok()
}

/// Reads a PKCS#12 file: its one private key and its certificates.
pub fn decode(input: &[u8], password: &str, budget: &mut Budget) -> Result<Contents, String> {
    if input.len() > MAX_INPUT {
        return Err(format!("the PKCS#12 file is larger than {} KiB", MAX_INPUT >> 10));
    }
    let mut top = Der(input);
    let mut pfx = Der(top.take(SEQ, "the PKCS#12 file")?);
    top.done("the PKCS#12 file")?;
    if pfx.uint("the PKCS#12 version")? != 3 {
        return Err("the PKCS#12 version is not 3".into());
    }
    let mut auth_safe = Der(pfx.take(SEQ, "the authenticated safe")?);
    if auth_safe.take(OID, "the authenticated safe's type")? != oid::DATA {
        return Err("the file is signed with a public key (not a password); seal reads password-protected files".into());
    }
    let content = Der(auth_safe.take(EXPLICIT0, "the authenticated safe")?).take(OCTETS, "the authenticated safe")?;
    let bmp_pass = if pfx.is_empty() {
        if !password.is_empty() {
            return Err("the file has no MAC, yet a password was given".into());
        }
        bmp(password)
    } else {
        verify_mac(pfx.take(SEQ, "the MAC")?, content, password, budget)?
    };
    let mut key: Option<Zeroizing<Vec<u8>>> = None;
    let mut certs = Vec::new();
    let mut bags = 0usize;
    let mut infos = Der(Der(content).take(SEQ, "the authenticated safe's contents")?);
    while !infos.is_empty() {
        let mut info = Der(infos.take(SEQ, "a content info")?);
        let kind = info.take(OID, "a content type")?;
        let body = Der(info.take(EXPLICIT0, "a content")?);
        let safe: Zeroizing<Vec<u8>> = match kind {
            oid::DATA => Zeroizing::new(body.clone().take(OCTETS, "a data content")?.to_vec()),
            oid::ENCRYPTED_DATA => {
                let mut enc = Der(body.clone().take(SEQ, "encrypted data")?);
                enc.uint("the encrypted data's version")?;
                let mut eci = Der(enc.take(SEQ, "the encrypted content")?);
                eci.take(OID, "the encrypted content's type")?;
                let alg = eci.take(SEQ, "the encrypted content's algorithm")?;
                let data = eci.take(IMPLICIT0, "the encrypted content")?;
                decrypt(alg, data, password, &bmp_pass, budget)?
            }
            _ => {
                return Err("the file holds a content type seal does not read (data and encryptedData are read)".into());
            }
        };
        let mut contents = Der(Der(&safe).take(SEQ, "a safe contents")?);
        while !contents.is_empty() {
            bags += 1;
            if bags > MAX_BAGS {
                return Err(format!("the file has more than {MAX_BAGS} bags"));
            }
            let mut bag = Der(contents.take(SEQ, "a bag")?);
            let bag_type = bag.take(OID, "a bag's type")?;
            let mut value = Der(bag.take(EXPLICIT0, "a bag's value")?);
            match bag_type {
                oid::KEY_BAG | oid::SHROUDED_KEY_BAG => {
                    if key.is_some() {
                        return Err("the file holds more than one private key".into());
                    }
                    let der = if bag_type == oid::KEY_BAG {
                        Zeroizing::new(value.take_whole(SEQ, "a private key")?.to_vec())
                    } else {
                        let mut epki = Der(value.take(SEQ, "an encrypted private key")?);
                        let alg = epki.take(SEQ, "the private key's algorithm")?;
                        let data = epki.take(OCTETS, "the encrypted private key")?;
                        decrypt(alg, data, password, &bmp_pass, budget)?
                    };
                    let mut check = Der(&der);
                    check.take(SEQ, "the private key")?;
                    check.done("the private key")?;
                    key = Some(der);
                }
                oid::CERT_BAG => {
                    let mut cert_bag = Der(value.take(SEQ, "a certificate bag")?);
                    if cert_bag.take(OID, "a certificate's type")? == oid::X509_CERT {
                        let der = Der(cert_bag.take(EXPLICIT0, "a certificate")?).take(OCTETS, "a certificate")?;
                        cert_ids(der)?;
                        certs.push(der.to_vec());
                    }
                }
                _ => {}
            }
        }
    }
    let key = key.ok_or("the file holds no private key")?;
    if certs.is_empty() {
        return Err("the file holds no certificate".into());
    }
    Ok(Contents { key, certs })
}

/// A certificate's subject and authority key identifiers (empty when
/// absent), as Go's `x509.Certificate` exposes them.
fn cert_ids(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let what = "a certificate";
    let mut cert = Der(der);
    let mut c = Der(cert.take(SEQ, what)?);
    cert.done(what)?;
    let mut tbs = Der(c.take(SEQ, what)?);
    if tbs.peek() == Some(EXPLICIT0) {
        tbs.next(what)?;
    }
    tbs.take(INT, what)?; // serial
    for _ in 0..5 {
        tbs.take(SEQ, what)?; // signature, issuer, validity, subject, public key
    }
    let (mut ski, mut aki) = (Vec::new(), Vec::new());
    while !tbs.is_empty() {
        let (tag, body, _) = tbs.next(what)?;
        if tag != 0xa3 {
            continue;
        }
        let mut exts = Der(Der(body).take(SEQ, what)?);
        while !exts.is_empty() {
            let mut ext = Der(exts.take(SEQ, what)?);
            let id = ext.take(OID, what)?;
            if ext.peek() == Some(0x01) {
                ext.next(what)?; // critical
            }
            let value = ext.take(OCTETS, what)?;
            match id {
                oid::SUBJECT_KEY_ID => ski = Der(value).take(OCTETS, what)?.to_vec(),
                oid::AUTHORITY_KEY_ID => {
                    let mut a = Der(Der(value).take(SEQ, what)?);
                    if a.peek() == Some(IMPLICIT0) {
                        aki = a.take(IMPLICIT0, what)?.to_vec();
                    }
                }
                _ => {}
            }
        }
    }
    Ok((ski, aki))
}

/// The certificates leaf first, each followed by its issuer, matched by
/// key identifiers as ESO's `pkcs12cert` orders them; `None` when they do
/// not form one chain (ESO then keeps the file's order).
pub fn order_chain(certs: &[Vec<u8>]) -> Option<Vec<usize>> {
    let ids: Vec<(Vec<u8>, Vec<u8>)> = certs.iter().map(|c| cert_ids(c)).collect::<Result<_, _>>().ok()?;
    let n = ids.len();
    let mut parent: Vec<Option<usize>> = vec![None; n];
    let mut is_parent = vec![false; n];
    for (i, (_, aki)) in ids.iter().enumerate() {
        if let Some(j) = (0..n).find(|&j| j != i && ids.get(j).is_some_and(|(ski, _)| ski == aki))
            && let (Some(p), Some(flag)) = (parent.get_mut(i), is_parent.get_mut(j))
        {
            *p = Some(j);
            *flag = true;
        }
    }
    let mut leaves = (0..n).filter(|&i| !is_parent.get(i).copied().unwrap_or(true));
    let leaf = leaves.next()?;
    if leaves.next().is_some() {
        return None;
    }
    let mut order = Vec::new();
    let mut at = Some(leaf);
    while let Some(i) = at {
        if order.len() >= n {
            return None; // a cycle
        }
        order.push(i);
        at = parent.get(i).copied().flatten();
    }
    Some(order)
}

/// One PEM block as Go's `pem.Encode` writes it.
pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A PEM block: its label and its DER.
pub type PemBlock = (String, Zeroizing<Vec<u8>>);

/// The PEM blocks of a text, in order.
pub fn pem_blocks(text: &str) -> Result<Vec<PemBlock>, String> {
    use base64::Engine;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("-----BEGIN ") {
        let after = rest.get(i + 11..).unwrap_or_default();
        let j = after.find("-----").ok_or("a PEM BEGIN line is not closed")?;
        let label = after.get(..j).unwrap_or_default().to_owned();
        let body_start = after.get(j + 5..).unwrap_or_default();
        let end = format!("-----END {label}-----");
        let k = body_start.find(&end).ok_or("a PEM block has no END line")?;
        let body: String = body_start.get(..k).unwrap_or_default().chars().filter(|c| !c.is_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|_| "a PEM block is not base64 (headers in PEM blocks are not supported)")?;
        out.push((label, Zeroizing::new(der)));
        rest = body_start.get(k + end.len()..).unwrap_or_default();
    }
    Ok(out)
}

/// DER writer: one element.
fn tlv(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let sig = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | sig.len() as u8);
        out.extend_from_slice(sig);
    }
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

fn der_uint(x: u64) -> Vec<u8> {
    let bytes = x.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    let mut body = bytes.get(skip..).unwrap_or_default().to_vec();
    if body.first().is_some_and(|b| b & 0x80 != 0) {
        body.insert(0, 0);
    }
    tlv(INT, &[&body])
}

/// A private key from PEM as PKCS#8 DER, as Go's `x509.MarshalPKCS8PrivateKey`
/// writes it after ESO's parse: PKCS#8 as it is, PKCS#1 RSA and SEC 1 EC keys
/// wrapped.
fn pkcs8_from_pem(text: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let (label, der) = pem_blocks(text)?.into_iter().next().ok_or("the key is not PEM")?;
    match label.as_str() {
        "PRIVATE KEY" => {
            let mut d = Der(&der);
            d.take(SEQ, "the private key")?;
            d.done("the private key")?;
            Ok(der)
        }
        "RSA PRIVATE KEY" => {
            let alg = tlv(SEQ, &[&tlv(OID, &[oid::RSA]), &tlv(NULL, &[])]);
            Ok(Zeroizing::new(tlv(SEQ, &[&der_uint(0), &alg, &tlv(OCTETS, &[&der])])))
        }
        "EC PRIVATE KEY" => {
            // ECPrivateKey { version, privateKey, [0] parameters, [1] publicKey }:
            // the curve moves to the algorithm, as Go writes it.
            let what = "the EC private key";
            let mut d = Der(Der(&der).take(SEQ, what)?);
            let version = d.take_whole(INT, what)?;
            let private = d.take_whole(OCTETS, what)?;
            let curve = Der(d.take(EXPLICIT0, what)?).take_whole(OID, what)?;
            let public = if d.peek() == Some(0xa1) { d.take_whole(0xa1, what)? } else { &[] };
            let inner = tlv(SEQ, &[version, private, public]);
            let alg = tlv(SEQ, &[&tlv(OID, &[oid::EC_PUBLIC_KEY]), curve]);
            Ok(Zeroizing::new(tlv(SEQ, &[&der_uint(0), &alg, &tlv(OCTETS, &[&inner])])))
        }
        _ => Err("the key is not a PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)".into()),
    }
}

/// Certificates from PEM (DER each), checked to be X.509.
fn certs_from_pem(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for (_, der) in pem_blocks(text)? {
        cert_ids(&der)?;
        out.push(der.to_vec());
    }
    Ok(out)
}

/// Writes a PKCS#12 file of a key and its certificates (leaf first), as
/// `go-pkcs12`'s `Modern.Encode` does (see the module's comment).
/// `seed_key` keys the salts and IVs.
pub fn encode(cert_pem: &str, key_pem: &str, chain: bool, password: &str, seed_key: &[u8]) -> Result<Vec<u8>, String> {
    let mut certs = certs_from_pem(cert_pem)?;
    if certs.is_empty() {
        return Err("the certificate is not PEM".into());
    }
    if !chain {
        certs.truncate(1);
    }
    let key = pkcs8_from_pem(key_pem)?;
    let seed = |purpose: &str| -> Result<[u8; 16], String> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(seed_key).map_err(|_| "cannot set up HMAC")?;
        for part in [purpose.as_bytes(), password.as_bytes(), key.as_slice()]
            .into_iter()
            .chain(certs.iter().map(|c| c.as_slice()))
        {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.iter_mut().zip(full.iter()).for_each(|(o, f)| *o = *f);
        Ok(out)
    };
    let local_key_id = Sha1::digest(certs.first().map(|c| c.as_slice()).unwrap_or_default());
    let key_id_attr =
        tlv(SET, &[&tlv(SEQ, &[&tlv(OID, &[oid::LOCAL_KEY_ID]), &tlv(SET, &[&tlv(OCTETS, &[&local_key_id])])])]);
    let encrypt = |purpose: &str, plain: &[u8]| -> Result<(Vec<u8>, Vec<u8>), String> {
        let salt = seed(&format!("{purpose} salt"))?;
        let iv = seed(&format!("{purpose} iv"))?;
        let mut key = Zeroizing::new([0u8; 32]);
        pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, WRITE_ITERATIONS as u32, key.as_mut_slice());
        let enc = cbc::Encryptor::<aes::Aes256>::new_from_slices(key.as_slice(), &iv)
            .map_err(|_| "cannot set up AES-256-CBC")?;
        let ciphertext = enc.encrypt_padded_vec_mut::<Pkcs7>(plain);
        let kdf = tlv(
            SEQ,
            &[
                &tlv(OID, &[oid::PBKDF2]),
                &tlv(
                    SEQ,
                    &[
                        &tlv(OCTETS, &[&salt]),
                        &der_uint(WRITE_ITERATIONS),
                        &tlv(SEQ, &[&tlv(OID, &[oid::HMAC_SHA256]), &tlv(NULL, &[])]),
                    ],
                ),
            ],
        );
        let cipher = tlv(SEQ, &[&tlv(OID, &[oid::AES256_CBC]), &tlv(OCTETS, &[&iv])]);
        Ok((tlv(SEQ, &[&tlv(OID, &[oid::PBES2]), &tlv(SEQ, &[&kdf, &cipher])]), ciphertext))
    };
    let mut cert_bags = Vec::new();
    for (i, cert) in certs.iter().enumerate() {
        let value =
            tlv(EXPLICIT0, &[&tlv(SEQ, &[&tlv(OID, &[oid::X509_CERT]), &tlv(EXPLICIT0, &[&tlv(OCTETS, &[cert])])])]);
        let attrs: &[u8] = if i == 0 { &key_id_attr } else { &[] };
        cert_bags.push(tlv(SEQ, &[&tlv(OID, &[oid::CERT_BAG]), &value, attrs]));
    }
    let cert_safe = tlv(SEQ, &cert_bags.iter().map(|b| b.as_slice()).collect::<Vec<_>>());
    let (cert_alg, cert_enc) = encrypt("certificates", &cert_safe)?;
    let certs_info = tlv(
        SEQ,
        &[
            &tlv(OID, &[oid::ENCRYPTED_DATA]),
            &tlv(
                EXPLICIT0,
                &[&tlv(
                    SEQ,
                    &[&der_uint(0), &tlv(SEQ, &[&tlv(OID, &[oid::DATA]), &cert_alg, &tlv(IMPLICIT0, &[&cert_enc])])],
                )],
            ),
        ],
    );
    let (key_alg, key_enc) = encrypt("key", &key)?;
    let key_bag = tlv(
        SEQ,
        &[
            &tlv(OID, &[oid::SHROUDED_KEY_BAG]),
            &tlv(EXPLICIT0, &[&tlv(SEQ, &[&key_alg, &tlv(OCTETS, &[&key_enc])])]),
            &key_id_attr,
        ],
    );
    let key_info = tlv(SEQ, &[&tlv(OID, &[oid::DATA]), &tlv(EXPLICIT0, &[&tlv(OCTETS, &[&tlv(SEQ, &[&key_bag])])])]);
    let auth_safe = tlv(SEQ, &[&certs_info, &key_info]);
    let mac_salt = seed("mac salt")?;
    let mac_key = p12_kdf::<Sha256>(&bmp(password), &mac_salt, 3, WRITE_ITERATIONS, 32);
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&mac_key).map_err(|_| "cannot set up the MAC")?;
    mac.update(&auth_safe);
    let digest = mac.finalize().into_bytes();
    let mac_data = tlv(
        SEQ,
        &[
            &tlv(SEQ, &[&tlv(SEQ, &[&tlv(OID, &[oid::SHA256]), &tlv(NULL, &[])]), &tlv(OCTETS, &[&digest])]),
            &tlv(OCTETS, &[&mac_salt]),
            &der_uint(WRITE_ITERATIONS),
        ],
    );
    let pfx = tlv(
        SEQ,
        &[
            &der_uint(3),
            &tlv(SEQ, &[&tlv(OID, &[oid::DATA]), &tlv(EXPLICIT0, &[&tlv(OCTETS, &[&auth_safe])])]),
            &mac_data,
        ],
    );
    Ok(pfx)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODERN: &str = include_str!("testdata/pkcs12/modern.p12.b64");

    fn b64(x: &str) -> Vec<u8> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(x.split_whitespace().collect::<String>()).expect("fixture")
    }

    #[test]
    fn reads_openssl_files_of_every_scheme_to_the_key_and_chain_openssl_reads() {
        let key = include_str!("testdata/pkcs12/leaf.key");
        let leaf = include_str!("testdata/pkcs12/leaf.crt");
        let ca = include_str!("testdata/pkcs12/ca.crt");
        for (file, pass, chain) in [
            (MODERN, "my-password", true),
            (include_str!("testdata/pkcs12/des.p12.b64"), "my-password", true),
            (include_str!("testdata/pkcs12/rc2.p12.b64"), "my-password", false),
            (include_str!("testdata/pkcs12/nopass.p12.b64"), "", false),
        ] {
            let got = decode(&b64(file), pass, &mut Budget::default()).expect("reads");
            assert_eq!(pem("PRIVATE KEY", &got.key), key);
            let certs: String = got.certs.iter().map(|c| pem("CERTIFICATE", c)).collect();
            assert_eq!(certs, if chain { format!("{leaf}{ca}") } else { leaf.to_owned() });
        }
    }

    #[test]
    fn a_wrong_password_or_a_changed_byte_is_refused_by_the_mac() {
        let file = b64(MODERN);
        let e = decode(&file, "not-it", &mut Budget::default()).err().expect("refused");
        assert!(e.contains("MAC does not match"), "{e}");
        let mut changed = file.clone();
        let at = changed.len() / 2;
        changed[at] ^= 1;
        assert!(decode(&changed, "my-password", &mut Budget::default()).is_err());
    }

    #[test]
    fn iteration_counts_are_charged_before_any_derivation_runs() {
        // A file that asks for 2^31 iterations must fail at once, not after
        // minutes of hashing: the budget is checked first.
        let file = b64(MODERN);
        let mut budget = Budget(1000);
        let e = decode(&file, "my-password", &mut budget).err().expect("over budget");
        assert!(e.contains("more iterations"), "{e}");
        // The budget is per execution: a second file reads only with what is left.
        let mut budget = Budget(2048 * 3);
        decode(&file, "my-password", &mut budget).expect("first read fits");
        assert!(decode(&file, "my-password", &mut budget).is_err());
    }

    #[test]
    fn every_truncation_and_a_ber_length_give_an_error_not_a_panic() {
        let file = b64(MODERN);
        for n in 0..file.len() {
            assert!(decode(&file[..n], "my-password", &mut Budget::default()).is_err());
        }
        let mut ber = file.clone();
        ber[1] = 0x80;
        let e = decode(&ber, "my-password", &mut Budget::default()).err().expect("BER");
        assert!(e.contains("indefinite"), "{e}");
    }

    #[test]
    fn written_files_read_back_and_are_stable_for_the_same_input() {
        let key = include_str!("testdata/pkcs12/leaf.key");
        let chain = format!("{}{}", include_str!("testdata/pkcs12/leaf.crt"), include_str!("testdata/pkcs12/ca.crt"));
        let a = encode(&chain, key, true, "pw", b"controller key").expect("encodes");
        assert_eq!(a, encode(&chain, key, true, "pw", b"controller key").expect("encodes"));
        assert_ne!(a, encode(&chain, key, true, "pw", b"another key").expect("encodes"));
        let back = decode(&a, "pw", &mut Budget::default()).expect("reads back");
        assert_eq!(pem("PRIVATE KEY", &back.key), key);
        assert_eq!(back.certs.len(), 2);
        let single = encode(&chain, key, false, "", b"k").expect("encodes");
        assert_eq!(decode(&single, "", &mut Budget::default()).expect("reads").certs.len(), 1);
    }

    /// A PFX around `auth_safe` with a valid one-iteration SHA-256 MAC, so
    /// that mutations of the content reach the parser behind the MAC.
    fn with_mac(auth_safe: &[u8], password: &str) -> Vec<u8> {
        let salt = [7u8; 8];
        let key = p12_kdf::<Sha256>(&bmp(password), &salt, 3, 1, 32);
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("any key length");
        mac.update(auth_safe);
        let digest = mac.finalize().into_bytes();
        let alg = tlv(SEQ, &[&tlv(OID, &[oid::SHA256]), &tlv(NULL, &[])]);
        let mac_data = tlv(SEQ, &[&tlv(SEQ, &[&alg, &tlv(OCTETS, &[&digest])]), &tlv(OCTETS, &[&salt]), &der_uint(1)]);
        let info = tlv(SEQ, &[&tlv(OID, &[oid::DATA]), &tlv(EXPLICIT0, &[&tlv(OCTETS, &[auth_safe])])]);
        tlv(SEQ, &[&der_uint(3), &info, &mac_data])
    }

    #[test]
    fn mutated_contents_behind_a_valid_mac_give_errors_not_panics() {
        // Plain (unencrypted) bags: every mutation reaches the bag parser.
        let key = pem_blocks(include_str!("testdata/pkcs12/leaf.key")).expect("pem").remove(0).1;
        let cert = pem_blocks(include_str!("testdata/pkcs12/leaf.crt")).expect("pem").remove(0).1;
        let bags = tlv(
            SEQ,
            &[
                &tlv(SEQ, &[&tlv(OID, &[oid::KEY_BAG]), &tlv(EXPLICIT0, &[&key])]),
                &tlv(
                    SEQ,
                    &[
                        &tlv(OID, &[oid::CERT_BAG]),
                        &tlv(
                            EXPLICIT0,
                            &[&tlv(SEQ, &[&tlv(OID, &[oid::X509_CERT]), &tlv(EXPLICIT0, &[&tlv(OCTETS, &[&cert])])])],
                        ),
                    ],
                ),
            ],
        );
        let auth_safe = tlv(SEQ, &[&tlv(SEQ, &[&tlv(OID, &[oid::DATA]), &tlv(EXPLICIT0, &[&tlv(OCTETS, &[&bags])])])]);
        let good = decode(&with_mac(&auth_safe, "pw"), "pw", &mut Budget::default()).expect("the unmutated file reads");
        assert_eq!(good.certs, vec![cert.to_vec()]);
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // A panic anywhere in the reader fails this test.
        let mut failed = 0;
        for _ in 0..5000 {
            let mut m = auth_safe.clone();
            for _ in 0..(1 + next() % 4) {
                let at = (next() as usize) % m.len().max(1);
                match next() % 4 {
                    0 => m[at] ^= 1 << (next() % 8),
                    1 => m[at] = next() as u8,
                    2 => m.insert(at, next() as u8),
                    _ => m.truncate(at.max(1)),
                }
            }
            if decode(&with_mac(&m, "pw"), "pw", &mut Budget::default()).is_err() {
                failed += 1;
            }
        }
        assert!(failed > 0, "mutations must reach the parser's errors");
    }

    #[test]
    fn a_chain_is_ordered_leaf_first_by_key_identifiers() {
        let blocks = pem_blocks(&format!(
            "{}{}",
            include_str!("testdata/pkcs12/ca.crt"),
            include_str!("testdata/pkcs12/leaf.crt")
        ))
        .expect("pem");
        let certs: Vec<Vec<u8>> = blocks.into_iter().map(|(_, d)| d.to_vec()).collect();
        assert_eq!(order_chain(&certs), Some(vec![1, 0]));
    }
}
