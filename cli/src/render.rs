//! `seal render`: manifests in, manifests out, for places where no
//! controller runs (an Argo CD config management plugin, a kustomize KRM
//! function, a pipeline):
//!
//! - a SealedSecret becomes the Secret seal-controller would make from it,
//!   judged by the same library code (`seal_format::document::open`: the
//!   structure, the MAC, every value's path, the scope binding; then the
//!   template rules and the key names). What is a SealedSecret is decided
//!   by its encryption, not by its clear-text `apiVersion` and `kind`
//!   ([`sealed_by_structure`]);
//! - any other SOPS-encrypted manifest (a Flux-style `kind: Secret` with a
//!   `sops` block) is decrypted with its MAC checked;
//! - everything else passes through unchanged, byte for byte, in order.
//!
//! One bad object fails the whole render: a partial set of Secrets applied
//! by a GitOps tool is worse than none. Errors name the file, the document
//! and the reason, never a value.
//!
//! When the input is a kustomize `ResourceList` (what a KRM exec function
//! reads on stdin), the output is a `ResourceList` with the same items,
//! transformed the same way.
//!
//! What a repository holds cannot make seal read files from elsewhere: a
//! directory walk and `functionConfig.files` stay under their root (the
//! directory given; the function's working directory) once `..` and every
//! symlink are resolved ([`resolve_under`]).
//!
//! Over 600 lines on purpose: the input walk, the ResourceList framing and
//! the per-document decision are one pipeline whose bounds (root, sizes,
//! "one bad object fails all") must be read together; its last hundred
//! lines are its tests.

use std::path::{Path, PathBuf};

use base64::Engine;
use clap::Args;
use seal_format::document::{self as sealed, SecretData};
use seal_format::sops::{self, DecryptOptions, Identities, Map, Metadata, Value};

use crate::common::{read_input, sealed_failure, write_stdout};
use crate::{Failure, IdentityArgs};

/// Arguments of `seal render`.
#[derive(Args)]
pub struct RenderArgs {
    /// Files, directories (their .yaml, .yml and .json files, recursively,
    /// in name order; kustomization files skipped), or - for stdin (the default).
    pub paths: Vec<String>,
    /// Namespace for objects that name none (as `kubectl apply -n`).
    #[arg(short = 'n', long, env = "SEAL_NAMESPACE")]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub ids: IdentityArgs,
}

/// `seal render`.
pub fn run(a: RenderArgs) -> Result<(), Failure> {
    let paths = if a.paths.is_empty() { vec!["-".to_owned()] } else { a.paths.clone() };
    let mut files = Vec::new();
    for p in &paths {
        collect(p, &mut files)?;
    }
    let ids = a.ids.load()?;
    let ctx = Renderer { ids: &ids, namespace: a.namespace.as_deref() };
    let mut out = String::new();
    for file in &files {
        out.push_str(&ctx.stream(&file.name, &file.read()?)?);
    }
    write_stdout(out.as_bytes())
}

/// A file to render: the name messages give it, and the path read (for a
/// symlink, its target, resolved when it was checked).
struct Input {
    name: String,
    path: PathBuf,
}

impl Input {
    /// A path read as named (`-` is stdin).
    fn named(name: &str) -> Input {
        Input { name: name.to_owned(), path: PathBuf::from(name) }
    }

    /// Its text.
    fn read(&self) -> Result<String, Failure> {
        let bytes = if self.name == "-" {
            read_input("-")?
        } else {
            read_input(&self.path.display().to_string()).map_err(|mut f| {
                if self.path != Path::new(&self.name) {
                    f.message = format!("{} (a link to {}): {}", self.name, self.path.display(), f.message);
                }
                f
            })?
        };
        String::from_utf8(bytes).map_err(|_| Failure::input(format!("{}: not UTF-8", self.name)))
    }
}

/// `path` with every symlink and `..` resolved, if that stays under `root`
/// (itself resolved): the rule kustomize's load restrictor applies, so
/// that what a repository holds cannot make seal read, and decrypt, a file
/// from elsewhere on the machine. Errors name the resolved path and the
/// root (`root_is` says what it is), never content.
fn resolve_under(root: &Path, root_is: &str, path: &Path) -> Result<PathBuf, String> {
    let real = std::fs::canonicalize(path).map_err(|e| format!("cannot resolve it: {e}"))?;
    if real.starts_with(root) {
        Ok(real)
    } else {
        Err(format!(
            "refused: it resolves to {}, outside {root_is} {} (through `..`, an absolute path or a symlink); seal render reads only files under it",
            real.display(),
            root.display()
        ))
    }
}

