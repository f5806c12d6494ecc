//! `seal diff OLD NEW`: what changed between two versions of a SOPS file
//! (a SealedSecret above all), for reviewing a pull request, without
//! printing a single secret value.
//!
//! - Keys added, removed and changed, by path.
//! - Values a SOPS file stores in clear (a SealedSecret's template,
//!   labels, policies) are public in git already: their old and new values
//!   are shown. A file that is not encrypted at all is compared too, but its
//!   values are never printed: it may be a decrypted copy.
//! - With a key that decrypts both files, encrypted values are compared as
//!   plaintexts ("value changed"); the scope binding is shown. Without one,
//!   ciphertexts are compared, and the output says so: a value re-encrypted
//!   under a new data key shows as changed even if its plaintext is the same.
//! - Recipients added and removed.
//!
//! Also a git diff driver: given git's seven arguments (`PATH OLD-FILE
//! OLD-HEX OLD-MODE NEW-FILE NEW-HEX NEW-MODE`), it compares OLD-FILE and
//! NEW-FILE and names PATH; `/dev/null` is an absent file.

use std::collections::BTreeMap;

use clap::Args;
use seal_format::document as sealed;
use seal_format::sops::compare::Leaf;
use seal_format::sops::{self, DecryptOptions, Format, Identities, Map, Value};

use crate::common::{read_input, write_stdout};
use crate::{Failure, IdentityArgs};

/// Arguments of `seal diff`.
#[derive(Args)]
pub struct DiffArgs {
    /// OLD NEW; or, as a git diff driver, git's seven arguments.
    #[arg(required = true, num_args = 2..=7, value_name = "FILE")]
    pub files: Vec<String>,
    /// Exit with 1 when the files differ (git's diff driver wants 0, the default).
    #[arg(long)]
    pub exit_code: bool,
    #[command(flatten)]
    pub ids: IdentityArgs,
}

/// One side of the comparison.
struct Side {
    /// The tree as written (`ENC[…]` values), per document.
    raw: Vec<Map>,
    /// The plaintext tree, when a key decrypted it (or it is not encrypted).
    plain: Option<Vec<Map>>,
    /// The age recipients of the file.
    recipients: Vec<String>,
    /// Why the plaintext is not available, if it is not.
    why_not: Option<String>,
    /// Whether the file is a SOPS file (its values in clear are public by
    /// the file's own rule; a plain file's are not shown).
    sops: bool,
}

/// `seal diff`.
pub fn run(a: DiffArgs) -> Result<(), Failure> {
    let (name, old, new) = match a.files.as_slice() {
        [old, new] => (None, old, new),
        [path, old, _, _, new, _, _] => (Some(path.as_str()), old, new),
        _ => {
            return Err(Failure {
                code: crate::exit::USAGE,
                message: "give OLD NEW, or git's seven diff-driver arguments".into(),
            });
        }
    };
    let format_name = name.unwrap_or(new.as_str());
    let format = if format_name.ends_with(".json") { Format::Json } else { Format::Yaml };
    let ids = a.ids.load()?;
    let old = side(old, format, &ids)?;
    let new = side(new, format, &ids)?;
    let report = compare(&old, &new);
    let mut out = String::new();
    if let Some(n) = name {
        out.push_str(&format!("seal diff {n}\n"));
    }
    out.push_str(&report.text);
    write_stdout(out.as_bytes())?;
    if a.exit_code && report.changes > 0 {
        return Err(Failure { code: 1, message: format!("{} change(s)", report.changes) });
    }
    Ok(())
}

fn side(file: &str, format: Format, ids: &Identities) -> Result<Side, Failure> {
    let bytes = if file == "/dev/null" { Vec::new() } else { read_input(file)? };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Side {
            raw: Vec::new(),
            plain: Some(Vec::new()),
            recipients: Vec::new(),
            why_not: None,
            sops: false,
        });
    }
    // A file without a `sops` block reads as plaintext; one with it does not.
    if let Ok(plain) = sops::parse_plain(&bytes, format) {
        return Ok(Side { raw: plain.clone(), plain: Some(plain), recipients: Vec::new(), why_not: None, sops: false });
    }
    let doc = sops::parse_encrypted(&bytes, format).map_err(|e| Failure::from(e).in_file(file))?;
    let recipients = doc.metadata.recipients().map(str::to_owned).collect();
    let raw = doc.branches.clone();
    let (plain, why_not) = if ids.is_empty() {
        (None, Some("no identity loaded".to_owned()))
    } else {
        match sops::decrypt_document(doc, ids, DecryptOptions::default()) {
            Ok((plain, _, _)) => (Some(plain), None),
            Err(e @ sops::Error::NoMatchingKey(_)) => (None, Some(e.to_string())),
            Err(e) => (None, Some(format!("{file}: {e}"))),
        }
    };
    Ok(Side { raw, plain, recipients, why_not, sops: true })
}

/// A leaf of a tree: its path for people, whether it is stored encrypted,
/// and the values to compare.
struct Entry {
    encrypted: bool,
    raw: Leaf,
    plain: Option<Leaf>,
    /// The value as shown, when the file stores it in clear by its rule.
    shown: Option<String>,
}

