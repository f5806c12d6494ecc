//! sprig's dates, with one difference of representation: a time is a
//! number of seconds since the Unix epoch (UTC), where Go has a
//! `time.Time`. `now` gives that number; `date`, `dateInZone`,
//! `htmlDate`, `htmlDateInZone`, `unixEpoch`, `dateModify` and `ago` take
//! it (sprig's take an integer that way too), and write times with Go's
//! layouts (`2006-01-02T15:04:05Z07:00`). Zones: `UTC`, and `Local`
//! (the controller runs in UTC); another zone is refused. `duration`,
//! `durationRound` and Go's duration syntax (`1h30m`) as in sprig.
//! `now` and `ago` change with the clock: a Secret using them is rewritten
//! at every refresh, as in ESO.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Timelike, Utc};
use gotmpl::{FuncMap, TemplateError, Value};

use super::{arg, checked, fail, s, text};

fn now() -> i64 {
    Utc::now().timestamp()
}

/// A time argument as sprig reads it: an integer is Unix seconds, anything
/// else is now.
fn time_arg(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::Int(i)) => *i,
        Some(Value::Uint(u)) => i64::try_from(*u).unwrap_or(i64::MAX),
        _ => now(),
    }
}

fn zone(name: &str, z: &str) -> Result<(), TemplateError> {
    match z {
        "UTC" | "Local" | "" => Ok(()),
        _ => Err(fail(name, "time zones other than UTC (and Local, which is UTC here) are not supported")),
    }
}

pub(super) fn register(fm: &mut FuncMap) {
    fm.insert("now".into(), Arc::new(|_: &[Value]| Ok(Value::Int(now()))));
    fm.insert(
        "unixEpoch".into(),
        Arc::new(|args: &[Value]| Ok(s(time_arg(Some(arg(args, 0, "unixEpoch", 1)?)).to_string()))),
    );
    fm.insert(
        "date".into(),
        Arc::new(|args: &[Value]| {
            let layout = text(arg(args, 0, "date", 2)?);
            format_time("date", &layout, time_arg(args.get(1)))
        }),
    );
    for name in ["dateInZone", "date_in_zone"] {
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                let layout = text(arg(args, 0, name, 3)?);
                zone(name, &text(arg(args, 2, name, 3)?))?;
                format_time(name, &layout, time_arg(args.get(1)))
            }),
        );
    }
    fm.insert(
        "htmlDate".into(),
        Arc::new(|args: &[Value]| format_time("htmlDate", "2006-01-02", time_arg(Some(arg(args, 0, "htmlDate", 1)?)))),
    );
    fm.insert(
        "htmlDateInZone".into(),
        Arc::new(|args: &[Value]| {
            zone("htmlDateInZone", &text(arg(args, 1, "htmlDateInZone", 2)?))?;
            format_time("htmlDateInZone", "2006-01-02", time_arg(args.first()))
        }),
    );
    for (name, must) in
        [("dateModify", false), ("date_modify", false), ("mustDateModify", true), ("must_date_modify", true)]
    {
        fm.insert(
            name.into(),
            Arc::new(move |args: &[Value]| {
                let d = text(arg(args, 0, name, 2)?);
                let t = time_arg(Some(arg(args, 1, name, 2)?));
                match parse_duration(&d) {
                    Some(ns) => Ok(Value::Int(t.saturating_add((ns / 1_000_000_000) as i64))),
                    None if must => Err(fail(name, "the duration is not valid (Go's syntax: 1h30m, -45s, …)")),
                    None => Ok(Value::Int(t)),
                }
            }),
        );
    }
    fm.insert(
        "ago".into(),
        Arc::new(|args: &[Value]| {
            let t = time_arg(Some(arg(args, 0, "ago", 1)?));
            Ok(s(go_duration(i128::from(now().saturating_sub(t)) * 1_000_000_000)))
        }),
    );
    fm.insert(
        "duration".into(),
        Arc::new(|args: &[Value]| {
            let n = match arg(args, 0, "duration", 1)? {
                Value::String(x) => x.parse::<i64>().unwrap_or(0),
                Value::Int(i) => *i,
                _ => 0,
            };
            Ok(s(go_duration(i128::from(n) * 1_000_000_000)))
        }),
    );
    fm.insert(
        "durationRound".into(),
        Arc::new(|args: &[Value]| {
            let ns: i128 = match arg(args, 0, "durationRound", 1)? {
                Value::String(x) => parse_duration(x).unwrap_or(0),
                Value::Int(i) => i128::from(*i),
                _ => 0,
            };
            let u = ns.unsigned_abs();
            let (sec, min, hour) = (1_000_000_000u128, 60_000_000_000u128, 3_600_000_000_000u128);
            let (day, month, year) = (hour * 24, hour * 24 * 30, hour * 24 * 365);
            Ok(s(match u {
                u if u > year => format!("{}y", u / year),
                u if u > month => format!("{}mo", u / month),
                u if u > day => format!("{}d", u / day),
                u if u > hour => format!("{}h", u / hour),
                u if u > min => format!("{}m", u / min),
                u if u > sec => format!("{}s", u / sec),
                _ => "0s".to_owned(),
            }))
        }),
    );
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub(crate) fn parse_duration(x: &str) -> Option<i128> {
    let (neg, mut rest) = match x.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, x.strip_prefix('+').unwrap_or(x)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let num: f64 = rest.get(..num_len)?.parse().ok()?;
        rest = rest.get(num_len..)?;
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match rest.get(..unit_len)? {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = rest.get(unit_len..)?;
        total += num * scale;
    }
    if total > 9.223_372_036_854_775e18 {
        return None;
    }
    Some(if neg { -(total as i128) } else { total as i128 })
}

