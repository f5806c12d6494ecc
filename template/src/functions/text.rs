//! More of sprig's string functions: cutting (`trunc`, `substr`,
//! `abbrev`, `abbrevboth`), case (`untitle`, `swapcase`, `snakecase`,
//! `camelcase`, `kebabcase`, `initials`), spacing (`nospace`, `wrap`,
//! `wrapWith`), building (`repeat`, `cat`, `plural`, `trimall`), and
//! splitting (`split`, `splitn`, `toStrings`). Go cuts strings at byte
//! offsets, so the cutting functions work on the bytes a string carries
//! (see `crate::bytes`); every result is bounded by `MAX_OUTPUT` before it
//! is built where it can grow.

use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::{FuncMap, TemplateError, Value};

use super::numeric::to_i64;
use super::{arg, checked, fail, precheck, s, text};
use crate::bytes::{bytes_from_text, text_from_bytes};
use crate::work::MAX_WORK_ELEMENTS;

/// A Go-style byte slice of a string's bytes, back as engine text.
fn cut(x: &str, from: usize, to: usize) -> String {
    let b = bytes_from_text(x);
    text_from_bytes(b.get(from.min(b.len())..to.min(b.len()).max(from.min(b.len()))).unwrap_or_default())
}

fn blen(x: &str) -> usize {
    bytes_from_text(x).len()
}

fn int_str(fm: &mut FuncMap, name: &'static str, f: fn(i64, &str) -> Result<String, String>) {
    fm.insert(
        name.into(),
        Arc::new(move |args: &[Value]| {
            let (n, x) = (to_i64(arg(args, 0, name, 2)?), text(arg(args, 1, name, 2)?));
            f(n, &x).map_err(|why| fail(name, &why)).and_then(|r| checked(name, r))
        }),
    );
}

