//! Printing: Go's `print`, `println` and `printf` in bounded versions,
//! and [`go_printf`], Go's `fmt.Sprintf` for the verbs templates use.

use std::sync::Arc;

use gotmpl::{FuncMap, Value};

use super::{checked, fail, precheck, text};
use crate::MAX_OUTPUT;

pub(super) fn register(fm: &mut FuncMap) {
    // Go's built-ins that can grow a value, in bounded versions: a template
    // may apply them in a loop to their own result (`$x = printf "%s%s" $x
    // $x`), which must fail at 1 MiB, not at the end of memory.
    fm.insert(
        "print".into(),
        Arc::new(|args: &[Value]| {
            let mut out = String::new();
            for (i, a) in args.iter().enumerate() {
                let is_str = |v: &Value| matches!(v, Value::String(_));
                if i > 0 && !is_str(a) && args.get(i - 1).is_some_and(|p| !is_str(p)) {
                    out.push(' ');
                }
                precheck("print", out.len().saturating_add(text(a).len()))?;
                out.push_str(&text(a));
            }
            checked("print", out)
        }),
    );
    fm.insert(
        "println".into(),
        Arc::new(|args: &[Value]| {
            let parts: Vec<String> = args.iter().map(text).collect();
            precheck("println", parts.iter().map(String::len).fold(parts.len(), usize::saturating_add))?;
            checked("println", format!("{}\n", parts.join(" ")))
        }),
    );
    fm.insert(
        "printf".into(),
        Arc::new(|args: &[Value]| {
            let (format, rest) = args.split_first().ok_or_else(|| fail("printf", "takes a format"))?;
            go_printf(&text(format), rest).map_err(|why| fail("printf", &why)).and_then(|x| checked("printf", x))
        }),
    );
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s`, `%v`, `%d`, `%q`,
/// `%x`, `%X`, `%f`, `%t`, `%%`, with flags `-`, `0`, `+` and width and
/// precision (at most 1024 each). Another verb is an error.
pub fn go_printf(format: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut next = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if out.len() > MAX_OUTPUT {
            return Err(format!("the result would be larger than {} KiB", MAX_OUTPUT >> 10));
        }
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut left, mut zero, mut plus) = (false, false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => left = true,
                '0' => zero = true,
                '+' => plus = true,
                ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        let number = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize).min(1024));
                chars.next();
            }
            n
        };
        let width = number(&mut chars);
        let precision = if chars.peek() == Some(&'.') {
            chars.next();
            Some(number(&mut chars).unwrap_or(0))
        } else {
            None
        };
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(a) = next.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let numeric = |v: &Value| match v {
            Value::Int(i) => Some(*i as f64),
            Value::Uint(u) => Some(*u as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        };
        let body = match verb {
            's' | 'v' => {
                let t = text(a);
                match precision {
                    Some(p) => t.chars().take(p).collect(),
                    None => t,
                }
            }
            'q' => format!("{:?}", text(a)),
            't' => match a {
                Value::Bool(b) => b.to_string(),
                other => format!("%!t({})", other.type_name()),
            },
            'd' => match a {
                Value::Int(i) => {
                    if plus && *i >= 0 {
                        format!("+{i}")
                    } else {
                        i.to_string()
                    }
                }
                Value::Uint(u) => {
                    if plus {
                        format!("+{u}")
                    } else {
                        u.to_string()
                    }
                }
                other => format!("%!d({})", other.type_name()),
            },
            'x' | 'X' => {
                let h = match a {
                    Value::Int(i) => format!("{i:x}"),
                    Value::Uint(u) => format!("{u:x}"),
                    other => hex::encode(text(other).as_bytes()),
                };
                if verb == 'X' { h.to_uppercase() } else { h }
            }
            'f' | 'F' => match numeric(a) {
                Some(f) => {
                    let t = format!("{:.*}", precision.unwrap_or(6), f);
                    if plus && f >= 0.0 { format!("+{t}") } else { t }
                }
                None => format!("%!{verb}({})", a.type_name()),
            },
            other => return Err(format!("the verb %{other} is not supported (use %s, %v, %d, %q, %x, %f or %t)")),
        };
        let pad = width.unwrap_or(0).saturating_sub(body.chars().count());
        if pad == 0 {
            out.push_str(&body);
        } else if left {
            out.push_str(&body);
            out.push_str(&" ".repeat(pad));
        } else if zero && matches!(verb, 'd' | 'f' | 'F' | 'x' | 'X') {
            let (sign, digits) = match body.strip_prefix(['-', '+']) {
                Some(rest) => (&body[..1], rest),
                None => ("", body.as_str()),
            };
            out.push_str(sign);
            out.push_str(&"0".repeat(pad));
            out.push_str(digits);
        } else {
            out.push_str(&" ".repeat(pad));
            out.push_str(&body);
        }
    }
    let extra: Vec<String> = next.map(|a| format!("{}={}", a.type_name(), text(a))).collect();
    if !extra.is_empty() {
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    Ok(out)
}
