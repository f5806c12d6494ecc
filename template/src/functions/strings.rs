//! String functions (sprig's): case, trimming, quoting, indentation,
//! replacement and tests for substrings. Results are bounded by
//! `MAX_OUTPUT` before they are built where they can grow.

use std::sync::Arc;

use gotmpl::{FuncMap, TemplateError, Value};

use super::{arg, checked, fail, precheck, s, text, unary};

pub(super) fn register(fm: &mut FuncMap) {
    unary(fm, "upper", |x| Ok(x.to_uppercase()));
    unary(fm, "lower", |x| Ok(x.to_lowercase()));
    unary(fm, "trim", |x| Ok(x.trim().to_owned()));
    unary(fm, "toString", |x| Ok(x.to_owned()));
    unary(fm, "title", |x| {
        Ok(x.split(' ')
            .map(|w| {
                let mut c = w.chars();
                c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
            })
            .collect::<Vec<String>>()
            .join(" "))
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
