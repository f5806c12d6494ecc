//! Key derivation and decryption of PKCS#12 contents: the PKCS#12 KDF
//! (RFC 7292 appendix B), PBKDF2, and CBC decryption with AES, 3DES or
//! RC2. Every derivation is charged to the caller's budget before it runs.

use aes::cipher::{BlockDecryptMut, KeyInit, KeyIvInit, block_padding::Pkcs7};
use sha1::Sha1;
use sha2::digest::core_api::BlockSizeUser;
use sha2::{Digest, Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use super::Budget;
use super::der::{Der, INT, OCTETS, SEQ, algorithm, oid};

/// The password as PKCS#12's KDF takes it: UTF-16BE with a final 0x0000.
pub(crate) fn bmp(password: &str) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(password.len() * 2 + 2));
    for unit in password.encode_utf16().chain([0]) {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out
}

/// RFC 7292 appendix B.2: `n` bytes of key material of purpose `id`
/// (1 key, 2 IV, 3 MAC key).
pub(crate) fn p12_kdf<D: Digest + BlockSizeUser>(
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

pub(crate) fn pbkdf2(prf: &[u8], password: &[u8], salt: &[u8], iterations: u32, key: &mut [u8]) -> Result<(), String> {
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
pub(crate) fn decrypt(
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
