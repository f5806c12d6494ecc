//! External Secrets Operator's template engine v2, for
//! `ExternalSecret.spec.target.template`: Go `text/template` syntax (the
//! `gotmpl` crate, a Rust port of Go's package) with the sprig and ESO
//! functions that manifests use, over the values read from the store.
//!
//! Templates are written by a tenant and run in the controller, so every
//! execution is bounded: nesting depth (the engine's own limits), `range`
//! iterations, the size of each output, and the number of expensive calls
//! (bcrypt). Errors name the template and the position, never a value:
//! messages of the functions below are written so, and a test plants a
//! canary in every failing case.
//!
//! Go strings are bytes and Rust strings are UTF-8: a value's bytes that are
//! not UTF-8 travel through the engine as the characters U+F780..U+F7FF, one
//! per byte ([`text_from_bytes`], [`bytes_from_text`]), so `{{ .p12 }}`,
//! `b64enc` and the PKCS#12 functions see the bytes Go would.
//!
//! Not here (see the README's ESO migration table): `env`/`expandenv` (ESO
//! removes them), the JWK functions, `templateFrom.target`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use gotmpl::{FuncMap, MissingKey, Template, TemplateError, Value};
use zeroize::Zeroizing;

use super::SecretData;
use super::pkcs12;
use std::sync::{Arc, Mutex};

/// Most bytes one template may write.
pub const MAX_OUTPUT: usize = 1 << 20;
/// Most `range` iterations of one execution.
pub const MAX_RANGE_ITERATIONS: u64 = 100_000;
/// Most bcrypt hashes (`htpasswd`) of one object's templates in one reconcile.
pub const MAX_BCRYPT_CALLS: usize = 16;
/// bcrypt cost of `htpasswd`, as sprig uses (`bcrypt.DefaultCost`).
pub const BCRYPT_COST: u32 = 10;

/// The template context: every value of the store, as ESO passes it (a map
/// of key to string, bytes kept as [`text_from_bytes`] carries them).
pub fn context(data: &SecretData) -> Value {
    let map: BTreeMap<Arc<str>, Value> =
        data.0.iter().map(|(k, v)| (Arc::from(k.as_str()), Value::String(Arc::from(text_from_bytes(v))))).collect();
    Value::Map(Arc::new(map))
}

/// First of the characters that carry one byte each (U+F780 is 0x80).
const BYTE_CHARS: u32 = 0xf700;

fn carry_byte(out: &mut String, b: u8) {
    out.push(char::from_u32(BYTE_CHARS + u32::from(b)).unwrap_or(char::REPLACEMENT_CHARACTER));
}

/// Bytes as engine text: UTF-8 as it is; each byte of an invalid sequence,
/// and of a character in U+F780..U+F7FF (so that the mapping is one to
/// one), as the character U+F700 + byte.
pub fn text_from_bytes(bytes: &[u8]) -> String {
    fn valid(out: &mut String, s: &str) {
        for c in s.chars() {
            if (BYTE_CHARS + 0x80..=BYTE_CHARS + 0xff).contains(&u32::from(c)) {
                c.encode_utf8(&mut [0u8; 4]).bytes().for_each(|b| carry_byte(out, b));
            } else {
                out.push(c);
            }
        }
    }
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                valid(&mut out, s);
                return out;
            }
            Err(e) => {
                let (good, after) = rest.split_at(e.valid_up_to());
                valid(&mut out, std::str::from_utf8(good).unwrap_or_default());
                let (bad, after) = after.split_at(e.error_len().unwrap_or(after.len()).min(after.len()));
                bad.iter().for_each(|b| carry_byte(&mut out, *b));
                rest = after;
            }
        }
    }
}

/// Engine text back to bytes: the inverse of [`text_from_bytes`].
pub fn bytes_from_text(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match u32::from(c).checked_sub(BYTE_CHARS).and_then(|b| u8::try_from(b).ok()).filter(|b| *b >= 0x80) {
            Some(b) => out.push(b),
            None => out.extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes()),
        }
    }
    out
}

/// Renders one template with a budget of its own (see [`execute_in`]).
pub fn execute(name: &str, src: &str, ctx: &Value, salt_key: &[u8]) -> Result<Zeroizing<String>, String> {
    execute_in(&Work::new(), name, src, ctx, salt_key)
}

/// Renders one template: `name` (for messages), its source, the context,
/// charged to `work`, the budget every template of one object shares in one
/// reconcile. `salt_key` keys the salts of `htpasswd`, so that the same
/// input gives the same hash and an unchanged Secret is not rewritten on
/// every refresh.
pub fn execute_in(
    work: &Arc<Work>,
    name: &str,
    src: &str,
    ctx: &Value,
    salt_key: &[u8],
) -> Result<Zeroizing<String>, String> {
    // Only the time spent rendering counts: not the store reads between
    // two rewrite rules, nor the wait for a blocking thread.
    let started = work.begin().map_err(|why| format!("template {name}: {why}"))?;
    let result = run(work, name, src, ctx, salt_key);
    work.end(started);
    result
}

