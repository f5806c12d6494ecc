//! sops' classic flag form — `sops -d f`, `sops -e -i f`,
//! `sops --set '["k"] "v"' f`, `sops -r --add-age age1… f`, `sops f` (edit) —
//! accepted beside seal's subcommands, and everything sops accepts when
//! seal runs under the name `sops` (a symlink).
//!
//! The classic argv is rewritten into the equivalent subcommand argv before
//! clap sees it, so each operation has one implementation and `seal --help`
//! stays seal's own. The flags are sops 3.11's top-level flags, read as its
//! command-line library reads them: one or two dashes, `--flag value` or
//! `--flag=value`, no bundling of short flags. Differences, on purpose:
//!
//! - a flag after the file is applied (sops ignores it with a warning and
//!   opens the editor);
//! - a flag that does not apply to the operation, a second file, or more
//!   than one of `-e`/`-d`/`-r`/`--set` is refused (sops ignores the
//!   first two and, for the third, keeps the last operation's output);
//! - keys seal does not implement (`--pgp`, `--kms`, `--add-pgp`, …, and
//!   their environment variables for `-e`) are refused naming the flag;
//! - `-d`/`-e` without a file read standard input, as `sops decrypt` and
//!   `sops encrypt` do (sops 3.11's classic form exits 100 there).

use std::ffi::OsString;

use crate::{Failure, exit};

/// Whether seal was invoked under the name `sops` (a symlink or a copy):
/// then every classic form is read as sops reads it, and messages carry no
/// `seal:` prefix.
pub fn invoked_as_sops(argv: &[OsString]) -> bool {
    argv.first().and_then(|a| std::path::Path::new(a).file_name()).is_some_and(|n| n == "sops" || n == "sops.exe")
}

/// sops' subcommands seal does not have: passed on to clap, which refuses
/// them by name (read as a file name, they would open an editor).
const SOPS_ONLY_SUBCOMMANDS: [&str; 3] = ["publish", "keyservice", "completion"];

/// sops flags naming keys seal does not implement (they take a value), and
/// key services. `hckms` is from sops 3.12.
const REFUSED_VALUE_FLAGS: [&str; 23] = [
    "k",
    "kms",
    "p",
    "pgp",
    "gcp-kms",
    "azure-kv",
    "hc-vault-transit",
    "hckms",
    "aws-profile",
    "encryption-context",
    "add-kms",
    "rm-kms",
    "add-pgp",
    "rm-pgp",
    "add-gcp-kms",
    "rm-gcp-kms",
    "add-azure-kv",
    "rm-azure-kv",
    "add-hc-vault-transit",
    "rm-hc-vault-transit",
    "add-hckms",
    "rm-hckms",
    "keyservice",
];

/// Environment variables sops reads as `--kms`, `--pgp`, … when encrypting.
const REFUSED_KEY_ENV: [(&str, &str); 6] = [
    ("SOPS_KMS_ARN", "--kms"),
    ("SOPS_PGP_FP", "--pgp"),
    ("SOPS_GCP_KMS_IDS", "--gcp-kms"),
    ("SOPS_AZURE_KEYVAULT_URLS", "--azure-kv"),
    ("SOPS_VAULT_URIS", "--hc-vault-transit"),
    ("SOPS_HUAWEICLOUD_KMS_IDS", "--hckms"),
];

/// Flags that take a value and are passed on unchanged as `--NAME VALUE`
/// to the subcommand of the operations listed.
const VALUE_FLAGS: [(&str, &[Mode]); 18] = [
    ("age", NEW_FILE),
    ("extract", &[Mode::Decrypt]),
    ("input-type", &[Mode::Encrypt, Mode::Decrypt, Mode::Rotate, Mode::Set, Mode::Edit]),
    ("output-type", &[Mode::Encrypt, Mode::Decrypt, Mode::Rotate, Mode::Set]),
    ("output", &[Mode::Encrypt, Mode::Decrypt, Mode::Rotate]),
    ("filename-override", &[Mode::Encrypt, Mode::Decrypt, Mode::Rotate]),
    ("add-age", &[Mode::Rotate]),
    ("rm-age", &[Mode::Rotate]),
    ("unencrypted-suffix", NEW_FILE),
    ("encrypted-suffix", NEW_FILE),
    ("unencrypted-regex", NEW_FILE),
    ("encrypted-regex", NEW_FILE),
    ("unencrypted-comment-regex", NEW_FILE),
    ("encrypted-comment-regex", NEW_FILE),
    ("shamir-secret-sharing-threshold", NEW_FILE),
    ("config", ALL_MODES),
    ("indent", ALL_MODES),
    ("set", &[]),
];

