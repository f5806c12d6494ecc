//! The `VaultDynamicSecret` generator's rules, as ESO's: which request a
//! spec makes ([`plan`]), which values an answer gives ([`values`]), and
//! the credentials issued this refresh epoch ([`ISSUED`]).
//!
//! Unlike the other generators, the values are not drawn from the
//! per-epoch stream: each request issues something in Vault (a
//! certificate, a lease, a token). A reconcile may make the values more
//! than once (the desired data, then the data written) and every resync
//! reconciles, so what a request issued is remembered for the epoch, per
//! object, generator (and its generation) and epoch: one request per
//! refresh, as in ESO. The memory is bounded ([`MAX_REMEMBERED`] entries,
//! [`MAX_REMEMBERED_BYTES`] in all) and zeroized as it is dropped; an entry
//! pushed out, or a controller restart, makes the next reconcile request
//! again.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use zeroize::Zeroizing;

use crate::api::generator::{VaultDynamicSecretSpec, VaultResultType};
use crate::sources::vault::DynamicMethod;

/// Longest `spec.path`, and longest query string made of `spec.getParameters`.
pub const MAX_PATH: usize = 1024;
/// Longest query string made of `spec.getParameters`.
pub const MAX_QUERY: usize = 8 * 1024;
/// Most values one answer may give, in bytes (keys and values): a Secret
/// holds at most 1 MiB.
pub const MAX_VALUES_BYTES: usize = 1 << 20;
/// Most issued values remembered at once.
pub const MAX_REMEMBERED: usize = 1024;
/// Most bytes of issued values remembered at once.
pub const MAX_REMEMBERED_BYTES: usize = 32 << 20;

/// A generator's values, by key.
pub type Values = Vec<(String, Zeroizing<Vec<u8>>)>;

/// What one request gave: its values, or why its answer made none (an
/// answer that issued something but cannot be used is remembered too, so
/// the retries of one epoch do not issue again).
pub type Outcome = Result<Arc<Values>, String>;

/// The request a spec makes.
#[derive(Debug, PartialEq)]
pub struct Plan {
    /// The method sent.
    pub method: DynamicMethod,
    /// The path's segments below `/v1/`.
    pub segments: Vec<String>,
    /// A `GET`'s query string.
    pub query: Option<String>,
    /// A write's JSON body.
    pub body: Option<Vec<u8>>,
}

/// The request `spec` makes, or which field cannot be honoured (the
/// message names the field and never a value of `parameters`).
pub fn plan(spec: &VaultDynamicSecretSpec) -> Result<Plan, String> {
    let method = match spec.method.as_deref() {
        None | Some("" | "GET") => DynamicMethod::Get,
        Some("LIST") => DynamicMethod::List,
        Some("POST" | "PUT") => DynamicMethod::Put,
        Some("DELETE") => {
            return Err("spec.method: DELETE is refused: a generator makes values, and a DELETE makes none \
                        while it would remove something in Vault at every refresh"
                .into());
        }
        Some(other) => {
            let shown: String = other.chars().take(16).filter(|c| !c.is_control()).collect();
            return Err(format!("spec.method: {shown:?} is not one of GET, LIST, POST, PUT"));
        }
    };
    if spec.path.len() > MAX_PATH {
        return Err(format!("spec.path is longer than {MAX_PATH} bytes"));
    }
    // As Vault's Go client joins it (`path.Join`): slashes at either end
    // and doubled ones do not count.
    let segments: Vec<String> = spec.path.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect();
    if segments.is_empty() {
        return Err("spec.path is empty".into());
    }
    if segments.iter().any(|s| s == "." || s == "..") {
        return Err("spec.path: a `.` or `..` segment is refused (the path is Vault's API path, whole)".into());
    }
    // The path is sent as it is written: a `?` or `#` would start a query
    // or a fragment, a `%` an escape that changes the path the server sees.
    if spec.path.chars().any(|c| c.is_control() || c.is_whitespace() || matches!(c, '?' | '#' | '%' | '\\')) {
        return Err("spec.path: `?`, `#`, `%`, `\\`, spaces and control characters are refused (the path is one \
                    API path; parameters go in spec.parameters or spec.getParameters)"
            .into());
    }
    let query = match method {
        DynamicMethod::Get if !spec.get_parameters.is_empty() => {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            for (k, vs) in &spec.get_parameters {
                for v in vs {
                    q.append_pair(k, v);
                }
            }
            let q = q.finish();
            if q.len() > MAX_QUERY {
                return Err(format!("spec.getParameters: the query string is longer than {MAX_QUERY} bytes"));
            }
            Some(q)
        }
        _ => None,
    };
    let body = match (method, &spec.parameters) {
        (DynamicMethod::Put, None) => Some(b"{}".to_vec()),
        (DynamicMethod::Put, Some(p @ serde_json::Value::Object(_))) => Some(serde_json::to_vec(p).unwrap_or_default()),
        (DynamicMethod::Put, Some(_)) => {
            return Err("spec.parameters: must be an object (the request's JSON body)".into());
        }
        // Ignored on GET and LIST, as in ESO.
        _ => None,
    };
    Ok(Plan { method, segments, query, body })
}

