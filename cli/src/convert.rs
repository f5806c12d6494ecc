//! `seal convert`: bring manifests of the tools seal replaces over.
//!
//! - A Flux-style SOPS `kind: Secret` (or a plain Secret) becomes a
//!   SealedSecret: decrypted with a key at hand, values kept, sealed to the
//!   recipients given (as `seal secret` does).
//! - A Bitnami `SealedSecret` (`bitnami.com/v1alpha1`) cannot be decrypted
//!   without its controller's private key, so it becomes a skeleton: the
//!   Secret manifest `seal secret` takes, with its name, namespace, type,
//!   labels, annotations and key names, the scope from its annotations, and
//!   the values to supply listed.

use std::path::PathBuf;

use clap::Args;
use seal_format::sops::{self, Format, Map, Value};

use crate::commands::{read_input, write_in_place, write_stdout};
use crate::secret::{Scope, SealTo, SecretArgs};
use crate::{Failure, IdentityArgs};

/// Arguments of `seal convert`.
#[derive(Args)]
pub struct ConvertArgs {
    /// A Flux-style SOPS Secret, a plain Secret, or a Bitnami SealedSecret manifest; - for stdin.
    pub file: String,
    /// For Secrets: where the SealedSecret may be used (default strict).
    #[arg(long, value_enum)]
    pub scope: Option<Scope>,
    /// For Secrets: who the SealedSecret is sealed to.
    #[command(flatten)]
    pub to: SealTo,
    /// Write the result here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub ids: IdentityArgs,
}

/// Bitnami's scope annotations.
const BITNAMI_CLUSTER_WIDE: &str = "sealedsecrets.bitnami.com/cluster-wide";
const BITNAMI_NAMESPACE_WIDE: &str = "sealedsecrets.bitnami.com/namespace-wide";

/// `seal convert`.
pub fn run(a: ConvertArgs) -> Result<(), Failure> {
    let bytes = read_input(&a.file)?;
    let format = if a.file.ends_with(".json") { Format::Json } else { Format::Yaml };
    let text = std::str::from_utf8(&bytes).map_err(|_| Failure::input(format!("{}: not UTF-8", a.file)))?;
    let parsed = match format {
        Format::Json => sops::json::parse(text).map(|d| vec![d]),
        _ => sops::yaml::parse(text),
    };
    let mut docs = parsed.map_err(|e| Failure::from(e).in_file(&a.file))?;
    let doc = match (docs.pop(), docs.is_empty()) {
        (Some(doc), true) => doc,
        _ => return Err(Failure::input(format!("{}: expected exactly one manifest", a.file))),
    };
    let doc = &doc;
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
    let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    match (api, kind) {
        (api, "SealedSecret") if api.starts_with("bitnami.com/") => {
            let (skeleton, missing) = bitnami_skeleton(doc).map_err(|e| Failure::input(format!("{}: {e}", a.file)))?;
            if !missing.is_empty() {
                eprintln!("seal convert: values to supply: {}", missing.join(", "));
            }
            match &a.output {
                Some(p) => write_in_place(p, skeleton.as_bytes()),
                None => write_stdout(skeleton.as_bytes()),
            }
        }
        ("v1", "Secret") => crate::secret::run(SecretArgs {
            file: Some(a.file),
            name: None,
            namespace: None,
            from_literal: Vec::new(),
            from_file: Vec::new(),
            from_env_file: Vec::new(),
            type_: None,
            scope: a.scope,
            to: a.to,
            merge_into: None,
            output: a.output,
            ids: a.ids,
        }),
        _ => Err(Failure::input(format!(
            "{}: {api} {kind} is not something seal converts: give a v1 Secret (plain or SOPS-encrypted, as Flux uses) or a bitnami.com/v1alpha1 SealedSecret",
            a.file
        ))),
    }
}

/// A Bitnami SealedSecret → the text of a Secret manifest to fill in, and
/// the keys whose values must be supplied.
pub fn bitnami_skeleton(doc: &Map) -> Result<(String, Vec<String>), String> {
    let md = doc.get("metadata").and_then(Value::as_map);
    let get = |m: Option<&Map>, k: &str| m.and_then(|m| m.get(k)).and_then(Value::as_str).map(str::to_owned);
    let name = get(md, "name").ok_or("the SealedSecret has no metadata.name")?;
    let spec = doc.get("spec").and_then(Value::as_map);
    let template = spec.and_then(|s| s.get("template")).and_then(Value::as_map);
    let tmd = template.and_then(|t| t.get("metadata")).and_then(Value::as_map);
    let namespace = get(md, "namespace").or_else(|| get(tmd, "namespace"));
    let annotations = md.and_then(|m| m.get("annotations")).and_then(Value::as_map);
    let flag = |k: &str| get(annotations, k).is_some_and(|v| v == "true");
    let scope = if flag(BITNAMI_CLUSTER_WIDE) {
        "cluster"
    } else if flag(BITNAMI_NAMESPACE_WIDE) {
        "namespace"
    } else {
        "strict"
    };
    let encrypted = spec.and_then(|s| s.get("encryptedData")).and_then(Value::as_map);
    let missing: Vec<String> = encrypted.map(|m| m.pairs().map(|(k, _)| k.to_owned()).collect()).unwrap_or_default();
    // Plain values of the template (`spec.template.data`) are not secret.
    let plain = template.and_then(|t| t.get("data")).and_then(Value::as_map);

    let mut meta = Map::new();
    meta.push("name", Value::str(name.as_str()));
    if let Some(ns) = &namespace {
        meta.push("namespace", Value::str(ns.as_str()));
    }
    for field in ["labels", "annotations"] {
        if let Some(m) = tmd.and_then(|m| m.get(field)).and_then(Value::as_map)
            && !m.is_empty()
        {
            meta.push(field, Value::Map(m.clone()));
        }
    }
    let mut string_data = Map::new();
    for k in &missing {
        string_data.push(k, Value::str(""));
    }
    if let Some(p) = plain {
        for (k, v) in p.pairs() {
            string_data.insert(k, v.clone());
        }
    }
    let mut secret = Map::new();
    secret.push("apiVersion", Value::str("v1"));
    secret.push("kind", Value::str("Secret"));
    secret.push("metadata", Value::Map(meta));
    if let Some(t) = get(template, "type") {
        secret.push("type", Value::str(t));
    }
    if let Some(Value::Bool(b)) = template.and_then(|t| t.get("immutable")) {
        secret.push("immutable", Value::Bool(*b));
    }
    secret.push("stringData", Value::Map(string_data));

    let ns_text = namespace.as_deref().unwrap_or("NAMESPACE");
    let mut out = format!(
        "# Converted by `seal convert` from the Bitnami SealedSecret {ns_text}/{name}.\n\
         # Its values cannot be read without the Bitnami controller's key: fill in\n\
         # stringData ({}), e.g. from `kubectl -n {ns_text} get secret {name} -o yaml`\n\
         # on the old cluster, then seal it and delete this plaintext file:\n\
         #   seal secret THIS_FILE --scope {scope} --controller -o {name}.sealed.yaml\n",
        if missing.is_empty() { "nothing to supply".to_owned() } else { missing.join(", ") },
    );
    if namespace.is_none() {
        out.push_str("# The Bitnami object names no namespace: add metadata.namespace (or pass --namespace).\n");
    }
    out.push_str(&sops::yaml::emit(&[&secret], 2));
    Ok((out, missing))
}
