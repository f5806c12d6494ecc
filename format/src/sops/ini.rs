//! INI files as sops 3.11 reads and writes them: its `stores/ini` over
//! gopkg.in/ini.v1 v1.67.0, loaded with `AllowNonUniqueSections` and every
//! other option at its default, written with the package defaults
//! (`PrettyFormat`: `=` aligned past the longest key, a blank line between
//! sections). Why not an INI crate: the bytes sops writes come from that
//! package's rules (which quote goes around which value, `#` and `;`
//! starting a comment anywhere in a value, the implicit `DEFAULT` section,
//! repeated sections kept apart), and a file must decrypt to the same bytes
//! with both tools.
//!
//! The tree: one pair per section (the implicit `DEFAULT` section first,
//! even when empty), each a map of string values. A section's comment is
//! its map's first item; a key's comment (the lines above it and an inline
//! `#`/`;` tail) follows the key, as sops keeps them.

use super::error::Error;
use super::value::{Item, Map, Text, Value};

/// The section keys before any `[section]` line belong to.
const DEFAULT_SECTION: &str = "DEFAULT";

fn syntax(line: usize, reason: &str) -> Error {
    Error::Syntax { format: "INI", reason: format!("line {line}: {reason}") }
}

/// Parses an INI file into sections.
pub fn parse(src: &str) -> Result<Map, Error> {
    super::limits::check_input_size(src.len())?;
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let mut root = Map::new();
    let mut section = Map::new();
    let mut section_name = DEFAULT_SECTION.to_owned();
    let mut comment = String::new();
    // go-ini numbers `-` keys per section from 1.
    let mut auto = 1usize;
    let mut lines = src.split_inclusive('\n').enumerate();
    while let Some((n, raw)) = lines.next() {
        let n = n + 1;
        let line = raw.trim_start();
        if line.is_empty() {
            continue;
        }
        if line.starts_with(['#', ';']) {
            comment.push_str(line);
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let close = rest.rfind(']').ok_or_else(|| syntax(n, "unclosed section"))?;
            let name = &rest[..close];
            if name.is_empty() {
                return Err(syntax(n, "empty section name"));
            }
            if let Some(i) = rest[close + 1..].find(['#', ';']) {
                comment.push_str(&rest[close + 1 + i..]);
            }
            root.items.push(Item::Pair(std::mem::replace(&mut section_name, name.to_owned()), Value::Map(section)));
            section = Map::new();
            let c = comment.trim();
            if !c.is_empty() {
                section.items.push(Item::Comment(Text::new(strip_comment_char(c))));
            }
            comment.clear();
            auto = 1;
            continue;
        }
        let (mut name, offset) = key_name(line).map_err(|reason| syntax(n, reason))?;
        if name == "-" {
            name = format!("#{auto}");
            auto += 1;
        }
        let value = read_value(&line[offset..], &mut lines, &mut comment).map_err(|reason| syntax(n, reason))?;
        let c = std::mem::take(&mut comment);
        let c = c.trim();
        // A repeated key takes the new value in the old place, with the new comment.
        if let Some(at) = section.items.iter().position(|i| matches!(i, Item::Pair(k, _) if *k == name)) {
            if let Some(slot) = section.items.get_mut(at) {
                *slot = Item::Pair(name, Value::str(value));
            }
            if matches!(section.items.get(at + 1), Some(Item::Comment(_))) {
                section.items.remove(at + 1);
            }
            if !c.is_empty() {
                section.items.insert(at + 1, Item::Comment(Text::new(strip_comment_char(c))));
            }
        } else {
            section.items.push(Item::Pair(name, Value::str(value)));
            if !c.is_empty() {
                section.items.push(Item::Comment(Text::new(strip_comment_char(c))));
            }
        }
    }
    root.items.push(Item::Pair(section_name, Value::Map(section)));
    Ok(root)
}

