//! `seal unset FILE INDEX`: sops' `unset`. Removes the key or list item at
//! INDEX (sops' `["a"]["b"][0]` path); the other values keep their
//! ciphertext, and the MAC and `lastmodified` are renewed.

use std::path::{Path, PathBuf};

use clap::Args;
use seal_format::sops::tree_path::{self, PathError};

use crate::set::rewrite;
use crate::{Failure, IdentityArgs, IndentArgs, exit};

#[derive(Args)]
pub struct UnsetArgs {
    #[command(flatten)]
    ids: IdentityArgs,
    /// Input format (default: from the file name).
    #[arg(long, value_name = "TYPE")]
    input_type: Option<String>,
    /// Output format written back to the file (default: the input format).
    #[arg(long, value_name = "TYPE")]
    output_type: Option<String>,
    /// Succeed without writing when INDEX does not exist.
    #[arg(long)]
    idempotent: bool,
    /// Do not check the MAC before the edit.
    #[arg(long)]
    ignore_mac: bool,
    #[command(flatten)]
    indent: IndentArgs,
    /// The .sops.yaml whose `stores` section sets the indentation (default: SOPS_CONFIG, else the one found from here).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// FILE INDEX: the encrypted file and the path to remove (e.g. '["a"]["b"][0]').
    #[arg(value_name = "ARGS", num_args = 0..=2)]
    args: Vec<String>,
}

/// `seal unset`.
pub fn run(a: UnsetArgs) -> Result<(), Failure> {
    let [file, index] = a.args.as_slice() else {
        return Err(Failure { code: exit::NO_FILE_SPECIFIED, message: "give FILE and INDEX".into() });
    };
    let path = tree_path::parse(index)
        .map_err(|e| Failure { code: exit::INVALID_SET_FORMAT, message: format!("invalid unset index format: {e}") })?;
    let idempotent = a.idempotent;
    let formats = crate::set::Formats {
        input_type: a.input_type.as_deref(),
        output_type: a.output_type.as_deref(),
        layout: crate::common::layout(&a.indent, a.config.as_deref())?,
    };
    let result =
        rewrite(Path::new(file), &a.ids, formats, a.ignore_mac, false, |root| match tree_path::unset(root, &path) {
            Ok(()) => Ok(true),
            Err(PathError::NotFound(_)) if idempotent => Ok(false),
            Err(e) => Err(Failure::general(e.to_string())),
        });
    result.map(drop)
}
