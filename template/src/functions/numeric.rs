//! sprig's numbers: conversions (`atoi`, `int`, `int64`, `float64`,
//! `toDecimal`), integer arithmetic (`add`, `add1`, `sub`, `mul`, `div`,
//! `mod`, `max`, `min`, `biggest`) that wraps as Go's int64 does, decimal
//! arithmetic (`addf`, `add1f`, `subf`, `mulf`, `divf`: exact decimals as
//! sprig's shopspring/decimal, sixteen places for a division), `maxf`,
//! `minf`, `ceil`, `floor`, `round`, and sequences (`until`, `untilStep`,
//! `seq`), whose length is counted before they are built.

use std::sync::Arc;

use gotmpl::{FuncMap, TemplateError, Value};

use super::{fail, text};
use crate::work::MAX_WORK_ELEMENTS;

/// spf13/cast's `ToInt64`, as sprig converts: strings in Go's base-prefixed
/// syntax (a trailing `.0…` ignored), floats truncated, booleans 1 or 0,
/// anything else (and a string that is not a number) 0.
pub(crate) fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Uint(u) => *u as i64,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::String(x) => parse_go_int(x).unwrap_or(0),
        _ => 0,
    }
}

/// spf13/cast's `ToFloat64`.
pub(crate) fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Uint(u) => *u as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(x) => x.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)` after cast's `trimZeroDecimal`.
fn parse_go_int(x: &str) -> Option<i64> {
    let x = match x.split_once('.') {
        Some((int, frac)) if !frac.is_empty() && frac.bytes().all(|b| b == b'0') => int,
        _ => x,
    };
    let (neg, body) = match x.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, x.strip_prefix('+').unwrap_or(x)),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_owned(), true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_owned(), true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_owned(), true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower.get(1..).unwrap_or_default().to_owned(), true)
    } else {
        (10, lower, false)
    };
    // Underscores only between digits and only with a base prefix.
    if digits.is_empty() || (!prefixed && digits.contains('_')) || digits.starts_with('_') || digits.ends_with('_') {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    let magnitude = u64::from_str_radix(&clean, radix).ok()?;
    if neg { 0i64.checked_sub_unsigned(magnitude) } else { i64::try_from(magnitude).ok() }
}

fn int_fn(fm: &mut FuncMap, name: &'static str, min: usize, f: fn(&[i64]) -> Result<i64, &'static str>) {
    fm.insert(
        name.into(),
        Arc::new(move |args: &[Value]| {
            if args.len() < min {
                return Err(fail(name, &format!("takes at least {min} argument(s), got {}", args.len())));
            }
            let ints: Vec<i64> = args.iter().map(to_i64).collect();
            f(&ints).map(Value::Int).map_err(|why| fail(name, why))
        }),
    );
}

fn exact(name: &'static str, args: &[Value], n: usize) -> Result<(), TemplateError> {
    match args.len() == n {
        true => Ok(()),
        false => Err(fail(name, &format!("takes {n} argument(s), got {}", args.len()))),
    }
}

pub(super) fn register(fm: &mut FuncMap) {
    fm.insert(
        "atoi".into(),
        Arc::new(|args: &[Value]| {
            exact("atoi", args, 1)?;
            // Go's strconv.Atoi: decimal only, 0 when it is not a number.
            Ok(Value::Int(args.first().map(text).and_then(|x| x.parse::<i64>().ok()).unwrap_or(0)))
        }),
    );
    for name in ["int", "int64"] {
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                exact(name, args, 1)?;
                Ok(Value::Int(args.first().map(to_i64).unwrap_or(0)))
            }),
        );
    }
    fm.insert(
        "float64".into(),
        Arc::new(|args: &[Value]| {
            exact("float64", args, 1)?;
            Ok(Value::Float(args.first().map(to_f64).unwrap_or(0.0)))
        }),
    );
    fm.insert(
        "toDecimal".into(),
        Arc::new(|args: &[Value]| {
            exact("toDecimal", args, 1)?;
            // The value read as octal, 0 when it is not.
            Ok(Value::Int(args.first().and_then(|v| i64::from_str_radix(&text(v), 8).ok()).unwrap_or(0)))
        }),
    );
    int_fn(fm, "add1", 1, |a| Ok(a.first().copied().unwrap_or(0).wrapping_add(1)));
    int_fn(fm, "add", 0, |a| Ok(a.iter().fold(0i64, |acc, x| acc.wrapping_add(*x))));
    int_fn(fm, "sub", 2, |a| Ok(first(a).wrapping_sub(second(a))));
    int_fn(fm, "mul", 1, |a| Ok(a.iter().skip(1).fold(first(a), |acc, x| acc.wrapping_mul(*x))));
    int_fn(fm, "div", 2, |a| {
        if second(a) == 0 {
            return Err("integer divide by zero");
        }
        Ok(first(a).wrapping_div(second(a)))
    });
    int_fn(fm, "mod", 2, |a| {
        if second(a) == 0 {
            return Err("integer divide by zero");
        }
        Ok(first(a).wrapping_rem(second(a)))
    });
    for name in ["max", "biggest"] {
        int_fn(fm, name, 1, |a| Ok(a.iter().copied().max().unwrap_or(0)));
    }
    int_fn(fm, "min", 1, |a| Ok(a.iter().copied().min().unwrap_or(0)));
    for (name, f) in [
        ("maxf", (|a: f64, b: f64| if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }) as fn(f64, f64) -> f64),
        ("minf", |a: f64, b: f64| if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) }),
    ] {
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                let (a, rest) = args.split_first().ok_or_else(|| fail(name, "takes at least one number"))?;
                Ok(Value::Float(rest.iter().fold(to_f64(a), |acc, x| f(acc, to_f64(x)))))
            }),
        );
    }
    for (name, f) in [("floor", f64::floor as fn(f64) -> f64), ("ceil", f64::ceil)] {
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                exact(name, args, 1)?;
                Ok(Value::Float(f(args.first().map(to_f64).unwrap_or(0.0))))
            }),
        );
    }
    fm.insert(
        "round".into(),
        Arc::new(|args: &[Value]| {
            if !(2..=3).contains(&args.len()) {
                return Err(fail("round", "takes a number, the places and optionally where to round up"));
            }
            let val = args.first().map(to_f64).unwrap_or(0.0);
            let places = args.get(1).map(to_i64).unwrap_or(0) as f64;
            let on = args.get(2).map(to_f64).unwrap_or(0.5);
            let pow = 10f64.powf(places);
            let digit = pow * val;
            let r = if digit.fract() >= on { digit.ceil() } else { digit.floor() };
            Ok(Value::Float(r / pow))
        }),
    );
    decimal_ops(fm);
    fm.insert(
        "until".into(),
        Arc::new(|args: &[Value]| {
            exact("until", args, 1)?;
            let count = args.first().map(to_i64).unwrap_or(0);
            until_step("until", 0, count, if count < 0 { -1 } else { 1 }).map(ints)
        }),
    );
    fm.insert(
        "untilStep".into(),
        Arc::new(|args: &[Value]| {
            exact("untilStep", args, 3)?;
            let n: Vec<i64> = args.iter().map(to_i64).collect();
            until_step("untilStep", first(&n), second(&n), n.get(2).copied().unwrap_or(0)).map(ints)
        }),
    );
    fm.insert("seq".into(), Arc::new(|args: &[Value]| seq(&args.iter().map(to_i64).collect::<Vec<_>>())));
}

fn first(a: &[i64]) -> i64 {
    a.first().copied().unwrap_or(0)
}

fn second(a: &[i64]) -> i64 {
    a.get(1).copied().unwrap_or(0)
}

fn ints(v: Vec<i64>) -> Value {
    Value::List(v.into_iter().map(Value::Int).collect::<Vec<_>>().into())
}

/// sprig's `untilStep`, its length checked before it is built.
fn until_step(name: &str, start: i64, stop: i64, step: i64) -> Result<Vec<i64>, TemplateError> {
    let (start, stop, step) = (i128::from(start), i128::from(stop), i128::from(step));
    let count = match (stop < start, step) {
        (true, s) if s < 0 => (start - stop + (-s) - 1) / (-s),
        (false, s) if s > 0 => (stop - start + s - 1) / s,
        _ => 0,
    };
    if count > MAX_WORK_ELEMENTS as i128 {
        return Err(fail(name, &format!("the result would have more than {MAX_WORK_ELEMENTS} elements")));
    }
    Ok((0..count).filter_map(|i| i64::try_from(start + i * step).ok()).collect())
}

/// sprig's `seq`: like GNU seq, the numbers as one space-separated string.
fn seq(p: &[i64]) -> Result<Value, TemplateError> {
    let add = |a: i64, b: i64| a.checked_add(b).ok_or_else(|| fail("seq", "the bounds overflow"));
    let list = match *p {
        [end] => {
            let inc = if end < 1 { -1 } else { 1 };
            until_step("seq", 1, add(end, inc)?, inc)?
        }
        [start, end] => {
            let inc = if end < start { -1 } else { 1 };
            until_step("seq", start, add(end, inc)?, inc)?
        }
        [start, step, end] => {
            let inc = if end < start { -1 } else { 1 };
            if end < start && step > 0 { Vec::new() } else { until_step("seq", start, add(end, inc)?, step)? }
        }
        _ => Vec::new(),
    };
    let joined = list.iter().map(i64::to_string).collect::<Vec<_>>().join(" ");
    super::checked("seq", joined)
}

/// A decimal `m × 10^e`, as shopspring/decimal holds one.
#[derive(Clone, Copy)]
struct Dec {
    m: i128,
    e: i32,
}

impl Dec {
    /// The shortest decimal that reads back as `f` (decimal.NewFromFloat).
    fn from_f64(f: f64) -> Option<Dec> {
        if !f.is_finite() {
            return None;
        }
        let sci = format!("{f:e}");
        let (mant, exp) = sci.split_once('e')?;
        let exp: i32 = exp.parse().ok()?;
        let frac = mant.split_once('.').map_or(0, |(_, f)| f.len());
        let digits: String = mant.chars().filter(|c| *c != '.').collect();
        Some(Dec { m: digits.parse().ok()?, e: exp.checked_sub(i32::try_from(frac).ok()?)? })
    }

    fn to_f64(self) -> f64 {
        format!("{}e{}", self.m, self.e).parse().unwrap_or(f64::NAN)
    }

    fn align(a: Dec, b: Dec) -> Option<(i128, i128, i32)> {
        let e = a.e.min(b.e);
        let scale = |d: Dec| 10i128.checked_pow(u32::try_from(d.e - e).ok()?).and_then(|p| d.m.checked_mul(p));
        Some((scale(a)?, scale(b)?, e))
    }

    fn add(a: Dec, b: Dec) -> Option<Dec> {
        let (x, y, e) = Dec::align(a, b)?;
        Some(Dec { m: x.checked_add(y)?, e })
    }

    fn sub(a: Dec, b: Dec) -> Option<Dec> {
        Dec::add(a, Dec { m: b.m.checked_neg()?, e: b.e })
    }

    fn mul(a: Dec, b: Dec) -> Option<Dec> {
        Some(Dec { m: a.m.checked_mul(b.m)?, e: a.e.checked_add(b.e)? })
    }

    /// Sixteen places, rounded half away from zero (decimal.Div).
    fn div(a: Dec, b: Dec) -> Option<Dec> {
        // a/b = (a.m / b.m) × 10^(a.e − b.e); wanted: q × 10^-16.
        let shift = a.e.checked_sub(b.e)?.checked_add(17)?;
        let num = match u32::try_from(shift) {
            Ok(s) => a.m.checked_mul(10i128.checked_pow(s)?)?,
            Err(_) => a.m / 10i128.checked_pow(shift.unsigned_abs())?,
        };
        let q = num.checked_div(b.m)?;
        let rounded = (q + q.signum() * 5) / 10;
        Some(Dec { m: rounded, e: -16 })
    }
}

fn decimal_ops(fm: &mut FuncMap) {
    type Op = fn(Dec, Dec) -> Option<Dec>;
    type FloatOp = fn(f64, f64) -> f64;
    let ops: [(&'static str, Op, FloatOp, bool); 5] = [
        ("addf", Dec::add, |a, b| a + b, true),
        ("add1f", Dec::add, |a, b| a + b, false),
        ("subf", Dec::sub, |a, b| a - b, false),
        ("mulf", Dec::mul, |a, b| a * b, false),
        ("divf", Dec::div, |a, b| a / b, false),
    ];
    for (name, op, float_op, from_zero) in ops {
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                let one = [Value::Int(1)];
                let (start, rest): (f64, &[Value]) = match (name, args.split_first()) {
                    ("add1f", Some((a, _))) => (to_f64(a), &one),
                    (_, Some((a, rest))) if !from_zero => (to_f64(a), rest),
                    _ => (0.0, args),
                };
                // Exact decimals while they fit in 128 bits, then f64.
                let mut acc: Result<Dec, f64> = Dec::from_f64(start).ok_or(start);
                for x in rest {
                    let y = to_f64(x);
                    if name == "divf" && y == 0.0 {
                        return Err(fail(name, "decimal division by 0"));
                    }
                    acc = match acc {
                        Ok(a) => match Dec::from_f64(y).and_then(|b| op(a, b)) {
                            Some(d) => Ok(d),
                            None => Err(float_op(a.to_f64(), y)),
                        },
                        Err(a) => Err(float_op(a, y)),
                    };
                }
                Ok(Value::Float(acc.map_or_else(|f| f, Dec::to_f64)))
            }),
        );
    }
}
