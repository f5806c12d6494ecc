//! Encodings and hashes: base64, SHA-256, Go's HTML/JS/URL escapers, JSON
//! and YAML in both directions, and `htpasswd` (bcrypt, counted per object
//! and reconcile).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use base64::Engine;
use gotmpl::{FuncMap, TemplateError, Value};
use zeroize::Zeroizing;

use super::yaml::to_yaml;
use super::{arg, checked, current, fail, s, text, unary};
use crate::BCRYPT_COST;
use crate::bytes::{bytes_from_text, text_from_bytes};
use crate::work::Work;

pub(super) fn register(fm: &mut FuncMap) {
    unary(fm, "b64enc", |x| Ok(base64::engine::general_purpose::STANDARD.encode(bytes_from_text(x))));
    unary(fm, "b64dec", |x| {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(x.trim())
            .map_err(|_| "the value is not base64".to_owned())?;
        Ok(text_from_bytes(&bytes))
    });
    unary(fm, "sha256sum", |x| {
        use sha2::Digest;
        Ok(hex::encode(sha2::Sha256::digest(bytes_from_text(x))))
    });
    unary(fm, "sha1sum", |x| {
        use sha1::Digest;
        Ok(hex::encode(sha1::Sha1::digest(bytes_from_text(x))))
    });
    unary(fm, "sha512sum", |x| {
        use sha2::Digest;
        Ok(hex::encode(sha2::Sha512::digest(bytes_from_text(x))))
    });
    unary(fm, "adler32sum", |x| {
        let (mut a, mut b) = (1u32, 0u32);
        for byte in bytes_from_text(x) {
            a = (a + u32::from(byte)) % 65521;
            b = (b + a) % 65521;
        }
        Ok(((b << 16) | a).to_string())
    });
    unary(fm, "hexdec", |x| {
        hex::decode(x).map(|b| text_from_bytes(&b)).map_err(|_| "the value is not hexadecimal".to_owned())
    });
    unary(fm, "b32enc", |x| Ok(base32_encode(&bytes_from_text(x))));
    unary(fm, "b32dec", |x| {
        base32_decode(x).map(|b| text_from_bytes(&b)).ok_or_else(|| "the value is not base32".to_owned())
    });
    for (name, f) in [
        ("html", gotmpl::html_escape as fn(&str) -> String),
        ("js", gotmpl::js_escape),
        ("urlquery", gotmpl::url_encode),
    ] {
        fm.insert(name.into(), Arc::new(move |args: &[Value]| checked(name, f(&text(arg(args, 0, name, 1)?)))));
    }
    // Go's encoding/json: compact or indented by two spaces, and `<`, `>`,
    // `&`, U+2028 and U+2029 escaped except in the `Raw` forms.
    for (name, pretty, escape) in [
        ("toJson", false, true),
        ("mustToJson", false, true),
        ("toPrettyJson", true, true),
        ("mustToPrettyJson", true, true),
        ("toRawJson", false, false),
        ("mustToRawJson", false, false),
    ] {
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                let j = to_json(arg(args, 0, name, 1)?, 0)?;
                let out = match pretty {
                    true => serde_json::to_string_pretty(&j),
                    false => serde_json::to_string(&j),
                }
                .unwrap_or_default();
                checked(name, if escape { go_html_escape(&out) } else { out })
            }),
        );
    }
    for name in ["fromJson", "mustFromJson"] {
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                let x = text(arg(args, 0, name, 1)?);
                let j: serde_json::Value = serde_json::from_str(&x).map_err(|_| fail(name, "the value is not JSON"))?;
                Ok(from_json(&j))
            }),
        );
    }
    fm.insert(
        "toYaml".into(),
        Arc::new(|args: &[Value]| {
            let y = to_yaml(arg(args, 0, "toYaml", 1)?).map_err(|why| fail("toYaml", &why))?;
            checked("toYaml", y)
        }),
    );
    fm.insert(
        "fromYaml".into(),
        Arc::new(|args: &[Value]| {
            let x = text(arg(args, 0, "fromYaml", 1)?);
            // seal's own YAML reader: bounded in depth, size and alias expansion.
            let doc = seal_format::sops::yaml::parse(&x)
                .ok()
                .and_then(|docs| docs.into_iter().next())
                .ok_or_else(|| fail("fromYaml", "the value is not a YAML mapping"))?;
            Ok(from_yaml(&seal_format::sops::Value::Map(doc)))
        }),
    );
    fm.insert(
        "htpasswd".into(),
        Arc::new(move |args: &[Value]| {
            // ESO's sprig: htpasswd(user, password, algorithm), "sha" for
            // {SHA}, anything else bcrypt; seal also takes the two-argument
            // form it had before.
            let n = if args.len() == 3 { 3 } else { 2 };
            let (user, pass) = (text(arg(args, 0, "htpasswd", n)?), Zeroizing::new(text(arg(args, 1, "htpasswd", n)?)));
            if user.contains(':') {
                // ESO writes "invalid username: NAME" as the value; seal refuses.
                return Err(fail("htpasswd", "the user name contains ':'"));
            }
            if n == 3 && text(arg(args, 2, "htpasswd", 3)?) == "sha" {
                use sha1::Digest;
                let digest = sha1::Sha1::digest(bytes_from_text(&pass));
                return Ok(s(format!("{user}:{{SHA}}{}", base64::engine::general_purpose::STANDARD.encode(digest))));
            }
            let scope = current("htpasswd")?;
            bcrypt_line(&scope.work, &scope.salt_key, "htpasswd", &user, &pass).map(|h| s(format!("{user}:{h}")))
        }),
    );
    fm.insert(
        "bcrypt".into(),
        Arc::new(move |args: &[Value]| {
            let pass = Zeroizing::new(text(arg(args, 0, "bcrypt", 1)?));
            let scope = current("bcrypt")?;
            bcrypt_line(&scope.work, &scope.salt_key, "bcrypt", "", &pass).map(s)
        }),
    );
}

