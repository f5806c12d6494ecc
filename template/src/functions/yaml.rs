//! `toYaml` as ESO's engine gives it: sigs.k8s.io/yaml's `Marshal`, which
//! writes the value as JSON, reads that back with go-yaml v2 and writes it
//! with go-yaml v2. So the value becomes what JSON can hold (integral
//! floats below 10^21 are integers, NaN and infinities are null here where
//! Go's JSON fails), map keys are ordered as go-yaml v2 sorts them (runs
//! of digits by their number, a letter after any other character), and
//! the text is written by seal-format's emitter in go-yaml v2's layout
//! (`emit_value_v2`).
//!
//! Known differences, all about text and none about the data it reads back
//! as: integers above 2^63 are written as floats; go-yaml v2 also quotes
//! YAML 1.1 forms (`1:20`, `0b1`, `1_000`) and writes block scalars with
//! indentation indicators for multi-line strings that start with a space,
//! where seal's emitter writes them double-quoted; double-quoted strings
//! past column 80 are not folded.

use std::cmp::Ordering;

use gotmpl::Value;
use seal_format::sops::{Map, Value as Y};

/// Deepest value written (the work budget already refuses results deeper
/// than `MAX_VALUE_DEPTH`; the store's values are strings).
const MAX_DEPTH: usize = 128;

/// The YAML text of `v` as ESO's `toYaml` writes it, without the final
/// newline (sprig trims it).
pub fn to_yaml(v: &Value) -> Result<String, String> {
    let y = to_document(v, 0)?;
    let text = seal_format::sops::yaml::emit_value_v2(&y);
    Ok(text.strip_suffix('\n').unwrap_or(&text).to_owned())
}

fn to_document(v: &Value, depth: usize) -> Result<Y, String> {
    if depth > MAX_DEPTH {
        return Err("the value is nested too deeply".into());
    }
    Ok(match v {
        Value::Nil => Y::Null,
        Value::Bool(b) => Y::Bool(*b),
        Value::Int(i) => Y::Int(*i),
        Value::Uint(u) => i64::try_from(*u).map_or(Y::Float(*u as f64), Y::Int),
        Value::Float(f) => float(*f),
        Value::String(s) => Y::Str(s.as_ref().into()),
        Value::List(l) => Y::List(l.iter().map(|x| to_document(x, depth + 1)).collect::<Result<_, _>>()?),
        Value::Map(m) => {
            let pairs: Vec<(&str, &Value)> = m.iter().map(|(k, x)| (k.as_ref(), x)).collect();
            let pairs = merge_sort(pairs, |a, b| v2_key_order(a.0, b.0) == Ordering::Less);
            let mut out = Map::default();
            for (k, x) in pairs {
                out.push(k, to_document(x, depth + 1)?);
            }
            Y::Map(out)
        }
        Value::Function(_) => return Err("a function cannot be written as YAML".into()),
    })
}

/// A float after Go's JSON round trip: Go writes an integral float below
/// 10^21 in digits, which go-yaml reads back as an integer.
fn float(f: f64) -> Y {
    if !f.is_finite() {
        return Y::Null;
    }
    if f.fract() == 0.0 && f.abs() < 1e21 && f >= i64::MIN as f64 && f < i64::MAX as f64 {
        return Y::Int(f as i64);
    }
    Y::Float(f)
}

/// A stable merge sort by `less`. Not the standard library's sort: that
/// may panic when the order is not total, and go-yaml v2's key order is not
/// for every set of keys (see its `0` rule below).
fn merge_sort<T: Copy>(items: Vec<T>, less: impl Fn(&T, &T) -> bool) -> Vec<T> {
    let mut run = 1;
    let mut items = items;
    while run < items.len() {
        let mut merged = Vec::with_capacity(items.len());
        for pair in items.chunks(run * 2) {
            let (left, right) = pair.split_at(run.min(pair.len()));
            let (mut l, mut r) = (left.iter().peekable(), right.iter().peekable());
            while let (Some(a), Some(b)) = (l.peek(), r.peek()) {
                if less(b, a) {
                    merged.push(**b);
                    r.next();
                } else {
                    merged.push(**a);
                    l.next();
                }
            }
            merged.extend(l.copied());
            merged.extend(r.copied());
        }
        items = merged;
        run = run.saturating_mul(2);
    }
    items
}

