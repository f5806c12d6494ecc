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
//!
//! Written here rather than taken from a crate: the reader must charge a
//! file's iteration counts to the object's budget before any derivation
//! runs, refuse BER and scrypt, and say what is wrong without quoting a
//! byte; the PKCS#12 crates on crates.io derive keys inside one decrypt
//! call with whatever count the file gives, or leave out the legacy
//! SHA-1/3DES/RC2 schemes that ESO's Go reader (and Java's keytool) still
//! write. The DER it needs is small (definite lengths, a dozen tags, no
//! recursion: `der`), and the `pkcs12_decode` fuzz target runs it.
//!
//! Layout: this module reads a file ([`decode`]) and checks its MAC;
//! `der` reads and writes DER; `crypto` derives keys and decrypts;
//! `pem` holds PEM blocks and certificate chains; `write` writes files
//! ([`encode`]).

mod crypto;
pub(crate) mod der;
mod pem;
mod write;

use aes::cipher::KeyInit;
use hmac::Mac;
use sha1::Sha1;
use sha2::digest::core_api::BlockSizeUser;
use sha2::{Digest, Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use crypto::{bmp, decrypt, p12_kdf};
use der::{Der, EXPLICIT0, IMPLICIT0, OCTETS, OID, SEQ, algorithm, oid};
pub use pem::{PemBlock, order_chain, pem, pem_blocks};
pub(crate) use pem::{cert_ids, cert_sans};
pub use write::{encode, encode_truststore};

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
    /// A budget of `iterations` (the fuzz target's, to keep each run short).
    pub fn new(iterations: u64) -> Budget {
        Budget(iterations)
    }

    /// Charges `iterations` of key derivation; refused when they are more
    /// than what is left.
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
    let (key, certs) = decode_parts(input, password, budget)?;
    let key = key.ok_or("the file holds no private key")?;
    if certs.is_empty() {
        return Err("the file holds no certificate".into());
    }
    Ok(Contents { key, certs })
}

/// A private key (PKCS#8 DER).
pub(crate) type Key = Zeroizing<Vec<u8>>;

/// Reads a PKCS#12 file: its private key if it has one (a trust store has
/// none) and its certificates.
pub(crate) fn decode_parts(
    input: &[u8],
    password: &str,
    budget: &mut Budget,
) -> Result<(Option<Key>, Vec<Vec<u8>>), String> {
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
    Ok((key, certs))
}

/// A PKCS#12 file around `auth_safe` (the encoded AuthenticatedSafe, a
/// SEQUENCE of ContentInfo) with a valid one-iteration SHA-256 MAC under
/// `password`: lets the tests and the `pkcs12_decode` fuzz target reach the
/// parser behind the MAC with any content.
#[cfg(any(test, feature = "fuzzing"))]
pub fn with_mac(auth_safe: &[u8], password: &str) -> Vec<u8> {
    use der::{NULL, der_uint, tlv};
    use hmac::Hmac;
    let salt = [7u8; 8];
    let key = p12_kdf::<Sha256>(&bmp(password), &salt, 3, 1, 32);
    let digest = match <Hmac<Sha256> as KeyInit>::new_from_slice(&key) {
        Ok(mut mac) => {
            mac.update(auth_safe);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(), // HMAC takes keys of any length
    };
    let alg = tlv(SEQ, &[&tlv(OID, &[oid::SHA256]), &tlv(NULL, &[])]);
    let mac_data = tlv(SEQ, &[&tlv(SEQ, &[&alg, &tlv(OCTETS, &[&digest])]), &tlv(OCTETS, &[&salt]), &der_uint(1)]);
    let info = tlv(SEQ, &[&tlv(OID, &[oid::DATA]), &tlv(EXPLICIT0, &[&tlv(OCTETS, &[auth_safe])])]);
    tlv(SEQ, &[&der_uint(3), &info, &mac_data])
}

#[cfg(test)]
mod tests;