/// The inputs a path names: a file (or `-`) itself, or a directory's
/// manifests, recursively, sorted by name. Hidden entries and kustomize's
/// own files are skipped: they are not Kubernetes objects. A directory is
/// the root of its walk: a symlink in it is followed only when its target
/// (every link resolved) is under the directory, and each directory is
/// read once however many links lead to it.
fn collect(path: &str, out: &mut Vec<Input>) -> Result<(), Failure> {
    if path == "-" || !Path::new(path).is_dir() {
        out.push(Input::named(path));
        return Ok(());
    }
    let root = std::fs::canonicalize(path).map_err(|e| Failure::input(format!("cannot resolve {path}: {e}")))?;
    let mut seen = std::collections::HashSet::new();
    walk(&root, Path::new(path), &root, &mut seen, out, 0)
}

/// One directory of a walk under `root` (the directory given, resolved):
/// `shown` is its path as the user wrote it (for messages), `real` the
/// same directory resolved.
fn walk(
    root: &Path,
    shown: &Path,
    real: &Path,
    seen: &mut std::collections::HashSet<PathBuf>,
    out: &mut Vec<Input>,
    depth: usize,
) -> Result<(), Failure> {
    if depth > 32 {
        return Err(Failure::input(format!("{}: directories nested more than 32 deep", shown.display())));
    }
    if !seen.insert(real.to_path_buf()) {
        return Ok(());
    }
    let read = std::fs::read_dir(real).map_err(|e| Failure::input(format!("cannot read {}: {e}", shown.display())))?;
    let mut names: Vec<std::ffi::OsString> = read.filter_map(|e| e.ok().map(|e| e.file_name())).collect();
    names.sort();
    for os_name in names {
        let name = os_name.to_string_lossy().into_owned();
        if name.starts_with('.')
            || matches!(name.as_str(), "kustomization.yaml" | "kustomization.yml" | "Kustomization")
        {
            continue;
        }
        let entry_shown = shown.join(&os_name);
        let entry = real.join(&os_name);
        let cannot = |e: std::io::Error| Failure::input(format!("cannot read {}: {e}", entry_shown.display()));
        let mut meta = std::fs::symlink_metadata(&entry).map_err(cannot)?;
        let mut target = entry.clone();
        if meta.file_type().is_symlink() {
            target = resolve_under(root, "the directory given,", &entry)
                .map_err(|e| Failure::input(format!("{} is a symlink: {e}", entry_shown.display())))?;
            meta = std::fs::metadata(&target).map_err(cannot)?;
        }
        if meta.is_dir() {
            walk(root, &entry_shown, &target, seen, out, depth + 1)?;
        } else if [".yaml", ".yml", ".json"].iter().any(|s| name.ends_with(s)) {
            if !meta.is_file() {
                return Err(Failure::input(format!("{}: not a regular file", entry_shown.display())));
            }
            out.push(Input { name: entry_shown.display().to_string(), path: target });
        }
    }
    Ok(())
}

/// Splits a YAML stream into its documents' text, each with the line that
/// starts it (`---`), if any. A document marker is a line at column 0
/// beginning with `---` followed by nothing or white space; YAML allows no
/// such line inside a scalar, so the split needs no parse.
pub fn split_documents(text: &str) -> Vec<&str> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let marker =
            line.strip_prefix("---").is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']));
        if marker && pos > start {
            docs.push(&text[start..pos]);
            start = pos;
        }
        pos += line.len();
    }
    if pos > start {
        docs.push(&text[start..pos]);
    }
    docs
}

/// What renders: the identities, and the namespace of objects without one.
struct Renderer<'a> {
    ids: &'a Identities,
    namespace: Option<&'a str>,
}

/// What one document is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A SealedSecret: opened only by `sealed::open`, with its scope check.
    Sealed,
    /// Another manifest with a top-level `sops` block.
    Sops,
    /// A kustomize ResourceList (a KRM function's input).
    ResourceList,
    /// Anything else.
    Other,
}

