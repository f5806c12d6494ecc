//! Encodings and hashes: base64, SHA-256, Go's HTML/JS/URL escapers, JSON
//! and YAML in both directions, and `htpasswd` (bcrypt, counted per object
//! and reconcile).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use base64::Engine;
use gotmpl::{FuncMap, TemplateError, Value};
use zeroize::Zeroizing;

use super::yaml::to_yaml;
use super::{arg, checked, fail, s, text, unary};
use crate::BCRYPT_COST;
use crate::bytes::{bytes_from_text, text_from_bytes};
use crate::work::Work;

pub(super) fn register(fm: &mut FuncMap, salt_key: &[u8], work: &Arc<Work>) {
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
    for (name, f) in [
        ("html", gotmpl::html_escape as fn(&str) -> String),
        ("js", gotmpl::js_escape),
        ("urlquery", gotmpl::url_encode),
    ] {
        fm.insert(name.into(), Arc::new(move |args: &[Value]| checked(name, f(&text(arg(args, 0, name, 1)?)))));
    }
    fm.insert(
        "toJson".into(),
        Arc::new(|args: &[Value]| {
            let j = to_json(arg(args, 0, "toJson", 1)?, 0)?;
            checked("toJson", serde_json::to_string(&j).unwrap_or_default())
        }),
    );
    fm.insert(
        "fromJson".into(),
        Arc::new(|args: &[Value]| {
            let x = text(arg(args, 0, "fromJson", 1)?);
            let j: serde_json::Value =
                serde_json::from_str(&x).map_err(|_| fail("fromJson", "the value is not JSON"))?;
            Ok(from_json(&j))
        }),
    );
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
    let key = salt_key.to_vec();
    let bcrypt_work = work.clone();
    fm.insert(
        "htpasswd".into(),
        Arc::new(move |args: &[Value]| {
            let bcrypt_calls = &bcrypt_work.bcrypt_calls;
            let (user, pass) = (text(arg(args, 0, "htpasswd", 2)?), Zeroizing::new(text(arg(args, 1, "htpasswd", 2)?)));
            if bcrypt_calls.fetch_add(1, Ordering::Relaxed) >= bcrypt_work.max_bcrypt_calls {
                return Err(fail(
                    "htpasswd",
                    &format!(
                        "called more than {} times by the object's templates in one reconcile",
                        bcrypt_work.max_bcrypt_calls
                    ),
                ));
            }
            if user.contains(':') {
                return Err(fail("htpasswd", "the user name contains ':'"));
            }
            let salt = htpasswd_salt(&key, &user, &pass);
            let hash = bcrypt::hash_with_salt(pass.as_bytes(), BCRYPT_COST, salt)
                .map_err(|_| fail("htpasswd", "bcrypt failed"))?
                .format_for_version(bcrypt::Version::TwoA);
            Ok(s(format!("{user}:{hash}")))
        }),
    );
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