fn entries(side: &Side) -> BTreeMap<String, Entry> {
    let mut raw = Vec::new();
    for (i, doc) in side.raw.iter().enumerate() {
        walk_map(doc, &doc_prefix(i, side.raw.len()), &mut raw);
    }
    let mut plain = Vec::new();
    if let Some(p) = &side.plain {
        for (i, doc) in p.iter().enumerate() {
            walk_map(doc, &doc_prefix(i, p.len()), &mut plain);
        }
    }
    let mut plain: BTreeMap<String, &Value> = plain.into_iter().collect();
    raw.into_iter()
        .map(|(path, v)| {
            let encrypted = matches!(v, Value::Str(s) if sops::cipher::is_envelope(s));
            let p = plain.remove(&path);
            let shown = (side.sops && !encrypted).then(|| show(v));
            (path, Entry { encrypted, raw: Leaf::of(v), plain: p.map(Leaf::of), shown })
        })
        .collect()
}

fn doc_prefix(i: usize, n: usize) -> String {
    if n > 1 { format!("document {}: ", i + 1) } else { String::new() }
}

fn walk_map<'a>(m: &'a Map, path: &str, out: &mut Vec<(String, &'a Value)>) {
    for (k, v) in m.pairs() {
        let p = if path.is_empty() || path.ends_with(": ") { format!("{path}{k}") } else { format!("{path}.{k}") };
        walk(v, &p, out);
    }
}

fn walk<'a>(v: &'a Value, path: &str, out: &mut Vec<(String, &'a Value)>) {
    match v {
        Value::Map(m) if m.pairs().next().is_some() => walk_map(m, path, out),
        Value::List(l) if l.iter().any(|v| !matches!(v, Value::Comment(_))) => {
            for (i, v) in l.iter().filter(|v| !matches!(v, Value::Comment(_))).enumerate() {
                walk(v, &format!("{path}[{i}]"), out);
            }
        }
        Value::Comment(_) => {}
        leaf => out.push((path.to_owned(), leaf)),
    }
}

/// A value stored in clear, as a short quoted text.
fn show(v: &Value) -> String {
    let text = match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Str(s) => format!("{:?}", s.as_str()),
        Value::Time(t) => t.0.clone(),
        Value::Map(_) => "{}".to_owned(),
        Value::List(_) | Value::Comment(_) => "[]".to_owned(),
    };
    if text.chars().count() > 80 { format!("{}…", text.chars().take(80).collect::<String>()) } else { text }
}

/// The comparison, as text, and how many changes it found.
struct Report {
    text: String,
    changes: usize,
}

fn compare(old: &Side, new: &Side) -> Report {
    let mut text = String::new();
    let plaintexts = old.plain.is_some() && new.plain.is_some();
    if plaintexts {
        text.push_str("comparing plaintexts\n");
    } else {
        let mut why: Vec<&str> = [&old.why_not, &new.why_not].into_iter().flatten().map(String::as_str).collect();
        why.dedup();
        let why = why.join("; ");
        text.push_str(&format!(
            "comparing ciphertexts ({why}): a value re-encrypted under a new data key shows as changed\n"
        ));
    }
    let (a, b) = (entries(old), entries(new));
    let mut changes = 0;
    let mut line = |s: String| {
        changes += 1;
        text.push_str(&s);
        text.push('\n');
    };
    for (path, e) in &a {
        if !b.contains_key(path) {
            line(format!("- {path}: removed"));
        } else if let Some(n) = b.get(path)
            && let Some(l) = changed(path, e, n, plaintexts, old, new)
        {
            line(l);
        }
    }
    for path in b.keys().filter(|p| !a.contains_key(*p)) {
        line(format!("+ {path}: added"));
    }
    for r in &new.recipients {
        if !old.recipients.contains(r) && !new.raw.is_empty() && !old.raw.is_empty() {
            line(format!("+ recipient {r}"));
        }
    }
    for r in &old.recipients {
        if !new.recipients.contains(r) && !new.raw.is_empty() && !old.raw.is_empty() {
            line(format!("- recipient {r}"));
        }
    }
    if changes == 0 {
        text.push_str("no changes\n");
    }
    Report { text, changes }
}

/// The line for a path present on both sides, if it changed.
fn changed(path: &str, o: &Entry, n: &Entry, plaintexts: bool, old: &Side, new: &Side) -> Option<String> {
    if !o.encrypted && !n.encrypted {
        return (o.raw != n.raw).then(|| match (&o.shown, &n.shown) {
            (Some(a), Some(b)) => format!("~ {path}: {a} → {b}"),
            _ => format!("~ {path}: value changed (a file that is not encrypted: values not printed)"),
        });
    }
    if plaintexts {
        if o.plain == n.plain {
            return None;
        }
        if path == "spec.scope" {
            let binding = |s: &Side| {
                s.plain
                    .as_ref()
                    .and_then(|p| p.first())
                    .and_then(|d| d.get("spec"))
                    .and_then(Value::as_map)
                    .and_then(|s| s.get("scope"))
                    .and_then(Value::as_str)
                    .map(|v| sealed::split_scope(v).0.to_owned())
                    .unwrap_or_default()
            };
            let (bo, bn) = (binding(old), binding(new));
            // The scope also binds the key names: a key added or removed
            // changes it, and is listed on its own line.
            return (bo != bn).then(|| format!("~ spec.scope: {bo} → {bn}"));
        }
        let how = match (o.encrypted, n.encrypted) {
            (true, false) => " (now stored in clear)",
            (false, true) => " (now encrypted)",
            _ => "",
        };
        return Some(format!("~ {path}: value changed{how}"));
    }
    (o.raw != n.raw).then(|| format!("~ {path}: ciphertext changed"))
}
