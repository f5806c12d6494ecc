//! `seal decrypt`: the `sops -d` equivalent, with `--extract`.

use std::path::PathBuf;

use clap::Args;
use seal_format::sops::{self, DecryptOptions, Format, Value};

use crate::common::{OutputTarget, format_of, layout, open, read_input};
use crate::{Failure, IdentityArgs, IndentArgs, exit};

#[derive(Args)]
pub struct DecryptArgs {
    #[command(flatten)]
    ids: IdentityArgs,
    /// Print only this value, e.g. '["stringData"]["password"]'.
    #[arg(long, value_name = "PATH")]
    extract: Option<String>,
    /// Do not check the MAC (values must still decrypt). For files changed by tools that do not know sops.
    #[arg(long)]
    ignore_mac: bool,
    /// Input format (default: from the file name).
    #[arg(long, value_name = "TYPE")]
    input_type: Option<String>,
    /// Output format (default: the input format).
    #[arg(long, value_name = "TYPE")]
    output_type: Option<String>,
    /// Write the plaintext back to the file.
    #[arg(short = 'i', long)]
    in_place: bool,
    /// Write the plaintext to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Take the formats from this name instead of the file's (e.g. when reading stdin).
    #[arg(long, value_name = "PATH")]
    filename_override: Option<String>,
    #[command(flatten)]
    indent: IndentArgs,
    /// The .sops.yaml whose `stores` section sets the indentation (default: SOPS_CONFIG, else the one found from here).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The file, or - for stdin (the default).
    #[arg(default_value = "-")]
    file: String,
}

/// `seal decrypt`.
pub fn run(a: DecryptArgs) -> Result<(), Failure> {
    let target = OutputTarget::new(a.in_place, a.output.as_deref(), &a.file)?;
    let name = a.filename_override.as_deref().unwrap_or(&a.file);
    let format = format_of(a.input_type.as_deref(), name, Format::Yaml)?;
    let out_format = match &a.output_type {
        Some(t) => format_of(Some(t), name, format)?,
        None => format,
    };
    let layout = layout(&a.indent, a.config.as_deref())?;
    let bytes = read_input(&a.file)?;
    let ids = a.ids.load()?;
    let opts = DecryptOptions { verify_mac: !a.ignore_mac, stash: false };
    let (branches, _, _) = open(&a.file, &bytes, format, &ids, opts)?;
    let out = match &a.extract {
        Some(path) => extract(&branches, path, out_format, &layout).map_err(|f| f.in_file(&a.file))?,
        None => sops::emit_plain_in(&branches, out_format, &layout)?,
    };
    target.write(&out)
}

/// Parses sops' `["a"]["b"][0]` path syntax.
fn parse_extract(path: &str) -> Result<Vec<Result<String, usize>>, Failure> {
    let bad = || {
        Failure::new(
            exit::INVALID_TREE_PATH_FORMAT,
            format!("invalid --extract path {path:?}: expected a form like '[\"key\"][0]'"),
        )
    };
    let mut rest = path.trim();
    let mut out = Vec::new();
    while !rest.is_empty() {
        rest = rest.strip_prefix('[').ok_or_else(bad)?;
        let end = rest.find(']').ok_or_else(bad)?;
        let inner = &rest[..end];
        if let Some(q) = inner.strip_prefix('"').and_then(|i| i.strip_suffix('"')) {
            out.push(Ok(q.to_owned()));
        } else if let Some(q) = inner.strip_prefix('\'').and_then(|i| i.strip_suffix('\'')) {
            out.push(Ok(q.to_owned()));
        } else {
            out.push(Err(inner.trim().parse::<usize>().map_err(|_| bad())?));
        }
        rest = &rest[end + 1..];
    }
    Ok(out)
}

fn extract(branches: &[sops::Map], path: &str, format: Format, layout: &sops::Layout) -> Result<Vec<u8>, Failure> {
    let parts = parse_extract(path)?;
    let root = branches.first().ok_or_else(|| Failure::general("the file has no document"))?;
    let mut cur = Value::Map(root.clone());
    for p in &parts {
        let next = match (p, &cur) {
            (Ok(k), Value::Map(m)) => m.get(k).cloned(),
            (Err(i), Value::List(l)) => l.iter().filter(|v| !matches!(v, Value::Comment(_))).nth(*i).cloned(),
            _ => None,
        };
        cur = next.ok_or_else(|| Failure::general(format!("--extract {path}: the file has no such value")))?;
    }
    Ok(match &cur {
        Value::Str(s) => s.as_bytes().to_vec(),
        Value::Map(m) => sops::emit_plain_in(std::slice::from_ref(m), format, layout)?,
        other => match format {
            Format::Json => sops::json::emit_value(other, &layout.json_indent(format)?)?.into_bytes(),
            _ => sops::yaml::emit_value(other, layout.yaml_indent()?).into_bytes(),
        },
    })
}
