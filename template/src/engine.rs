//! Parsing and running one template: the engine's limits (`range`
//! iterations, output size), Go's refusal of a block without `{{end}}`, and
//! engine errors turned into messages that give a position, never a value.

use std::sync::Arc;

use gotmpl::{MissingKey, Template, TemplateError, Value};
use zeroize::Zeroizing;

use crate::functions::functions;
use crate::work::{Work, enter, metered};
use crate::{MAX_OUTPUT, MAX_RANGE_ITERATIONS};

/// Renders one template with a budget of its own (see [`execute_in`]).
pub fn execute(name: &str, src: &str, ctx: &Value, salt_key: &[u8]) -> Result<Zeroizing<String>, String> {
    execute_in(&Work::new(), name, src, ctx, salt_key)
}

/// Renders one template: `name` (for messages), its source, the context,
/// charged to `work`, the budget every template of one object shares in one
/// reconcile. `salt_key` keys the salts of `htpasswd`, so that the same
/// input gives the same hash and an unchanged Secret is not rewritten on
/// every refresh.
pub fn execute_in(
    work: &Arc<Work>,
    name: &str,
    src: &str,
    ctx: &Value,
    salt_key: &[u8],
) -> Result<Zeroizing<String>, String> {
    // Only the time spent rendering counts: not the store reads between
    // two rewrite rules, nor the wait for a blocking thread.
    let started = work.begin().map_err(|why| format!("template {name}: {why}"))?;
    let result = run(work, name, src, ctx, salt_key);
    work.end(started);
    result
}

fn run(work: &Arc<Work>, name: &str, src: &str, ctx: &Value, salt_key: &[u8]) -> Result<Zeroizing<String>, String> {
    unclosed_block(name, src)?;
    mutation_idiom(name, src)?;
    let _entered = enter(work, salt_key);
    let tpl = Template::new(name)
        .missing_key(MissingKey::Error)
        .max_range_iters(MAX_RANGE_ITERATIONS)
        .funcs(used_functions(src))
        .parse(src)
        .map_err(|e| describe(name, src, &e, work))?;
    let mut out = Bounded { text: Zeroizing::new(String::new()), full: false };
    let result = tpl.execute_fmt(&mut out, ctx);
    // What a template writes is charged too: the Secret holds it.
    let written = work.charge_bytes(out.text.len());
    match result {
        Ok(()) => written.map(|()| out.text).map_err(|why| format!("template {name}: {why}")),
        Err(_) if out.full => Err(format!("template {name}: its output is larger than {} KiB", MAX_OUTPUT >> 10)),
        Err(e) => Err(describe(name, src, &e, work)),
    }
}

/// Go refuses a template whose `if`, `range`, `with`, `define` or `block`
/// has no `{{end}}` ("unexpected EOF"); the engine accepts it, so it is
/// checked here: a scan of the actions (strings, raw strings, characters
/// and comments skipped) counting the blocks opened and closed.
fn unclosed_block(name: &str, src: &str) -> Result<(), String> {
    let bytes = src.as_bytes();
    let mut open: Vec<usize> = Vec::new();
    let mut i = 0;
    while let Some(at) = src.get(i..).and_then(|s| s.find("{{")).map(|p| p + i) {
        let mut j = at + 2;
        if bytes.get(j) == Some(&b'-') && bytes.get(j + 1).is_some_and(|b| b.is_ascii_whitespace()) {
            j += 1;
        }
        while bytes.get(j).is_some_and(|b| b.is_ascii_whitespace()) {
            j += 1;
        }
        if src.get(j..).is_some_and(|s| s.starts_with("/*")) {
            // A comment runs to "*/", then the action's close.
            match src.get(j..).and_then(|s| s.find("*/")) {
                Some(end) => i = j + end + 2,
                None => return Ok(()), // the engine reports the unclosed comment
            }
            continue;
        }
        let word: String =
            src.get(j..).unwrap_or_default().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        match word.as_str() {
            "if" | "range" | "with" | "define" | "block" => open.push(at),
            "end" => {
                open.pop();
            }
            _ => {}
        }
        // The action ends at the first "}}" outside a string.
        let mut k = j;
        let mut quote: Option<u8> = None;
        loop {
            let Some(&b) = bytes.get(k) else { return Ok(()) }; // unclosed action: the engine reports it
            match quote {
                Some(q) if b == b'\\' && q != b'`' => k += 1,
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None if b == b'"' || b == b'`' || b == b'\'' => quote = Some(b),
                None if b == b'}' && bytes.get(k + 1) == Some(&b'}') => break,
                None => {}
            }
            k += 1;
        }
        i = k + 2;
    }
    match open.last() {
        Some(&at) => {
            let before = src.get(..at).unwrap_or_default();
            let line = before.matches('\n').count() + 1;
            let col = before.rfind('\n').map_or(at, |nl| at - nl - 1) + 1;
            Err(format!("template: {name}:{line}:{col}: unexpected EOF: this block has no {{{{end}}}}"))
        }
        None => Ok(()),
    }
}

/// The functions `src` names, out of the map built once for the process
/// (the functions read the execution's budget and key from `work::scope`).
/// A template names a few of the 230: handing the engine only those keeps
/// an execution from copying the whole map (thousands of rewrite
/// transforms share one object's time budget). A function is named by an
/// identifier, so every one the template can call is among the words of
/// its source; a word that is not a function is not in the map.
fn used_functions(src: &str) -> gotmpl::FuncMap {
    static FUNCTIONS: std::sync::LazyLock<gotmpl::FuncMap> = std::sync::LazyLock::new(|| metered(functions()));
    let mut used = gotmpl::FuncMap::new();
    for word in src.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if !used.contains_key(word)
            && let Some((name, f)) = FUNCTIONS.get_key_value(word)
        {
            used.insert(name.clone(), f.clone());
        }
    }
    used
}