/// The values of an answer (`None`: empty) by `result_type`, as ESO makes
/// them: `Data`, the keys of the answer's `data`; `Auth`, of its `auth`;
/// `Raw`, of the whole answer. A string is kept as it is, `null` becomes
/// empty, a number or a boolean its JSON text, an object or a list its
/// JSON as Go writes it (keys sorted, `<`, `>`, `&` escaped). An empty
/// answer fails unless `allow_empty`. Errors never hold a value.
pub fn values(answer: Option<&[u8]>, result_type: VaultResultType, allow_empty: bool) -> Result<Values, String> {
    let Some(answer) = answer else {
        return if allow_empty {
            Ok(Vec::new())
        } else {
            Err("empty response from Vault (set spec.allowEmptyResponse to accept it)".into())
        };
    };
    let parsed: Zeroizing<Value> = Zeroizing::new(Value(
        serde_json::from_slice(answer).map_err(|_| "Vault's answer is not a JSON object".to_owned())?,
    ));
    let serde_json::Value::Object(whole) = &parsed.0 else {
        return Err("Vault's answer is not a JSON object".into());
    };
    let part = match result_type {
        VaultResultType::Data => whole.get("data"),
        VaultResultType::Auth => whole.get("auth"),
        VaultResultType::Raw => Some(&parsed.0),
    };
    let Some(serde_json::Value::Object(map)) = part else {
        // No `data` (or `auth`): no values, as in ESO.
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(map.len());
    let mut size = 0usize;
    for (k, v) in map {
        let value = Zeroizing::new(match v {
            serde_json::Value::Null => Vec::new(),
            serde_json::Value::String(s) => s.as_bytes().to_vec(),
            serde_json::Value::Bool(b) => b.to_string().into_bytes(),
            serde_json::Value::Number(n) => n.to_string().into_bytes(),
            other => go_json(other),
        });
        size = size.saturating_add(k.len()).saturating_add(value.len());
        if size > MAX_VALUES_BYTES {
            return Err(format!("the values are larger than {} KiB, more than a Secret holds", MAX_VALUES_BYTES >> 10));
        }
        out.push((k.clone(), value));
    }
    Ok(out)
}

/// A parsed answer, its strings zeroized on drop.
struct Value(serde_json::Value);

impl zeroize::Zeroize for Value {
    fn zeroize(&mut self) {
        fn wipe(v: &mut serde_json::Value) {
            match v {
                serde_json::Value::String(s) => s.zeroize(),
                serde_json::Value::Array(a) => a.iter_mut().for_each(wipe),
                serde_json::Value::Object(m) => m.values_mut().for_each(wipe),
                _ => {}
            }
        }
        // serde_json's parser stops at 128 levels, so this depth is bounded.
        wipe(&mut self.0);
    }
}

/// JSON as Go's `encoding/json` writes a map or a list: compact, keys
/// sorted (serde_json's map is ordered), HTML characters escaped.
fn go_json(v: &serde_json::Value) -> Vec<u8> {
    let text = Zeroizing::new(serde_json::to_string(v).unwrap_or_default());
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.extend_from_slice(b"\\u003c"),
            '>' => out.extend_from_slice(b"\\u003e"),
            '&' => out.extend_from_slice(b"\\u0026"),
            '\u{2028}' => out.extend_from_slice(b"\\u2028"),
            '\u{2029}' => out.extend_from_slice(b"\\u2029"),
            c => out.extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes()),
        }
    }
    out
}

/// One remembered request: who made it, its values and their size.
struct Issued {
    /// [`memo_key`] of the request.
    key: String,
    /// The object and generator, without the epoch: a newer epoch's
    /// values replace the older ones.
    owner: String,
    values: Outcome,
    size: usize,
}

/// What the requests of the current epochs issued, the oldest first.
pub struct Memo(Mutex<VecDeque<Issued>>);

/// The controller's memory of issued values.
pub static ISSUED: Memo = Memo::new();

/// Identifies one object's use of one generator: the object's namespace
/// and UID, the generator's name, UID and generation (an edited generator
/// requests again).
pub fn owner_key(ns: &str, uid: &str, name: &str, generator_uid: &str, generation: i64) -> String {
    format!("{ns}\0{uid}\0{name}\0{generator_uid}\0{generation}")
}

fn memo_key(owner: &str, epoch: u64) -> String {
    format!("{owner}\0{epoch}")
}

impl Memo {
    /// An empty memory.
    pub const fn new() -> Memo {
        Memo(Mutex::new(VecDeque::new()))
    }

    /// The values `owner` was issued in `epoch`, if they are still remembered.
    pub fn remembered(&self, owner: &str, epoch: u64) -> Option<Outcome> {
        let key = memo_key(owner, epoch);
        let all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        all.iter().find(|i| i.key == key).map(|i| i.values.clone())
    }

    /// Remembers the values `owner` was issued in `epoch` (forgetting its
    /// older epochs' values, then the oldest entries while over the bounds).
    pub fn remember(&self, owner: &str, epoch: u64, values: Outcome) {
        let size = match &values {
            Ok(values) => values.iter().fold(0usize, |n, (k, v)| n.saturating_add(k.len()).saturating_add(v.len())),
            Err(why) => why.len(),
        };
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|i| i.owner != owner);
        let mut total = all.iter().fold(0usize, |n, i| n.saturating_add(i.size));
        while !all.is_empty() && (all.len() >= MAX_REMEMBERED || total.saturating_add(size) > MAX_REMEMBERED_BYTES) {
            if let Some(old) = all.pop_front() {
                total = total.saturating_sub(old.size);
            }
        }
        all.push_back(Issued { key: memo_key(owner, epoch), owner: owner.to_owned(), values, size });
    }

    /// How many are remembered.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for Memo {
    fn default() -> Memo {
        Memo::new()
    }
}

#[cfg(test)]
#[path = "vault_dynamic_tests.rs"]
mod tests;
