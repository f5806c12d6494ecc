//! `seal`: encrypt Kubernetes Secrets into SealedSecrets (SOPS files, age),
//! and decrypt, edit, re-key and verify SOPS files. Flags follow `sops`
//! where `sops` has the same flag.
//!
//! The binary is thin: it parses arguments, builds a plan, and calls the
//! `seal` library. Errors name the file, the path inside it and what to do.

mod cluster;
mod common;
mod config;
mod convert;
mod decrypt;
mod diff;
mod edit;
mod encrypt;
mod exec_env;
mod exec_file;
pub mod exit;
mod filestatus;
mod groups;
mod guard;
mod identity;
mod keygen;
mod legacy;
mod man;
mod render;
mod rotate;
mod secret;
mod set;
mod unset;
mod updatekeys;
mod verify;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};

/// An error for the user: a message and an exit code.
#[derive(Debug)]
pub struct Failure {
    /// Exit code.
    pub code: u8,
    /// What went wrong and what to do.
    pub message: String,
}

impl Failure {
    /// A failure with this exit code (one of [`exit`]).
    pub fn new(code: u8, m: impl Into<String>) -> Failure {
        Failure { code, message: m.into() }
    }

    /// The input cannot be read or is not what the command needs
    /// ([`exit::COULD_NOT_READ_INPUT_FILE`]).
    pub fn input(m: impl Into<String>) -> Failure {
        Failure::new(exit::COULD_NOT_READ_INPUT_FILE, m)
    }

    /// The output cannot be written ([`exit::COULD_NOT_WRITE_OUTPUT_FILE`]).
    pub fn output(m: impl Into<String>) -> Failure {
        Failure::new(exit::COULD_NOT_WRITE_OUTPUT_FILE, m)
    }

    /// Any other error ([`exit::ERROR_GENERIC`]).
    pub fn general(m: impl Into<String>) -> Failure {
        Failure::new(exit::ERROR_GENERIC, m)
    }

    /// Something seal does not implement ([`exit::UNSUPPORTED`]).
    pub fn unsupported(m: impl Into<String>) -> Failure {
        Failure::new(exit::UNSUPPORTED, m)
    }

    /// Prefixes the message with a file name.
    pub fn in_file(mut self, file: &str) -> Failure {
        self.message = format!("{file}: {}", self.message);
        self
    }
}

impl From<seal_format::sops::Error> for Failure {
    /// sops' code for the same failure. A file that does not parse is
    /// `COULD_NOT_READ_INPUT_FILE` here, as for a plaintext input;
    /// [`common::open`] gives an encrypted file's parse failures sops'
    /// code for those (1).
    fn from(e: seal_format::sops::Error) -> Failure {
        use seal_format::sops::Error as E;
        let code = match &e {
            E::NoMatchingKey(_) => exit::COULD_NOT_RETRIEVE_KEY,
            E::MacMismatch { .. } | E::MacUndecryptable(_) | E::MacMissing => exit::MAC_MISMATCH,
            E::Value { .. } | E::NotEncrypted { .. } => exit::ERROR_DECRYPTING_TREE,
            E::Emit { .. } => exit::ERROR_DUMPING_TREE,
            E::Syntax { .. } | E::Structure(_) => exit::COULD_NOT_READ_INPUT_FILE,
            E::Limit(_) => exit::LIMIT,
            E::MixedRecipients { .. } => exit::UNSUPPORTED,
            E::Metadata(_) | E::Recipient { .. } | E::Wrap(_) | E::Cipher(_) => exit::ERROR_GENERIC,
        };
        Failure { code, message: e.to_string() }
    }
}

