//! The functions of ESO's engine v2 that seal provides, sprig's and ESO's
//! own, by family: [`strings`], [`encoding`] (base64, hashes, JSON, YAML,
//! `htpasswd`), [`collections`] (lists, maps, defaults), [`printing`] and
//! [`certificates`] (PEM and PKCS#12). Go's built-ins such as `eq`, `len`
//! or `slice` come with the engine. Every function's message names the
//! function and says what is wrong, never a value (see `fail`).

pub(crate) mod certificates;
mod collections;
mod dates;
mod dicts;
pub(crate) mod encoding;
mod keys;
mod lists;
pub(crate) mod misc;
mod numeric;
mod paths;
pub(crate) mod printing;
mod regexp;
mod strings;
mod text;
pub(crate) mod yaml;

use std::sync::Arc;

use gotmpl::{FuncMap, TemplateError, Value};

use crate::MAX_OUTPUT;
use crate::work::{Scope, scope};

/// The functions of ESO's engine v2 that seal provides, every one of them
/// (the engine wraps them in the work budget, see `work::metered`, and
/// builds the map once: the budget and the controller's key of the
/// execution in progress are read from `work::scope`).
pub(crate) fn functions() -> FuncMap {
    let mut fm = FuncMap::new();
    strings::register(&mut fm);
    encoding::register(&mut fm);
    collections::register(&mut fm);
    printing::register(&mut fm);
    certificates::register(&mut fm);
    keys::register(&mut fm);
    paths::register(&mut fm);
    numeric::register(&mut fm);
    text::register(&mut fm);
    lists::register(&mut fm);
    dicts::register(&mut fm);
    regexp::register(&mut fm);
    dates::register(&mut fm);
    misc::register(&mut fm);
    fm
}

/// The execution in progress (its budget and the controller's key).
fn current(name: &str) -> Result<std::rc::Rc<Scope>, TemplateError> {
    scope().ok_or_else(|| fail(name, "called outside an execution"))
}

pub(crate) fn fail(name: &str, why: &str) -> TemplateError {
    TemplateError::Exec(format!("{name}: {why}"))
}

fn arg<'a>(args: &'a [Value], i: usize, name: &str, n: usize) -> Result<&'a Value, TemplateError> {
    if args.len() != n {
        return Err(fail(name, &format!("takes {n} argument(s), got {}", args.len())));
    }
    args.get(i).ok_or_else(|| fail(name, "missing argument"))
}

/// A value as text, the way Go's `fmt.Sprint` would print it for the
/// string functions (strings as they are).
fn text(v: &Value) -> String {
    match v {
        Value::Nil => String::new(),
        other => other.to_string(),
    }
}

fn s(x: impl Into<String>) -> Value {
    Value::String(Arc::from(x.into().as_str()))
}

/// A function's string result, refused beyond [`MAX_OUTPUT`]: a template
/// may call a function in a loop on its own result (`$x = b64enc $x`), and
/// each call must not grow memory without bound.
fn checked(name: &str, x: String) -> Result<Value, TemplateError> {
    if x.len() > MAX_OUTPUT {
        return Err(fail(name, &format!("the result would be larger than {} KiB", MAX_OUTPUT >> 10)));
    }
    Ok(s(x))
}

/// Refuses a result whose size, known before it is built, is too large.
fn precheck(name: &str, size: usize) -> Result<(), TemplateError> {
    if size > MAX_OUTPUT {
        return Err(fail(name, &format!("the result would be larger than {} KiB", MAX_OUTPUT >> 10)));
    }
    Ok(())
}

/// A string function of one argument.
fn unary(fm: &mut FuncMap, name: &'static str, f: impl Fn(&str) -> Result<String, String> + Send + Sync + 'static) {
    fm.insert(
        name.into(),
        Arc::new(move |args: &[Value]| {
            let v = arg(args, 0, name, 1)?;
            f(&text(v)).map_err(|why| fail(name, &why)).and_then(|x| checked(name, x))
        }),
    );
}
