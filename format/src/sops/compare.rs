//! The data of a document, comparable: what a round trip through a
//! writer must keep. Comments are left out (their placement is style), and
//! an integral float equals the int it is written as (`1.0` is written `1`
//! by go-yaml and encoding/json, as by seal). Used by the fuzz targets and
//! the tests; [`Leaf`] holds plaintext, so it has no `Debug`.

use super::{Item, Map, Value};

/// The data of a tree: every non-comment leaf with its path, in order.
pub fn leaves(branches: &[Map]) -> Vec<(String, Leaf)> {
    let mut out = Vec::new();
    for (i, b) in branches.iter().enumerate() {
        let mut path = format!("doc{i}");
        map(b, &mut path, &mut out);
    }
    out
}

fn map(m: &Map, path: &mut String, out: &mut Vec<(String, Leaf)>) {
    for item in &m.items {
        if let Item::Pair(k, v) = item {
            let len = path.len();
            path.push_str(&format!("[{k:?}]"));
            walk(v, path, out);
            path.truncate(len);
        }
    }
}

fn walk(v: &Value, path: &mut String, out: &mut Vec<(String, Leaf)>) {
    match v {
        Value::Map(m) if m.pairs().next().is_none() => out.push((path.clone(), Leaf::EmptyMap)),
        Value::List(l) if l.iter().all(|v| matches!(v, Value::Comment(_))) => out.push((path.clone(), Leaf::EmptyList)),
        Value::Map(m) => map(m, path, out),
        Value::List(l) => {
            for (i, v) in l.iter().filter(|v| !matches!(v, Value::Comment(_))).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(v, path, out);
                path.truncate(len);
            }
        }
        Value::Comment(_) => {}
        leaf => out.push((path.clone(), Leaf::of(leaf))),
    }
}

/// A leaf, comparable (floats by bits).
#[derive(PartialEq, Eq)]
pub enum Leaf {
    /// Null.
    Null,
    /// A map with no pairs.
    EmptyMap,
    /// A list with no items.
    EmptyList,
    /// A bool.
    Bool(bool),
    /// An int.
    Int(i64),
    /// A float's bits (NaN normalized).
    Float(u64),
    /// A string.
    Text(String),
    /// A timestamp.
    Time(String),
}

impl Leaf {
    /// The comparable form of a scalar.
    pub fn of(v: &Value) -> Leaf {
        match v {
            Value::Null => Leaf::Null,
            Value::Bool(b) => Leaf::Bool(*b),
            Value::Int(i) => Leaf::Int(*i),
            Value::Float(f) if f.is_nan() => Leaf::Float(f64::NAN.to_bits()),
            // An integral float is written without a fraction, as go-yaml
            // and encoding/json write it, and reads back as an int.
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Leaf::Int(*f as i64),
            Value::Float(f) => Leaf::Float(f.to_bits()),
            Value::Str(s) => Leaf::Text(s.as_str().to_owned()),
            Value::Time(t) => Leaf::Time(t.0.clone()),
            Value::Map(_) => Leaf::EmptyMap,
            Value::List(_) | Value::Comment(_) => Leaf::EmptyList,
        }
    }
}

/// True when two documents hold the same data.
pub fn same_data(a: &[Map], b: &[Map]) -> bool {
    leaves(a) == leaves(b)
}