#[derive(Parser)]
#[command(name = "seal", version, about = "Secrets for GitOps: SealedSecrets in SOPS format, for age recipients")]
#[command(propagate_version = true)]
#[command(
    after_help = "sops' classic form is accepted too (seal -d FILE, seal -e -i FILE, seal --set '[\"k\"] \"v\"' FILE, …), and invoked as `sops` (a symlink) seal takes every sops form."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate an age identity; print its recipient.
    Keygen {
        /// Write the identity to this file (mode 0600) instead of stdout.
        #[arg(short, long, env = "SEAL_KEYGEN_OUTPUT")]
        output: Option<PathBuf>,
        /// A post-quantum hybrid identity (ML-KEM-768 + X25519, `AGE-SECRET-KEY-PQ-1…`, recipient `age1pq1…`).
        #[arg(long)]
        pq: bool,
    },
    /// Encrypt a file (the `sops -e` equivalent).
    Encrypt(encrypt::EncryptArgs),
    /// Decrypt a file (the `sops -d` equivalent).
    Decrypt(decrypt::DecryptArgs),
    /// Edit an encrypted file in $EDITOR; unchanged values keep their ciphertext.
    Edit(edit::EditArgs),
    /// Re-wrap the data key to the recipients the rules name now (values untouched).
    Updatekeys(updatekeys::UpdatekeysArgs),
    /// Re-encrypt every value under a new data key.
    Rotate(rotate::RotateArgs),
    /// Turn a Kubernetes Secret into a SealedSecret.
    Secret(secret::SecretArgs),
    /// Check files: structure, recipients, selection rule; with a key, MAC and scope.
    Verify(verify::VerifyArgs),
    /// Print manifests with every SealedSecret as its Secret and SOPS manifests decrypted (also a KRM function).
    Render(render::RenderArgs),
    /// Convert a Flux SOPS Secret into a SealedSecret, or a Bitnami SealedSecret into a `seal secret` skeleton.
    Convert(convert::ConvertArgs),
    /// Show what changed between two SOPS files (keys, template, scope), never values; also a git diff driver.
    Diff(diff::DiffArgs),
    /// Set one value in an encrypted file (sops' `set`): FILE INDEX VALUE.
    Set(set::SetArgs),
    /// Remove one key or list item from an encrypted file (sops' `unset`): FILE INDEX.
    Unset(unset::UnsetArgs),
    /// Run a command with the decrypted values in its environment (sops' `exec-env`).
    ExecEnv(exec_env::ExecEnvArgs),
    /// Run a command with the decrypted file as a temporary FIFO or file (sops' `exec-file`).
    ExecFile(exec_file::ExecFileArgs),
    /// Print whether a file is encrypted, as JSON (sops' `filestatus`).
    Filestatus(filestatus::FilestatusArgs),
    /// Add or delete a key group of a file (sops' `groups`).
    #[command(subcommand)]
    Groups(groups::GroupsCommand),
    /// Print the cluster's recipients (from seal-controller), newest first, one per line.
    Recipients(ControllerArgs),
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write man pages into a directory.
    Man {
        /// Output directory.
        #[arg(short, long, default_value = ".")]
        output: PathBuf,
    },
}

/// Identity sources shared by the commands that decrypt.
#[derive(Args, Clone, Default)]
pub struct IdentityArgs {
    /// An age identity file (repeatable); also SOPS_AGE_KEY, SOPS_AGE_KEY_FILE and the default sops key file.
    #[arg(long = "identity", value_name = "FILE", env = "SEAL_IDENTITY", value_delimiter = ',')]
    pub identity: Vec<PathBuf>,
    /// sops' key types to try, in order (comma-separated); seal decrypts with age keys only, so only `age` may be named.
    #[arg(long, value_name = "TYPES", env = "SOPS_DECRYPTION_ORDER")]
    pub decryption_order: Option<String>,
}

impl IdentityArgs {
    /// The identities to decrypt with, once `--decryption-order` is one
    /// seal can follow.
    pub fn load(&self) -> Result<seal_format::sops::Identities, Failure> {
        if let Some(order) = &self.decryption_order {
            identity::decryption_order(order)?;
        }
        identity::load(&self.identity)
    }
}

/// sops' `--indent`: how YAML and JSON output is indented, over the
/// `stores` section of `.sops.yaml` (see `common::layout`).
#[derive(Args, Clone, Default)]
pub struct IndentArgs {
    /// Spaces to indent YAML or JSON output, as sops' --indent (default: the `stores` section of .sops.yaml, else 4 spaces for YAML and a tab for JSON).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub indent: Option<i64>,
}