fn run(work: &Arc<Work>, name: &str, src: &str, ctx: &Value, salt_key: &[u8]) -> Result<Zeroizing<String>, String> {
    unclosed_block(name, src)?;
    let tpl = Template::new(name)
        .missing_key(MissingKey::Error)
        .max_range_iters(MAX_RANGE_ITERATIONS)
        .funcs(metered(work, functions(salt_key, work)))
        .parse(src)
        .map_err(|e| describe(name, src, &e, work))?;
    let mut out = Bounded { text: Zeroizing::new(String::new()), full: false };
    let result = tpl.execute_fmt(&mut out, ctx);
    // What a template writes is charged too: the Secret holds it.
    let written = work.charge_bytes(out.text.len());
    match result {
        Ok(()) => written.map(|()| out.text).map_err(|why| format!("template {name}: {why}")),
        Err(_) if out.full => Err(format!("template {name}: its output is larger than {} KiB", MAX_OUTPUT >> 10)),
        Err(e) => Err(describe(name, src, &e, work)),
    }
}

/// Most bytes the templates of one object may process in one reconcile:
/// every function's string arguments and results, and every output.
pub const MAX_WORK_BYTES: usize = 64 << 20;
/// Most list and map elements (and strings in them) the functions of one
/// object's templates may build in one reconcile.
pub const MAX_WORK_ELEMENTS: usize = 200_000;
/// Deepest list or map a function may return (lists of lists built in a
/// loop would otherwise make printing and dropping them recurse without
/// bound).
pub const MAX_VALUE_DEPTH: usize = 64;
/// Longest the templates of one object may run in one reconcile, all
/// executions together, checked before every function call and every
/// template.
pub const MAX_WORK_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// The work budget of one object's templates in one reconcile: bytes
/// processed, elements built, bcrypt hashes and key derivations, and time
/// spent rendering. Shared by all of its templates (the Secret's and the
/// rewrite transforms), so that a tenant cannot multiply a per-template
/// bound by writing more templates.
pub struct Work {
    spent: Mutex<Spent>,
    time: std::time::Duration,
    bcrypt_calls: AtomicUsize,
    kdf: Mutex<pkcs12::Budget>,
}

#[derive(Default)]
struct Spent {
    bytes: usize,
    elements: usize,
    /// Time spent by the executions that ended.
    used: std::time::Duration,
    /// When the running execution must stop.
    deadline: Option<std::time::Instant>,
    /// The message of the last failure of one of seal's functions: written
    /// by seal (names and reasons, never values), so it may be shown.
    failure: Option<String>,
}

impl Work {
    /// A full budget, with [`MAX_WORK_TIME`] to spend rendering.
    pub fn new() -> Arc<Work> {
        Work::with_time(MAX_WORK_TIME)
    }

    /// A full budget with `time` to spend rendering.
    pub(crate) fn with_time(time: std::time::Duration) -> Arc<Work> {
        Arc::new(Work {
            spent: Mutex::new(Spent::default()),
            time,
            bcrypt_calls: AtomicUsize::new(0),
            kdf: Mutex::new(pkcs12::Budget::default()),
        })
    }

    fn out_of_time() -> String {
        format!("the object's templates ran longer than {} s in one reconcile", MAX_WORK_TIME.as_secs())
    }

    /// Starts an execution: its deadline is what is left of the time.
    fn begin(&self) -> Result<std::time::Instant, String> {
        let now = std::time::Instant::now();
        let mut s = self.spent();
        let left = self.time.checked_sub(s.used).filter(|d| !d.is_zero()).ok_or_else(Work::out_of_time)?;
        s.deadline = Some(now + left);
        Ok(now)
    }

    /// Ends the execution started at `started`.
    fn end(&self, started: std::time::Instant) {
        let mut s = self.spent();
        s.used = s.used.saturating_add(started.elapsed());
        s.deadline = None;
    }

    fn spent(&self) -> std::sync::MutexGuard<'_, Spent> {
        self.spent.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn check_time(&self) -> Result<(), String> {
        match self.spent().deadline {
            Some(d) if std::time::Instant::now() > d => Err(Work::out_of_time()),
            _ => Ok(()),
        }
    }

    /// Charges `n` bytes processed.
    pub fn charge_bytes(&self, n: usize) -> Result<(), String> {
        let mut s = self.spent();
        s.bytes = s.bytes.saturating_add(n);
        if s.bytes > MAX_WORK_BYTES {
            return Err(format!(
                "the object's templates process more than {} MiB in one reconcile",
                MAX_WORK_BYTES >> 20
            ));
        }
        Ok(())
    }

    fn charge_elements(&self, n: usize) -> Result<(), String> {
        let mut s = self.spent();
        s.elements = s.elements.saturating_add(n);
        if s.elements > MAX_WORK_ELEMENTS {
            return Err(format!(
                "the object's templates build more than {MAX_WORK_ELEMENTS} list or map elements in one reconcile"
            ));
        }
        Ok(())
    }

    fn failed(&self, message: String) {
        self.spent().failure = Some(message);
    }
}

