//! sops' tree paths (`["a"]["b"][0]`) and the `set`/`unset` edits on a
//! document tree (`cmd/sops/main.go: parseTreePath`, `sops.go: set`,
//! `unset`). Positions in a list count its comments, as sops counts them.
//!
//! Where sops 3.11 panics (an empty or negative component, a key on a list)
//! or silently does nothing while reporting a change (a list position on a
//! mapping), the edit is refused with an error naming the component. Errors
//! name path components, never a value.

use super::limits::MAX_DEPTH;
use super::value::{Item, Map, Value};

/// One component of a tree path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A mapping key (`["key"]` or `['key']`).
    Key(String),
    /// A list position (`[0]`).
    Index(usize),
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Key(k) => write!(f, "[{k:?}]"),
            Step::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// Why an edit was not made.
#[derive(Debug, PartialEq, Eq)]
pub enum PathError {
    /// The path has no such key or position (`unset --idempotent` accepts this).
    NotFound(String),
    /// The path cannot be applied to the tree as it is.
    Conflict(String),
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathError::NotFound(m) | PathError::Conflict(m) => f.write_str(m),
        }
    }
}

/// Parses sops' index syntax. The error says what is wrong, without
/// repeating the argument.
pub fn parse(arg: &str) -> Result<Vec<Step>, String> {
    let mut out = Vec::new();
    for component in arg.split('[') {
        if component.is_empty() {
            continue;
        }
        let inner =
            component.strip_suffix(']').ok_or_else(|| format!("component {} does not end with ]", out.len() + 1))?;
        let quoted = ['"', '\''].iter().find_map(|q| inner.strip_prefix(*q).and_then(|s| s.strip_suffix(*q)));
        if let Some(key) = quoted {
            out.push(Step::Key(key.to_owned()));
        } else {
            let i = inner.parse::<usize>().map_err(|_| {
                format!("component {} is neither a quoted key nor a list position of 0 or more", out.len() + 1)
            })?;
            out.push(Step::Index(i));
        }
        if out.len() > MAX_DEPTH {
            return Err(format!("the path has more than {MAX_DEPTH} components"));
        }
    }
    if out.is_empty() {
        return Err("the path names no key (expected a form like [\"key\"][0])".to_owned());
    }
    Ok(out)
}

/// The path up to and including component `n` (0-based), for messages.
fn shown(path: &[Step], n: usize) -> String {
    path.iter().take(n + 1).map(Step::to_string).collect()
}

/// `valueFromPathAndLeaf`: the value that holds `leaf` under `path`.
fn nest(path: &[Step], leaf: Value) -> Value {
    path.iter().rev().fold(leaf, |inner, step| match step {
        Step::Index(_) => Value::List(vec![inner]),
        Step::Key(k) => {
            let mut m = Map::new();
            m.push(k, inner);
            Value::Map(m)
        }
    })
}

/// Sets `value` at `path` in `root`, creating the missing part of the path
/// as sops does: a missing key is appended to its mapping, a position past
/// the end of a list appends, a scalar in the way is replaced. Returns
/// whether the tree changed.
pub fn set(root: &mut Map, path: &[Step], value: Value) -> Result<bool, PathError> {
    let Some(Step::Key(first)) = path.first() else {
        return Err(PathError::Conflict(format!(
            "{} names a list position, but the document is a mapping",
            shown(path, 0)
        )));
    };
    let rest = path.get(1..).unwrap_or_default();
    match root.get_mut(first) {
        Some(slot) => set_in(slot, path, 1, value),
        None => {
            root.push(first, nest(rest, value));
            Ok(true)
        }
    }
}

