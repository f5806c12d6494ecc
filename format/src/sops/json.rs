//! JSON documents: an order-keeping reader (duplicate keys kept, as sops'
//! token decoder does) and a writer in `encoding/json` style (tab indent,
//! `<`, `>`, `&` escaped), linear in the size of the output.

use std::fmt::Write;

use super::cipher::go_json_float;
use super::error::Error;
use super::limits::{self, Budget};
use super::value::{Item, Map, Text, Value};

fn syntax(reason: impl Into<String>) -> Error {
    Error::Syntax { format: "JSON", reason: reason.into() }
}

struct Reader<'a> {
    s: &'a [u8],
    src: &'a str,
    pos: usize,
    budget: Budget,
}

/// Parses a JSON document whose top level is an object.
pub fn parse(src: &str) -> Result<Map, Error> {
    limits::check_input_size(src.len())?;
    let mut r = Reader { s: src.as_bytes(), src, pos: 0, budget: Budget::default() };
    r.ws();
    match r.peek() {
        Some(b'{') => {}
        Some(b'[') => {
            return Err(Error::Structure("a JSON document must be an object at the top level, not an array".into()));
        }
        Some(_) => {
            return Err(Error::Structure("a JSON document must be an object at the top level".into()));
        }
        None => return Err(syntax("empty input")),
    }
    let v = r.value()?;
    r.ws();
    if r.pos != r.s.len() {
        return Err(r.err("unexpected data after the top-level object"));
    }
    match v {
        Value::Map(m) => Ok(m),
        _ => Err(r.err("expected an object")),
    }
}

/// Parses one JSON value of any kind (a `sops set` value): a scalar, an
/// array or an object, with the same limits as a document.
pub fn parse_value(src: &str) -> Result<Value, Error> {
    limits::check_input_size(src.len())?;
    let mut r = Reader { s: src.as_bytes(), src, pos: 0, budget: Budget::default() };
    r.ws();
    if r.peek().is_none() {
        return Err(syntax("empty input"));
    }
    let v = r.value()?;
    r.ws();
    if r.pos != r.s.len() {
        return Err(r.err("unexpected data after the value"));
    }
    Ok(v)
}