pub(super) fn register(fm: &mut FuncMap) {
    int_str(fm, "trunc", |c, x| {
        let len = blen(x) as i64;
        Ok(match c {
            c if c < 0 && len + c > 0 => cut(x, (len + c) as usize, len as usize),
            c if c >= 0 && len > c => cut(x, 0, c as usize),
            _ => x.to_owned(),
        })
    });
    int_str(fm, "abbrev", |w, x| Ok(abbreviate(x, 0, w)));
    int_str(fm, "repeat", |n, x| {
        let n = usize::try_from(n).map_err(|_| "the count is negative".to_owned())?;
        if x.len().checked_mul(n).is_none_or(|size| size > crate::MAX_OUTPUT) {
            return Err(format!("the result would be larger than {} KiB", crate::MAX_OUTPUT >> 10));
        }
        Ok(x.repeat(n))
    });
    int_str(fm, "wrap", |w, x| wrap(x, w, "\n", false));
    fm.insert(
        "wrapWith".into(),
        Arc::new(|args: &[Value]| {
            let w = to_i64(arg(args, 0, "wrapWith", 3)?);
            let (sep, x) = (text(arg(args, 1, "wrapWith", 3)?), text(arg(args, 2, "wrapWith", 3)?));
            wrap(&x, w, &sep, true).map_err(|why| fail("wrapWith", &why)).and_then(|r| checked("wrapWith", r))
        }),
    );
    fm.insert(
        "abbrevboth".into(),
        Arc::new(|args: &[Value]| {
            let (l, r) = (to_i64(arg(args, 0, "abbrevboth", 3)?), to_i64(arg(args, 1, "abbrevboth", 3)?));
            let x = text(arg(args, 2, "abbrevboth", 3)?);
            if r < 4 || (l > 0 && r < 7) {
                return Ok(s(x));
            }
            checked("abbrevboth", abbreviate(&x, l, r))
        }),
    );
    fm.insert(
        "substr".into(),
        Arc::new(|args: &[Value]| {
            let (start, end) = (to_i64(arg(args, 0, "substr", 3)?), to_i64(arg(args, 1, "substr", 3)?));
            let x = text(arg(args, 2, "substr", 3)?);
            let len = blen(&x) as i64;
            // Go: s[:end] for a negative start, s[start:] for a negative or
            // long end; out of range panics, here an error.
            let (from, to) = match (start, end) {
                (st, e) if st < 0 => (0, e),
                (st, e) if e < 0 || e > len => (st, len),
                (st, e) => (st, e),
            };
            if from > to || to > len || to < 0 {
                return Err(fail("substr", "the range is outside the string"));
            }
            Ok(s(cut(&x, from as usize, to as usize)))
        }),
    );
    super::unary(fm, "untitle", |x| {
        let mut c = x.chars();
        Ok(c.next().map(|f| f.to_lowercase().chain(c).collect()).unwrap_or_default())
    });
    super::unary(fm, "swapcase", |x| {
        Ok(x.chars()
            .flat_map(|c| -> Box<dyn Iterator<Item = char>> {
                if c.is_uppercase() {
                    Box::new(c.to_lowercase())
                } else if c.is_lowercase() {
                    Box::new(c.to_uppercase())
                } else {
                    Box::new(std::iter::once(c))
                }
            })
            .collect())
    });
    super::unary(fm, "nospace", |x| Ok(x.chars().filter(|c| !c.is_whitespace()).collect()));
    super::unary(fm, "initials", |x| {
        // goutils: the first byte after whitespace, byte by byte.
        let mut out = String::new();
        let mut gap = true;
        for b in bytes_from_text(x) {
            if b.is_ascii_whitespace() {
                gap = true;
            } else if gap {
                out.push(char::from(b));
                gap = false;
            }
        }
        Ok(out)
    });
    super::unary(fm, "snakecase", |x| Ok(words(x).join("_")));
    super::unary(fm, "kebabcase", |x| Ok(words(x).join("-")));
    super::unary(fm, "camelcase", |x| {
        Ok(words(x)
            .iter()
            .map(|w| {
                let mut c = w.chars();
                c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
            })
            .collect())
    });
    fm.insert(
        "trimall".into(),
        Arc::new(|args: &[Value]| {
            let (cut, x) = (text(arg(args, 0, "trimall", 2)?), text(arg(args, 1, "trimall", 2)?));
            Ok(s(x.trim_matches(|c| cut.contains(c))))
        }),
    );
    fm.insert(
        "cat".into(),
        Arc::new(|args: &[Value]| {
            let parts: Vec<String> = args.iter().filter(|a| !matches!(a, Value::Nil)).map(text).collect();
            precheck("cat", parts.iter().map(String::len).fold(parts.len(), usize::saturating_add))?;
            checked("cat", parts.join(" "))
        }),
    );
    fm.insert(
        "plural".into(),
        Arc::new(|args: &[Value]| {
            let (one, many) = (arg(args, 0, "plural", 3)?, arg(args, 1, "plural", 3)?);
            Ok(if to_i64(arg(args, 2, "plural", 3)?) == 1 { one.clone() } else { many.clone() })
        }),
    );
    fm.insert(
        "split".into(),
        Arc::new(|args: &[Value]| {
            let (sep, x) = (text(arg(args, 0, "split", 2)?), text(arg(args, 1, "split", 2)?));
            split_map("split", &sep, &x, None)
        }),
    );
    fm.insert(
        "splitn".into(),
        Arc::new(|args: &[Value]| {
            let sep = text(arg(args, 0, "splitn", 3)?);
            let n = to_i64(arg(args, 1, "splitn", 3)?);
            let x = text(arg(args, 2, "splitn", 3)?);
            split_map("splitn", &sep, &x, Some(n))
        }),
    );
    fm.insert(
        "toStrings".into(),
        Arc::new(|args: &[Value]| {
            Ok(Value::List(match arg(args, 0, "toStrings", 1)? {
                Value::List(l) => l.iter().filter(|v| !matches!(v, Value::Nil)).map(|v| s(text(v))).collect(),
                Value::Nil => Vec::new().into(),
                other => vec![s(text(other))].into(),
            }))
        }),
    );
}

/// goutils' `AbbreviateFull` (byte offsets, as Go's).
fn abbreviate(x: &str, offset: i64, width: i64) -> String {
    let len = blen(x) as i64;
    if x.is_empty() || width < 4 || len <= width {
        return x.to_owned();
    }
    // Go's ints wrap on a huge negative offset; any negative one acts as 0.
    let mut offset = offset.clamp(0, len);
    if len - offset < width - 3 {
        offset = len - (width - 3);
    }
    if offset <= 4 {
        return format!("{}...", cut(x, 0, (width - 3) as usize));
    }
    if width < 7 {
        return x.to_owned();
    }
    if offset + width - 3 < len {
        let rest = cut(x, offset as usize, len as usize);
        return format!("...{}", abbreviate(&rest, 0, width - 3));
    }
    format!("...{}", cut(x, (len - (width - 3)) as usize, len as usize))
}