/// Encrypting, and editing (of a file that does not exist: `edit` refuses
/// them for one that does): who a new file is for and its rule.
const NEW_FILE: &[Mode] = &[Mode::Encrypt, Mode::Edit];

/// Every operation: `--config` (its creation rules, and its `stores`
/// section's indentation) and `--indent` apply to all of them.
const ALL_MODES: &[Mode] = &[Mode::Encrypt, Mode::Decrypt, Mode::Rotate, Mode::Set, Mode::Edit];

/// Boolean flags passed on as `--NAME` to the operations listed.
const BOOL_FLAGS: [(&str, &[Mode]); 3] = [
    ("ignore-mac", &[Mode::Decrypt, Mode::Rotate, Mode::Set, Mode::Edit]),
    ("mac-only-encrypted", NEW_FILE),
    ("show-master-keys", &[Mode::Edit]),
];

/// The operation a classic command line asks for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Encrypt,
    Decrypt,
    Rotate,
    Set,
    Edit,
}

impl Mode {
    fn subcommand(self) -> &'static str {
        match self {
            Mode::Encrypt => "encrypt",
            Mode::Decrypt => "decrypt",
            Mode::Rotate => "rotate",
            Mode::Set => "set",
            Mode::Edit => "edit",
        }
    }
}

/// seal's command line as clap defines it: each subcommand and its long
/// flags, so that a classic flag goes to the subcommand that has it (e.g.
/// `-r --rm-pgp FP` once `rotate` has `--rm-pgp`) and is refused otherwise.
pub struct Known {
    subcommands: Vec<(String, Vec<String>)>,
}

impl Known {
    /// Reads the subcommands and flags of `cmd` (plus clap's `help`).
    pub fn of(cmd: &clap::Command) -> Known {
        let mut subcommands: Vec<(String, Vec<String>)> = cmd
            .get_subcommands()
            .map(|s| {
                (s.get_name().to_owned(), s.get_arguments().filter_map(|a| a.get_long()).map(str::to_owned).collect())
            })
            .collect();
        subcommands.push(("help".to_owned(), Vec::new()));
        Known { subcommands }
    }

    fn has_subcommand(&self, name: &str) -> bool {
        self.subcommands.iter().any(|(s, _)| s == name)
    }

    fn has_flag(&self, subcommand: &str, flag: &str) -> bool {
        self.subcommands.iter().any(|(s, flags)| s == subcommand && flags.iter().any(|f| f == flag))
    }
}

/// Rewrites a classic sops command line into the subcommand argv (with the
/// program name first); any other is returned as it is.
pub fn translate(argv: Vec<OsString>, known: &Known) -> Result<Vec<OsString>, Failure> {
    let as_sops = invoked_as_sops(&argv);
    let mut args = argv.into_iter();
    let program = args.next().unwrap_or_else(|| OsString::from("seal"));
    let rest: Vec<OsString> = args.collect();
    if let Some(moved) = globals_before_subcommand(&rest, known) {
        return Ok(std::iter::once(program).chain(moved?).collect());
    }
    let first = rest.first().and_then(|a| a.to_str());
    let passthrough = match first {
        None => !as_sops,
        Some(f) => {
            known.has_subcommand(f)
                || SOPS_ONLY_SUBCOMMANDS.contains(&f)
                || (rest.len() == 1 && ["-h", "--help", "-V", "--version"].contains(&f))
                // Under its own name, seal reads a bare word as a file only
                // when it is one: a mistyped subcommand stays an error.
                || (!as_sops && !f.starts_with('-') && !std::path::Path::new(f).is_file())
        }
    };
    if passthrough {
        return Ok(std::iter::once(program).chain(rest).collect());
    }
    let classic = Classic::parse(&rest)?;
    let mut out = vec![program];
    out.extend(classic.into_subcommand(known, |k| std::env::var_os(k).filter(|v| !v.is_empty()).is_some())?);
    Ok(out)
}

