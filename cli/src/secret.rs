//! `seal secret`: a Kubernetes Secret (a manifest, a Flux-style SOPS Secret,
//! or values given like `kubectl create secret generic`) becomes a
//! SealedSecret (the document model is `seal_format::document`).

use std::path::{Path, PathBuf};

use base64::Engine;
use clap::{Args, ValueEnum};
use seal_format::document::{self as sealed, ScopeBinding, SecretParts};
use seal_format::sops::{self, DecryptOptions, EncryptOptions, Format, Recipient, Value, recipients as keys};

use crate::common::{open, read_input, write_in_place, write_stdout};
use crate::{Failure, IdentityArgs};

/// How widely a SealedSecret may be used.
#[derive(Clone, Copy, ValueEnum, Default)]
pub enum Scope {
    /// Only under its own namespace and name.
    #[default]
    Strict,
    /// Under any name in its namespace.
    Namespace,
    /// Anywhere in the cluster.
    Cluster,
}

/// Arguments of `seal secret`.
#[derive(Args)]
pub struct SecretArgs {
    /// A Secret manifest (YAML or JSON; may be SOPS-encrypted, Flux style), or - for stdin.
    pub file: Option<String>,
    /// Name of the Secret (required without a manifest).
    #[arg(long)]
    pub name: Option<String>,
    /// Namespace (overrides the manifest's).
    #[arg(short = 'n', long, env = "SEAL_NAMESPACE")]
    pub namespace: Option<String>,
    /// A value as KEY=VALUE (repeatable); goes to stringData.
    #[arg(long, value_name = "KEY=VALUE")]
    pub from_literal: Vec<String>,
    /// A file's content as [KEY=]PATH (repeatable); goes to data (base64).
    #[arg(long, value_name = "[KEY=]PATH")]
    pub from_file: Vec<String>,
    /// KEY=VALUE lines from a file (repeatable); go to stringData.
    #[arg(long, value_name = "PATH")]
    pub from_env_file: Vec<PathBuf>,
    /// Secret type (default Opaque, or the manifest's).
    #[arg(long = "type", value_name = "TYPE")]
    pub type_: Option<String>,
    /// Where the SealedSecret may be used: strict (namespace/name), namespace, cluster.
    #[arg(long, value_enum)]
    pub scope: Option<Scope>,
    #[command(flatten)]
    pub to: SealTo,
    /// Update this SealedSecret in place: unchanged values keep their ciphertext.
    #[arg(long, value_name = "SEALED.yaml")]
    pub merge_into: Option<PathBuf>,
    /// Write the SealedSecret here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub ids: IdentityArgs,
}

/// Who a new SealedSecret is sealed to (shared by `seal secret` and
/// `seal convert`).
#[derive(Args)]
pub struct SealTo {
    /// Age recipients, comma-separated.
    #[arg(long, value_name = "R,...", value_delimiter = ',')]
    pub age: Vec<String>,
    /// A file with one age recipient per line (blank lines and # comments ignored).
    #[arg(long, value_name = "FILE", env = "SEAL_RECIPIENTS_FILE")]
    pub recipients_file: Vec<PathBuf>,
    /// Seal to the cluster's recipients, read from seal-controller through the kubeconfig.
    #[arg(long)]
    pub controller: bool,
    #[command(flatten)]
    pub cluster: crate::ControllerArgs,
}

/// Reads a recipients file: one recipient per line, `#` comments.
pub fn read_recipients_file(path: &Path) -> Result<Vec<String>, Failure> {
    sealed::read_recipients_file(path).map_err(Failure::input)
}

fn recipients(a: &SealTo) -> Result<Vec<Recipient>, Failure> {
    let mut list = a.age.clone();
    for f in &a.recipients_file {
        list.extend(read_recipients_file(f)?);
    }
    if a.controller {
        list.extend(crate::cluster::recipients(a.cluster.context.as_deref(), &a.cluster.controller_namespace)?);
    }
    let mut out: Vec<Recipient> = Vec::new();
    for r in list.iter().filter(|r| !r.trim().is_empty()) {
        let r = Recipient::parse(r)?;
        if !out.iter().any(|x| x.as_str() == r.as_str()) {
            out.push(r);
        }
    }
    Ok(out)
}

