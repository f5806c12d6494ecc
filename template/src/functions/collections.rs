//! Lists, maps and defaults: `index` (as Go's on ESO's string map),
//! `list`, `dict`, `get`, `hasKey`, `keys`, `join`, `splitList`, and
//! `default`, `required`, `empty`, `coalesce`, `ternary`. What they build
//! is charged to the work budget by the wrapper in `work`.

use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::{FuncMap, Value};

use super::{arg, checked, fail, precheck, s, text};
use crate::work::MAX_WORK_ELEMENTS;

pub(super) fn register(fm: &mut FuncMap) {
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
    // Go's `len` counts a string's bytes: those a value carries (see
    // `crate::bytes`), not the engine's UTF-8 for them.
    fm.insert(
        "len".into(),
        Arc::new(|args: &[Value]| match arg(args, 0, "len", 1)? {
            Value::String(x) => Ok(Value::Int(crate::bytes::bytes_from_text(x).len() as i64)),
            Value::List(l) => Ok(Value::Int(l.len() as i64)),
            Value::Map(m) => Ok(Value::Int(m.len() as i64)),
            other => Err(fail("len", &format!("len of type {}", other.type_name()))),
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
}