/// What a document is. `apiVersion` and `kind` are clear text outside the
/// MAC, so they cannot make a SealedSecret anything else: a document with
/// a `sops` block is a SealedSecret when its structure says so (see
/// [`sealed_by_structure`]), whatever it calls itself.
fn kind_of(doc: &Map) -> Kind {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
    let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let has_sops = doc.get("sops").is_some();
    if says_sealed(doc) || (has_sops && sealed_by_structure(doc)) {
        Kind::Sealed
    } else if kind == "ResourceList" && api.starts_with("config.kubernetes.io/") {
        Kind::ResourceList
    } else if has_sops {
        Kind::Sops
    } else {
        Kind::Other
    }
}

/// Whether a SOPS document holds a SealedSecret, judged by what the
/// encryption binds rather than by what the document calls itself: its
/// `sops` block selects with the SealedSecret rule (`encrypted_regex
/// ^(data|stringData|scope)$`), or any encrypted value sits where a
/// SealedSecret's values are encrypted (see [`sealed::sealed_value_path`]).
///
/// The second test is the one an attacker cannot get around: every value
/// of a SealedSecret is encrypted with its path (`spec:data:KEY:`,
/// `spec:stringData:KEY:`, `spec:scope:`) as additional data, so it
/// decrypts at no other path, however the document around it is renamed,
/// re-ruled or restructured (keys joined with `:`, lists that share their
/// key's path).
fn sealed_by_structure(doc: &Map) -> bool {
    let rule = doc
        .get("sops")
        .and_then(Value::as_map)
        .and_then(|m| m.get("encrypted_regex"))
        .and_then(Value::as_str)
        .is_some_and(|r| r == sealed::ENCRYPTED_REGEX);
    rule || sealed::sealed_value_path(doc).is_some()
}

/// Whether a document calls itself a seal SealedSecret.
fn says_sealed(doc: &Map) -> bool {
    doc.get("kind").and_then(Value::as_str) == Some(sealed::KIND)
        && doc.get("apiVersion").and_then(Value::as_str).is_some_and(|a| a.starts_with("seal.dev/"))
}

/// `Kind ns/name` of an object, for messages (names are not secret); a
/// SealedSecret that calls itself something else is said to be one.
fn describe(doc: &Map, kind_of_doc: Kind) -> String {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("object");
    let what = match sealed::object_ref(doc) {
        (Some(ns), Some(name)) => format!("{kind} {ns}/{name}"),
        (None, Some(name)) => format!("{kind} {name}"),
        _ => kind.to_owned(),
    };
    if kind_of_doc == Kind::Sealed && !says_sealed(doc) {
        let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("none");
        format!(
            "{what}, apiVersion {api}: encrypted as a SealedSecret, so opened as one whatever its apiVersion and kind say"
        )
    } else {
        what
    }
}