fn split_kv<'a>(s: &'a str, flag: &str) -> Result<(&'a str, &'a str), Failure> {
    s.split_once('=').ok_or_else(|| Failure::input(format!("{flag} {s:?}: expected KEY=VALUE")))
}

/// Collects the Secret from the manifest and the value flags.
fn gather(a: &SecretArgs) -> Result<SecretParts, Failure> {
    let mut parts = match &a.file {
        Some(file) => {
            let bytes = read_input(file)?;
            let format = match Format::from_path(file) {
                Format::Json => Format::Json,
                _ => Format::Yaml,
            };
            let text = std::str::from_utf8(&bytes).map_err(|_| Failure::input(format!("{file}: not UTF-8")))?;
            let is_sops = text.lines().any(|l| l.starts_with("sops:") || l.trim_start().starts_with("\"sops\""));
            let branches = if is_sops {
                // A Flux-style SOPS Secret: decrypt it first.
                let ids = a.ids.load()?;
                open(file, &bytes, format, &ids, DecryptOptions::default())?.0
            } else {
                sops::parse_plain(&bytes, format).map_err(|e| Failure::from(e).in_file(file))?
            };
            let doc = match branches.as_slice() {
                [one] => one,
                _ => return Err(Failure::input(format!("{file}: expected exactly one Secret manifest"))),
            };
            SecretParts::from_secret(doc).map_err(|e| Failure::input(format!("{file}: {e}")))?
        }
        None => SecretParts { name: a.name.clone().unwrap_or_default(), ..SecretParts::default() },
    };
    if let Some(n) = &a.name {
        parts.name = n.clone();
    }
    if let Some(ns) = &a.namespace {
        parts.namespace = Some(ns.clone());
    }
    if let Some(t) = &a.type_ {
        parts.type_ = Some(t.clone());
    }
    for lit in &a.from_literal {
        let (k, v) = split_kv(lit, "--from-literal")?;
        parts.data.remove(k);
        parts.string_data.insert(k, Value::str(v));
    }
    for f in &a.from_file {
        let (k, path) = match f.split_once('=') {
            Some((k, p)) => (k.to_owned(), p),
            None => {
                (Path::new(f).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), f.as_str())
            }
        };
        let bytes = std::fs::read(path).map_err(|e| Failure::input(format!("--from-file {path}: {e}")))?;
        let b64 =
            zeroize::Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&*zeroize::Zeroizing::new(bytes)));
        parts.string_data.remove(&k);
        parts.data.insert(&k, Value::str(b64.as_str()));
    }
    for path in &a.from_env_file {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| Failure::input(format!("--from-env-file {}: {e}", path.display())))?,
        );
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line.split_once('=').ok_or_else(|| {
                Failure::input(format!("--from-env-file {}, line {}: expected KEY=VALUE", path.display(), i + 1))
            })?;
            parts.data.remove(k);
            parts.string_data.insert(k, Value::str(v));
        }
    }
    parts.validate_keys().map_err(Failure::input)?;
    Ok(parts)
}

fn scope_for(scope: Scope, namespace: &str, name: &str) -> ScopeBinding {
    match scope {
        Scope::Strict => ScopeBinding::Strict { namespace: namespace.to_owned(), name: name.to_owned() },
        Scope::Namespace => ScopeBinding::Namespace { namespace: namespace.to_owned() },
        Scope::Cluster => ScopeBinding::Cluster,
    }
}