/// A bcrypt hash (cost [`BCRYPT_COST`], version 2a), counted in the
/// object's budget, its salt keyed (see [`htpasswd_salt`]).
fn bcrypt_line(work: &Work, key: &[u8], name: &str, user: &str, pass: &str) -> Result<String, TemplateError> {
    if work.bcrypt_calls.fetch_add(1, Ordering::Relaxed) >= work.max_bcrypt_calls {
        return Err(fail(
            name,
            &format!("called more than {} times by the object's templates in one reconcile", work.max_bcrypt_calls),
        ));
    }
    let salt = htpasswd_salt(key, user, pass);
    remembered_bcrypt(&BCRYPT_DONE, key, user, pass, || {
        Ok(bcrypt::hash_with_salt(pass.as_bytes(), BCRYPT_COST, salt)
            .map_err(|_| fail(name, "bcrypt failed"))?
            .format_for_version(bcrypt::Version::TwoA))
    })
}

/// Most bcrypt hashes remembered: past that the memory is emptied and
/// filled again (a hash is about 60 bytes, its key 64).
pub(crate) const MAX_REMEMBERED_BCRYPT: usize = 4096;

/// The bcrypt hashes already made, by an HMAC of the salt key, the user and
/// the password (never the password itself): the salt is keyed, so the same
/// input gives the same hash, and a refresh that changed nothing does not
/// spend 50 ms of CPU per `htpasswd` again. The budget still counts every
/// call, so whether a template fits never depends on what is remembered.
static BCRYPT_DONE: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, String>>> =
    std::sync::LazyLock::new(Default::default);