impl Renderer<'_> {
    /// Renders one file's text: a YAML stream, a JSON document, or a
    /// ResourceList. The output is a YAML stream (or a ResourceList).
    fn stream(&self, file: &str, text: &str) -> Result<String, Failure> {
        let json = file.ends_with(".json");
        let chunks = if json { vec![text] } else { split_documents(text) };
        let mut out = String::new();
        for (i, chunk) in chunks.iter().enumerate() {
            let at = || if chunks.len() > 1 { format!("{file}, document {}", i + 1) } else { file.to_owned() };
            let docs = if json {
                vec![sops::json::parse(chunk).map_err(|e| Failure::from(e).in_file(&at()))?]
            } else {
                sops::yaml::parse(chunk).map_err(|e| Failure::from(e).in_file(&at()))?
            };
            let mut rendered = Vec::new();
            let mut changed = false;
            for doc in docs {
                match kind_of(&doc) {
                    Kind::Other => rendered.push(doc),
                    Kind::ResourceList => {
                        changed = true;
                        rendered.push(self.resource_list(doc, &at())?);
                    }
                    kind @ (Kind::Sealed | Kind::Sops) => {
                        changed = true;
                        let what = describe(&doc, kind);
                        rendered.push(self.object(doc, kind).map_err(|f| f.in_file(&format!("{} ({what})", at())))?);
                    }
                }
            }
            if !changed {
                push_document(&mut out, chunk);
            } else {
                for doc in &rendered {
                    push_document(&mut out, &sops::yaml::emit(&[doc], 2));
                }
            }
        }
        Ok(out)
    }

    /// A KRM function's input: every item rendered, the rest kept; the
    /// files the function's config lists under `files` (paths relative to
    /// the kustomization, as kustomize runs the function there) rendered
    /// and added, as a generator.
    fn resource_list(&self, mut list: Map, at: &str) -> Result<Map, Failure> {
        let files = generator_files(&list)?;
        if list.get("items").and_then(|v| if let Value::List(_) = v { Some(()) } else { None }).is_none() {
            list.insert("items", Value::List(Vec::new()));
        }
        let Some(Value::List(items)) = list.get_mut("items") else {
            return Ok(list);
        };
        for (i, item) in std::mem::take(items).into_iter().enumerate() {
            let Value::Map(doc) = item else {
                items.push(item);
                continue;
            };
            match kind_of(&doc) {
                kind @ (Kind::Sealed | Kind::Sops) => {
                    // kustomize records where an item came from.
                    let origin = origin_path(&doc).map(|p| format!(" from {p}")).unwrap_or_default();
                    let what = format!("{at}: items[{i}] ({}{origin})", describe(&doc, kind));
                    // Taken off before decrypting: a file whose MAC covers
                    // its metadata was written without them.
                    let (doc, kept) = take_kustomize_annotations(doc);
                    let sops_item = kind == Kind::Sops;
                    let mut secret = self.object(doc, kind).map_err(|mut f| {
                        if sops_item && f.code == crate::exit::MAC_MISMATCH {
                            f.message.push_str(". kustomize reorders an object's fields, which a MAC over every value cannot allow: list this file under the function's `files:` (seal reads it itself, as a generator), or encrypt it with --mac-only-encrypted");
                        }
                        f.in_file(&what)
                    })?;
                    add_annotations(&mut secret, kept);
                    items.push(Value::Map(secret));
                }
                _ => items.push(Value::Map(doc)),
            }
        }
        for file in files {
            let rendered = self.stream(&file.name, &file.read()?)?;
            for doc in sops::yaml::parse(&rendered)? {
                items.push(Value::Map(doc));
            }
        }
        Ok(list)
    }

    /// A SealedSecret or another SOPS-encrypted manifest → its plaintext
    /// object. `kind` is decided before the `sops` block is taken off (it
    /// is part of what marks a SealedSecret).
    fn object(&self, mut doc: Map, kind: Kind) -> Result<Map, Failure> {
        let meta = match doc.remove("sops") {
            Some(Value::Map(m)) => Metadata::from_map(&m)?,
            Some(_) => return Err(Failure::input("the `sops` key is not a mapping")),
            None => {
                return Err(Failure::input(
                    "the SealedSecret has no `sops` block: it was not encrypted with seal or sops",
                ));
            }
        };
        match kind {
            Kind::Sealed => self.sealed(doc, meta),
            _ => {
                let enc = sops::EncryptedDocument { branches: vec![doc], metadata: meta };
                let (mut plain, _, _) = sops::decrypt_document(enc, self.ids, DecryptOptions::default())?;
                plain.pop().ok_or_else(|| Failure::input("the document is empty"))
            }
        }
    }

    /// A SealedSecret → the Secret the controller would write (without the
    /// controller's own bookkeeping: owner reference, digests).
    fn sealed(&self, doc: Map, meta: Metadata) -> Result<Map, Failure> {
        let (ns, name) = sealed::object_ref(&doc);
        let name = name.ok_or_else(|| Failure::input("the SealedSecret has no metadata.name"))?;
        let ns = ns.or(self.namespace).ok_or_else(|| {
            Failure::input("the SealedSecret has no metadata.namespace: give --namespace, the namespace it is applied to, so that its scope can be checked")
        })?;
        let empty = Map::new();
        let spec = doc.get("spec").and_then(Value::as_map).unwrap_or(&empty);
        let opened = sealed::open(ns, name, spec, meta, self.ids).map_err(sealed_failure)?;
        let template = Template::read(spec.get("template")).map_err(Failure::input)?;
        let prefixes: Vec<String> =
            sealed::DEFAULT_REFUSED_ANNOTATION_PREFIXES.iter().map(|s| (*s).to_owned()).collect();
        sealed::check_template_parts(
            template.type_.as_deref(),
            template.labels.pairs().map(|(k, _)| k),
            template.annotations.pairs().map(|(k, _)| k),
            &prefixes,
        )
        .map_err(Failure::input)?;
        let invalid = sealed::invalid_keys(&opened.data);
        if !invalid.is_empty() {
            return Err(Failure::input(format!(
                "the Secret would hold keys the API server refuses: {}",
                invalid.join(", ")
            )));
        }
        Ok(secret(ns, name, &template, &opened.data))
    }
}

