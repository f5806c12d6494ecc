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
mod guard;
mod identity;
mod keygen;
mod man;
mod render;
mod rotate;
mod secret;
mod updatekeys;
mod verify;

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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen { output } => keygen::run(output.as_deref()),
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
        Err(f) => {
            // A closed pipe (e.g. `seal decrypt f | head`) is not an error.
            if f.message.contains("Broken pipe") {
                return ExitCode::SUCCESS;
            }
            // sops' own words stand alone, as sops prints them.
            let prefix = if f.message == config::EMPTY_KEY_GROUP { "" } else { "seal: " };
            let _ = writeln!(std::io::stderr(), "{prefix}{}", f.message);
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