/// `set` below the top level: `slot` is the value at `path[..depth]`.
fn set_in(mut slot: &mut Value, path: &[Step], mut depth: usize, value: Value) -> Result<bool, PathError> {
    loop {
        let Some(step) = path.get(depth) else {
            let changed = *slot != value;
            *slot = value;
            return Ok(changed);
        };
        let rest = path.get(depth + 1..).unwrap_or_default();
        slot = match (step, slot) {
            (Step::Key(k), Value::Map(m)) => {
                if m.get(k).is_none() {
                    m.push(k, nest(rest, value));
                    return Ok(true);
                }
                match m.get_mut(k) {
                    Some(v) => v,
                    None => return Ok(false),
                }
            }
            (Step::Index(i), Value::List(l)) => {
                if *i >= l.len() {
                    l.push(nest(rest, value));
                    return Ok(true);
                }
                match l.get_mut(*i) {
                    Some(v) => v,
                    None => return Ok(false),
                }
            }
            (Step::Index(_), Value::Map(_)) => {
                return Err(PathError::Conflict(format!(
                    "{} names a list position, but the value there is a mapping",
                    shown(path, depth)
                )));
            }
            (Step::Key(_), Value::List(_)) => {
                return Err(PathError::Conflict(format!(
                    "{} names a key, but the value there is a list",
                    shown(path, depth)
                )));
            }
            (_, other) => {
                // A scalar (or null, or a comment) in the way is replaced.
                let new = nest(path.get(depth..).unwrap_or_default(), value);
                let changed = *other != new;
                *other = new;
                return Ok(changed);
            }
        };
        depth += 1;
    }
}

/// Removes the key or list item at `path`.
pub fn unset(root: &mut Map, path: &[Step]) -> Result<(), PathError> {
    let not_found = |n: usize| PathError::NotFound(format!("{}: no such key or position", shown(path, n)));
    let Some(Step::Key(first)) = path.first() else { return Err(not_found(0)) };
    if path.len() == 1 {
        return root.remove(first).map(drop).ok_or_else(|| not_found(0));
    }
    let mut slot = root.get_mut(first).ok_or_else(|| not_found(0))?;
    let mut depth = 1;
    loop {
        let Some(step) = path.get(depth) else { return Ok(()) };
        let last = depth + 1 == path.len();
        slot = match (step, slot) {
            (Step::Key(k), Value::Map(m)) => {
                if last {
                    return remove_key(m, k).ok_or_else(|| not_found(depth));
                }
                m.get_mut(k).ok_or_else(|| not_found(depth))?
            }
            (Step::Index(i), Value::List(l)) => {
                if *i >= l.len() {
                    return Err(not_found(depth));
                }
                if last {
                    l.remove(*i);
                    return Ok(());
                }
                l.get_mut(*i).ok_or_else(|| not_found(depth))?
            }
            // sops compares the component with the mapping's keys: a
            // position matches none of them.
            (Step::Index(_), Value::Map(_)) => return Err(not_found(depth)),
            (Step::Key(_), Value::List(_)) => {
                return Err(PathError::Conflict(format!(
                    "{} names a key, but the value there is a list",
                    shown(path, depth)
                )));
            }
            (_, other) => {
                return Err(PathError::Conflict(format!(
                    "{} is a {}, which has no items to remove",
                    shown(path, depth.saturating_sub(1)),
                    other.kind()
                )));
            }
        };
        depth += 1;
    }
}

/// Removes the first pair with key `k` (as sops' `slices.Delete` does).
fn remove_key(m: &mut Map, k: &str) -> Option<()> {
    let pos = m.items.iter().position(|i| matches!(i, Item::Pair(key, _) if key == k))?;
    m.items.remove(pos);
    Some(())
}

