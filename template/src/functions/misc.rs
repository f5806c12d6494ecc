//! sprig's random values (`randAlphaNum`, `randAlpha`, `randAscii`,
//! `randNumeric`, `randBytes`, `randInt`, `shuffle`, `uuidv4`), its
//! symmetric encryption (`encryptAES`, `decryptAES`), `derivePassword`,
//! `urlParse` and `urlJoin`, and the functions of ESO's map seal refuses
//! by name (see [`REFUSED`]).
//!
//! A random value differs on every render, so a Secret using one is
//! rewritten at every refresh, as in ESO. `encryptAES` is the exception:
//! its IV is derived from the controller's key and the input, so the same
//! input gives the same ciphertext (sprig draws a random IV).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use base64::Engine;
use gotmpl::{FuncMap, TemplateError, Value};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::numeric::to_i64;
use super::{arg, checked, current, fail, s, text};
use crate::bytes::{bytes_from_text, text_from_bytes};

/// Functions of ESO's map seal does not provide, each with the reason.
pub const REFUSED: &[(&str, &str)] = &[
    ("genPrivateKey", "seal does not generate keys in templates"),
    ("genCA", "seal does not generate keys or certificates in templates"),
    ("genCAWithKey", "seal does not sign certificates in templates"),
    ("genSelfSignedCert", "seal does not generate keys or certificates in templates"),
    ("genSelfSignedCertWithKey", "seal does not sign certificates in templates"),
    ("genSignedCert", "seal does not generate keys or certificates in templates"),
    ("genSignedCertWithKey", "seal does not sign certificates in templates"),
    ("buildCustomCert", "seal does not build certificates in templates"),
    ("semver", "Masterminds/semver's versions and constraints are not implemented"),
    ("semverCompare", "Masterminds/semver's versions and constraints are not implemented"),
    ("toDate", "Go time layouts are not parsed (times are Unix seconds here: write the number)"),
    ("mustToDate", "Go time layouts are not parsed (times are Unix seconds here: write the number)"),
];

/// Most random characters or bytes one call gives.
const MAX_RANDOM: usize = 1 << 16;
/// Most `derivePassword` calls (scrypt with 32 MiB) per object and reconcile.
pub const MAX_DERIVE_CALLS: usize = 4;

fn random(n: usize) -> Result<Zeroizing<Vec<u8>>, TemplateError> {
    let mut buf = Zeroizing::new(vec![0u8; n]);
    getrandom::fill(&mut buf).map_err(|_| fail("rand", "the system's random source failed"))?;
    Ok(buf)
}

/// A uniformly random index below `n` (rejection sampling).
fn below(n: usize) -> Result<usize, TemplateError> {
    let n = u64::try_from(n).unwrap_or(u64::MAX).max(1);
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let b = random(8)?;
        let x = u64::from_be_bytes(<[u8; 8]>::try_from(b.as_slice()).unwrap_or_default());
        if x < zone {
            return usize::try_from(x % n).map_err(|_| fail("rand", "index"));
        }
    }
}

fn count(name: &str, v: &Value) -> Result<usize, TemplateError> {
    usize::try_from(to_i64(v))
        .ok()
        .filter(|n| *n <= MAX_RANDOM)
        .ok_or_else(|| fail(name, &format!("the count must be 0 to {MAX_RANDOM}")))
}