/// The files a KRM function's config (`functionConfig.files`) names,
/// each resolved under the function's working directory (kustomize runs an
/// exec function in the kustomization's folder): a path that leaves it, as
/// written or through a symlink, is refused, as kustomize's load
/// restrictor refuses a resource outside the kustomization's root.
fn generator_files(list: &Map) -> Result<Vec<Input>, Failure> {
    let Some(files) = list.get("functionConfig").and_then(Value::as_map).and_then(|c| c.get("files")) else {
        return Ok(Vec::new());
    };
    let Value::List(files) = files else {
        return Err(Failure::input("functionConfig.files must be a list of file names"));
    };
    let names = files
        .iter()
        .filter(|v| !matches!(v, Value::Comment(_)))
        .map(|v| {
            v.as_str()
                .filter(|s| !s.is_empty() && *s != "-")
                .map(str::to_owned)
                .ok_or_else(|| Failure::input("functionConfig.files must be a list of file names"))
        })
        .collect::<Result<Vec<String>, Failure>>()?;
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let root = std::env::current_dir()
        .and_then(std::fs::canonicalize)
        .map_err(|e| Failure::input(format!("functionConfig.files: cannot resolve the working directory: {e}")))?;
    names
        .into_iter()
        .map(|name| {
            let path = resolve_under(
                &root,
                "the kustomization's directory (the function's working directory),",
                &root.join(&name),
            )
            .map_err(|e| Failure::input(format!("functionConfig.files: {name}: {e}")))?;
            if !path.is_file() {
                return Err(Failure::input(format!("functionConfig.files: {name}: not a regular file")));
            }
            Ok(Input { name, path })
        })
        .collect()
}

/// The parts of `spec.template` a Secret takes.
#[derive(Default)]
struct Template {
    type_: Option<String>,
    immutable: Option<bool>,
    labels: Map,
    annotations: Map,
}

impl Template {
    fn read(v: Option<&Value>) -> Result<Template, String> {
        let t = match v {
            None | Some(Value::Null) => return Ok(Template::default()),
            Some(Value::Map(m)) => m,
            Some(other) => return Err(format!("spec.template is a {}, expected a mapping", other.kind())),
        };
        let type_ = match t.get("type") {
            None | Some(Value::Null) => None,
            Some(Value::Str(s)) => Some(s.to_string()),
            Some(other) => return Err(format!("spec.template.type is a {}, expected a string", other.kind())),
        };
        let immutable = match t.get("immutable") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => return Err(format!("spec.template.immutable is a {}, expected a boolean", other.kind())),
        };
        let md = t.get("metadata").and_then(Value::as_map);
        let strings = |field: &str| -> Result<Map, String> {
            let mut out = Map::new();
            if let Some(m) = md.and_then(|m| m.get(field)).and_then(Value::as_map) {
                for (k, v) in m.pairs() {
                    match v {
                        Value::Str(s) => out.push(k, Value::str(s.as_str())),
                        other => {
                            return Err(format!(
                                "spec.template.metadata.{field}.{k} is a {}, expected a string",
                                other.kind()
                            ));
                        }
                    }
                }
            }
            Ok(out)
        };
        Ok(Template { type_, immutable, labels: strings("labels")?, annotations: strings("annotations")? })
    }
}

/// The Secret manifest, keys in the order `kubectl get -o yaml` prints.
fn secret(namespace: &str, name: &str, template: &Template, data: &SecretData) -> Map {
    let mut meta = Map::new();
    if !template.annotations.is_empty() {
        meta.push("annotations", Value::Map(template.annotations.clone()));
    }
    if !template.labels.is_empty() {
        meta.push("labels", Value::Map(template.labels.clone()));
    }
    meta.push("name", Value::str(name));
    meta.push("namespace", Value::str(namespace));
    let mut values = Map::new();
    for (k, v) in &data.0 {
        values.push(k, Value::str(base64::engine::general_purpose::STANDARD.encode(v.as_slice())));
    }
    let mut doc = Map::new();
    doc.push("apiVersion", Value::str("v1"));
    doc.push("data", Value::Map(values));
    if let Some(b) = template.immutable {
        doc.push("immutable", Value::Bool(b));
    }
    doc.push("kind", Value::str("Secret"));
    doc.push("metadata", Value::Map(meta));
    doc.push("type", Value::str(template.type_.clone().unwrap_or_else(|| "Opaque".into())));
    doc
}