/// sops' global flags written before a subcommand (`sops --config c.yaml
/// encrypt f`, `sops --indent 2 decrypt f`): the subcommand argv with them
/// moved after it, or `None` when the command line is not of that form.
/// `--config` and `--indent` go to a subcommand that has them and are
/// refused by name for one that has not (they would change nothing there);
/// the logging and update-check flags have no effect in seal and are left
/// out, as in the classic form.
fn globals_before_subcommand(rest: &[OsString], known: &Known) -> Option<Result<Vec<OsString>, Failure>> {
    let mut moved: Vec<(String, OsString)> = Vec::new();
    let mut any = false;
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        let s = arg.to_str()?;
        let Some(body) = s.strip_prefix("--").or_else(|| s.strip_prefix('-')).filter(|b| !b.is_empty()) else {
            // The first word: a subcommand, or this is not the form.
            if !any || !known.has_subcommand(s) {
                return None;
            }
            let mut out: Vec<OsString> = vec![arg.clone()];
            for (flag, value) in moved {
                if !known.has_flag(s, &flag) {
                    return Some(Err(usage(format!("--{flag} does not apply to {s}; leave it out"))));
                }
                out.extend([OsString::from(format!("--{flag}")), value]);
            }
            out.extend(it.cloned());
            return Some(Ok(out));
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        match name {
            "config" | "indent" => {
                let value = match inline {
                    Some(v) => OsString::from(v),
                    None => it.next()?.clone(),
                };
                moved.push((name.to_owned(), value));
            }
            "verbose" | "disable-version-check" | "check-for-updates" => {
                if let Some(Err(e)) = inline.map(|v| parse_bool(name, v)) {
                    return Some(Err(e));
                }
            }
            _ => return None,
        }
        any = true;
    }
    None
}

/// A parsed classic command line.
#[derive(Default, Debug)]
struct Classic {
    encrypt: bool,
    decrypt: bool,
    rotate: bool,
    in_place: bool,
    help: bool,
    version: bool,
    /// `--NAME VALUE` flags, in order.
    values: Vec<(String, OsString)>,
    /// `--NAME` boolean flags set to true, in order.
    bools: Vec<String>,
    /// `--add-pgp`, `--rm-kms`, …: passed on where the subcommand has the
    /// flag, refused otherwise.
    foreign: Vec<(String, OsString)>,
    files: Vec<OsString>,
}

fn usage(message: String) -> Failure {
    Failure::new(exit::USAGE, message)
}

/// Go's `strconv.ParseBool`, which sops' flag library uses for `-d=false`.
fn parse_bool(name: &str, v: &str) -> Result<bool, Failure> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(usage(format!("invalid boolean value {v:?} for flag -{name}"))),
    }
}