/// go-yaml v2's order of string map keys (`keyList.Less` in its sorter):
/// character by character; a letter sorts after a non-letter; where a run
/// of digits starts, the runs compare by their value, then by length.
/// Integer arithmetic wraps, as Go's does.
fn v2_key_order(a: &str, b: &str) -> Ordering {
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let digit = |c: Option<&char>| c.is_some_and(|c| c.is_ascii_digit());
    for (i, (&ac, &bc)) in ar.iter().zip(br.iter()).enumerate() {
        if ac == bc {
            continue;
        }
        let (al, bl) = (ac.is_alphabetic(), bc.is_alphabetic());
        if al && bl {
            return ac.cmp(&bc);
        }
        if al || bl {
            return if bl { Ordering::Less } else { Ordering::Greater };
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ac == '0' || bc == '0' {
            // Inside a number with a non-zero digit before: compare as
            // numbers from here (Go's `an, bn = 1, 1`).
            let mut j = i;
            while j > 0 && digit(ar.get(j - 1)) {
                j -= 1;
                if ar.get(j) != Some(&'0') {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while let Some(d) = ar.get(ai).and_then(|c| c.to_digit(10)) {
            an = an.wrapping_mul(10).wrapping_add(i64::from(d));
            ai += 1;
        }
        let mut bi = i;
        while let Some(d) = br.get(bi).and_then(|c| c.to_digit(10)) {
            bn = bn.wrapping_mul(10).wrapping_add(i64::from(d));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ac.cmp(&bc);
    }
    ar.len().cmp(&br.len())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;

    fn s(x: &str) -> Value {
        Value::String(Arc::from(x))
    }

    fn map(pairs: &[(&str, Value)]) -> Value {
        Value::Map(Arc::new(pairs.iter().map(|(k, v)| (Arc::from(*k), v.clone())).collect::<BTreeMap<_, _>>()))
    }

    fn list(items: &[Value]) -> Value {
        Value::List(items.to_vec().into())
    }

    /// Each expected text is what sigs.k8s.io/yaml's `Marshal` writes for
    /// the same value (then trimmed of its final newline, as sprig does).
    #[test]
    fn maps_lists_and_scalars_are_written_as_sigs_k8s_io_yaml_writes_them() {
        let v = map(&[
            ("name", s("app")),
            ("port", Value::Int(5432)),
            ("ratio", Value::Float(1.5)),
            ("whole", Value::Float(3.0)),
            ("big", Value::Float(1e21)),
            ("small", Value::Float(0.000001)),
            ("on", Value::Bool(true)),
            ("none", Value::Nil),
            ("hosts", list(&[s("a.example"), s("b.example")])),
            ("db", map(&[("user", s("u")), ("opts", list(&[map(&[("k", s("v")), ("j", Value::Int(1))])]))])),
            ("empty", map(&[])),
            ("nothing", list(&[])),
        ]);
        let want = "big: 1e+21\n\
                    db:\n  opts:\n  - j: 1\n    k: v\n  user: u\n\
                    empty: {}\n\
                    hosts:\n- a.example\n- b.example\n\
                    name: app\n\
                    none: null\n\
                    nothing: []\n\
                    \"on\": true\n\
                    port: 5432\n\
                    ratio: 1.5\n\
                    small: 1e-06\n\
                    whole: 3";
        assert_eq!(to_yaml(&v).as_deref(), Ok(want));
    }

    #[test]
    fn strings_are_quoted_as_go_yaml_v2_quotes_them() {
        let v = map(&[
            ("bool", s("true")),
            ("yes", s("yes")),
            ("num", s("5432")),
            ("float", s("1.5")),
            ("null", s("null")),
            ("empty", s("")),
            ("colon", s("a: b")),
            ("hash", s("#x")),
            ("star", s("*x")),
            ("plain", s("hello world")),
            ("quote", s("it's")),
            ("tab", s("a\tb")),
            ("multi", s("line1\nline2\n")),
            ("multi_no_end", s("line1\nline2")),
        ]);
        let want = "bool: \"true\"\n\
                    colon: 'a: b'\n\
                    empty: \"\"\n\
                    float: \"1.5\"\n\
                    hash: '#x'\n\
                    multi: |\n  line1\n  line2\n\
                    multi_no_end: |-\n  line1\n  line2\n\
                    \"null\": \"null\"\n\
                    num: \"5432\"\n\
                    plain: hello world\n\
                    quote: it's\n\
                    star: '*x'\n\
                    tab: \"a\\tb\"\n\
                    \"yes\": \"yes\"";
        assert_eq!(to_yaml(&v).as_deref(), Ok(want));
    }

    #[test]
    fn top_level_values_and_nested_lists() {
        assert_eq!(to_yaml(&s("abc")).as_deref(), Ok("abc"));
        assert_eq!(to_yaml(&Value::Int(-7)).as_deref(), Ok("-7"));
        assert_eq!(to_yaml(&Value::Bool(false)).as_deref(), Ok("false"));
        assert_eq!(to_yaml(&Value::Nil).as_deref(), Ok("null"));
        assert_eq!(to_yaml(&map(&[])).as_deref(), Ok("{}"));
        assert_eq!(to_yaml(&list(&[])).as_deref(), Ok("[]"));
        assert_eq!(to_yaml(&list(&[s("a"), list(&[s("b"), s("c")])])).as_deref(), Ok("- a\n- - b\n  - c"));
        let lit = map(&[("l", list(&[map(&[("pem", s("x\ny"))])]))]);
        assert_eq!(to_yaml(&lit).as_deref(), Ok("l:\n- pem: |-\n    x\n    y"));
    }

    #[test]
    fn keys_are_ordered_as_go_yaml_v2_sorts_them() {
        let v = map(&[
            ("a10", Value::Int(1)),
            ("a2", Value::Int(1)),
            ("B", Value::Int(1)),
            ("_x", Value::Int(1)),
            ("a", Value::Int(1)),
            ("1", Value::Int(1)),
        ]);
        assert_eq!(to_yaml(&v).as_deref(), Ok("_x: 1\n\"1\": 1\nB: 1\na: 1\na2: 1\na10: 1"));
    }

    #[test]
    fn long_values_are_folded_at_column_80_as_go_yaml_v2_folds_them() {
        let words = "word ".repeat(20);
        let text = words.trim_end();
        let v = map(&[("k", s(text))]);
        let want = format!("k: {}\n  {}", "word ".repeat(16).trim_end(), "word ".repeat(4).trim_end());
        assert_eq!(to_yaml(&v).as_deref(), Ok(want.as_str()));
        // One long word is never broken.
        let long = "x".repeat(120);
        assert_eq!(to_yaml(&map(&[("k", s(&long))])), Ok(format!("k: {long}")));
    }

    #[test]
    fn a_function_or_a_deep_value_is_refused() {
        let mut v = s("x");
        for _ in 0..(MAX_DEPTH + 2) {
            v = list(&[v]);
        }
        assert!(to_yaml(&v).is_err());
    }
}