/// sops' `stripCommentChar`: the leading `;` or `#` run and spaces go.
fn strip_comment_char(c: &str) -> String {
    if c.starts_with(';') {
        c.trim_start_matches([';', ' ']).to_owned()
    } else if c.starts_with('#') {
        c.trim_start_matches(['#', ' ']).to_owned()
    } else {
        c.to_owned()
    }
}

/// go-ini's `readKeyName` with the delimiters `=` and `:`: the name and the
/// offset just past the delimiter.
fn key_name(line: &str) -> Result<(String, usize), &'static str> {
    let quote = if line.len() > 6 && line.starts_with("\"\"\"") {
        "\"\"\""
    } else if line.starts_with('"') {
        "\""
    } else if line.starts_with('`') {
        "`"
    } else {
        ""
    };
    if !quote.is_empty() {
        let start = quote.len();
        let pos = line[start..].find(quote).ok_or("missing closing key quote")? + start;
        let i = line.get(pos + start..).and_then(|r| r.find(['=', ':'])).ok_or("key-value delimiter not found")?;
        return Ok((line[start..pos].trim().to_owned(), pos + i + start + 1));
    }
    match line.find(['=', ':']) {
        None => Err("key-value delimiter not found"),
        Some(0) => Err("empty key name"),
        Some(end) => Ok((line[..end].trim().to_owned(), end + 1)),
    }
}

/// go-ini's `readValue` (no boolean keys, continuation lines on, inline
/// comments on): `"""` and backquoted values may span lines, a trailing `\`
/// joins the next lines, `#` or `;` starts a comment, one pair of
/// surrounding quotes goes.
fn read_value<'s>(
    raw: &'s str,
    lines: &mut impl Iterator<Item = (usize, &'s str)>,
    comment: &mut String,
) -> Result<String, &'static str> {
    let line = raw.trim_start();
    if line.is_empty() {
        return Ok(String::new());
    }
    let quote = if line.len() > 3 && line.starts_with("\"\"\"") {
        "\"\"\""
    } else if line.starts_with('`') {
        "`"
    } else {
        ""
    };
    if !quote.is_empty() {
        let start = quote.len();
        if let Some(pos) = line[start..].rfind(quote) {
            return Ok(line[start..start + pos].to_owned());
        }
        let mut val = line[start..].to_owned();
        loop {
            let Some((_, next)) = lines.next() else { return Err("missing closing key quote") };
            if let Some(pos) = next.rfind(quote) {
                val.push_str(&next[..pos]);
                if let Some(i) = next[pos..].find(['#', ';']) {
                    comment.push_str(next[pos + i..].trim());
                }
                return Ok(val);
            }
            val.push_str(next);
        }
    }
    let mut line = line.trim();
    if let Some(head) = line.strip_suffix('\\') {
        let mut val = head.to_owned();
        for (_, next) in lines.by_ref() {
            let next = next.trim();
            if next.is_empty() {
                break;
            }
            val.push_str(next);
            match val.strip_suffix('\\') {
                Some(v) => val.truncate(v.len()),
                None => break,
            }
        }
        return Ok(val);
    }
    if let Some(i) = line.find(['#', ';']) {
        comment.push_str(&line[i..]);
        line = line[..i].trim();
    }
    let surrounded = |q: char| {
        line.len() >= 2 && line.starts_with(q) && line.ends_with(q) && line[1..].find(q) == Some(line.len() - 2)
    };
    if surrounded('\'') || surrounded('"') {
        line = &line[1..line.len() - 1];
    }
    Ok(line.to_owned())
}

/// A value as sops' `ValToString` writes it.
fn value_string(k: &str, v: &Value) -> Result<String, Error> {
    Ok(match v {
        Value::Str(s) => s.as_str().to_owned(),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Float(f) => super::cipher::go_format_g(*f),
        Value::Time(t) => t.0.clone(),
        Value::Null => String::new(),
        Value::Map(_) | Value::List(_) | Value::Comment(_) => {
            return Err(Error::Emit {
                format: "INI",
                reason: format!("key {k:?} holds a {}; an INI section holds only flat values", v.kind()),
            });
        }
    })
}