impl Classic {
    fn parse(args: &[OsString]) -> Result<Classic, Failure> {
        let mut c = Classic::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let Some(s) = arg.to_str().filter(|s| s.starts_with('-') && *s != "-") else {
                c.files.push(arg.clone());
                continue;
            };
            if s == "--" {
                c.files.extend(it.by_ref().cloned());
                break;
            }
            let body = s.strip_prefix("--").unwrap_or(&s[1..]);
            if body.is_empty() || body.starts_with('-') {
                return Err(usage(format!("bad flag syntax: {s}")));
            }
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let bool_target = match name {
                "e" | "encrypt" => Some(&mut c.encrypt),
                "d" | "decrypt" => Some(&mut c.decrypt),
                "r" | "rotate" => Some(&mut c.rotate),
                "i" | "in-place" => Some(&mut c.in_place),
                "h" | "help" => Some(&mut c.help),
                "v" | "version" => Some(&mut c.version),
                _ => None,
            };
            if let Some(target) = bool_target {
                *target = inline.map(|v| parse_bool(name, v)).transpose()?.unwrap_or(true);
                continue;
            }
            let mut value = || -> Result<OsString, Failure> {
                match inline {
                    Some(v) => Ok(OsString::from(v)),
                    None => it.next().cloned().ok_or_else(|| usage(format!("flag needs an argument: -{name}"))),
                }
            };
            match name {
                "a" => c.values.push(("age".into(), value()?)),
                _ if VALUE_FLAGS.iter().any(|(n, _)| *n == name) => c.values.push((name.into(), value()?)),
                _ if REFUSED_VALUE_FLAGS.contains(&name) && (name.starts_with("add-") || name.starts_with("rm-")) => {
                    c.foreign.push((name.into(), value()?));
                }
                _ if REFUSED_VALUE_FLAGS.contains(&name) => return Err(not_implemented(name)),
                "s" | "show-master-keys" => {
                    if inline.map(|v| parse_bool(name, v)).transpose()?.unwrap_or(true) {
                        c.bools.push("show-master-keys".into());
                    }
                }
                _ if BOOL_FLAGS.iter().any(|(n, _)| *n == name) => {
                    if inline.map(|v| parse_bool(name, v)).transpose()?.unwrap_or(true) {
                        c.bools.push(name.into());
                    }
                }
                // Logging and update checks: seal has neither.
                "verbose" | "disable-version-check" | "check-for-updates" => {
                    inline.map(|v| parse_bool(name, v)).transpose()?;
                }
                // On by default in sops; seal's keys are always local.
                "enable-local-keyservice" => {
                    if !inline.map(|v| parse_bool(name, v)).transpose()?.unwrap_or(true) {
                        return Err(Failure::unsupported(
                            "--enable-local-keyservice=false: seal has no key services; its keys are always local",
                        ));
                    }
                }
                "decryption-order" => {
                    let v = value()?;
                    crate::identity::decryption_order(&v.to_string_lossy())?;
                }
                _ => return Err(usage(format!("flag provided but not defined: -{name}"))),
            }
        }
        Ok(c)
    }

    fn mode(&self) -> Result<Mode, Failure> {
        let set = self.values.iter().any(|(n, _)| n == "set");
        let modes = [
            (self.encrypt, Mode::Encrypt),
            (self.decrypt, Mode::Decrypt),
            (self.rotate, Mode::Rotate),
            (set, Mode::Set),
        ];
        let mut chosen = modes.iter().filter(|(on, _)| *on).map(|(_, m)| *m);
        match (chosen.next(), chosen.next()) {
            (None, _) => Ok(Mode::Edit),
            (Some(m), None) => Ok(m),
            (Some(_), Some(_)) => Err(Failure::new(
                exit::CONFLICTING_PARAMETERS,
                "Error: more than one of --encrypt, --decrypt, --rotate and --set: give one",
            )),
        }
    }

    /// The subcommand argv (without the program name). `env_set` tells
    /// whether an environment variable is set and not empty.
    fn into_subcommand(self, known: &Known, env_set: impl Fn(&str) -> bool) -> Result<Vec<OsString>, Failure> {
        if self.help {
            return Ok(vec!["--help".into()]);
        }
        if self.version {
            return Ok(vec!["--version".into()]);
        }
        let mode = self.mode()?;
        let output = self.values.iter().any(|(n, _)| n == "output");
        if self.in_place && output {
            return Err(Failure::new(
                exit::CONFLICTING_PARAMETERS,
                "Error: cannot operate on both --output and --in-place",
            ));
        }
        if self.files.len() > 1 {
            return Err(usage(format!(
                "more than one file given ({}): sops uses the first and ignores the rest; give one",
                self.files.iter().map(|f| f.to_string_lossy()).collect::<Vec<_>>().join(", ")
            )));
        }
        let age_given = self.values.iter().any(|(n, _)| n == "age");
        if mode == Mode::Encrypt
            && !age_given
            && let Some((var, flag)) = REFUSED_KEY_ENV.iter().find(|(var, _)| env_set(var))
        {
            return Err(Failure::unsupported(format!(
                "{var} is set: sops would also encrypt to those keys ({flag}); seal works with age keys only. Unset it, or use sops"
            )));
        }
        let file = self.files.into_iter().next();
        let stdin_ok = matches!(mode, Mode::Encrypt | Mode::Decrypt);
        if file.is_none() && !stdin_ok {
            return Err(Failure::new(exit::NO_FILE_SPECIFIED, "Error: no file specified"));
        }
        if self.in_place && file.is_none() {
            return Err(Failure::new(
                exit::CONFLICTING_PARAMETERS,
                "Error: cannot use --in-place when reading from stdin",
            ));
        }
        let mut out: Vec<OsString> = vec![mode.subcommand().into()];
        let mut set_value = None;
        for (name, value) in self.values {
            if name == "set" {
                set_value = Some(value);
                continue;
            }
            let modes = VALUE_FLAGS.iter().find(|(n, _)| *n == name).map(|(_, m)| *m).unwrap_or_default();
            if !modes.contains(&mode) {
                return Err(not_for(&name, mode));
            }
            out.extend([format!("--{name}").into(), value]);
        }
        for (name, value) in self.foreign {
            if !known.has_flag(mode.subcommand(), &name) {
                return Err(not_implemented(&name));
            }
            out.extend([format!("--{name}").into(), value]);
        }
        for name in self.bools {
            let modes = BOOL_FLAGS.iter().find(|(n, _)| *n == name).map(|(_, m)| *m).unwrap_or_default();
            if !modes.contains(&mode) {
                return Err(not_for(&name, mode));
            }
            out.push(format!("--{name}").into());
        }
        // `set` and `edit` always write the file back.
        if self.in_place && matches!(mode, Mode::Encrypt | Mode::Decrypt | Mode::Rotate) {
            out.push("--in-place".into());
        }
        out.push("--".into());
        out.extend(file);
        if let Some(v) = set_value {
            let (index, value) = split_set(&v)?;
            out.extend([index.into(), value.into()]);
        }
        Ok(out)
    }
}

