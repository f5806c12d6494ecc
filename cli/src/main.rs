//! `seal`: encrypt Kubernetes Secrets into SealedSecrets (SOPS files, age),
//! and decrypt, edit, re-key and verify SOPS files. Flags follow `sops`
//! where `sops` has the same flag.
//!
//! The binary is thin: it parses arguments, builds a plan, and calls the
//! `seal` library. Errors name the file, the path inside it and what to do.

mod cluster;
mod commands;
mod config;
mod convert;
mod diff;
mod guard;
mod identity;
mod render;
mod secret;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};

/// Exit codes (also in the README).
pub mod exit {
    /// Something else failed (I/O on output, an editor that failed).
    pub const GENERAL: u8 = 1;
    /// Bad command line (clap's own code).
    pub const USAGE: u8 = 2;
    /// The input cannot be read or parsed, or is not what the command needs.
    pub const INPUT: u8 = 3;
    /// No available identity decrypts the data key.
    pub const NO_KEY: u8 = 4;
    /// The file fails integrity checks: MAC mismatch, tampered value.
    pub const INTEGRITY: u8 = 5;
    /// `seal verify` found a problem.
    pub const VERIFY: u8 = 6;
}

/// An error for the user: a message and an exit code.
#[derive(Debug)]
pub struct Failure {
    /// Exit code.
    pub code: u8,
    /// What went wrong and what to do.
    pub message: String,
}

impl Failure {
    /// An input error.
    pub fn input(m: impl Into<String>) -> Failure {
        Failure { code: exit::INPUT, message: m.into() }
    }

    /// Any other error.
    pub fn general(m: impl Into<String>) -> Failure {
        Failure { code: exit::GENERAL, message: m.into() }
    }

    /// Prefixes the message with a file name.
    pub fn in_file(mut self, file: &str) -> Failure {
        self.message = format!("{file}: {}", self.message);
        self
    }
}

impl From<seal_format::sops::Error> for Failure {
    fn from(e: seal_format::sops::Error) -> Failure {
        use seal_format::sops::Error as E;
        let code = match &e {
            E::NoMatchingKey(_) => exit::NO_KEY,
            E::MacMismatch { .. }
            | E::MacUndecryptable(_)
            | E::MacMissing
            | E::Value { .. }
            | E::NotEncrypted { .. } => exit::INTEGRITY,
            E::Emit { .. } | E::Wrap(_) | E::Cipher(_) => exit::GENERAL,
            E::Syntax { .. } | E::Structure(_) | E::Metadata(_) | E::Recipient { .. } | E::Limit(_) => exit::INPUT,
        };
        Failure { code, message: e.to_string() }
    }
}

#[derive(Parser)]
#[command(name = "seal", version, about = "Secrets for GitOps: SealedSecrets in SOPS format, for age recipients")]
#[command(propagate_version = true)]
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
    },
    /// Encrypt a file (the `sops -e` equivalent).
    Encrypt(EncryptArgs),
    /// Decrypt a file (the `sops -d` equivalent).
    Decrypt(DecryptArgs),
    /// Edit an encrypted file in $EDITOR; unchanged values keep their ciphertext.
    Edit(EditArgs),
    /// Re-wrap the data key to the recipients the rules name now (values untouched).
    Updatekeys(UpdatekeysArgs),
    /// Re-encrypt every value under a new data key.
    Rotate(RotateArgs),
    /// Turn a Kubernetes Secret into a SealedSecret.
    Secret(secret::SecretArgs),
    /// Check files: structure, recipients, selection rule; with a key, MAC and scope.
    Verify(VerifyArgs),
    /// Print manifests with every SealedSecret as its Secret and SOPS manifests decrypted (also a KRM function).
    Render(render::RenderArgs),
    /// Convert a Flux SOPS Secret into a SealedSecret, or a Bitnami SealedSecret into a `seal secret` skeleton.
    Convert(convert::ConvertArgs),
    /// Show what changed between two SOPS files (keys, template, scope), never values; also a git diff driver.
    Diff(diff::DiffArgs),
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

/// The selection rule flags (at most one).
#[derive(Args, Clone, Default)]
#[group(multiple = false)]
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

