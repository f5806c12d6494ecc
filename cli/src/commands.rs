//! The commands other than `seal secret`: each reads its input, builds what
//! it needs from the library, and writes its output.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use seal_format::document as sealed;
use seal_format::sops::{
    self, DecryptOptions, EncryptOptions, EncryptedDocument, Format, Identities, Recipient, Rule, Value, recipients,
};

use crate::{
    DecryptArgs, EditArgs, EncryptArgs, Failure, RotateArgs, RuleArgs, UpdatekeysArgs, VerifyArgs, config, exit,
    identity,
};

/// Reads a file, or stdin for `-`, up to one byte past the format's input
/// limit: a larger input is refused without being read whole.
pub fn read_input(file: &str) -> Result<Vec<u8>, Failure> {
    let limit = sops::limits::MAX_INPUT_BYTES as u64 + 1;
    let mut buf = Vec::new();
    if file == "-" {
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut buf)
            .map_err(|e| Failure::input(format!("cannot read stdin: {e}")))?;
    } else {
        std::fs::File::open(file)
            .and_then(|f| f.take(limit).read_to_end(&mut buf))
            .map_err(|e| Failure::input(format!("cannot read {file}: {e}")))?;
    }
    if buf.len() > sops::limits::MAX_INPUT_BYTES {
        return Err(Failure::from(sops::Error::Limit(format!(
            "the input is larger than {} MiB, the most seal reads",
            sops::limits::MAX_INPUT_BYTES >> 20
        )))
        .in_file(file));
    }
    Ok(buf)
}

/// Writes bytes to stdout.
pub fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).and_then(|_| out.flush()).map_err(|e| Failure::general(format!("cannot write to stdout: {e}")))
}

/// Replaces a file atomically (temporary file in the same folder, then
/// rename), keeping its permissions.
pub fn write_in_place(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let fail = |e: std::io::Error| Failure::general(format!("cannot write {}: {e}", path.display()));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    if let Ok(meta) = std::fs::metadata(path) {
        tmp.as_file().set_permissions(meta.permissions()).map_err(fail)?;
    }
    tmp.write_all(bytes).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// The format from a flag or the file name.
pub fn format_of(flag: Option<&str>, file: &str, default_stdin: Format) -> Result<Format, Failure> {
    match flag {
        Some(name) => Format::from_name(name)
            .ok_or_else(|| Failure::input(format!("unknown type {name:?} (expected yaml, json, dotenv or binary)"))),
        None if file == "-" => Ok(default_stdin),
        None => Ok(Format::from_path(file)),
    }
}

fn parse_recipients(list: &[String]) -> Result<Vec<Recipient>, Failure> {
    list.iter().filter(|r| !r.trim().is_empty()).map(|r| Recipient::parse(r).map_err(Failure::from)).collect()
}

fn rule_from_args(a: &RuleArgs) -> Result<Option<Rule>, Failure> {
    let pairs = [
        ("encrypted_regex", &a.encrypted_regex),
        ("unencrypted_regex", &a.unencrypted_regex),
        ("encrypted_suffix", &a.encrypted_suffix),
        ("unencrypted_suffix", &a.unencrypted_suffix),
        ("encrypted_comment_regex", &a.encrypted_comment_regex),
        ("unencrypted_comment_regex", &a.unencrypted_comment_regex),
    ];
    for (name, v) in pairs {
        // An empty value counts as not given, as in sops (Go's flag
        // default): `--unencrypted-suffix ''` keeps the default rule rather
        // than writing a file with every value in clear.
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            return Rule::from_field(name, v).map(Some).map_err(|e| Failure::input(e.to_string()));
        }
    }
    Ok(None)
}

fn find_config(explicit: Option<&Path>) -> Option<PathBuf> {
    explicit.map(Path::to_path_buf).or_else(|| std::env::current_dir().ok().and_then(|d| config::find(&d)))
}