/// `line L column C` of a byte offset, computed only for messages.
fn position(s: &[u8], pos: usize) -> String {
    let before = &s[..pos.min(s.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    format!("line {line} column {col}")
}

impl Reader<'_> {
    fn err(&self, what: &str) -> Error {
        syntax(format!("{what} at {}", self.position()))
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, b: u8) -> Result<(), Error> {
        self.ws();
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected '{}'", b as char)))
        }
    }

    fn value(&mut self) -> Result<Value, Error> {
        self.ws();
        match self.peek() {
            Some(b'{') => {
                self.descend()?;
                self.pos += 1;
                let mut m = Map::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    self.budget.leave();
                    return Ok(Value::Map(m));
                }
                loop {
                    self.ws();
                    if self.peek() != Some(b'"') {
                        return Err(self.err("expected a string key"));
                    }
                    let k = self.string()?;
                    self.expect(b':')?;
                    let v = self.value()?;
                    m.items.push(Item::Pair(k, v));
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            self.budget.leave();
                            return Ok(Value::Map(m));
                        }
                        _ => return Err(self.err("expected ',' or '}'")),
                    }
                }
            }
            Some(b'[') => {
                self.descend()?;
                self.pos += 1;
                let mut l = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    self.budget.leave();
                    return Ok(Value::List(l));
                }
                loop {
                    l.push(self.value()?);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            self.budget.leave();
                            return Ok(Value::List(l));
                        }
                        _ => return Err(self.err("expected ',' or ']'")),
                    }
                }
            }
            Some(b'"') => {
                let s = self.string()?;
                let (src, pos) = (self.s, self.pos);
                self.budget.value(s.len(), &|| position(src, pos))?;
                Ok(Value::Str(Text::new(s)))
            }
            Some(b't') => self.word("true", Value::Bool(true)),
            Some(b'f') => self.word("false", Value::Bool(false)),
            Some(b'n') => self.word("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected character")),
            None => Err(self.err("unexpected end of input")),
        }
    }

    fn descend(&mut self) -> Result<(), Error> {
        let (src, pos) = (self.s, self.pos);
        self.budget.enter(&|| position(src, pos))
    }

    fn position(&self) -> String {
        position(self.s, self.pos)
    }

    fn word(&mut self, w: &str, v: Value) -> Result<Value, Error> {
        let (src, pos) = (self.s, self.pos);
        self.budget.value(w.len(), &|| position(src, pos))?;
        if self.s[self.pos..].starts_with(w.as_bytes()) {
            self.pos += w.len();
            Ok(v)
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn number(&mut self) -> Result<Value, Error> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let digits = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        if self.pos == digits {
            return Err(self.err("invalid number"));
        }
        let mut is_float = false;
        if self.peek() == Some(b'.') {
            is_float = true;
            self.pos += 1;
            let f = self.pos;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
            if self.pos == f {
                return Err(self.err("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            is_float = true;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            let e = self.pos;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
            if self.pos == e {
                return Err(self.err("invalid number"));
            }
        }
        let text = &self.src[start..self.pos];
        let (src, pos) = (self.s, start);
        self.budget.value(text.len(), &|| position(src, pos))?;
        // sops 3.11 reads every JSON number as a float64, and the MAC over
        // a value left in clear is computed from that reading. An integer
        // a float64 holds exactly (|i| ≤ 2^53) is the same either way, so
        // it stays an int; a larger one, and `-0`, are read as sops reads
        // them, or the two tools would disagree on the MAC.
        if !is_float
            && text != "-0"
            && let Ok(i) = text.parse::<i64>()
            && i.unsigned_abs() <= 1 << 53
        {
            return Ok(Value::Int(i));
        }
        match text.parse::<f64>() {
            // Go's decoder refuses a number beyond float64 (`1e400`)
            // rather than reading it as infinity.
            Ok(f) if f.is_finite() => Ok(Value::Float(f)),
            Ok(_) => {
                self.pos = start;
                Err(self.err("number out of the range of a 64-bit float"))
            }
            Err(_) => Err(self.err("invalid number")),
        }
    }

    fn string(&mut self) -> Result<String, Error> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.src[start..self.pos]);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                    self.pos += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let ch = if (0xD800..0xDC00).contains(&hi) {
                                if self.s[self.pos..].starts_with(b"\\u") {
                                    self.pos += 2;
                                    let lo = self.hex4()?;
                                    if (0xDC00..0xE000).contains(&lo) {
                                        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                                    } else {
                                        None
                                    }
                                } else {
                                    None
                                }
                            } else {
                                char::from_u32(hi)
                            };
                            out.push(ch.unwrap_or('\u{FFFD}'));
                        }
                        _ => return Err(self.err("invalid escape in string")),
                    }
                }
                Some(_) => return Err(self.err("control character in string")),
                None => return Err(self.err("unterminated string")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let h = self
            .src
            .get(self.pos..self.pos + 4)
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.err("invalid \\u escape"))?;
        self.pos += 4;
        Ok(h)
    }
}

/// Writes a map as an indented JSON object with a final newline.
pub fn emit(m: &Map, indent: &str) -> Result<String, Error> {
    let mut out = String::with_capacity(4096);
    emit_map(&mut out, m, 0, indent)?;
    out.push('\n');
    Ok(out)
}

/// Writes one value (for `--extract` of a subtree).
pub fn emit_value(v: &Value, indent: &str) -> Result<String, Error> {
    let mut out = String::new();
    emit_val(&mut out, v, 0, indent)?;
    out.push('\n');
    Ok(out)
}

fn newline(out: &mut String, depth: usize, indent: &str) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str(indent);
    }
}

fn emit_map(out: &mut String, m: &Map, depth: usize, indent: &str) -> Result<(), Error> {
    let mut first = true;
    out.push('{');
    for (k, v) in m.pairs() {
        if !first {
            out.push(',');
        }
        first = false;
        newline(out, depth + 1, indent);
        emit_string(out, k);
        out.push_str(": ");
        emit_val(out, v, depth + 1, indent)?;
    }
    if !first {
        newline(out, depth, indent);
    }
    out.push('}');
    Ok(())
}

fn emit_val(out: &mut String, v: &Value, depth: usize, indent: &str) -> Result<(), Error> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => {
            if !f.is_finite() {
                return Err(Error::Emit { format: "JSON", reason: "JSON has no NaN or infinity".into() });
            }
            out.push_str(&go_json_float(*f));
        }
        Value::Str(s) => emit_string(out, s),
        Value::Time(t) => emit_string(out, &t.0),
        Value::Map(m) => emit_map(out, m, depth, indent)?,
        Value::List(l) => {
            let items: Vec<&Value> = l.iter().filter(|v| !matches!(v, Value::Comment(_))).collect();
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1, indent);
                emit_val(out, item, depth + 1, indent)?;
            }
            if !items.is_empty() {
                newline(out, depth, indent);
            }
            out.push(']');
        }
        Value::Comment(_) => {}
    }
    Ok(())
}

/// Writes a JSON string with Go's escaping rules.
pub fn emit_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => None,
            c if (c as u32) < 0x20 => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}