/// Where to find seal-controller's published recipients.
#[derive(Args, Clone)]
pub struct ControllerArgs {
    /// The kubeconfig context (default: the current context).
    #[arg(long, env = "SEAL_CONTEXT")]
    pub context: Option<String>,
    /// The controller's namespace.
    #[arg(long, env = "SEAL_CONTROLLER_NAMESPACE", default_value = "seal-system")]
    pub controller_namespace: String,
}

/// The selection rule flags (at most one: more is sops' exit 8, checked
/// when the rule is built rather than by clap).
#[derive(Args, Clone, Default)]
pub struct RuleArgs {
    /// Encrypt only values under keys matching this regex.
    #[arg(long, value_name = "RE")]
    pub encrypted_regex: Option<String>,
    /// Leave values under keys matching this regex in clear.
    #[arg(long, value_name = "RE")]
    pub unencrypted_regex: Option<String>,
    /// Encrypt only values under keys ending with this suffix.
    #[arg(long, value_name = "SUFFIX")]
    pub encrypted_suffix: Option<String>,
    /// Leave values under keys ending with this suffix in clear (default `_unencrypted`).
    #[arg(long, value_name = "SUFFIX")]
    pub unencrypted_suffix: Option<String>,
    /// Encrypt only values after a comment matching this regex.
    #[arg(long, value_name = "RE")]
    pub encrypted_comment_regex: Option<String>,
    /// Leave values after a comment matching this regex in clear.
    #[arg(long, value_name = "RE")]
    pub unencrypted_comment_regex: Option<String>,
}

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let as_sops = legacy::invoked_as_sops(&argv);
    let args = match legacy::translate(argv, &legacy::Known::of(&Cli::command())) {
        Ok(args) => args,
        Err(f) => return report(f, as_sops),
    };
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let result = match cli.command {
        Command::Keygen { output, pq } => keygen::run(output.as_deref(), pq),
        Command::Encrypt(a) => encrypt::run(a),
        Command::Decrypt(a) => decrypt::run(a),
        Command::Edit(a) => edit::run(a),
        Command::Updatekeys(a) => updatekeys::run(a),
        Command::Rotate(a) => rotate::run(a),
        Command::Secret(a) => secret::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Render(a) => render::run(a),
        Command::Convert(a) => convert::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Set(a) => set::run(a),
        Command::Unset(a) => unset::run(a),
        Command::ExecEnv(a) => exec_env::run(a),
        Command::ExecFile(a) => exec_file::run(a),
        Command::Filestatus(a) => filestatus::run(a),
        Command::Groups(c) => groups::run(c),
        Command::Recipients(a) => cluster::recipients(a.context.as_deref(), &a.controller_namespace)
            .and_then(|r| common::write_stdout(seal_format::document::recipients_text(&r).as_bytes())),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "seal", &mut std::io::stdout());
            Ok(())
        }
        Command::Man { output } => man::run(Cli::command(), &output),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => report(f, as_sops),
    }
}

/// Prints a failure and gives its exit code. Under the name `sops`, or for
/// a message in sops' own words, there is no `seal:` prefix.
fn report(f: Failure, as_sops: bool) -> ExitCode {
    // A closed pipe (e.g. `seal decrypt f | head`) is not an error.
    if f.message.contains("Broken pipe") {
        return ExitCode::SUCCESS;
    }
    // sops' own words stand alone, as sops prints them.
    let prefix = if as_sops || f.message == config::EMPTY_KEY_GROUP { "" } else { "seal: " };
    let message = if as_sops { legacy::in_sops_words(f.code, f.message) } else { f.message };
    let _ = writeln!(std::io::stderr(), "{prefix}{message}");
    ExitCode::from(f.code)
}

/// Prints clap's message; `--help` and `--version` succeed, a wrong
/// command line exits with [`exit::USAGE`] (clap's own 2 is sops'
/// "could not read the input file").
fn usage_error(e: &clap::Error) -> ExitCode {
    let _ = e.print();
    if e.use_stderr() { ExitCode::from(exit::USAGE) } else { ExitCode::SUCCESS }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