/// Go's `Duration.String` for whole seconds and more (`1h2m3s`, `0s`), and
/// fractions of a second as Go writes them.
fn go_duration(ns: i128) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    if u < 1_000_000_000 {
        let (unit, div) = match u {
            u if u < 1_000 => ("ns", 1u128),
            u if u < 1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{sign}{}{unit}", trim_fraction(u, div));
    }
    let (h, rem) = (u / 3_600_000_000_000, u % 3_600_000_000_000);
    let (m, rem) = (rem / 60_000_000_000, rem % 60_000_000_000);
    let secs = trim_fraction(rem, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{sign}{secs}s"),
        (0, m) => format!("{sign}{m}m{secs}s"),
        (h, m) => format!("{sign}{h}h{m}m{secs}s"),
    }
}

/// `u / div` with its fraction, trailing zeros removed (`1.5`, `2`).
fn trim_fraction(u: u128, div: u128) -> String {
    let (whole, frac) = (u / div, u % div);
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let f = format!("{frac:0width$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

/// A time (Unix seconds, UTC) in a Go layout.
fn format_time(name: &str, layout: &str, t: i64) -> Result<Value, TemplateError> {
    let dt: DateTime<Utc> = DateTime::from_timestamp(t, 0).ok_or_else(|| fail(name, "the time is out of range"))?;
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
    let month = MONTHS.get(dt.month0() as usize).copied().unwrap_or_default();
    let day = DAYS.get(dt.weekday().num_days_from_sunday() as usize).copied().unwrap_or_default();
    let h12 = match dt.hour() % 12 {
        0 => 12,
        h => h,
    };
    // Go's layout tokens, longest first where one is a prefix of another.
    let tokens: [(&str, String); 37] = [
        ("January", month.to_owned()),
        ("Jan", month.get(..3).unwrap_or_default().to_owned()),
        ("Monday", day.to_owned()),
        ("Mon", day.get(..3).unwrap_or_default().to_owned()),
        ("MST", "UTC".to_owned()),
        ("2006", format!("{:04}", dt.year())),
        ("-07:00:00", "+00:00:00".to_owned()),
        ("-070000", "+000000".to_owned()),
        ("-07:00", "+00:00".to_owned()),
        ("-0700", "+0000".to_owned()),
        ("-07", "+00".to_owned()),
        ("Z07:00:00", "Z".to_owned()),
        ("Z070000", "Z".to_owned()),
        ("Z07:00", "Z".to_owned()),
        ("Z0700", "Z".to_owned()),
        ("Z07", "Z".to_owned()),
        ("__2", format!("{:>3}", dt.ordinal())),
        ("002", format!("{:03}", dt.ordinal())),
        ("_2", format!("{:>2}", dt.day())),
        ("01", format!("{:02}", dt.month())),
        ("02", format!("{:02}", dt.day())),
        ("03", format!("{h12:02}")),
        ("04", format!("{:02}", dt.minute())),
        ("05", format!("{:02}", dt.second())),
        ("06", format!("{:02}", dt.year().rem_euclid(100))),
        ("15", format!("{:02}", dt.hour())),
        ("PM", if dt.hour() >= 12 { "PM" } else { "AM" }.to_owned()),
        ("pm", if dt.hour() >= 12 { "pm" } else { "am" }.to_owned()),
        (".000000000", ".000000000".to_owned()),
        (".000000", ".000000".to_owned()),
        (".000", ".000".to_owned()),
        (".999999999", String::new()),
        (".999", String::new()),
        ("1", format!("{}", dt.month())),
        ("2", format!("{}", dt.day())),
        ("3", format!("{h12}")),
        ("4", format!("{}", dt.minute())),
    ];
    let mut out = String::new();
    let mut rest = layout;
    'scan: while !rest.is_empty() {
        for (tok, val) in &tokens {
            if let Some(after) = rest.strip_prefix(tok) {
                out.push_str(val);
                rest = after;
                continue 'scan;
            }
        }
        if let Some(after) = rest.strip_prefix('5') {
            out.push_str(&dt.second().to_string());
            rest = after;
            continue;
        }
        let mut chars = rest.chars();
        out.extend(chars.next());
        rest = chars.as_str();
    }
    checked(name, out)
}