/// The file an item came from, when kustomize says: its
/// `config.kubernetes.io/origin` annotation (`buildMetadata:
/// [originAnnotations]`), or the path annotation of older versions.
fn origin_path(doc: &Map) -> Option<String> {
    if let Some(origin) = annotation(doc, "config.kubernetes.io/origin")
        && let Some(p) = origin.lines().find_map(|l| l.trim().strip_prefix("path:"))
    {
        return Some(p.trim().trim_matches(['"', '\'']).to_owned());
    }
    annotation(doc, "config.kubernetes.io/path")
        .or_else(|| annotation(doc, "internal.config.kubernetes.io/path"))
        .map(str::to_owned)
}

fn annotation<'a>(doc: &'a Map, key: &str) -> Option<&'a str> {
    doc.get("metadata")?.as_map()?.get("annotations")?.as_map()?.get(key)?.as_str()
}

/// kustomize's own annotations on an item (where it came from, its
/// index), taken off; an `annotations` map left empty goes too, since
/// kustomize made it.
fn take_kustomize_annotations(mut doc: Map) -> (Map, Vec<(String, Value)>) {
    let ours = |k: &str| {
        ["config.kubernetes.io/", "internal.config.kubernetes.io/", "config.k8s.io/"].iter().any(|p| k.starts_with(p))
    };
    let mut taken = Vec::new();
    if let Some(Value::Map(meta)) = doc.get_mut("metadata")
        && let Some(Value::Map(a)) = meta.get_mut("annotations")
    {
        let keys: Vec<String> = a.pairs().filter(|(k, _)| ours(k)).map(|(k, _)| k.to_owned()).collect();
        for k in keys {
            if let Some(v) = a.remove(&k) {
                taken.push((k, v));
            }
        }
        if !taken.is_empty() && a.pairs().next().is_none() {
            meta.remove("annotations");
        }
    }
    (doc, taken)
}

fn add_annotations(doc: &mut Map, pairs: Vec<(String, Value)>) {
    if pairs.is_empty() {
        return;
    }
    let Some(Value::Map(meta)) = doc.get_mut("metadata") else { return };
    if meta.get("annotations").and_then(Value::as_map).is_none() {
        meta.insert("annotations", Value::Map(Map::new()));
    }
    if let Some(Value::Map(a)) = meta.get_mut("annotations") {
        for (k, v) in pairs {
            a.insert(&k, v);
        }
    }
}