#[derive(Args)]
struct EncryptArgs {
    /// Age recipients, comma-separated (overrides .sops.yaml).
    #[arg(long, value_name = "R,...", env = "SOPS_AGE_RECIPIENTS", value_delimiter = ',')]
    age: Vec<String>,
    #[command(flatten)]
    rule: RuleArgs,
    /// Compute the MAC over encrypted values only.
    #[arg(long)]
    mac_only_encrypted: bool,
    /// Shamir threshold when .sops.yaml gives several key groups.
    #[arg(long, value_name = "N")]
    shamir_secret_sharing_threshold: Option<usize>,
    /// Input format: yaml, json, dotenv, binary (default: from the file name).
    #[arg(long, value_name = "TYPE")]
    input_type: Option<String>,
    /// Output format (default: the input format).
    #[arg(long, value_name = "TYPE")]
    output_type: Option<String>,
    /// Use this .sops.yaml instead of searching from the current directory.
    #[arg(long, value_name = "FILE", env = "SOPS_CONFIG")]
    config: Option<PathBuf>,
    /// Path used to match .sops.yaml rules when reading stdin.
    #[arg(long, value_name = "PATH")]
    filename_override: Option<PathBuf>,
    /// Write the result back to the file.
    #[arg(short = 'i', long)]
    in_place: bool,
    /// The file, or - for stdin.
    file: String,
}

#[derive(Args)]
struct DecryptArgs {
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
    /// The file, or - for stdin.
    file: String,
}

#[derive(Args)]
struct EditArgs {
    #[command(flatten)]
    ids: IdentityArgs,
    /// Input format (default: from the file name).
    #[arg(long, value_name = "TYPE")]
    input_type: Option<String>,
    /// The file to edit.
    file: PathBuf,
}

#[derive(Args)]
struct UpdatekeysArgs {
    #[command(flatten)]
    ids: IdentityArgs,
    /// The new recipients, comma-separated (default: the .sops.yaml rule for the file).
    #[arg(long, value_name = "R,...", value_delimiter = ',')]
    age: Vec<String>,
    /// Use this .sops.yaml instead of searching from the current directory.
    #[arg(long, value_name = "FILE", env = "SOPS_CONFIG")]
    config: Option<PathBuf>,
    /// Input format (default: from the file name).
    #[arg(long, value_name = "TYPE")]
    input_type: Option<String>,
    /// Accepted for sops compatibility; seal does not prompt.
    #[arg(short = 'y', long)]
    yes: bool,
    /// The file (rewritten in place).
    file: PathBuf,
}

#[derive(Args)]
struct RotateArgs {
    #[command(flatten)]
    ids: IdentityArgs,
    /// Add these recipients while rotating.
    #[arg(long, value_name = "R,...", value_delimiter = ',')]
    add_age: Vec<String>,
    /// Remove these recipients while rotating.
    #[arg(long, value_name = "R,...", value_delimiter = ',')]
    rm_age: Vec<String>,
    /// Input format (default: from the file name).
    #[arg(long, value_name = "TYPE")]
    input_type: Option<String>,
    /// Write the result back to the file (default: stdout).
    #[arg(short = 'i', long)]
    in_place: bool,
    /// The file.
    file: String,
}

#[derive(Args)]
struct VerifyArgs {
    #[command(flatten)]
    ids: IdentityArgs,
    /// Only check structure and recipients, even when a key is available.
    #[arg(long)]
    no_decrypt: bool,
    /// The files to check.
    #[arg(required = true)]
    files: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen { output } => commands::keygen(output.as_deref()),
        Command::Encrypt(a) => commands::encrypt(a),
        Command::Decrypt(a) => commands::decrypt(a),
        Command::Edit(a) => commands::edit(a),
        Command::Updatekeys(a) => commands::updatekeys(a),
        Command::Rotate(a) => commands::rotate(a),
        Command::Secret(a) => secret::run(a),
        Command::Verify(a) => commands::verify(a),
        Command::Render(a) => render::run(a),
        Command::Convert(a) => convert::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Recipients(a) => cluster::recipients(a.context.as_deref(), &a.controller_namespace)
            .and_then(|r| commands::write_stdout(seal_format::document::recipients_text(&r).as_bytes())),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "seal", &mut std::io::stdout());
            Ok(())
        }
        Command::Man { output } => commands::man(Cli::command(), &output),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            // A closed pipe (e.g. `seal decrypt f | head`) is not an error.
            if f.message.contains("Broken pipe") {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(std::io::stderr(), "seal: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