pub(super) fn register(fm: &mut FuncMap) {
    const ALPHA: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const DIGITS: &str = "0123456789";
    let ascii: String = (32u8..=126).map(char::from).collect();
    let alnum = format!("{ALPHA}{DIGITS}");
    for (name, set) in [
        ("randAlphaNum", alnum),
        ("randAlpha", ALPHA.to_owned()),
        ("randNumeric", DIGITS.to_owned()),
        ("randAscii", ascii),
    ] {
        let set: Vec<char> = set.chars().collect();
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                let n = count(name, arg(args, 0, name, 1)?)?;
                // Bytes below the largest multiple of the set's size, so
                // that every character is as likely.
                let zone = 256 - 256 % set.len().max(1);
                let mut out = String::with_capacity(n);
                let mut len = 0;
                while len < n {
                    for b in random(n.saturating_sub(len).saturating_mul(2).max(16))?.iter() {
                        if usize::from(*b) < zone && len < n {
                            out.push(set.get(usize::from(*b) % set.len().max(1)).copied().unwrap_or('a'));
                            len += 1;
                        }
                    }
                }
                Ok(s(out))
            }),
        );
    }
    fm.insert(
        "randBytes".into(),
        Arc::new(|args: &[Value]| {
            let n = count("randBytes", arg(args, 0, "randBytes", 1)?)?;
            Ok(s(base64::engine::general_purpose::STANDARD.encode(random(n)?)))
        }),
    );
    fm.insert(
        "randInt".into(),
        Arc::new(|args: &[Value]| {
            let (min, max) = (to_i64(arg(args, 0, "randInt", 2)?), to_i64(arg(args, 1, "randInt", 2)?));
            let span =
                max.checked_sub(min).filter(|s| *s > 0).ok_or_else(|| fail("randInt", "max must be above min"))?;
            let i = below(usize::try_from(span).unwrap_or(usize::MAX))?;
            Ok(Value::Int(min.wrapping_add(i as i64)))
        }),
    );
    fm.insert(
        "shuffle".into(),
        Arc::new(|args: &[Value]| {
            let mut chars: Vec<char> = text(arg(args, 0, "shuffle", 1)?).chars().collect();
            for i in (1..chars.len()).rev() {
                chars.swap(i, below(i + 1)?);
            }
            Ok(s(chars.into_iter().collect::<String>()))
        }),
    );
    fm.insert(
        "uuidv4".into(),
        Arc::new(|_: &[Value]| {
            let mut b = random(16)?;
            if let Some(v) = b.get_mut(6) {
                *v = (*v & 0x0f) | 0x40;
            }
            if let Some(r) = b.get_mut(8) {
                *r = (*r & 0x3f) | 0x80;
            }
            let h = hex::encode(&*b);
            let part = |a: usize, z: usize| h.get(a..z).unwrap_or_default();
            Ok(s(format!("{}-{}-{}-{}-{}", part(0, 8), part(8, 12), part(12, 16), part(16, 20), part(20, 32))))
        }),
    );
    fm.insert(
        "encryptAES".into(),
        Arc::new(|args: &[Value]| {
            let pass = Zeroizing::new(bytes_from_text(&text(arg(args, 0, "encryptAES", 2)?)));
            let plain = Zeroizing::new(bytes_from_text(&text(arg(args, 1, "encryptAES", 2)?)));
            if plain.is_empty() {
                return Ok(s(""));
            }
            let scope = current("encryptAES")?;
            let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(&scope.salt_key)
                .map_err(|_| fail("encryptAES", "cannot set up HMAC"))?;
            for part in [b"encryptAES iv".as_slice(), &pass, &plain] {
                mac.update(&(part.len() as u64).to_be_bytes());
                mac.update(part);
            }
            let iv: Vec<u8> = mac.finalize().into_bytes().iter().take(16).copied().collect();
            let pad = 16 - plain.len() % 16;
            let mut content = Zeroizing::new(plain.to_vec());
            content.extend(std::iter::repeat_n(pad as u8, pad));
            let enc = cbc::Encryptor::<aes::Aes256>::new_from_slices(aes_key(&pass).as_slice(), &iv)
                .map_err(|_| fail("encryptAES", "cannot set up AES-256-CBC"))?;
            let cipher = enc.encrypt_padded_vec_mut::<NoPadding>(&content);
            let mut out = iv;
            out.extend(cipher);
            checked("encryptAES", base64::engine::general_purpose::STANDARD.encode(out))
        }),
    );
    fm.insert(
        "decryptAES".into(),
        Arc::new(|args: &[Value]| {
            let pass = Zeroizing::new(bytes_from_text(&text(arg(args, 0, "decryptAES", 2)?)));
            let b64 = text(arg(args, 1, "decryptAES", 2)?);
            if b64.is_empty() {
                return Ok(s(""));
            }
            let data = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|_| fail("decryptAES", "the value is not base64"))?;
            let (iv, body) = data.split_at_checked(16).ok_or_else(|| fail("decryptAES", "the value is too short"))?;
            if body.is_empty() || body.len() % 16 != 0 {
                return Err(fail("decryptAES", "the ciphertext is not whole AES blocks"));
            }
            let dec = cbc::Decryptor::<aes::Aes256>::new_from_slices(aes_key(&pass).as_slice(), iv)
                .map_err(|_| fail("decryptAES", "cannot set up AES-256-CBC"))?;
            let plain = Zeroizing::new(
                dec.decrypt_padded_vec_mut::<NoPadding>(body).map_err(|_| fail("decryptAES", "decryption failed"))?,
            );
            // sprig removes as many bytes as the last one says, unchecked.
            let pad = usize::from(plain.last().copied().unwrap_or(0));
            let kept = plain.len().checked_sub(pad).ok_or_else(|| fail("decryptAES", "the padding is not valid"))?;
            Ok(s(text_from_bytes(plain.get(..kept).unwrap_or_default())))
        }),
    );
    fm.insert(
        "derivePassword".into(),
        Arc::new(|args: &[Value]| {
            let name = "derivePassword";
            let counter =
                u32::try_from(to_i64(arg(args, 0, name, 5)?)).map_err(|_| fail(name, "the counter is not a uint32"))?;
            let kind = text(arg(args, 1, name, 5)?);
            let pass = Zeroizing::new(text(arg(args, 2, name, 5)?));
            let (user, site) = (text(arg(args, 3, name, 5)?), text(arg(args, 4, name, 5)?));
            // Counted with the bcrypt hashes' bound too (the fuzz target's
            // budget allows none of either).
            let scope = current(name)?;
            let limit = MAX_DERIVE_CALLS.min(scope.work.max_bcrypt_calls);
            if scope.work.derive_calls.fetch_add(1, Ordering::Relaxed) >= limit {
                return Err(fail(name, &format!("called more than {limit} times by the object's templates")));
            }
            derive_password(counter, &kind, &pass, &user, &site).map(s).map_err(|why| fail(name, why))
        }),
    );
    fm.insert("urlParse".into(), Arc::new(|args: &[Value]| Ok(url_parse(&text(arg(args, 0, "urlParse", 1)?)))));
    fm.insert(
        "urlJoin".into(),
        Arc::new(|args: &[Value]| match arg(args, 0, "urlJoin", 1)? {
            Value::Map(m) => checked("urlJoin", url_join(m)),
            _ => Err(fail("urlJoin", "takes a dictionary")),
        }),
    );
    for (name, why) in REFUSED {
        fm.insert((*name).into(), Arc::new(move |_: &[Value]| Err(fail(name, &format!("not supported: {why}")))));
    }
}