/// Appends one document to a stream, with its `---` line.
fn push_document(out: &mut String, doc: &str) {
    if doc.trim().is_empty() {
        return;
    }
    if !doc.starts_with("---") {
        out.push_str("---\n");
    }
    out.push_str(doc);
    if !doc.ends_with('\n') {
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_at_markers_only() {
        let text = "a: 1\n---\nb: |\n  ---\n  x\n--- # c\nc: 3\n---x: 1\n";
        assert_eq!(split_documents(text), vec!["a: 1\n", "---\nb: |\n  ---\n  x\n", "--- # c\nc: 3\n---x: 1\n"]);
        assert_eq!(split_documents("---\na: 1\n"), vec!["---\na: 1\n"]);
        assert!(split_documents("").is_empty());
    }

    const ENC: &str = "ENC[AES256_GCM,data:eA==,iv:eA==,tag:eA==,type:str]";

    fn doc(text: &str) -> Map {
        sops::yaml::parse(&text.replace("ENC", ENC)).ok().and_then(|mut d| d.pop()).unwrap_or_default()
    }

    #[test]
    fn a_sealed_secret_is_known_by_where_its_values_are_encrypted_not_by_its_kind() {
        let sops_block = "sops:\n  encrypted_regex: ^(data|stringData)$\n";
        for text in [
            // Renamed: clear-text fields outside the MAC.
            "apiVersion: example.com/v1\nkind: SealedSecret\nspec:\n  scope: ENC\n",
            "apiVersion: v1\nkind: ConfigMap\nspec:\n  stringData:\n    password: ENC\n",
            "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nspec:\n  data:\n    k: ENC\n",
            // Restructured: the same additional data, `spec:scope:`.
            "kind: ConfigMap\n\"spec:scope\": ENC\n\"spec:stringData\":\n  password: ENC\n",
            "kind: ConfigMap\nspec:\n- scope: ENC\n",
            "kind: ConfigMap\nspec:\n  stringData:\n    - ENC\n",
        ] {
            let d = doc(&format!("{text}{sops_block}"));
            assert!(sealed::sealed_value_path(&d).is_some(), "{text}");
            assert!(kind_of(&d) == Kind::Sealed, "{text}");
        }
        // The SealedSecret rule alone marks it too.
        let d = doc("apiVersion: v1\nkind: Secret\nsops:\n  encrypted_regex: ^(data|stringData|scope)$\n");
        assert!(kind_of(&d) == Kind::Sealed);
        // A Flux Secret is not one; nor is a clear spec.scope, or no sops block.
        let flux = doc(
            "apiVersion: v1\nkind: Secret\ndata:\n  scope: ENC\nstringData:\n  spec: ENC\nsops:\n  encrypted_regex: ^(data|stringData)$\n",
        );
        assert!(sealed::sealed_value_path(&flux).is_none() && kind_of(&flux) == Kind::Sops);
        let crd = doc("kind: Thing\nspec:\n  scope: Namespaced\n  data:\n    x: y\nsops:\n  mac: ENC\n");
        assert!(kind_of(&crd) == Kind::Sops);
        let plain = doc("kind: ConfigMap\nspec:\n  scope: ENC\n");
        assert!(kind_of(&plain) == Kind::Other);
        let list = doc("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n");
        assert!(kind_of(&list) == Kind::ResourceList);
    }

    #[test]
    fn paths_resolve_under_their_root_only() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let base = std::fs::canonicalize(dir.path())?;
        let root = base.join("root");
        std::fs::create_dir_all(root.join("sub"))?;
        std::fs::write(root.join("sub/in.yaml"), "a: 1\n")?;
        std::fs::write(base.join("out.yaml"), "a: 1\n")?;
        std::os::unix::fs::symlink("sub/in.yaml", root.join("link-in.yaml"))?;
        std::os::unix::fs::symlink("../out.yaml", root.join("link-out.yaml"))?;
        std::os::unix::fs::symlink(&base, root.join("link-up"))?;
        assert_eq!(resolve_under(&root, "the root", &root.join("link-in.yaml"))?, root.join("sub/in.yaml"));
        assert_eq!(resolve_under(&root, "the root", &root.join("sub/../sub/in.yaml"))?, root.join("sub/in.yaml"));
        for bad in
            [root.join("link-out.yaml"), root.join("../out.yaml"), root.join("link-up/out.yaml"), base.join("out.yaml")]
        {
            let e = resolve_under(&root, "the root", &bad).err().unwrap_or_default();
            assert!(e.contains("outside") && e.contains(&root.display().to_string()), "{}: {e}", bad.display());
        }
        // A sibling whose name starts like the root is outside it.
        std::fs::create_dir_all(base.join("root2"))?;
        std::fs::write(base.join("root2/x.yaml"), "a: 1\n")?;
        assert!(resolve_under(&root, "the root", &base.join("root2/x.yaml")).is_err());
        Ok(())
    }

    #[test]
    fn a_walk_stays_in_its_tree_and_reads_each_folder_once() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let root = dir.path().join("app");
        std::fs::create_dir_all(root.join("b"))?;
        std::fs::write(root.join("a.yaml"), "a: 1\n")?;
        std::fs::write(root.join("b/c.yml"), "c: 1\n")?;
        std::os::unix::fs::symlink("..", root.join("b/loop"))?;
        std::os::unix::fs::symlink("b", root.join("d"))?;
        let mut out = Vec::new();
        collect(&root.display().to_string(), &mut out).map_err(|f| f.message)?;
        let names: Vec<String> = out.iter().map(|i| i.name.clone()).collect();
        let shown = |p: &str| root.join(p).display().to_string();
        assert_eq!(names, vec![shown("a.yaml"), shown("b/c.yml")]);
        std::fs::write(dir.path().join("secret.yaml"), "s: 1\n")?;
        std::os::unix::fs::symlink("../../secret.yaml", root.join("b/e.yaml"))?;
        let mut out = Vec::new();
        let e = collect(&root.display().to_string(), &mut out).err().map(|f| f.message).unwrap_or_default();
        assert!(e.contains("b/e.yaml is a symlink") && e.contains("outside"), "{e}");
        Ok(())
    }
}
