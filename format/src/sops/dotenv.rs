//! dotenv documents as sops reads them: `KEY=VALUE` lines split at the first
//! `=`, `#` comment lines, `\n` escapes for newlines, no quoting rules,
//! and no special meaning for `\r`.

use super::error::Error;
use super::limits::{self, Budget};
use super::value::{Item, Map, Text, Value};

/// Parses a dotenv file into a flat map.
pub fn parse(src: &str) -> Result<Map, Error> {
    limits::check_input_size(src.len())?;
    let mut budget = Budget::default();
    let mut m = Map::new();
    for (n, line) in src.split('\n').enumerate() {
        budget.value(line.len(), &|| format!("line {}", n + 1))?;
        // A carriage return stays part of the line, as in sops: `A=1\r\n`
        // holds "1\r", and a CRLF blank line is not KEY=VALUE.
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            m.items.push(Item::Comment(Text::from(c)));
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(Error::Syntax { format: "dotenv", reason: format!("line {}: expected KEY=VALUE", n + 1) });
        };
        m.items.push(Item::Pair(k.to_owned(), Value::Str(Text::new(v.replace("\\n", "\n")))));
    }
    Ok(m)
}

/// Writes a flat map as dotenv lines.
pub fn emit(m: &Map) -> Result<String, Error> {
    let mut out = String::new();
    for item in &m.items {
        match item {
            Item::Comment(c) => {
                out.push('#');
                out.push_str(c);
            }
            Item::Pair(k, v) => {
                out.push_str(k);
                out.push('=');
                match v {
                    Value::Str(s) => out.push_str(&s.replace('\n', "\\n")),
                    Value::Int(i) => out.push_str(&i.to_string()),
                    Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                    Value::Float(f) => out.push_str(&super::cipher::go_format_f(*f)),
                    Value::Time(t) => out.push_str(&t.0),
                    Value::Null => {}
                    Value::Map(_) | Value::List(_) | Value::Comment(_) => {
                        return Err(Error::Emit {
                            format: "dotenv",
                            reason: format!("key {k:?} holds a {}; dotenv holds only flat values", v.kind()),
                        });
                    }
                }
            }
        }
        out.push('\n');
    }
    Ok(out)
}