/// Bytes of the strings a function is given (the strings directly in a
/// list or map argument included): what it will read.
fn input_bytes(args: &[Value]) -> usize {
    let one = |v: &Value| match v {
        Value::String(x) => x.len(),
        _ => 1,
    };
    args.iter()
        .map(|a| match a {
            Value::List(l) => l.iter().map(one).fold(0, usize::saturating_add),
            Value::Map(m) => m.iter().map(|(k, v)| k.len().saturating_add(one(v))).fold(0, usize::saturating_add),
            other => one(other),
        })
        .fold(0, usize::saturating_add)
}

/// Charges what a function returned: its strings' bytes, its elements, and
/// refuses a result nested deeper than [`MAX_VALUE_DEPTH`]. An explicit
/// stack, not recursion, and the walk stops as soon as the budget is spent.
fn charge_result(work: &Work, v: &Value) -> Result<(), String> {
    let mut stack: Vec<(&Value, usize)> = vec![(v, 0)];
    let (mut bytes, mut elements) = (0usize, 0usize);
    while let Some((v, depth)) = stack.pop() {
        if depth > MAX_VALUE_DEPTH {
            return Err(format!("a list or map nested deeper than {MAX_VALUE_DEPTH} levels"));
        }
        match v {
            Value::String(x) => bytes = bytes.saturating_add(x.len()),
            Value::List(l) => {
                elements = elements.saturating_add(l.len());
                stack.extend(l.iter().map(|x| (x, depth + 1)));
            }
            Value::Map(m) => {
                elements = elements.saturating_add(m.len());
                for (k, x) in m.iter() {
                    bytes = bytes.saturating_add(k.len());
                    stack.push((x, depth + 1));
                }
            }
            _ => {}
        }
        if elements > MAX_WORK_ELEMENTS || bytes > MAX_WORK_BYTES {
            break; // over budget either way: the charges below say so
        }
    }
    work.charge_elements(elements)?;
    work.charge_bytes(bytes)
}

/// seal's functions behind the work budget: the deadline checked and the
/// arguments charged before the call, the result charged after it; a
/// failure remembered, so that its message (seal's words, see `fail`) can
/// be shown. The engine's built-ins (`eq`, `len`, `slice`, …) are not
/// reachable from outside the engine; they do work proportional to their
/// arguments, which seal's functions and the store's values bound, times
/// the range iterations of one execution.
fn metered(work: &Arc<Work>, funcs: FuncMap) -> FuncMap {
    funcs
        .into_iter()
        .map(|(name, f)| {
            let work = work.clone();
            let label = name.clone();
            let wrapped: gotmpl::ValueFunc = Arc::new(move |args: &[Value]| {
                let refuse = |why: String| {
                    let e = fail(&label, &why);
                    work.failed(format!("{label}: {why}"));
                    e
                };
                work.check_time().map_err(refuse)?;
                work.charge_bytes(input_bytes(args)).map_err(refuse)?;
                match f(args) {
                    Ok(v) => charge_result(&work, &v).map(|()| v).map_err(refuse),
                    Err(TemplateError::Exec(m)) if m.starts_with(&format!("{label}: ")) => {
                        // One of seal's functions: its own words (see `fail`).
                        work.failed(m.clone());
                        Err(TemplateError::Exec(m))
                    }
                    Err(e) => Err(e),
                }
            });
            (name, wrapped)
        })
        .collect()
}

/// Go refuses a template whose `if`, `range`, `with`, `define` or `block`
/// has no `{{end}}` ("unexpected EOF"); the engine accepts it, so it is
/// checked here: a scan of the actions (strings, raw strings, characters
/// and comments skipped) counting the blocks opened and closed.
fn unclosed_block(name: &str, src: &str) -> Result<(), String> {
    let bytes = src.as_bytes();
    let mut open: Vec<usize> = Vec::new();
    let mut i = 0;
    while let Some(at) = src.get(i..).and_then(|s| s.find("{{")).map(|p| p + i) {
        let mut j = at + 2;
        if bytes.get(j) == Some(&b'-') && bytes.get(j + 1).is_some_and(|b| b.is_ascii_whitespace()) {
            j += 1;
        }
        while bytes.get(j).is_some_and(|b| b.is_ascii_whitespace()) {
            j += 1;
        }
        if src.get(j..).is_some_and(|s| s.starts_with("/*")) {
            // A comment runs to "*/", then the action's close.
            match src.get(j..).and_then(|s| s.find("*/")) {
                Some(end) => i = j + end + 2,
                None => return Ok(()), // the engine reports the unclosed comment
            }
            continue;
        }
        let word: String =
            src.get(j..).unwrap_or_default().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        match word.as_str() {
            "if" | "range" | "with" | "define" | "block" => open.push(at),
            "end" => {
                open.pop();
            }
            _ => {}
        }
        // The action ends at the first "}}" outside a string.
        let mut k = j;
        let mut quote: Option<u8> = None;
        loop {
            let Some(&b) = bytes.get(k) else { return Ok(()) }; // unclosed action: the engine reports it
            match quote {
                Some(q) if b == b'\\' && q != b'`' => k += 1,
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None if b == b'"' || b == b'`' || b == b'\'' => quote = Some(b),
                None if b == b'}' && bytes.get(k + 1) == Some(&b'}') => break,
                None => {}
            }
            k += 1;
        }
        i = k + 2;
    }
    match open.last() {
        Some(&at) => {
            let before = src.get(..at).unwrap_or_default();
            let line = before.matches('\n').count() + 1;
            let col = before.rfind('\n').map_or(at, |nl| at - nl - 1) + 1;
            Err(format!("template: {name}:{line}:{col}: unexpected EOF: this block has no {{{{end}}}}"))
        }
        None => Ok(()),
    }
}