fn not_implemented(name: &str) -> Failure {
    Failure::unsupported(format!(
        "-{name}: seal works with age keys only and does not implement this flag; use sops for it"
    ))
}

fn not_for(name: &str, mode: Mode) -> Failure {
    usage(format!(
        "--{name} does not apply to {} (sops ignores it there); leave it out",
        match mode {
            Mode::Encrypt => "--encrypt",
            Mode::Decrypt => "--decrypt",
            Mode::Rotate => "--rotate",
            Mode::Set => "--set",
            Mode::Edit => "editing",
        }
    ))
}

/// Splits `--set`'s `["a"]["b"] VALUE` as sops does: after the first `] `.
fn split_set(v: &OsString) -> Result<(String, String), Failure> {
    let invalid = || Failure::new(exit::INVALID_SET_FORMAT, "Invalid --set format");
    let v = v.to_str().ok_or_else(invalid)?;
    let at = v.find("] ").ok_or_else(invalid)?;
    let (index, value) = v.split_at(at + 1);
    Ok((index.trim_end().to_owned(), value.strip_prefix(' ').unwrap_or(value).to_owned()))
}

/// A failure's message in sops' words, for seal invoked as `sops`: sops'
/// sentence for the common failures that scripts and people look for,
/// followed by seal's detail (which names the file and path).
pub fn in_sops_words(code: u8, message: String) -> String {
    match code {
        exit::COULD_NOT_RETRIEVE_KEY => {
            format!("Failed to get the data key required to decrypt the SOPS file.\n\n{message}")
        }
        exit::ERROR_DECRYPTING_TREE => format!("Error decrypting tree: {message}"),
        exit::FILE_HAS_NOT_BEEN_MODIFIED => "File has not changed, exiting.".to_owned(),
        exit::NO_EDITOR_FOUND => format!("Could not run editor: {message}"),
        _ => message,
    }
}

#[cfg(test)]
#[path = "legacy_tests.rs"]
mod tests;