/// `seal keygen`.
pub fn keygen(output: Option<&Path>) -> Result<(), Failure> {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    let recipient = id.to_public().to_string();
    let created = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    let text = format!("# created: {created}\n# public key: {recipient}\n{}\n", id.to_string().expose_secret());
    match output {
        Some(path) => {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f =
                std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| {
                    Failure::input(format!("cannot create {} (it must not exist yet): {e}", path.display()))
                })?;
            f.write_all(text.as_bytes())
                .map_err(|e| Failure::general(format!("cannot write {}: {e}", path.display())))?;
            eprintln!("Public key: {recipient}");
            write_stdout(format!("{recipient}\n").as_bytes())
        }
        None => {
            eprintln!("Public key: {recipient}");
            write_stdout(text.as_bytes())
        }
    }
}

/// `seal encrypt`.
pub fn encrypt(a: EncryptArgs) -> Result<(), Failure> {
    let input_format = format_of(a.input_type.as_deref(), &a.file, Format::Yaml)?;
    let output_format = match &a.output_type {
        Some(_) => format_of(a.output_type.as_deref(), &a.file, input_format)?,
        None => input_format,
    };
    let bytes = read_input(&a.file)?;
    let branches = sops::parse_plain(&bytes, input_format).map_err(|e| Failure::from(e).in_file(&a.file))?;

    let match_path = a.filename_override.clone().unwrap_or_else(|| PathBuf::from(&a.file));
    let rule_cfg = match find_config(a.config.as_deref()) {
        Some(cfg) => config::creation_rule(&cfg, &match_path).map_err(Failure::input)?,
        None => None,
    };
    let (groups, threshold, cfg_rule, cfg_mac_only) = match rule_cfg {
        Some(r) => (r.groups, r.shamir_threshold, r.rule, r.mac_only_encrypted),
        None => (Vec::new(), 0, None, false),
    };
    let groups: Vec<Vec<Recipient>> = if !a.age.is_empty() {
        vec![parse_recipients(&a.age)?]
    } else {
        groups.iter().map(|g| parse_recipients(g)).collect::<Result<_, _>>()?
    };
    if groups.iter().all(Vec::is_empty) {
        return Err(Failure::input(
            "no recipients: pass --age age1…, set SOPS_AGE_RECIPIENTS, or add a creation rule to .sops.yaml",
        ));
    }
    let rule = rule_from_args(&a.rule)?.or(cfg_rule).unwrap_or_default();
    let opts = EncryptOptions {
        groups,
        shamir_threshold: a.shamir_secret_sharing_threshold.unwrap_or(threshold),
        rule,
        mac_only_encrypted: a.mac_only_encrypted || cfg_mac_only,
    };
    let doc = sops::encrypt_document(branches, &opts).map_err(|e| Failure::from(e).in_file(&a.file))?;
    let out = sops::emit_encrypted(&doc, output_format)?;
    if a.in_place && a.file != "-" { write_in_place(Path::new(&a.file), &out) } else { write_stdout(&out) }
}

/// Parses an encrypted file and recovers its plaintext.
pub fn open(
    file: &str,
    bytes: &[u8],
    format: Format,
    ids: &Identities,
    opts: DecryptOptions,
) -> Result<(Vec<sops::Map>, sops::Metadata, sops::Cipher), Failure> {
    let doc = sops::parse_encrypted(bytes, format).map_err(|e| Failure::from(e).in_file(file))?;
    let sealed_unsorted = doc.branches.first().filter(|b| sealed::is_sealed_secret(b)).and_then(sealed::unsorted_map);
    sops::decrypt_document(doc, ids, opts).map_err(|e| {
        let e = match (e, sealed_unsorted) {
            (sops::Error::MacMismatch { .. }, Some(path)) => sops::Error::MacMismatch {
                hint: format!(
                    ". The keys of {path} are not in sorted order; if a tool reordered them, re-seal the values with `seal secret` (seal writes sorted keys, which the Kubernetes API server keeps)"
                ),
            },
            (e, _) => e,
        };
        Failure::from(e).in_file(file)
    })
}