/// A writer that stops at [`MAX_OUTPUT`].
struct Bounded {
    text: Zeroizing<String>,
    full: bool,
}

impl std::fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.text.len().saturating_add(s.len()) > MAX_OUTPUT {
            self.full = true;
            return Err(std::fmt::Error);
        }
        self.text.push_str(s);
        Ok(())
    }
}

/// An engine error as a message: the template's name, the position where
/// known, and the reason, never text a template computed. Parse errors
/// carry their line and column and quote only the template's source; a
/// missing key is located in the source (the engine reports only the key)
/// and named only when the source spells it, as Go reports `template:
/// NAME:LINE:COL: … map has no entry for key`; a failure of one of seal's
/// functions is given in seal's words; every other execution error is
/// described by its kind alone, since the engine's text can quote values
/// (an index, a number that overflows, a value of the wrong type).
fn describe(name: &str, src: &str, e: &TemplateError, work: &Work) -> String {
    match e {
        TemplateError::Parse { .. } | TemplateError::Lex { .. } => {
            let text = e.to_string();
            if text.starts_with("template:") { text } else { format!("template: {name}: {text}") }
        }
        TemplateError::MissingKey { key } => match locate(src, key) {
            Some((l, c)) => {
                format!(
                    "template: {name}:{l}:{c}: map has no entry for key {key:?} (no such value in the store's data)"
                )
            }
            None => format!("template: {name}: map has no entry for a key the template computed"),
        },
        TemplateError::RangeIterLimit => {
            format!("template {name}: more than {MAX_RANGE_ITERATIONS} range iterations in one execution")
        }
        TemplateError::RecursionLimit => format!("template {name}: nested too deeply"),
        TemplateError::Exec(_) => match work.spent().failure.take() {
            Some(m) => format!("template: {name}: error calling {m}"),
            None => format!(
                "template: {name}: execution failed (a value of the wrong type, or an operation the engine refuses)"
            ),
        },
        TemplateError::TypeMismatch { expected, got } => {
            format!("template: {name}: type mismatch: expected {expected}, got {got}")
        }
        TemplateError::IndexOutOfRange { .. } => format!("template: {name}: index out of range"),
        TemplateError::ArgCount { name: f, expected, got } => {
            format!("template: {name}: wrong number of arguments: {f} expects {expected}, got {got}")
        }
        TemplateError::UndefinedFunction(f) => format!("template: {name}: function {f:?} not defined"),
        TemplateError::UndefinedVariable(v) => format!("template: {name}: undefined variable {v}"),
        TemplateError::UndefinedTemplate(t) => format!("template: {name}: no such template {t:?}"),
        TemplateError::NotIterable(_) => {
            format!("template: {name}: range over a value that is not a list, map or number")
        }
        _ => format!("template: {name}: execution failed"),
    }
}

/// Line and column (1-based) of the first reference to `key` in the
/// source: `.key` not followed by a name character, or the string `"key"`.
fn locate(src: &str, key: &str) -> Option<(usize, usize)> {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut best: Option<usize> = None;
    for pat in [format!(".{key}"), format!("\"{key}\"")] {
        let mut from = 0;
        while let Some(i) = src.get(from..).and_then(|s| s.find(&pat)).map(|i| i + from) {
            let after = src[i + pat.len()..].chars().next();
            if pat.starts_with('"') || !after.is_some_and(ident) {
                best = Some(best.map_or(i, |b| b.min(i)));
                break;
            }
            from = i + 1;
        }
    }
    let at = best?;
    let before = &src[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(at, |nl| at - nl - 1) + 1;
    Some((line, col))
}

fn fail(name: &str, why: &str) -> TemplateError {
    TemplateError::Exec(format!("{name}: {why}"))
}

fn arg<'a>(args: &'a [Value], i: usize, name: &str, n: usize) -> Result<&'a Value, TemplateError> {
    if args.len() != n {
        return Err(fail(name, &format!("takes {n} argument(s), got {}", args.len())));
    }
    args.get(i).ok_or_else(|| fail(name, "missing argument"))
}

/// A value as text, the way Go's `fmt.Sprint` would print it for the
/// string functions (strings as they are).
fn text(v: &Value) -> String {
    match v {
        Value::Nil => String::new(),
        other => other.to_string(),
    }
}

fn s(x: impl Into<String>) -> Value {
    Value::String(Arc::from(x.into().as_str()))
}

/// A function's string result, refused beyond [`MAX_OUTPUT`]: a template
/// may call a function in a loop on its own result (`$x = b64enc $x`), and
/// each call must not grow memory without bound.
fn checked(name: &str, x: String) -> Result<Value, TemplateError> {
    if x.len() > MAX_OUTPUT {
        return Err(fail(name, &format!("the result would be larger than {} KiB", MAX_OUTPUT >> 10)));
    }
    Ok(s(x))
}

