//! sprig's dictionaries, defaults and reflection: `set`, `unset`,
//! `pluck`, `pick`, `omit`, `values`, `dig`, `merge`, `mergeOverwrite`
//! (and `must…` forms), `deepCopy`, `all`, `any`, `typeOf`, `typeIs`,
//! `typeIsLike`, `kindOf`, `kindIs`, `deepEqual`, and `fail`, `hello`.
//!
//! Dictionaries are values here, where Go's maps are shared: `set`,
//! `unset`, `merge` and `mergeOverwrite` return the new dictionary and do
//! not change the one they were given. sprig changes it in place, which
//! templates use as `$_ := set $d "k" "v"`; the engine refuses that form
//! (see `engine::mutation_idiom`) rather than render something else, and
//! `$d = set $d "k" "v"` works in both.

use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::{FuncMap, TemplateError, Value};

use super::{fail, s, text};

type Dict = BTreeMap<Arc<str>, Value>;

fn dict<'a>(name: &str, v: Option<&'a Value>) -> Result<&'a Dict, TemplateError> {
    match v {
        Some(Value::Map(m)) => Ok(m),
        Some(other) => Err(fail(name, &format!("cannot use type {} as a dictionary", other.type_name()))),
        None => Err(fail(name, "takes a dictionary")),
    }
}

fn new_dict(m: Dict) -> Value {
    Value::Map(Arc::new(m))
}

/// sprig's (mergo's) merge of `src` into `dst`: nested dictionaries
/// merged, other values of `dst` kept unless `overwrite` (then a value of
/// `src` that is not empty replaces them).
fn merge(dst: &mut Dict, src: &Dict, overwrite: bool, depth: usize) -> Result<(), TemplateError> {
    if depth > crate::MAX_VALUE_DEPTH {
        return Err(fail("merge", "the dictionaries are nested too deeply"));
    }
    for (k, v) in src {
        match (dst.get_mut(k), v) {
            (Some(Value::Map(d)), Value::Map(sv)) => {
                let mut inner = (**d).clone();
                merge(&mut inner, sv, overwrite, depth + 1)?;
                *d = Arc::new(inner);
            }
            (Some(d), v) => {
                if !d.is_truthy() || (overwrite && v.is_truthy()) {
                    *d = v.clone();
                }
            }
            (None, v) => {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(())
}

/// Go's type name of a value, as sprig's `typeOf` prints it (integers are
/// reported as `int`: the engine does not keep Go's int and int64 apart).
fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Uint(_) => "uint",
        Value::Float(_) => "float64",
        Value::String(_) => "string",
        Value::List(_) => "[]interface {}",
        Value::Map(_) => "map[string]interface {}",
        Value::Function(_) => "func",
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Nil => "invalid",
        Value::List(_) => "slice",
        Value::Map(_) => "map",
        other => type_of(other),
    }
}

pub(super) fn register(fm: &mut FuncMap) {
    fm.insert(
        "set".into(),
        Arc::new(|args: &[Value]| {
            let mut d = dict("set", args.first())?.clone();
            let k = args.get(1).map(text).ok_or_else(|| fail("set", "takes a dictionary, a key and a value"))?;
            d.insert(Arc::from(k.as_str()), args.get(2).cloned().unwrap_or(Value::Nil));
            Ok(new_dict(d))
        }),
    );
    fm.insert(
        "unset".into(),
        Arc::new(|args: &[Value]| {
            let mut d = dict("unset", args.first())?.clone();
            d.remove(args.get(1).map(text).unwrap_or_default().as_str());
            Ok(new_dict(d))
        }),
    );
    fm.insert(
        "pluck".into(),
        Arc::new(|args: &[Value]| {
            let (k, dicts) = args.split_first().ok_or_else(|| fail("pluck", "takes a key and dictionaries"))?;
            let k = text(k);
            let mut out = Vec::new();
            for d in dicts {
                out.extend(dict("pluck", Some(d))?.get(k.as_str()).cloned());
            }
            Ok(Value::List(out.into()))
        }),
    );
    for (name, keep) in [("pick", true), ("omit", false)] {
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                let (d, keys) = args.split_first().ok_or_else(|| fail(name, "takes a dictionary and keys"))?;
                let keys: Vec<String> = keys.iter().map(text).collect();
                let out: Dict = dict(name, Some(d))?
                    .iter()
                    .filter(|(k, _)| keys.iter().any(|x| x.as_str() == k.as_ref()) == keep)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                Ok(new_dict(out))
            }),
        );
    }
    fm.insert(
        "values".into(),
        Arc::new(|args: &[Value]| Ok(Value::List(dict("values", args.first())?.values().cloned().collect()))),
    );
    fm.insert(
        "dig".into(),
        Arc::new(|args: &[Value]| {
            if args.len() < 3 {
                return Err(fail("dig", "takes keys, a default and a dictionary"));
            }
            let (keys, rest) = args.split_at(args.len() - 2);
            let default = rest.first().cloned().unwrap_or(Value::Nil);
            let mut at = dict("dig", rest.get(1))?;
            for (i, k) in keys.iter().enumerate() {
                let Some(step) = at.get(text(k).as_str()) else { return Ok(default) };
                if i + 1 == keys.len() {
                    return Ok(step.clone());
                }
                at = dict("dig", Some(step))?;
            }
            Ok(default)
        }),
    );
    for (name, overwrite) in
        [("merge", false), ("mustMerge", false), ("mergeOverwrite", true), ("mustMergeOverwrite", true)]
    {
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                let (dst, srcs) = args.split_first().ok_or_else(|| fail(name, "takes dictionaries"))?;
                let mut out = dict(name, Some(dst))?.clone();
                for src in srcs {
                    merge(&mut out, dict(name, Some(src))?, overwrite, 0)?;
                }
                Ok(new_dict(out))
            }),
        );
    }
    for name in ["deepCopy", "mustDeepCopy"] {
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| args.first().cloned().ok_or_else(|| fail(name, "takes a value"))),
        );
    }
    fm.insert("all".into(), Arc::new(|args: &[Value]| Ok(Value::Bool(args.iter().all(Value::is_truthy)))));
    fm.insert("any".into(), Arc::new(|args: &[Value]| Ok(Value::Bool(args.iter().any(Value::is_truthy)))));
    fm.insert("typeOf".into(), Arc::new(|args: &[Value]| Ok(s(type_of(args.first().unwrap_or(&Value::Nil))))));
    fm.insert("kindOf".into(), Arc::new(|args: &[Value]| Ok(s(kind_of(args.first().unwrap_or(&Value::Nil))))));
    for (name, f) in [
        ("typeIs", (|t: &str, v: &Value| t == type_of(v)) as fn(&str, &Value) -> bool),
        ("typeIsLike", |t: &str, v: &Value| t == type_of(v) || format!("*{t}") == type_of(v)),
        ("kindIs", |t: &str, v: &Value| t == kind_of(v)),
    ] {
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                let t = text(args.first().ok_or_else(|| fail(name, "takes a type and a value"))?);
                Ok(Value::Bool(f(&t, args.get(1).unwrap_or(&Value::Nil))))
            }),
        );
    }
    fm.insert("deepEqual".into(), Arc::new(|args: &[Value]| Ok(Value::Bool(args.first() == args.get(1)))));
    fm.insert(
        "fail".into(),
        // The message is template output, which can hold a value: it is
        // not shown, as `required`'s is not.
        Arc::new(|_: &[Value]| {
            Err(fail("fail", "the template failed (its message is not shown: it is template output)"))
        }),
    );
    fm.insert("hello".into(), Arc::new(|_: &[Value]| Ok(s("Hello!"))));
}