/// `seal decrypt`.
pub fn decrypt(a: DecryptArgs) -> Result<(), Failure> {
    let format = format_of(a.input_type.as_deref(), &a.file, Format::Yaml)?;
    let out_format = match &a.output_type {
        Some(t) => format_of(Some(t), &a.file, format)?,
        None => format,
    };
    let bytes = read_input(&a.file)?;
    let ids = identity::load(&a.ids.identity)?;
    let opts = DecryptOptions { verify_mac: !a.ignore_mac, stash: false };
    let (branches, _, _) = open(&a.file, &bytes, format, &ids, opts)?;
    let out = match &a.extract {
        Some(path) => extract(&branches, path, out_format).map_err(|f| f.in_file(&a.file))?,
        None => sops::emit_plain(&branches, out_format)?,
    };
    if a.in_place && a.file != "-" { write_in_place(Path::new(&a.file), &out) } else { write_stdout(&out) }
}

/// Parses sops' `["a"]["b"][0]` path syntax.
fn parse_extract(path: &str) -> Result<Vec<Result<String, usize>>, Failure> {
    let bad = || Failure::input(format!("invalid --extract path {path:?}: expected a form like '[\"key\"][0]'"));
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

fn extract(branches: &[sops::Map], path: &str, format: Format) -> Result<Vec<u8>, Failure> {
    let parts = parse_extract(path)?;
    let root = branches.first().ok_or_else(|| Failure::input("the file has no document"))?;
    let mut cur = Value::Map(root.clone());
    for p in &parts {
        let next = match (p, &cur) {
            (Ok(k), Value::Map(m)) => m.get(k).cloned(),
            (Err(i), Value::List(l)) => l.iter().filter(|v| !matches!(v, Value::Comment(_))).nth(*i).cloned(),
            _ => None,
        };
        cur = next.ok_or_else(|| Failure::input(format!("--extract {path}: the file has no such value")))?;
    }
    Ok(match &cur {
        Value::Str(s) => s.as_bytes().to_vec(),
        Value::Map(m) => sops::emit_plain(std::slice::from_ref(m), format)?,
        other => match format {
            Format::Json => sops::json::emit_value(other, "\t")?.into_bytes(),
            _ => sops::yaml::emit_value(other, 4).into_bytes(),
        },
    })
}

/// Re-encrypts an edited tree with the file's data key and IV stash, so that
/// unchanged values keep their ciphertext.
fn reseal(
    mut branches: Vec<sops::Map>,
    mut metadata: sops::Metadata,
    cipher: &sops::Cipher,
) -> Result<EncryptedDocument, Failure> {
    if let Some(first) = branches.first_mut()
        && sealed::is_sealed_secret(first)
    {
        check_sealed_plaintext(first)?;
        sealed::normalize(first);
    }
    sops::encrypt_tree(&mut branches, &mut metadata, cipher)?;
    Ok(EncryptedDocument { branches, metadata })
}

fn check_sealed_plaintext(doc: &sops::Map) -> Result<(), Failure> {
    sealed::check_plaintext(doc).map_err(Failure::input)
}

/// `seal edit`.
pub fn edit(a: EditArgs) -> Result<(), Failure> {
    crate::guard::disable_core_dumps();
    let file = a.file.display().to_string();
    let format = format_of(a.input_type.as_deref(), &file, Format::Yaml)?;
    let bytes = read_input(&file)?;
    let ids = identity::load(&a.ids.identity)?;
    let (branches, metadata, cipher) =
        open(&file, &bytes, format, &ids, DecryptOptions { verify_mac: true, stash: true })?;
    let plain = sops::emit_plain(&branches, format)?;
    drop(branches);

    // Plaintext lives only in a private directory (0700) and file (0600),
    // both removed when `dir` is dropped, on every return path.
    let dir = tempfile::Builder::new()
        .prefix("seal-edit-")
        .tempdir()
        .map_err(|e| Failure::general(format!("cannot create a private temporary directory: {e}")))?;
    let guard = crate::guard::Guard::install(dir.path())
        .map_err(|e| Failure::general(format!("cannot install the signal handlers: {e}")))?;
    let name = a.file.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "secret".into());
    let tmp = dir.path().join(name);
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| Failure::general(format!("cannot create the temporary file: {e}")))?;
        f.write_all(&plain).map_err(|e| Failure::general(format!("cannot write the temporary file: {e}")))?;
    }
    let plain = zeroize::Zeroizing::new(plain);
    loop {
        run_editor(&tmp, &guard)?;
        let edited = zeroize::Zeroizing::new(
            std::fs::read(&tmp).map_err(|e| Failure::general(format!("cannot read the edited file: {e}")))?,
        );
        if *edited == *plain {
            eprintln!("seal: {file} has not changed");
            return Ok(());
        }
        let parsed = sops::parse_plain(&edited, format)
            .map_err(Failure::from)
            .and_then(|b| reseal(b, metadata.clone(), &cipher));
        match parsed {
            Ok(doc) => {
                let out = sops::emit_encrypted(&doc, format)?;
                return write_in_place(&a.file, &out);
            }
            Err(f) if std::io::stdin().is_terminal() => {
                eprintln!("seal: the edited file is not valid: {}", f.message);
                eprint!("Press Enter to edit again, or Ctrl-D to abandon the changes: ");
                let mut line = String::new();
                if std::io::stdin().read_line(&mut line).unwrap_or(0) == 0 {
                    return Err(Failure::input("edit abandoned; the file was not changed"));
                }
            }
            Err(f) => return Err(f.in_file(&format!("{file} (edited, not saved)"))),
        }
    }
}