/// Refuses a result whose size, known before it is built, is too large.
fn precheck(name: &str, size: usize) -> Result<(), TemplateError> {
    if size > MAX_OUTPUT {
        return Err(fail(name, &format!("the result would be larger than {} KiB", MAX_OUTPUT >> 10)));
    }
    Ok(())
}

/// A string function of one argument.
fn unary(fm: &mut FuncMap, name: &'static str, f: fn(&str) -> Result<String, String>) {
    fm.insert(
        name.into(),
        Arc::new(move |args: &[Value]| {
            let v = arg(args, 0, name, 1)?;
            f(&text(v)).map_err(|why| fail(name, &why)).and_then(|x| checked(name, x))
        }),
    );
}

fn indent(n: &Value, v: &Value, newline: bool) -> Result<Value, TemplateError> {
    let width =
        n.as_int().filter(|w| (0..=1024).contains(w)).ok_or_else(|| fail("indent", "width must be 0 to 1024"))?;
    let t = text(v);
    let lines = t.matches('\n').count().saturating_add(1);
    precheck("indent", t.len().saturating_add(lines.saturating_mul(width as usize)).saturating_add(1))?;
    let pad = " ".repeat(width as usize);
    let body = format!("{pad}{}", t.replace('\n', &format!("\n{pad}")));
    checked("indent", if newline { format!("\n{body}") } else { body })
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

/// The PEM blocks of `kind` in `pem`, re-encoded as Go's `pem.Encode`
/// writes them (64-column base64); what ESO's `filterPEM` returns.
pub fn filter_pem(kind: &str, pem: &str) -> Result<String, String> {
    let begin = format!("-----BEGIN {kind}-----");
    let end = format!("-----END {kind}-----");
    let mut out = String::new();
    let mut rest = pem;
    while let Some(i) = rest.find(&begin) {
        let after = &rest[i + begin.len()..];
        let j = after.find(&end).ok_or("a PEM block has no END line")?;
        let body: String = after[..j].chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|_| "a PEM block is not base64")?;
        out.push_str(&begin);
        out.push('\n');
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out.push_str(&end);
        out.push('\n');
        rest = &after[j + end.len()..];
    }
    if out.is_empty() {
        return Err(format!("no PEM block of type {kind}"));
    }
    Ok(out)
}