/// sprig's `set`, `unset`, `merge` and `mergeOverwrite` change the
/// dictionary they are given (Go's maps are shared); seal's dictionaries
/// are values and the functions return the new one. A template that keeps
/// the result under another name (`$_ := set $d "k" "v"`, the usual idiom)
/// would then read `$d` unchanged where ESO reads it changed: refused,
/// naming the position and the form that works in both.
fn mutation_idiom(name: &str, src: &str) -> Result<(), String> {
    static IDIOM: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"\$(\w*)\s*:?=\s*\(?\s*(set|unset|merge|mergeOverwrite|mustMerge|mustMergeOverwrite)\s+\$(\w*)",
        )
        .ok()
    });
    let Some(re) = IDIOM.as_ref() else { return Ok(()) };
    for c in re.captures_iter(src) {
        let (Some(all), Some(to), Some(f), Some(from)) = (c.get(0), c.get(1), c.get(2), c.get(3)) else { continue };
        if to.as_str() != from.as_str() {
            let before = src.get(..all.start()).unwrap_or_default();
            let line = before.matches('\n').count() + 1;
            let col = before.rfind('\n').map_or(all.start(), |nl| all.start() - nl - 1) + 1;
            return Err(format!(
                "template: {name}:{line}:{col}: {f} returns the changed dictionary and leaves ${from} as it was \
                 (sprig changes it in place): write ${from} = {f} ${from} …",
                f = f.as_str(),
                from = from.as_str()
            ));
        }
    }
    Ok(())
}

/// A writer that stops at [`MAX_OUTPUT`].
struct Bounded {
    text: Zeroizing<String>,
    full: bool,
}

impl std::fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.text.len().saturating_add(s.len()) > MAX_OUTPUT {
            self.full = true;
            return Err(std::fmt::Error);
        }
        self.text.push_str(s);
        Ok(())
    }
}

/// An engine error as a message: the template's name, the position where
/// known, and the reason, never text a template computed. Parse errors
/// carry their line and column and quote only the template's source; a
/// missing key is located in the source (the engine reports only the key)
/// and named only when the source spells it, as Go reports `template:
/// NAME:LINE:COL: … map has no entry for key`; a failure of one of seal's
/// functions is given in seal's words; every other execution error is
/// described by its kind alone, since the engine's text can quote values
/// (an index, a number that overflows, a value of the wrong type).
fn describe(name: &str, src: &str, e: &TemplateError, work: &Work) -> String {
    match e {
        TemplateError::Parse { .. } | TemplateError::Lex { .. } => {
            let text = e.to_string();
            if text.starts_with("template:") { text } else { format!("template: {name}: {text}") }
        }
        TemplateError::MissingKey { key } => match locate(src, key) {
            Some((l, c)) => {
                format!(
                    "template: {name}:{l}:{c}: map has no entry for key {key:?} (no such value in the store's data)"
                )
            }
            None => format!("template: {name}: map has no entry for a key the template computed"),
        },
        TemplateError::RangeIterLimit => {
            format!("template {name}: more than {MAX_RANGE_ITERATIONS} range iterations in one execution")
        }
        TemplateError::RecursionLimit => format!("template {name}: nested too deeply"),
        TemplateError::Exec(_) => match work.spent().failure.take() {
            Some(m) => format!("template: {name}: error calling {m}"),
            None => format!(
                "template: {name}: execution failed (a value of the wrong type, or an operation the engine refuses)"
            ),
        },
        TemplateError::TypeMismatch { expected, got } => {
            format!("template: {name}: type mismatch: expected {expected}, got {got}")
        }
        TemplateError::IndexOutOfRange { .. } => format!("template: {name}: index out of range"),
        TemplateError::ArgCount { name: f, expected, got } => {
            format!("template: {name}: wrong number of arguments: {f} expects {expected}, got {got}")
        }
        TemplateError::UndefinedFunction(f) => format!("template: {name}: function {f:?} not defined"),
        TemplateError::UndefinedVariable(v) => format!("template: {name}: undefined variable {v}"),
        TemplateError::UndefinedTemplate(t) => format!("template: {name}: no such template {t:?}"),
        TemplateError::NotIterable(_) => {
            format!("template: {name}: range over a value that is not a list, map or number")
        }
        _ => format!("template: {name}: execution failed"),
    }
}

/// Line and column (1-based) of the first reference to `key` in the
/// source: `.key` not followed by a name character, or the string `"key"`.
fn locate(src: &str, key: &str) -> Option<(usize, usize)> {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut best: Option<usize> = None;
    for pat in [format!(".{key}"), format!("\"{key}\"")] {
        let mut from = 0;
        while let Some(i) = src.get(from..).and_then(|s| s.find(&pat)).map(|i| i + from) {
            let after = src[i + pat.len()..].chars().next();
            if pat.starts_with('"') || !after.is_some_and(ident) {
                best = Some(best.map_or(i, |b| b.min(i)));
                break;
            }
            from = i + 1;
        }
    }
    let at = best?;
    let before = &src[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(at, |nl| at - nl - 1) + 1;
    Some((line, col))
}
