//! Writing PKCS#12 files as `go-pkcs12`'s `Modern` encoder does (see the
//! module above).

use aes::cipher::{BlockEncryptMut, KeyInit, KeyIvInit, block_padding::Pkcs7};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::WRITE_ITERATIONS;
use super::crypto::{bmp, p12_kdf};
use super::der::{EXPLICIT0, IMPLICIT0, OCTETS, OID, SEQ, SET, der_uint, oid, tlv};
use super::pem::{certs_from_pem, pkcs8_from_pem, subject_string};

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
    build(&certs, Some(&key), password, seed_key)
}

/// Writes a PKCS#12 trust store of certificates, as `go-pkcs12`'s
/// `Modern.EncodeTrustStore` does: each certificate in a bag marked as a
/// Java trusted certificate for any extended key usage, no key.
pub fn encode_truststore(certs_pem: &str, password: &str, seed_key: &[u8]) -> Result<Vec<u8>, String> {
    let certs = certs_from_pem(certs_pem)?;
    build(&certs, None, password, seed_key)
}

fn build(certs: &[Vec<u8>], key: Option<&[u8]>, password: &str, seed_key: &[u8]) -> Result<Vec<u8>, String> {
    let no_key: &[u8] = &[];
    let key_bytes = key.unwrap_or(no_key);
    let seed = |purpose: &str| -> Result<[u8; 16], String> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(seed_key).map_err(|_| "cannot set up HMAC")?;
        for part in
            [purpose.as_bytes(), password.as_bytes(), key_bytes].into_iter().chain(certs.iter().map(|c| c.as_slice()))
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
                        // No NULL parameters, as go-pkcs12 writes them.
                        &tlv(SEQ, &[&tlv(OID, &[oid::HMAC_SHA256])]),
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
        // go-pkcs12: trusted for any extended key usage, and named by the
        // certificate's subject.
        let trusted = match key {
            Some(_) => Vec::new(),
            None => {
                let name = subject_string(cert)?;
                let mut bmp_name = Vec::new();
                for unit in name.encode_utf16() {
                    if (0xd800..0xe000).contains(&unit) {
                        return Err("a certificate's subject has a character outside UCS-2 (a trust store names entries in UCS-2)".into());
                    }
                    bmp_name.extend_from_slice(&unit.to_be_bytes());
                }
                tlv(
                    SET,
                    &[
                        &tlv(
                            SEQ,
                            &[&tlv(OID, &[oid::JAVA_TRUSTED]), &tlv(SET, &[&tlv(OID, &[oid::ANY_EXTENDED_KEY_USAGE])])],
                        ),
                        &tlv(SEQ, &[&tlv(OID, &[oid::FRIENDLY_NAME]), &tlv(SET, &[&tlv(0x1e, &[&bmp_name])])]),
                    ],
                )
            }
        };
        let attrs: &[u8] = match key {
            None => &trusted,
            Some(_) if i == 0 => &key_id_attr,
            Some(_) => &[],
        };
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
    let auth_safe = match key {
        Some(key) => {
            let (key_alg, key_enc) = encrypt("key", key)?;
            let key_bag = tlv(
                SEQ,
                &[
                    &tlv(OID, &[oid::SHROUDED_KEY_BAG]),
                    &tlv(EXPLICIT0, &[&tlv(SEQ, &[&key_alg, &tlv(OCTETS, &[&key_enc])])]),
                    &key_id_attr,
                ],
            );
            let key_info =
                tlv(SEQ, &[&tlv(OID, &[oid::DATA]), &tlv(EXPLICIT0, &[&tlv(OCTETS, &[&tlv(SEQ, &[&key_bag])])])]);
            tlv(SEQ, &[&certs_info, &key_info])
        }
        None => tlv(SEQ, &[&certs_info]),
    };
    let mac_salt = seed("mac salt")?;
    let mac_key = p12_kdf::<Sha256>(&bmp(password), &mac_salt, 3, WRITE_ITERATIONS, 32);
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&mac_key).map_err(|_| "cannot set up the MAC")?;
    mac.update(&auth_safe);
    let digest = mac.finalize().into_bytes();
    let mac_data = tlv(
        SEQ,
        &[
            &tlv(SEQ, &[&tlv(SEQ, &[&tlv(OID, &[oid::SHA256])]), &tlv(OCTETS, &[&digest])]),
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
