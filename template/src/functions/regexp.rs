//! sprig's regular expressions (`regexMatch`, `regexFind`, `regexFindAll`,
//! `regexReplaceAll`, `regexReplaceAllLiteral`, `regexSplit`, their
//! `must…` forms, and `regexQuoteMeta`) on the `regex` crate: RE2's
//! syntax, as Go's `regexp`, and matching in linear time, so a tenant's
//! pattern cannot make matching explode; compiled patterns are bounded in
//! size. `$1` and `${name}` in replacements, as in Go.

use std::sync::Arc;

use gotmpl::{FuncMap, TemplateError, Value};

use super::numeric::to_i64;
use super::{checked, fail, precheck, s, text};
use crate::work::MAX_WORK_ELEMENTS;

/// Largest compiled pattern.
const MAX_COMPILED: usize = 1 << 20;

fn compile(name: &str, pattern: &str) -> Result<regex::Regex, TemplateError> {
    regex::RegexBuilder::new(pattern)
        .size_limit(MAX_COMPILED)
        .dfa_size_limit(MAX_COMPILED)
        .build()
        .map_err(|_| fail(name, "the regular expression is not valid (or too large)"))
}

fn two(name: &str, args: &[Value]) -> Result<[String; 2], TemplateError> {
    match args {
        [a, b] => Ok([text(a), text(b)]),
        _ => Err(fail(name, &format!("takes 2 arguments, got {}", args.len()))),
    }
}

fn three(name: &str, args: &[Value]) -> Result<[Value; 3], TemplateError> {
    match args {
        [a, b, c] => Ok([a.clone(), b.clone(), c.clone()]),
        _ => Err(fail(name, &format!("takes 3 arguments, got {}", args.len()))),
    }
}

fn limit(n: i64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

pub(super) fn register(fm: &mut FuncMap) {
    for name in ["regexMatch", "mustRegexMatch"] {
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                let [p, x] = two(name, args)?;
                Ok(Value::Bool(compile(name, &p)?.is_match(&x)))
            }),
        );
    }
    for name in ["regexFind", "mustRegexFind"] {
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                let [p, x] = two(name, args)?;
                Ok(s(compile(name, &p)?.find(&x).map(|m| m.as_str()).unwrap_or_default()))
            }),
        );
    }
    for name in ["regexFindAll", "mustRegexFindAll"] {
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                let [p, x, n] = three(name, args)?;
                let (re, x, n) = (compile(name, &text(&p))?, text(&x), to_i64(&n));
                let n = if n < 0 { usize::MAX } else { limit(n) };
                let found: Vec<Value> =
                    re.find_iter(&x).take(n.min(MAX_WORK_ELEMENTS + 1)).map(|m| s(m.as_str())).collect();
                if found.len() > MAX_WORK_ELEMENTS {
                    return Err(fail(name, &format!("more than {MAX_WORK_ELEMENTS} matches")));
                }
                Ok(Value::List(found.into()))
            }),
        );
    }
    for (name, literal) in [
        ("regexReplaceAll", false),
        ("mustRegexReplaceAll", false),
        ("regexReplaceAllLiteral", true),
        ("mustRegexReplaceAllLiteral", true),
    ] {
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                let [p, x, rep] = three(name, args)?;
                let (p, x, rep) = (text(&p), text(&x), text(&rep));
                let re = compile(name, &p)?;
                // Each match is replaced by at most the replacement's length
                // plus what its groups hold (at most the input): bounded first.
                let out = if literal {
                    let matches = re.find_iter(&x).count();
                    precheck(name, matches.saturating_mul(rep.len()).saturating_add(x.len()))?;
                    re.replace_all(&x, regex::NoExpand(&rep)).into_owned()
                } else {
                    replace_expanding(&re, &x, &rep)?
                };
                checked(name, out)
            }),
        );
    }
    for name in ["regexSplit", "mustRegexSplit"] {
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                let [p, x, n] = three(name, args)?;
                let (re, x, n) = (compile(name, &text(&p))?, text(&x), to_i64(&n));
                let parts: Vec<Value> = match n {
                    0 => return Ok(Value::Nil),
                    n if n < 0 => re.split(&x).take(MAX_WORK_ELEMENTS + 1).map(s).collect(),
                    n => re.splitn(&x, limit(n)).take(MAX_WORK_ELEMENTS + 1).map(s).collect(),
                };
                if parts.len() > MAX_WORK_ELEMENTS {
                    return Err(fail(name, &format!("more than {MAX_WORK_ELEMENTS} parts")));
                }
                Ok(Value::List(parts.into()))
            }),
        );
    }
    fm.insert(
        "regexQuoteMeta".into(),
        Arc::new(|args: &[Value]| {
            let x = text(super::arg(args, 0, "regexQuoteMeta", 1)?);
            // Go's QuoteMeta: a backslash before each of \.+*?()|[]{}^$.
            let mut out = String::with_capacity(x.len());
            for c in x.chars() {
                if "\\.+*?()|[]{}^$".contains(c) {
                    out.push('\\');
                }
                out.push(c);
            }
            checked("regexQuoteMeta", out)
        }),
    );
}

/// `replace_all` with `$1`/`${name}` expanded, stopping at `MAX_OUTPUT`.
fn replace_expanding(re: &regex::Regex, x: &str, rep: &str) -> Result<String, TemplateError> {
    let mut out = String::new();
    let mut last = 0;
    for caps in re.captures_iter(x) {
        let Some(m) = caps.get(0) else { continue };
        out.push_str(x.get(last..m.start()).unwrap_or_default());
        caps.expand(rep, &mut out);
        last = m.end();
        precheck("regexReplaceAll", out.len())?;
    }
    out.push_str(x.get(last..).unwrap_or_default());
    Ok(out)
}