/// The functions of ESO's engine v2 that seal provides (sprig's and ESO's
/// own; Go's built-ins such as `printf`, `index`, `eq` come with the engine).
fn functions(salt_key: &[u8], work: &Arc<Work>) -> FuncMap {
    let mut fm = FuncMap::new();
    unary(&mut fm, "b64enc", |x| Ok(base64::engine::general_purpose::STANDARD.encode(bytes_from_text(x))));
    unary(&mut fm, "b64dec", |x| {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(x.trim())
            .map_err(|_| "the value is not base64".to_owned())?;
        Ok(text_from_bytes(&bytes))
    });
    unary(&mut fm, "upper", |x| Ok(x.to_uppercase()));
    unary(&mut fm, "lower", |x| Ok(x.to_lowercase()));
    unary(&mut fm, "trim", |x| Ok(x.trim().to_owned()));
    unary(&mut fm, "toString", |x| Ok(x.to_owned()));
    unary(&mut fm, "title", |x| {
        Ok(x.split(' ')
            .map(|w| {
                let mut c = w.chars();
                c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
            })
            .collect::<Vec<String>>()
            .join(" "))
    });
    unary(&mut fm, "sha256sum", |x| {
        use sha2::Digest;
        Ok(hex::encode(sha2::Sha256::digest(bytes_from_text(x))))
    });
    fm.insert(
        "quote".into(),
        Arc::new(|args: &[Value]| {
            checked(
                "quote",
                args.iter()
                    .filter(|a| !matches!(a, Value::Nil))
                    .map(|a| format!("{:?}", text(a)))
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        }),
    );
    fm.insert(
        "squote".into(),
        Arc::new(|args: &[Value]| {
            checked(
                "squote",
                args.iter()
                    .filter(|a| !matches!(a, Value::Nil))
                    .map(|a| format!("'{}'", text(a)))
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        }),
    );
    fm.insert(
        "indent".into(),
        Arc::new(|args: &[Value]| indent(arg(args, 0, "indent", 2)?, arg(args, 1, "indent", 2)?, false)),
    );
    fm.insert(
        "nindent".into(),
        Arc::new(|args: &[Value]| indent(arg(args, 0, "nindent", 2)?, arg(args, 1, "nindent", 2)?, true)),
    );
    fm.insert(
        "replace".into(),
        Arc::new(|args: &[Value]| {
            let (old, new, src) = (
                text(arg(args, 0, "replace", 3)?),
                text(arg(args, 1, "replace", 3)?),
                text(arg(args, 2, "replace", 3)?),
            );
            if old.is_empty() {
                return Err(fail("replace", "the text to replace is empty"));
            }
            precheck("replace", src.len().saturating_add(src.matches(old.as_str()).count().saturating_mul(new.len())))?;
            checked("replace", src.replace(&old, &new))
        }),
    );
    for (name, f) in [
        ("trimPrefix", (|p: &str, x: &str| x.strip_prefix(p).unwrap_or(x).to_owned()) as fn(&str, &str) -> String),
        ("trimSuffix", |p: &str, x: &str| x.strip_suffix(p).unwrap_or(x).to_owned()),
        ("trimAll", |p: &str, x: &str| x.trim_matches(|c| p.contains(c)).to_owned()),
    ] {
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| Ok(s(f(&text(arg(args, 0, name, 2)?), &text(arg(args, 1, name, 2)?))))),
        );
    }
    for (name, f) in [
        ("contains", (|a: &str, b: &str| b.contains(a)) as fn(&str, &str) -> bool),
        ("hasPrefix", |a: &str, b: &str| b.starts_with(a)),
        ("hasSuffix", |a: &str, b: &str| b.ends_with(a)),
    ] {
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                Ok(Value::Bool(f(&text(arg(args, 0, name, 2)?), &text(arg(args, 1, name, 2)?))))
            }),
        );
    }
    fm.insert(
        "default".into(),
        Arc::new(|args: &[Value]| {
            let def = args.first().ok_or_else(|| fail("default", "takes a default and a value"))?;
            match args.get(1) {
                Some(v) if v.is_truthy() => Ok(v.clone()),
                _ => Ok(def.clone()),
            }
        }),
    );
    fm.insert(
        "required".into(),
        Arc::new(|args: &[Value]| {
            let msg = text(arg(args, 0, "required", 2)?);
            let v = arg(args, 1, "required", 2)?;
            if matches!(v, Value::Nil) || v.as_str() == Some("") {
                // The message is template output (`required .v ""` would
                // show a value): it is not shown, only that a value is empty.
                drop(msg);
                Err(fail("required", "a required value is empty (its message is not shown: it is template output)"))
            } else {
                Ok(v.clone())
            }
        }),
    );
    fm.insert("empty".into(), Arc::new(|args: &[Value]| Ok(Value::Bool(!arg(args, 0, "empty", 1)?.is_truthy()))));
    fm.insert(
        "coalesce".into(),
        Arc::new(|args: &[Value]| Ok(args.iter().find(|a| a.is_truthy()).cloned().unwrap_or(Value::Nil))),
    );
    fm.insert(
        "ternary".into(),
        Arc::new(|args: &[Value]| {
            let (a, b, c) = (arg(args, 0, "ternary", 3)?, arg(args, 1, "ternary", 3)?, arg(args, 2, "ternary", 3)?);
            Ok(if c.is_truthy() { a.clone() } else { b.clone() })
        }),
    );
    // Go's built-ins that can grow a value, in bounded versions: a template
    // may apply them in a loop to their own result (`$x = printf "%s%s" $x
    // $x`), which must fail at 1 MiB, not at the end of memory.
    fm.insert(
        "print".into(),
        Arc::new(|args: &[Value]| {
            let mut out = String::new();
            for (i, a) in args.iter().enumerate() {
                let is_str = |v: &Value| matches!(v, Value::String(_));
                if i > 0 && !is_str(a) && args.get(i - 1).is_some_and(|p| !is_str(p)) {
                    out.push(' ');
                }
                precheck("print", out.len().saturating_add(text(a).len()))?;
                out.push_str(&text(a));
            }
            checked("print", out)
        }),
    );
    fm.insert(
        "println".into(),
        Arc::new(|args: &[Value]| {
            let parts: Vec<String> = args.iter().map(text).collect();
            precheck("println", parts.iter().map(String::len).fold(parts.len(), usize::saturating_add))?;
            checked("println", format!("{}\n", parts.join(" ")))
        }),
    );
    fm.insert(
        "printf".into(),
        Arc::new(|args: &[Value]| {
            let (format, rest) = args.split_first().ok_or_else(|| fail("printf", "takes a format"))?;
            go_printf(&text(format), rest).map_err(|why| fail("printf", &why)).and_then(|x| checked("printf", x))
        }),
    );
    for (name, f) in [
        ("html", gotmpl::html_escape as fn(&str) -> String),
        ("js", gotmpl::js_escape),
        ("urlquery", gotmpl::url_encode),
    ] {
        fm.insert(name.into(), Arc::new(move |args: &[Value]| checked(name, f(&text(arg(args, 0, name, 1)?)))));
    }
    // Go's `index` on ESO's map[string]string gives "" for a missing key;
    // the engine's own gives nil (printed `<no value>`).
    fm.insert(
        "index".into(),
        Arc::new(|args: &[Value]| {
            let (first, keys) = args.split_first().ok_or_else(|| fail("index", "takes a value and indices"))?;
            let mut at = first.clone();
            for k in keys {
                at = match (&at, k) {
                    (Value::Map(m), key) => m.get(text(key).as_str()).cloned().unwrap_or_else(|| s("")),
                    (Value::List(l), i) => {
                        let i = i
                            .as_int()
                            .and_then(|i| usize::try_from(i).ok())
                            .ok_or_else(|| fail("index", "a list index must be a number"))?;
                        l.get(i).cloned().ok_or_else(|| fail("index", "list index out of range"))?
                    }
                    (Value::String(x), i) => {
                        let i = i
                            .as_int()
                            .and_then(|i| usize::try_from(i).ok())
                            .ok_or_else(|| fail("index", "a string index must be a number"))?;
                        x.as_bytes()
                            .get(i)
                            .map(|b| Value::Int(i64::from(*b)))
                            .ok_or_else(|| fail("index", "string index out of range"))?
                    }
                    _ => return Err(fail("index", "can index only maps, lists and strings")),
                };
            }
            Ok(at)
        }),
    );
    fm.insert("list".into(), Arc::new(|args: &[Value]| Ok(Value::List(args.to_vec().into()))));
    fm.insert(
        "dict".into(),
        Arc::new(|args: &[Value]| {
            let mut m = BTreeMap::new();
            for pair in args.chunks(2) {
                let k = pair.first().map(text).unwrap_or_default();
                m.insert(Arc::from(k.as_str()), pair.get(1).cloned().unwrap_or(Value::String(Arc::from(""))));
            }
            Ok(Value::Map(Arc::new(m)))
        }),
    );
    fm.insert(
        "get".into(),
        Arc::new(|args: &[Value]| {
            let (m, k) = (arg(args, 0, "get", 2)?, text(arg(args, 1, "get", 2)?));
            Ok(m.field(&k).cloned().unwrap_or_else(|| s("")))
        }),
    );
    fm.insert(
        "hasKey".into(),
        Arc::new(|args: &[Value]| {
            let (m, k) = (arg(args, 0, "hasKey", 2)?, text(arg(args, 1, "hasKey", 2)?));
            Ok(Value::Bool(m.field(&k).is_some()))
        }),
    );
    fm.insert(
        "keys".into(),
        Arc::new(|args: &[Value]| {
            let mut out = Vec::new();
            for a in args {
                if let Value::Map(m) = a {
                    out.extend(m.keys().map(|k| Value::String(k.clone())));
                }
            }
            Ok(Value::List(out.into()))
        }),
    );
    fm.insert(
        "join".into(),
        Arc::new(|args: &[Value]| {
            let sep = text(arg(args, 0, "join", 2)?);
            match arg(args, 1, "join", 2)? {
                Value::List(l) => {
                    let parts: Vec<String> = l.iter().map(text).collect();
                    let size = parts.iter().map(String::len).fold(0usize, usize::saturating_add);
                    precheck("join", size.saturating_add(sep.len().saturating_mul(parts.len())))?;
                    checked("join", parts.join(&sep))
                }
                other => checked("join", text(other)),
            }
        }),
    );
    fm.insert(
        "splitList".into(),
        Arc::new(|args: &[Value]| {
            let (sep, x) = (text(arg(args, 0, "splitList", 2)?), text(arg(args, 1, "splitList", 2)?));
            if sep.is_empty() {
                return Err(fail("splitList", "the separator is empty"));
            }
            // Counted before the list is built: its elements are charged
            // again (with their bytes) when it is returned.
            if x.matches(sep.as_str()).count() >= MAX_WORK_ELEMENTS {
                return Err(fail(
                    "splitList",
                    &format!("the result would have more than {MAX_WORK_ELEMENTS} elements"),
                ));
            }
            Ok(Value::List(x.split(sep.as_str()).map(s).collect::<Vec<_>>().into()))
        }),
    );
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
            let j = to_json(arg(args, 0, "toYaml", 1)?, 0)?;
            let y = serde_yaml::to_string(&j).map_err(|_| fail("toYaml", "the value cannot be written as YAML"))?;
            checked("toYaml", y.trim_end_matches('\n').to_owned())
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
        "filterPEM".into(),
        Arc::new(|args: &[Value]| {
            let (kind, pem) = (text(arg(args, 0, "filterPEM", 2)?), text(arg(args, 1, "filterPEM", 2)?));
            filter_pem(&kind, &pem).map(s).map_err(|why| fail("filterPEM", &why))
        }),
    );
    let key = salt_key.to_vec();
    let bcrypt_work = work.clone();
    fm.insert(
        "htpasswd".into(),
        Arc::new(move |args: &[Value]| {
            let bcrypt_calls = &bcrypt_work.bcrypt_calls;
            let (user, pass) = (text(arg(args, 0, "htpasswd", 2)?), Zeroizing::new(text(arg(args, 1, "htpasswd", 2)?)));
            if bcrypt_calls.fetch_add(1, Ordering::Relaxed) >= MAX_BCRYPT_CALLS {
                return Err(fail(
                    "htpasswd",
                    &format!("called more than {MAX_BCRYPT_CALLS} times by the object's templates in one reconcile"),
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
    for (name, with_pass, want_key) in [
        ("pkcs12key", false, true),
        ("pkcs12keyPass", true, true),
        ("pkcs12cert", false, false),
        ("pkcs12certPass", true, false),
    ] {
        let work = work.clone();
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                // Go's signatures: pkcs12key(input), pkcs12keyPass(pass, input).
                let (pass, input) = if with_pass {
                    (text(arg(args, 0, name, 2)?), text(arg(args, 1, name, 2)?))
                } else {
                    (String::new(), text(arg(args, 0, name, 1)?))
                };
                let (pass, input) = (Zeroizing::new(pass), Zeroizing::new(bytes_from_text(&input)));
                let mut budget = work.kdf.lock().map_err(|_| fail(name, "an earlier call failed"))?;
                let got = pkcs12::decode(&input, &pass, &mut budget)
                    .map_err(|why| fail(name, &format!("unable to decode the PKCS#12 file: {why}")))?;
                if want_key {
                    return Ok(s(pkcs12::pem("PRIVATE KEY", &got.key)));
                }
                let order = pkcs12::order_chain(&got.certs).unwrap_or_else(|| (0..got.certs.len()).collect());
                Ok(s(order
                    .iter()
                    .filter_map(|i| got.certs.get(*i))
                    .map(|c| pkcs12::pem("CERTIFICATE", c))
                    .collect::<String>()))
            }),
        );
    }
    for (name, with_pass, chain) in [
        ("pemToPkcs12", false, false),
        ("pemToPkcs12Pass", true, false),
        ("fullPemToPkcs12", false, true),
        ("fullPemToPkcs12Pass", true, true),
    ] {
        let (work, key) = (work.clone(), salt_key.to_vec());
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                // Go's signatures: pemToPkcs12(cert, key), pemToPkcs12Pass(cert, key, pass).
                let n = if with_pass { 3 } else { 2 };
                let cert = text(arg(args, 0, name, n)?);
                let private = Zeroizing::new(text(arg(args, 1, name, n)?));
                let pass = Zeroizing::new(if with_pass { text(arg(args, 2, name, n)?) } else { String::new() });
                work.kdf
                    .lock()
                    .map_err(|_| fail(name, "an earlier call failed"))?
                    .charge(pkcs12::WRITE_COST)
                    .map_err(|why| fail(name, &why))?;
                let pfx = pkcs12::encode(&cert, &private, chain, &pass, &key).map_err(|why| fail(name, &why))?;
                checked(name, base64::engine::general_purpose::STANDARD.encode(pfx))
            }),
        );
    }
    fm
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s`, `%v`, `%d`, `%q`,
/// `%x`, `%X`, `%f`, `%t`, `%%`, with flags `-`, `0`, `+` and width and
/// precision (at most 1024 each). Another verb is an error.
pub fn go_printf(format: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut next = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if out.len() > MAX_OUTPUT {
            return Err(format!("the result would be larger than {} KiB", MAX_OUTPUT >> 10));
        }
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut left, mut zero, mut plus) = (false, false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => left = true,
                '0' => zero = true,
                '+' => plus = true,
                ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        let number = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize).min(1024));
                chars.next();
            }
            n
        };
        let width = number(&mut chars);
        let precision = if chars.peek() == Some(&'.') {
            chars.next();
            Some(number(&mut chars).unwrap_or(0))
        } else {
            None
        };
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(a) = next.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let numeric = |v: &Value| match v {
            Value::Int(i) => Some(*i as f64),
            Value::Uint(u) => Some(*u as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        };
        let body = match verb {
            's' | 'v' => {
                let t = text(a);
                match precision {
                    Some(p) => t.chars().take(p).collect(),
                    None => t,
                }
            }
            'q' => format!("{:?}", text(a)),
            't' => match a {
                Value::Bool(b) => b.to_string(),
                other => format!("%!t({})", other.type_name()),
            },
            'd' => match a {
                Value::Int(i) => {
                    if plus && *i >= 0 {
                        format!("+{i}")
                    } else {
                        i.to_string()
                    }
                }
                Value::Uint(u) => {
                    if plus {
                        format!("+{u}")
                    } else {
                        u.to_string()
                    }
                }
                other => format!("%!d({})", other.type_name()),
            },
            'x' | 'X' => {
                let h = match a {
                    Value::Int(i) => format!("{i:x}"),
                    Value::Uint(u) => format!("{u:x}"),
                    other => hex::encode(text(other).as_bytes()),
                };
                if verb == 'X' { h.to_uppercase() } else { h }
            }
            'f' | 'F' => match numeric(a) {
                Some(f) => {
                    let t = format!("{:.*}", precision.unwrap_or(6), f);
                    if plus && f >= 0.0 { format!("+{t}") } else { t }
                }
                None => format!("%!{verb}({})", a.type_name()),
            },
            other => return Err(format!("the verb %{other} is not supported (use %s, %v, %d, %q, %x, %f or %t)")),
        };
        let pad = width.unwrap_or(0).saturating_sub(body.chars().count());
        if pad == 0 {
            out.push_str(&body);
        } else if left {
            out.push_str(&body);
            out.push_str(&" ".repeat(pad));
        } else if zero && matches!(verb, 'd' | 'f' | 'F' | 'x' | 'X') {
            let (sign, digits) = match body.strip_prefix(['-', '+']) {
                Some(rest) => (&body[..1], rest),
                None => ("", body.as_str()),
            };
            out.push_str(sign);
            out.push_str(&"0".repeat(pad));
            out.push_str(digits);
        } else {
            out.push_str(&" ".repeat(pad));
            out.push_str(&body);
        }
    }
    let extra: Vec<String> = next.map(|a| format!("{}={}", a.type_name(), text(a))).collect();
    if !extra.is_empty() {
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    Ok(out)
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

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