/// Writes sections as go-ini's `WriteTo` does.
pub fn emit(root: &Map) -> Result<String, Error> {
    let sections: Vec<(&str, &Value)> = root.pairs().collect();
    let mut out = String::new();
    for (i, (name, v)) in sections.iter().enumerate() {
        let Value::Map(section) = v else {
            return Err(Error::Emit {
                format: "INI",
                reason: format!("{name:?} is not a section: INI holds values only inside sections"),
            });
        };
        let mut items = section.items.iter().peekable();
        if let Some(Item::Comment(c)) = items.peek() {
            write_comment(&mut out, c, false)?;
            items.next();
        }
        let pairs: Vec<(&str, &Value)> = section.pairs().collect();
        if i > 0 || name.to_uppercase() != DEFAULT_SECTION {
            out.push('[');
            out.push_str(name);
            out.push_str("]\n");
        } else if pairs.is_empty() {
            continue;
        }
        let width = pairs
            .iter()
            .map(|(k, _)| {
                if k.contains(['"', '=', ':']) {
                    k.len() + 2
                } else if k.contains('`') {
                    k.len() + 6
                } else {
                    k.len()
                }
            })
            .max()
            .unwrap_or(0);
        // A comment item sets the comment of the key before it, written above that key.
        let mut pending: Vec<(&String, &Value, Option<&Text>)> = Vec::new();
        for item in items {
            match item {
                Item::Pair(k, v) => pending.push((k, v, None)),
                Item::Comment(c) => {
                    if let Some(last) = pending.last_mut() {
                        last.2 = Some(c);
                    }
                }
            }
        }
        for (k, v, c) in pending {
            // go-ini would write it, and read it back as a comment or a
            // section (sops' own `- = v` keys come back as `#1`).
            if k.starts_with(['#', ';', '[']) || k.trim() != k.as_str() || k.is_empty() {
                return Err(Error::Emit {
                    format: "INI",
                    reason: format!("key {k:?} in section {name:?} would not read back as the same key"),
                });
            }
            if let Some(c) = c {
                write_comment(&mut out, c, true)?;
            }
            let name = if k.contains(['"', '=', ':']) {
                format!("`{k}`")
            } else if k.contains('`') {
                format!("\"\"\"{k}\"\"\"")
            } else {
                k.clone()
            };
            out.push_str(&name);
            out.extend(std::iter::repeat_n(' ', width.saturating_sub(name.len())));
            out.push_str(" = ");
            let val = value_string(k, v)?;
            if val.contains(['\n', '`']) {
                out.push_str(&format!("\"\"\"{val}\"\"\""));
            } else if val.contains(['#', ';']) {
                out.push_str(&format!("`{val}`"));
            } else if val.trim() != val {
                out.push_str(&format!("\"{val}\""));
            } else {
                out.push_str(&val);
            }
            out.push('\n');
        }
        if i + 1 < sections.len() {
            out.push('\n');
        }
    }
    Ok(out)
}

/// A section's or key's comment, one `;`/`#` line per line (key comment
/// lines are trimmed, section comment lines are not).
fn write_comment(out: &mut String, c: &str, trim: bool) -> Result<(), Error> {
    if c.is_empty() {
        return Ok(());
    }
    for line in c.split('\n') {
        match line.chars().next() {
            // go-ini indexes the first byte and panics on an empty line.
            None => {
                return Err(Error::Emit { format: "INI", reason: "a comment holds an empty line".into() });
            }
            Some(first @ ('#' | ';')) => {
                out.push(first);
                out.push(' ');
                out.push_str(line[1..].trim());
            }
            Some(_) => {
                out.push_str("; ");
                out.push_str(if trim { line.trim() } else { line });
            }
        }
        out.push('\n');
    }
    Ok(())
}

#[cfg(test)]
#[path = "ini_tests.rs"]
mod tests;
