//! sprig's list functions: `tuple`, `append`/`push`, `prepend`, `first`,
//! `rest`, `last`, `initial`, `reverse`, `uniq`, `without`, `has`,
//! `slice`, `concat`, `chunk`, `compact`, `sortAlpha`, and their `must…`
//! forms (sprig's plain forms panic where the `must…` ones return an
//! error: both are errors here). Lists are values: `append $l 1` returns a
//! new list, as in sprig. What they build is charged by `work::metered`;
//! `concat` and `chunk` count before they build.

use std::sync::Arc;

use gotmpl::{FuncMap, TemplateError, Value};

use super::numeric::to_i64;
use super::{fail, text};
use crate::work::MAX_WORK_ELEMENTS;

/// Longest list `uniq` takes (it compares every pair).
const MAX_PAIRWISE: usize = 10_000;

fn list<'a>(name: &str, v: Option<&'a Value>) -> Result<&'a [Value], TemplateError> {
    match v {
        Some(Value::List(l)) => Ok(l),
        Some(other) => Err(fail(name, &format!("cannot use type {} as a list", other.type_name()))),
        None => Err(fail(name, "takes a list")),
    }
}

fn new_list(v: Vec<Value>) -> Value {
    Value::List(v.into())
}

/// Registers a function under its names (`name` and `mustName`).
fn both(fm: &mut FuncMap, names: [&'static str; 2], f: fn(&'static str, &[Value]) -> Result<Value, TemplateError>) {
    for name in names {
        fm.insert(name.into(), Arc::new(move |args: &[Value]| f(name, args)));
    }
}

pub(super) fn register(fm: &mut FuncMap) {
    fm.insert("tuple".into(), Arc::new(|args: &[Value]| Ok(new_list(args.to_vec()))));
    for names in [["append", "mustAppend"], ["push", "mustPush"]] {
        both(fm, names, |name, args| {
            let mut l = list(name, args.first())?.to_vec();
            l.push(args.get(1).cloned().ok_or_else(|| fail(name, "takes a list and a value"))?);
            Ok(new_list(l))
        });
    }
    both(fm, ["prepend", "mustPrepend"], |name, args| {
        let mut l = vec![args.get(1).cloned().ok_or_else(|| fail(name, "takes a list and a value"))?];
        l.extend_from_slice(list(name, args.first())?);
        Ok(new_list(l))
    });
    both(fm, ["first", "mustFirst"], |name, args| Ok(list(name, args.first())?.first().cloned().unwrap_or(Value::Nil)));
    both(fm, ["last", "mustLast"], |name, args| Ok(list(name, args.first())?.last().cloned().unwrap_or(Value::Nil)));
    both(fm, ["rest", "mustRest"], |name, args| {
        let l = list(name, args.first())?;
        Ok(if l.is_empty() { Value::Nil } else { new_list(l.get(1..).unwrap_or_default().to_vec()) })
    });
    both(fm, ["initial", "mustInitial"], |name, args| {
        let l = list(name, args.first())?;
        Ok(if l.is_empty() { Value::Nil } else { new_list(l.get(..l.len() - 1).unwrap_or_default().to_vec()) })
    });
    both(fm, ["reverse", "mustReverse"], |name, args| {
        Ok(new_list(list(name, args.first())?.iter().rev().cloned().collect()))
    });
    both(fm, ["uniq", "mustUniq"], |name, args| {
        let l = list(name, args.first())?;
        // Values compare only pairwise (no hash): the work is bounded here.
        if l.len() > MAX_PAIRWISE {
            return Err(fail(name, &format!("takes lists of at most {MAX_PAIRWISE} elements")));
        }
        let mut out: Vec<Value> = Vec::new();
        for v in l {
            if !out.contains(v) {
                out.push(v.clone());
            }
        }
        Ok(new_list(out))
    });
    both(fm, ["without", "mustWithout"], |name, args| {
        let (l, omit) = args.split_first().ok_or_else(|| fail(name, "takes a list and values"))?;
        if list(name, Some(l))?.len().saturating_mul(omit.len()) > MAX_PAIRWISE * MAX_PAIRWISE {
            return Err(fail(name, "the list and the values to remove are too long"));
        }
        Ok(new_list(list(name, Some(l))?.iter().filter(|v| !omit.contains(v)).cloned().collect()))
    });
    both(fm, ["has", "mustHas"], |name, args| {
        let needle = args.first().ok_or_else(|| fail(name, "takes a value and a list"))?;
        match args.get(1) {
            Some(Value::Nil) | None => Ok(Value::Bool(false)),
            other => Ok(Value::Bool(list(name, other)?.contains(needle))),
        }
    });
    both(fm, ["compact", "mustCompact"], |name, args| {
        Ok(new_list(list(name, args.first())?.iter().filter(|v| v.is_truthy()).cloned().collect()))
    });
    both(fm, ["slice", "mustSlice"], |name, args| {
        let l = list(name, args.first())?;
        if l.is_empty() {
            return Ok(Value::Nil);
        }
        let start = args.get(1).map_or(0, to_i64);
        let end = args.get(2).map_or(l.len() as i64, to_i64);
        if start < 0 || end < start || end > l.len() as i64 {
            return Err(fail(name, "slice bounds out of range"));
        }
        Ok(new_list(l.get(start as usize..end as usize).unwrap_or_default().to_vec()))
    });
    both(fm, ["chunk", "mustChunk"], |name, args| {
        let size = args.first().map_or(0, to_i64);
        let l = list(name, args.get(1))?;
        if size <= 0 {
            return Err(fail(name, "the size must be positive"));
        }
        Ok(new_list(l.chunks(size as usize).map(|c| new_list(c.to_vec())).collect()))
    });
    fm.insert(
        "concat".into(),
        Arc::new(|args: &[Value]| {
            let mut total = 0usize;
            for a in args {
                total = total.saturating_add(list("concat", Some(a))?.len());
            }
            if total > MAX_WORK_ELEMENTS {
                return Err(fail("concat", &format!("the result would have more than {MAX_WORK_ELEMENTS} elements")));
            }
            let mut out = Vec::with_capacity(total);
            for a in args {
                out.extend_from_slice(list("concat", Some(a))?);
            }
            Ok(new_list(out))
        }),
    );
    fm.insert(
        "sortAlpha".into(),
        Arc::new(|args: &[Value]| {
            let mut strings: Vec<String> = match args.first() {
                Some(Value::List(l)) => l.iter().filter(|v| !matches!(v, Value::Nil)).map(text).collect(),
                Some(Value::Nil) | None => Vec::new(),
                Some(other) => vec![text(other)],
            };
            strings.sort();
            Ok(new_list(strings.into_iter().map(super::s).collect()))
        }),
    );
}