fn run_editor(path: &Path, guard: &crate::guard::Guard) -> Result<(), Failure> {
    let editor = ["SOPS_EDITOR", "VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_owned());
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        // `exec`: the editor is seal's own child, so the signals seal passes
        // on reach it, not an intermediate shell.
        .arg(format!("exec {editor} \"$1\""))
        .arg("sh")
        .arg(path)
        .spawn()
        .map_err(|e| Failure::general(format!("cannot start the editor {editor:?}: {e}")))?;
    guard.editor(Some(child.id()));
    let status = child.wait();
    guard.editor(None);
    let status = status.map_err(|e| Failure::general(format!("waiting for the editor {editor:?}: {e}")))?;
    if !status.success() {
        return Err(Failure::general(format!("the editor {editor:?} exited with {status}; the file was not changed")));
    }
    Ok(())
}

/// `seal updatekeys`.
pub fn updatekeys(a: UpdatekeysArgs) -> Result<(), Failure> {
    let _ = a.yes;
    let file = a.file.display().to_string();
    let format = format_of(a.input_type.as_deref(), &file, Format::Yaml)?;
    let bytes = read_input(&file)?;
    let mut doc = sops::parse_encrypted(&bytes, format).map_err(|e| Failure::from(e).in_file(&file))?;
    let groups: Vec<Vec<Recipient>> = if !a.age.is_empty() {
        vec![parse_recipients(&a.age)?]
    } else {
        let cfg = find_config(a.config.as_deref()).ok_or_else(|| {
            Failure::input("no .sops.yaml found and no --age given: which recipients should the file have?")
        })?;
        let rule = config::creation_rule(&cfg, &a.file)
            .map_err(Failure::input)?
            .ok_or_else(|| Failure::input(format!("no creation rule in {} matches {file}", cfg.display())))?;
        rule.groups.iter().map(|g| parse_recipients(g)).collect::<Result<_, _>>()?
    };
    let ids = identity::load(&a.ids.identity)?;
    let key = recipients::recover(&doc.metadata, &ids).map_err(|e| Failure::from(e).in_file(&file))?;
    let before: Vec<String> = doc.metadata.recipients().map(str::to_owned).collect();
    if groups.len() <= 1 && doc.metadata.key_groups.len() <= 1 {
        let existing = doc.metadata.key_groups.first().cloned().unwrap_or_default();
        let rs = groups.first().cloned().unwrap_or_default();
        doc.metadata.key_groups = vec![recipients::rewrap_single(&key, &existing, &rs)?];
    } else {
        doc.metadata.key_groups = recipients::wrap_groups(&key, &groups, doc.metadata.shamir_threshold)?;
    }
    let after: Vec<String> = doc.metadata.recipients().map(str::to_owned).collect();
    if before == after {
        eprintln!("seal: {file}: recipients unchanged");
        return Ok(());
    }
    for r in after.iter().filter(|r| !before.contains(r)) {
        eprintln!("+ {r}");
    }
    for r in before.iter().filter(|r| !after.contains(r)) {
        eprintln!("- {r}");
    }
    let out = sops::emit_encrypted(&doc, format)?;
    write_in_place(&a.file, &out)
}

/// `seal rotate`.
pub fn rotate(a: RotateArgs) -> Result<(), Failure> {
    let format = format_of(a.input_type.as_deref(), &a.file, Format::Yaml)?;
    let bytes = read_input(&a.file)?;
    let ids = identity::load(&a.ids.identity)?;
    let (branches, mut metadata, _) = open(&a.file, &bytes, format, &ids, DecryptOptions::default())?;
    if metadata.key_groups.iter().any(|g| !g.other.is_empty()) {
        return Err(Failure::input(format!(
            "{}: the file also has non-age keys (kms, pgp, …) that seal cannot re-wrap; rotate it with sops",
            a.file
        )));
    }
    let add = parse_recipients(&a.add_age)?;
    let mut groups: Vec<Vec<Recipient>> = metadata
        .key_groups
        .iter()
        .map(|g| {
            g.age
                .iter()
                .filter(|e| !a.rm_age.iter().any(|r| r.trim() == e.recipient))
                .map(|e| Recipient::parse(&e.recipient))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<_, _>>()?;
    if groups.is_empty() {
        groups.push(Vec::new());
    }
    for r in add {
        if !groups[0].iter().any(|x| x.as_str() == r.as_str()) {
            groups[0].push(r);
        }
    }
    let new_key = sops::DataKey::generate().map_err(sops::Error::from)?;
    metadata.key_groups = recipients::wrap_groups(&new_key, &groups, metadata.shamir_threshold)?;
    let cipher = sops::Cipher::new(new_key);
    let doc = reseal(branches, metadata, &cipher)?;
    let out = sops::emit_encrypted(&doc, format)?;
    if a.in_place && a.file != "-" { write_in_place(Path::new(&a.file), &out) } else { write_stdout(&out) }
}

/// `seal verify`: one line per file; non-zero exit if any file fails.
pub fn verify(a: VerifyArgs) -> Result<(), Failure> {
    let ids = identity::load(&a.ids.identity)?;
    let mut failed = 0;
    for file in &a.files {
        match verify_one(file, &ids, a.no_decrypt) {
            Ok(note) => println!("ok    {file}{note}"),
            Err(f) => {
                failed += 1;
                println!("FAIL  {file}: {}", f.message);
            }
        }
    }
    if failed > 0 {
        return Err(Failure {
            code: exit::VERIFY,
            message: format!("{failed} of {} file(s) failed verification", a.files.len()),
        });
    }
    Ok(())
}

fn verify_one(file: &str, ids: &Identities, no_decrypt: bool) -> Result<String, Failure> {
    let format = Format::from_path(file);
    let bytes = read_input(file)?;
    let doc = sops::parse_encrypted(&bytes, format)?;
    let md = &doc.metadata;
    let recipients: Vec<&str> = md.recipients().collect();
    if recipients.is_empty() {
        return Err(Failure::input("the file has no age recipients"));
    }
    for g in &md.key_groups {
        for e in &g.age {
            Recipient::parse(&e.recipient)?;
            let enc = e.enc.trim();
            if !enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----")
                || !enc.ends_with("-----END AGE ENCRYPTED FILE-----")
            {
                return Err(Failure::input(format!(
                    "the age entry for {} is not a complete armored age file (truncated or edited)",
                    e.recipient
                )));
            }
        }
    }
    if md.version.trim_start_matches('v').split('.').count() != 3 {
        return Err(Failure::input(format!(
            "sops.version {:?} is not MAJOR.MINOR.PATCH; sops would refuse the file",
            md.version
        )));
    }
    let sealed_doc = doc.branches.first().filter(|b| sealed::is_sealed_secret(b)).cloned();
    if let Some(ss) = &sealed_doc {
        sealed::check_encrypted(ss, md).map_err(sealed_failure)?;
    }
    if no_decrypt || ids.is_empty() {
        return Ok(format!(
            " (structure only: no key to check the MAC{})",
            if sealed_doc.is_some() { " and scope" } else { "" }
        ));
    }
    let no_key = || {
        format!(
            " (structure only: none of the loaded identities is a recipient; recipients: {})",
            recipients.join(", ")
        )
    };
    if let Some(ss) = &sealed_doc {
        // The controller's own checks, from the same library code.
        let (ns, name) = sealed::object_ref(ss);
        let spec = ss.get("spec").and_then(Value::as_map).cloned().unwrap_or_default();
        return match sealed::open(ns.unwrap_or(""), name.unwrap_or(""), &spec, md.clone(), ids) {
            Ok(opened) => Ok(format!(" (MAC verified, scope {})", opened.scope)),
            Err(sealed::SealedError::NoMatchingKey(_)) => Ok(no_key()),
            Err(e) => Err(sealed_failure(e)),
        };
    }
    let key = match recipients::recover(md, ids) {
        Ok(k) => k,
        Err(sops::Error::NoMatchingKey(_)) => return Ok(no_key()),
        Err(e) => return Err(e.into()),
    };
    sops::decrypt_with_key(doc, key, DecryptOptions::default())?;
    Ok(" (MAC verified)".to_owned())
}

/// The exit code of a SealedSecret check: a broken document is bad input;
/// anything that suggests tampering (MAC, a value, the scope) is an
/// integrity failure.
pub fn sealed_failure(e: sealed::SealedError) -> Failure {
    use sealed::SealedError as E;
    let code = match &e {
        E::InvalidDocument(_) => exit::INPUT,
        E::NoMatchingKey(_) => exit::NO_KEY,
        E::DecryptFailed(_) | E::MacMismatch(_) | E::ScopeMismatch(_) | E::KeysChanged(_) => exit::INTEGRITY,
    };
    Failure { code, message: e.to_string() }
}

/// `seal man`.
pub fn man(cmd: clap::Command, dir: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(dir).map_err(|e| Failure::general(format!("cannot create {}: {e}", dir.display())))?;
    let write = |name: String, c: clap::Command| -> Result<(), Failure> {
        let mut buf = Vec::new();
        clap_mangen::Man::new(c).render(&mut buf).map_err(|e| Failure::general(e.to_string()))?;
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, buf).map_err(|e| Failure::general(format!("cannot write {}: {e}", path.display())))
    };
    let cmd = cmd.name("seal");
    for sub in cmd.get_subcommands() {
        let name = format!("seal-{}", sub.get_name());
        write(name.clone(), sub.clone().bin_name(name))?;
    }
    write("seal".into(), cmd)?;
    Ok(())
}