/// sprig's AES key: the password's bytes in 32 bytes, zero-padded or cut.
fn aes_key(pass: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut k = Zeroizing::new([0u8; 32]);
    k.iter_mut().zip(pass).for_each(|(d, s)| *d = *s);
    k
}

/// The Master Password algorithm as sprig's `derivePassword` runs it.
fn derive_password(counter: u32, kind: &str, pass: &str, user: &str, site: &str) -> Result<String, &'static str> {
    const SEED: &[u8] = b"com.lyndir.masterpassword";
    let templates: &[&str] = match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return Err("no such password template (maximum, long, medium, short, basic or pin)"),
    };
    let chars = |c: char| match c {
        'V' => "AEIOU",
        'C' => "BCDFGHJKLMNPQRSTVWXYZ",
        'v' => "aeiou",
        'c' => "bcdfghjklmnpqrstvwxyz",
        'A' => "AEIOUBCDFGHJKLMNPQRSTVWXYZ",
        'a' => "AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
        'n' => "0123456789",
        'o' => "@&%?,=[]_:-+*$#!'^~;()/.",
        _ => "AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
    };
    let len32 = |x: &str| u32::try_from(x.len()).map(u32::to_be_bytes).map_err(|_| "a value is too long");
    let mut salt = SEED.to_vec();
    salt.extend(len32(user)?);
    salt.extend(user.as_bytes());
    let params = scrypt::Params::new(15, 8, 2, 64).map_err(|_| "scrypt parameters")?;
    let mut key = Zeroizing::new([0u8; 64]);
    scrypt::scrypt(pass.as_bytes(), &salt, &params, key.as_mut_slice()).map_err(|_| "scrypt failed")?;
    let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(key.as_slice()).map_err(|_| "HMAC")?;
    mac.update(SEED);
    mac.update(&len32(site)?);
    mac.update(site.as_bytes());
    mac.update(&counter.to_be_bytes());
    let seed = mac.finalize().into_bytes();
    let first = usize::from(seed.first().copied().unwrap_or(0));
    let template = templates.get(first % templates.len()).copied().unwrap_or_default();
    Ok(template
        .chars()
        .enumerate()
        .map(|(i, c)| {
            let set = chars(c).as_bytes();
            let at = usize::from(seed.get(i + 1).copied().unwrap_or(0)) % set.len();
            char::from(set.get(at).copied().unwrap_or(b'a'))
        })
        .collect())
}