/// `seal secret`.
pub fn run(a: SecretArgs) -> Result<(), Failure> {
    if let Some(target) = a.merge_into.clone() {
        return merge(a, &target);
    }
    let parts = gather(&a)?;
    if parts.name.is_empty() {
        return Err(Failure::input("the Secret has no name: give a manifest with metadata.name, or --name"));
    }
    if parts.data.is_empty() && parts.string_data.is_empty() {
        return Err(Failure::input(
            "the Secret has no values: give a manifest with data/stringData, or --from-literal/--from-file/--from-env-file",
        ));
    }
    let namespace = parts.namespace.clone().ok_or_else(|| {
        Failure::input(
            "the Secret has no namespace: the SealedSecret is bound to one; give --namespace (or metadata.namespace)",
        )
    })?;
    let scope = scope_for(a.scope.unwrap_or_default(), &namespace, &parts.name);
    let doc = parts.to_document(&namespace, &scope);
    sealed::check_plaintext(&doc).map_err(Failure::input)?;
    let rs = recipients(&a.to)?;
    if rs.is_empty() {
        return Err(Failure::input(
            "no recipients: pass --controller (the cluster's keys), --age age1…, or --recipients-file (e.g. from `seal recipients`)",
        ));
    }
    let opts = EncryptOptions { groups: vec![rs], shamir_threshold: 0, rule: sealed::rule(), mac_only_encrypted: true };
    let enc = sops::encrypt_document(vec![doc], &opts)?;
    let out = sops::emit_encrypted(&enc, Format::Yaml)?;
    match &a.output {
        Some(p) => write_in_place(p, &out),
        None => write_stdout(&out),
    }
}

/// `seal secret --merge-into`: decrypts the existing SealedSecret (a key is
/// needed to keep its other values), applies the new values, and re-encrypts
/// with the same data key so unchanged values keep their ciphertext.
fn merge(mut a: SecretArgs, target: &Path) -> Result<(), Failure> {
    let file = target.display().to_string();
    let bytes = read_input(&file)?;
    let ids = a.ids.load()?;
    let (mut branches, mut metadata, cipher) = open(
        &file,
        &bytes,
        Format::Yaml,
        &ids,
        DecryptOptions {
            verify_mac: true,
            stash: true,
        },
    )
    .map_err(|mut f| {
        if f.code == crate::exit::COULD_NOT_RETRIEVE_KEY {
            f.message.push_str(
                ". Merging keeps the file's other values, which needs a key that decrypts it; without one, seal the whole Secret again (without --merge-into)",
            );
        }
        f
    })?;
    let doc = branches
        .first_mut()
        .filter(|b| sealed::is_sealed_secret(b))
        .ok_or_else(|| Failure::input(format!("{file}: not a SealedSecret")))?;
    let (ns, name) = sealed::object_ref(doc);
    let (ns, name) = (ns.unwrap_or_default().to_owned(), name.unwrap_or_default().to_owned());
    a.name.get_or_insert_with(|| name.clone());
    a.namespace.get_or_insert_with(|| ns.clone());
    let new = gather(&a)?;
    if new.name != name || new.namespace.as_deref() != Some(ns.as_str()) {
        return Err(Failure::input(format!(
            "{file} is {ns}/{name}; the new values are for {}/{}: merge only into the same Secret",
            new.namespace.as_deref().unwrap_or(""),
            new.name
        )));
    }
    let scope = a.scope.map(|s| scope_for(s, &ns, &name));
    new.merge_into(doc, scope.as_ref()).map_err(|e| Failure::input(format!("{file}: {e}")))?;
    let rs = recipients(&a.to)?;
    if !rs.is_empty() {
        let existing = metadata.key_groups.first().cloned().unwrap_or_default();
        metadata.key_groups = vec![keys::rewrap_single(cipher.key(), &existing, &rs)?];
    }
    sops::encrypt_tree(&mut branches, &mut metadata, &cipher)?;
    let out = sops::emit_encrypted(&sops::EncryptedDocument { branches, metadata }, Format::Yaml)?;
    match &a.output {
        Some(p) => write_in_place(p, &out),
        None => write_in_place(target, &out),
    }
}