/// goutils' `WrapCustom` on bytes.
fn wrap(x: &str, width: i64, sep: &str, long_words: bool) -> Result<String, String> {
    let b = bytes_from_text(x);
    let width = usize::try_from(width.max(1)).unwrap_or(1);
    let sep = if sep.is_empty() { "\n" } else { sep };
    let pieces = b.len() / width + 1;
    if pieces.saturating_mul(sep.len()).saturating_add(b.len()) > crate::MAX_OUTPUT {
        return Err(format!("the result would be larger than {} KiB", crate::MAX_OUTPUT >> 10));
    }
    let sep = bytes_from_text(sep);
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut offset = 0usize;
    while b.len() - offset > width {
        if b.get(offset) == Some(&b' ') {
            offset += 1;
            continue;
        }
        let window = b.get(offset..(offset + width + 1).min(b.len())).unwrap_or_default();
        match window.iter().rposition(|c| *c == b' ') {
            Some(at) => {
                out.extend_from_slice(b.get(offset..offset + at).unwrap_or_default());
                out.extend_from_slice(&sep);
                offset += at + 1;
            }
            None if long_words => {
                out.extend_from_slice(b.get(offset..offset + width).unwrap_or_default());
                out.extend_from_slice(&sep);
                offset += width;
            }
            // A long word is kept whole, up to the next space.
            None => match b.get(offset + width..).and_then(|rest| rest.iter().position(|c| *c == b' ')) {
                None => break,
                Some(i) => {
                    let at = offset + width + i;
                    out.extend_from_slice(b.get(offset..at).unwrap_or_default());
                    out.extend_from_slice(&sep);
                    offset = at + 1;
                }
            },
        }
    }
    out.extend_from_slice(b.get(offset..).unwrap_or_default());
    Ok(text_from_bytes(&out))
}

/// The words of a name, lower case, for `snakecase`, `kebabcase` and
/// `camelcase`: split at spaces, `_`, `-`, `.`, and before an upper-case
/// letter that follows a lower-case letter or digit, or that starts a
/// capitalised word after capitals (`HTTPServer`: `http`, `server`).
fn words(x: &str) -> Vec<String> {
    let chars: Vec<char> = x.chars().collect();
    let mut out: Vec<String> = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            continue;
        }
        let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
        let next = chars.get(i + 1).copied();
        let boundary = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase() || p.is_numeric() || (p.is_uppercase() && next.is_some_and(char::is_lowercase))
            });
        if boundary && !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        word.extend(c.to_lowercase());
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// sprig's `split`/`splitn`: a map `_0`, `_1`, … of the parts.
fn split_map(name: &str, sep: &str, x: &str, n: Option<i64>) -> Result<Value, TemplateError> {
    if x.matches(sep).count().max(if sep.is_empty() { x.chars().count() } else { 0 }) >= MAX_WORK_ELEMENTS {
        return Err(fail(name, &format!("the result would have more than {MAX_WORK_ELEMENTS} elements")));
    }
    let parts: Vec<String> = match (n, sep.is_empty()) {
        (Some(0), _) => Vec::new(),
        (Some(n), false) if n > 0 => x.splitn(n as usize, sep).map(str::to_owned).collect(),
        (Some(n), true) if n > 0 => {
            let chars: Vec<char> = x.chars().collect();
            let n = (n as usize).min(chars.len());
            let mut v: Vec<String> = chars.iter().take(n.saturating_sub(1)).map(|c| c.to_string()).collect();
            v.push(chars.iter().skip(n.saturating_sub(1)).collect());
            v.retain(|p| !p.is_empty() || n > 0);
            v
        }
        (_, true) => x.chars().map(|c| c.to_string()).collect(),
        (_, false) => x.split(sep).map(str::to_owned).collect(),
    };
    let map: BTreeMap<Arc<str>, Value> =
        parts.into_iter().enumerate().map(|(i, p)| (Arc::from(format!("_{i}").as_str()), s(p))).collect();
    Ok(Value::Map(Arc::new(map)))
}