/// Numbers read as sops reads a `set` value: every JSON number is a float64.
pub fn numbers_as_floats(v: &mut Value) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Int(i) => *v = Value::Float(*i as f64),
            Value::List(l) => stack.extend(l.iter_mut()),
            Value::Map(m) => stack.extend(m.items.iter_mut().filter_map(|i| match i {
                Item::Pair(_, v) => Some(v),
                Item::Comment(_) => None,
            })),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sops::{Format, emit_plain, parse_plain};

    fn doc(yaml: &str) -> Map {
        parse_plain(yaml.as_bytes(), Format::Yaml).expect("test yaml").remove(0)
    }

    fn text(m: &Map) -> String {
        String::from_utf8(emit_plain(std::slice::from_ref(m), Format::Yaml).expect("emit")).expect("utf8")
    }

    #[test]
    fn parses_sops_index_syntax() {
        assert_eq!(
            parse(r#"["a"]['b'][0]"#).expect("valid"),
            vec![Step::Key("a".into()), Step::Key("b".into()), Step::Index(0)]
        );
        assert_eq!(parse(r#"[""]"#).expect("empty key"), vec![Step::Key(String::new())]);
        for bad in ["", "bad", r#"x["a"]"#, r#"["a""#, "[-1]", "[]", "[a]", r#"["]"#] {
            assert!(parse(bad).is_err(), "{bad:?} is refused");
        }
        let deep = "[0]".repeat(MAX_DEPTH + 1);
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn set_creates_paths_as_sops_does() {
        // The same edits as `sops set` made on the same file (checked with sops 3.11).
        let mut m = doc("a: 1\nb:\n  c: x\nl:\n  - 1\n  # cmt\n  - 2\n");
        assert!(set(&mut m, &parse(r#"["x"]["y"][0]["z"]"#).expect("p"), Value::str("v")).expect("set"));
        // Position 1 is the comment: sops counts it and replaces it.
        assert!(set(&mut m, &parse(r#"["l"][1]"#).expect("p"), Value::str("new")).expect("set"));
        assert!(set(&mut m, &parse(r#"["l"][7]"#).expect("p"), Value::str("app")).expect("set"));
        assert!(set(&mut m, &parse(r#"["a"][0]"#).expect("p"), Value::str("k")).expect("set"));
        assert_eq!(
            text(&m),
            "a:\n    - k\nb:\n    c: x\nl:\n    - 1\n    - new\n    - 2\n    - app\nx:\n    \"y\":\n        - z: v\n"
        );
    }

    #[test]
    fn set_reports_no_change_for_the_same_value() {
        let mut m = doc("a: x\nb: {c: [1]}\n");
        assert!(!set(&mut m, &parse(r#"["a"]"#).expect("p"), Value::str("x")).expect("set"));
        assert!(set(&mut m, &parse(r#"["a"]"#).expect("p"), Value::str("y")).expect("set"));
        // An integer and a float of the same number differ, as in sops.
        assert!(set(&mut m, &parse(r#"["b"]["c"][0]"#).expect("p"), Value::Float(1.0)).expect("set"));
    }

    #[test]
    fn set_refuses_what_sops_cannot_do() {
        let mut m = doc("a: {b: 1}\nl: [1]\n");
        let e = set(&mut m, &parse("[0]").expect("p"), Value::Null).expect_err("top-level position");
        assert!(matches!(e, PathError::Conflict(_)));
        let e = set(&mut m, &parse(r#"["a"][0]"#).expect("p"), Value::Null).expect_err("position on a map");
        assert_eq!(e.to_string(), r#"["a"][0] names a list position, but the value there is a mapping"#);
        let e = set(&mut m, &parse(r#"["l"]["k"]"#).expect("p"), Value::Null).expect_err("key on a list");
        assert!(e.to_string().contains("names a key"), "{e}");
    }

    #[test]
    fn unset_removes_keys_and_items() {
        let mut m = doc("a: 1\nb:\n  c: x\n  d: z\nl: [1, 2, 3]\n");
        unset(&mut m, &parse(r#"["b"]["c"]"#).expect("p")).expect("unset");
        unset(&mut m, &parse(r#"["l"][1]"#).expect("p")).expect("unset");
        unset(&mut m, &parse(r#"["a"]"#).expect("p")).expect("unset");
        assert_eq!(text(&m), "b:\n    d: z\nl:\n    - 1\n    - 3\n");
    }

    #[test]
    fn unset_of_a_missing_key_is_not_found() {
        let mut m = doc("a: 1\nl: [1]\nm: {k: v}\n");
        for p in [r#"["nope"]"#, r#"["l"][5]"#, r#"["m"]["x"]"#, r#"["m"][0]"#] {
            let e = unset(&mut m, &parse(p).expect("p")).expect_err(p);
            assert!(matches!(e, PathError::NotFound(_)), "{p}: {e}");
        }
        // Below a scalar is not "not found" in sops either (--idempotent does not cover it).
        let e = unset(&mut m, &parse(r#"["a"]["x"]"#).expect("p")).expect_err("scalar");
        assert!(matches!(e, PathError::Conflict(_)), "{e}");
    }

    #[test]
    fn numbers_become_floats() {
        let mut v = Value::List(vec![Value::Int(1), Value::str("t")]);
        numbers_as_floats(&mut v);
        assert!(v == Value::List(vec![Value::Float(1.0), Value::str("t")]));
    }
}