/// The hash for (`key`, `user`, `pass`) from `done`, or `make`'s, remembered.
pub(crate) fn remembered_bcrypt(
    done: &std::sync::Mutex<std::collections::HashMap<String, String>>,
    key: &[u8],
    user: &str,
    pass: &str,
    make: impl FnOnce() -> Result<String, TemplateError>,
) -> Result<String, TemplateError> {
    let id = seal_format::document::data_hmac(
        key,
        [("bcrypt-remembered", user.as_bytes()), ("", pass.as_bytes())].into_iter(),
    );
    if let Some(h) = done.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
        return Ok(h.clone());
    }
    let hash = make()?;
    let mut done = done.lock().unwrap_or_else(|p| p.into_inner());
    if done.len() >= MAX_REMEMBERED_BCRYPT {
        done.clear();
    }
    done.insert(id, hash.clone());
    Ok(hash)
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Go's `base32.StdEncoding.EncodeToString` (RFC 4648, padded).
pub fn base32_encode(x: &[u8]) -> String {
    let mut out = String::with_capacity(x.len().div_ceil(5) * 8);
    for chunk in x.chunks(5) {
        let mut buf = [0u8; 5];
        buf.iter_mut().zip(chunk).for_each(|(b, c)| *b = *c);
        let bits = buf.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < chars {
                let idx = ((bits >> (35 - 5 * i)) & 31) as usize;
                out.push(char::from(BASE32.get(idx).copied().unwrap_or(b'A')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Go's `base32.StdEncoding.DecodeString` (padding required; line breaks
/// ignored).
fn base32_decode(x: &str) -> Option<Vec<u8>> {
    let clean: Vec<u8> = x.bytes().filter(|b| *b != b'\r' && *b != b'\n').collect();
    if !clean.len().is_multiple_of(8) {
        return None;
    }
    let mut out = Vec::with_capacity(clean.len() / 8 * 5);
    let groups = clean.len() / 8;
    for (g, group) in clean.chunks(8).enumerate() {
        let data = group.iter().take_while(|b| **b != b'=').count();
        if group.get(data..)?.iter().any(|b| *b != b'=') || (data < 8 && g + 1 != groups) {
            return None;
        }
        let bytes = match data {
            8 => 5,
            7 => 4,
            5 => 3,
            4 => 2,
            2 => 1,
            _ => return None,
        };
        let mut bits = 0u64;
        for i in 0..8 {
            let v = match group.get(i) {
                Some(c) if i < data => BASE32.iter().position(|a| a == c)? as u64,
                _ => 0,
            };
            bits = (bits << 5) | v;
        }
        out.extend(bits.to_be_bytes().get(3..3 + bytes)?);
    }
    Some(out)
}

/// Go's JSON escapes of characters that are safe in JSON but not in HTML
/// (they only occur inside strings, so the text is escaped as a whole).
fn go_html_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// JSON (as `encoding/json` writes it: compact, map keys sorted) of a value.
fn to_json(v: &Value, depth: usize) -> Result<serde_json::Value, TemplateError> {
    if depth > 128 {
        return Err(fail("toJson", "the value is nested too deeply"));
    }
    Ok(match v {
        Value::Nil => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Uint(u) => serde_json::Value::from(*u),
        Value::Float(f) => {
            serde_json::Number::from_f64(*f).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null)
        }
        Value::String(x) => serde_json::Value::String(x.to_string()),
        Value::List(l) => serde_json::Value::Array(l.iter().map(|x| to_json(x, depth + 1)).collect::<Result<_, _>>()?),
        Value::Map(m) => serde_json::Value::Object(
            m.iter().map(|(k, x)| Ok((k.to_string(), to_json(x, depth + 1)?))).collect::<Result<_, TemplateError>>()?,
        ),
        Value::Function(_) => return Err(fail("toJson", "a function cannot be written as JSON")),
    })
}

/// A template value of parsed JSON (depth bounded by the parser).
fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(x) => s(x.as_str()),
        serde_json::Value::Array(a) => Value::List(a.iter().map(from_json).collect::<Vec<_>>().into()),
        serde_json::Value::Object(m) => {
            Value::Map(Arc::new(m.iter().map(|(k, x)| (Arc::from(k.as_str()), from_json(x))).collect()))
        }
    }
}

/// A template value of a YAML document read by seal's reader.
fn from_yaml(v: &seal_format::sops::Value) -> Value {
    use seal_format::sops::Value as Y;
    match v {
        Y::Null | Y::Comment(_) => Value::Nil,
        Y::Bool(b) => Value::Bool(*b),
        Y::Int(i) => Value::Int(*i),
        Y::Float(f) => Value::Float(*f),
        Y::Str(x) => s(x.as_str()),
        Y::Time(t) => s(t.0.as_str()),
        Y::List(l) => {
            Value::List(l.iter().filter(|x| !matches!(x, Y::Comment(_))).map(from_yaml).collect::<Vec<_>>().into())
        }
        Y::Map(m) => Value::Map(Arc::new(m.pairs().map(|(k, x)| (Arc::from(k), from_yaml(x))).collect())),
    }
}

/// bcrypt's 16-byte salt for `htpasswd`: keyed by the controller's HMAC
/// key, so it is stable for the same input (no rewrite per refresh) and
/// unknown outside the cluster (no precomputed tables).
fn htpasswd_salt(key: &[u8], user: &str, pass: &str) -> [u8; 16] {
    let mac =
        seal_format::document::data_hmac(key, [("htpasswd-salt", user.as_bytes()), ("", pass.as_bytes())].into_iter());
    let mut salt = [0u8; 16];
    if let Ok(bytes) = hex::decode(&mac) {
        for (d, s) in salt.iter_mut().zip(bytes) {
            *d = s;
        }
    }
    salt
}
