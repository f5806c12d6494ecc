//! The document tree shared by every format: ordered maps, lists, typed
//! scalars and comments, as sops models them (`sops.go: TreeBranch`).
//!
//! Strings and comments hold plaintext after decryption, so they live in
//! [`Text`], which wipes its bytes on drop and has no `Debug`.

use std::ops::Deref;

use zeroize::Zeroize;

/// A string that may hold a secret: zeroized on drop, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq, Default, Hash)]
pub struct Text(String);

impl Text {
    /// Wraps an owned string.
    pub fn new(s: String) -> Self {
        Text(s)
    }

    /// The text as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Drop for Text {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(s)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(s.to_owned())
    }
}

/// A YAML timestamp, kept in Go's `time.MarshalText` form (RFC 3339 with
/// nanoseconds, trailing zeros dropped, `Z` for UTC), which is what sops
/// encrypts and prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Time(pub String);

/// One node of a document.
#[derive(Clone, PartialEq)]
pub enum Value {
    /// `null` / `~`: never encrypted, never in the MAC.
    Null,
    /// A boolean (encrypted as `True`/`False`).
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A string (plaintext, or an `ENC[...]` envelope).
    Str(Text),
    /// A timestamp (YAML only).
    Time(Time),
    /// A mapping, in document order.
    Map(Map),
    /// A sequence.
    List(Vec<Value>),
    /// A comment that is an element of a sequence.
    Comment(Text),
}

/// An ordered mapping. Keys are strings; comments are items of their own.
#[derive(Clone, PartialEq, Default)]
pub struct Map {
    /// The items in document order.
    pub items: Vec<Item>,
}

/// One item of a [`Map`].
#[derive(Clone, PartialEq)]
pub enum Item {
    /// A key and its value.
    Pair(String, Value),
    /// A comment line (text after the `#`).
    Comment(Text),
}

impl Map {
    /// An empty map.
    pub fn new() -> Self {
        Map { items: Vec::new() }
    }

    /// The value of the first pair with this key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.items.iter().find_map(|item| match item {
            Item::Pair(k, v) if k == key => Some(v),
            _ => None,
        })
    }

    /// Mutable access to the value of the first pair with this key.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.items.iter_mut().find_map(|item| match item {
            Item::Pair(k, v) if k == key => Some(v),
            _ => None,
        })
    }

    /// Removes every pair with this key and returns the first one's value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let mut found = None;
        let mut i = 0;
        while i < self.items.len() {
            if matches!(&self.items[i], Item::Pair(k, _) if k == key) {
                if let Item::Pair(_, v) = self.items.remove(i) {
                    found.get_or_insert(v);
                }
            } else {
                i += 1;
            }
        }
        found
    }

    /// Sets `key` to `value`, replacing the first pair with that key or appending.
    pub fn insert(&mut self, key: &str, value: Value) {
        match self.get_mut(key) {
            Some(slot) => *slot = value,
            None => self.push(key, value),
        }
    }

    /// Appends a pair.
    pub fn push(&mut self, key: &str, value: Value) {
        self.items.push(Item::Pair(key.to_owned(), value));
    }

    /// The pairs, skipping comments.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.items.iter().filter_map(|item| match item {
            Item::Pair(k, v) => Some((k.as_str(), v)),
            Item::Comment(_) => None,
        })
    }

    /// Sorts the pairs by key, as the Kubernetes API server returns maps.
    /// Comments are dropped: a sorted map has no meaningful place for them.
    pub fn sort_keys(&mut self) {
        self.items.retain(|i| matches!(i, Item::Pair(..)));
        self.items.sort_by(|a, b| match (a, b) {
            (Item::Pair(x, _), Item::Pair(y, _)) => x.cmp(y),
            _ => std::cmp::Ordering::Equal,
        });
    }

    /// True when the map has no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl Value {
    /// Shorthand for a string value.
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(Text::new(s.into()))
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(t) => Some(t.as_str()),
            _ => None,
        }
    }

    /// The map, if this is one.
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The kind of value, for error messages (never the value itself).
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Time(_) => "timestamp",
            Value::Map(_) => "map",
            Value::List(_) => "list",
            Value::Comment(_) => "comment",
        }
    }
}

// Test builds only: proptest reports failing inputs through Debug. Release
// and debug builds of the binaries have no Debug on secret-holding types.
#[cfg(test)]
mod test_debug {
    use std::fmt;

    impl fmt::Debug for super::Text {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{:?}", self.0)
        }
    }
    impl fmt::Debug for super::Time {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "Time({:?})", self.0)
        }
    }
    impl fmt::Debug for super::Value {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                super::Value::Null => f.write_str("Null"),
                super::Value::Bool(b) => write!(f, "{b}"),
                super::Value::Int(i) => write!(f, "{i}"),
                super::Value::Float(x) => write!(f, "{x:?}"),
                super::Value::Str(s) => write!(f, "{s:?}"),
                super::Value::Time(t) => write!(f, "{t:?}"),
                super::Value::Map(m) => write!(f, "{m:?}"),
                super::Value::List(l) => f.debug_list().entries(l).finish(),
                super::Value::Comment(c) => write!(f, "#{c:?}"),
            }
        }
    }
    impl fmt::Debug for super::Map {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let mut m = f.debug_map();
            for item in &self.items {
                match item {
                    super::Item::Pair(k, v) => m.entry(k, v),
                    super::Item::Comment(c) => m.entry(&"#", c),
                };
            }
            m.finish()
        }
    }
}
