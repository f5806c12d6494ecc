//! sprig's path functions, Go's `path` package: `base`, `dir`, `clean`,
//! `ext`, `isAbs`, and their `os…` forms (`path/filepath`, the same on the
//! Linux ESO runs on).

use gotmpl::FuncMap;

use super::unary;

pub(super) fn register(fm: &mut FuncMap) {
    for (name, f) in [
        ("base", base as fn(&str) -> String),
        ("osBase", base),
        ("dir", dir),
        ("osDir", dir),
        ("clean", clean),
        ("osClean", clean),
        ("ext", ext),
        ("osExt", ext),
    ] {
        unary(fm, name, move |x| Ok(f(x)));
    }
    for name in ["isAbs", "osIsAbs"] {
        fm.insert(
            name.into(),
            std::sync::Arc::new(move |args: &[gotmpl::Value]| {
                Ok(gotmpl::Value::Bool(super::text(super::arg(args, 0, name, 1)?).starts_with('/')))
            }),
        );
    }
}

/// Go's `path.Clean`: the shortest path naming the same file.
pub(crate) fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            ".." if rooted => {}
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `path.Base`: the last element, trailing slashes removed.
fn base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_owned()
}

/// Go's `path.Dir`: all but the last element, cleaned.
fn dir(p: &str) -> String {
    let cut = p.rfind('/').map_or(0, |i| i + 1);
    clean(p.get(..cut).unwrap_or_default())
}

/// Go's `path.Ext`: from the last dot of the last element, or "".
fn ext(p: &str) -> String {
    for (i, c) in p.char_indices().rev() {
        match c {
            '/' => return String::new(),
            '.' => return p.get(i..).unwrap_or_default().to_owned(),
            _ => {}
        }
    }
    String::new()
}