/// Go's `url.Parse` as sprig's `urlParse` reports it: scheme, host,
/// hostname, path (unescaped), query (raw), opaque, fragment, userinfo.
fn url_parse(x: &str) -> Value {
    let (rest, fragment) = x.split_once('#').map_or((x, ""), |(a, f)| (a, f));
    let (rest, query) = rest.split_once('?').map_or((rest, ""), |(a, q)| (a, q));
    let scheme_end = rest.find(':').filter(|i| {
        let sch = rest.get(..*i).unwrap_or_default();
        sch.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && sch.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    let (scheme, rest) = match scheme_end {
        Some(i) => (rest.get(..i).unwrap_or_default().to_ascii_lowercase(), rest.get(i + 1..).unwrap_or_default()),
        None => (String::new(), rest),
    };
    let (mut host, mut userinfo, mut path, mut opaque) = (String::new(), String::new(), String::new(), String::new());
    if let Some(auth_and_path) = rest.strip_prefix("//") {
        let (auth, p) = auth_and_path.find('/').map_or((auth_and_path, ""), |i| auth_and_path.split_at(i));
        match auth.rsplit_once('@') {
            Some((u, h)) => {
                userinfo = u.to_owned();
                host = h.to_owned();
            }
            None => host = auth.to_owned(),
        }
        path = p.to_owned();
    } else if !scheme.is_empty() && !rest.starts_with('/') {
        opaque = rest.to_owned();
    } else {
        path = rest.to_owned();
    }
    let hostname = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default().to_owned(),
        None => host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h).to_owned(),
    };
    let unescape = |p: &str| {
        let b = p.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while let Some(&c) = b.get(i) {
            match (
                c,
                b.get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok()),
            ) {
                (b'%', Some(v)) => {
                    out.push(v);
                    i += 3;
                }
                _ => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        text_from_bytes(&out)
    };
    let map: BTreeMap<Arc<str>, Value> = [
        ("scheme", scheme),
        ("host", host.clone()),
        ("hostname", hostname),
        ("path", unescape(&path)),
        ("query", query.to_owned()),
        ("opaque", opaque),
        ("fragment", unescape(fragment)),
        ("userinfo", userinfo),
    ]
    .into_iter()
    .map(|(k, v)| (Arc::from(k), s(v)))
    .collect();
    Value::Map(Arc::new(map))
}

/// Go's `URL.String()` of sprig's `urlJoin` dictionary.
fn url_join(d: &BTreeMap<Arc<str>, Value>) -> String {
    let get = |k: &str| d.get(k).map(text).unwrap_or_default();
    let (scheme, host, path, query, opaque, fragment, user) =
        (get("scheme"), get("host"), get("path"), get("query"), get("opaque"), get("fragment"), get("userinfo"));
    let mut out = String::new();
    if !scheme.is_empty() {
        out.push_str(&scheme);
        out.push(':');
    }
    if !opaque.is_empty() {
        out.push_str(&opaque);
    } else {
        if !scheme.is_empty() || !host.is_empty() || !user.is_empty() {
            if !host.is_empty() || !path.is_empty() || !user.is_empty() {
                out.push_str("//");
            }
            if !user.is_empty() {
                out.push_str(&user);
                out.push('@');
            }
            out.push_str(&host);
        }
        if !path.is_empty() && !path.starts_with('/') && !host.is_empty() {
            out.push('/');
        }
        out.push_str(&escape(&path, "/:@!$&'()*+,;="));
    }
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query);
    }
    if !fragment.is_empty() {
        out.push('#');
        out.push_str(&escape(&fragment, "/:@!$&'()*+,;=?"));
    }
    out
}

/// Percent-escapes what is not unreserved nor in `keep`.
fn escape(x: &str, keep: &str) -> String {
    let mut out = String::with_capacity(x.len());
    for b in bytes_from_text(x) {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.as_bytes().contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
