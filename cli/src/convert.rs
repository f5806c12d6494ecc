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
use seal_format::document::valid_secret_key;
use seal_format::sops::{self, Format, Map, Value};

use crate::common::{read_input, write_in_place, write_stdout};
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
    if (api, kind) == ("v1", "Secret") {
        check_names(doc, None).map_err(|e| Failure::input(format!("{}: {e}", a.file)))?;
    }
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
    // Every name below is written into the skeleton, some into its comment
    // lines: each must be one Kubernetes accepts, so that none can carry a
    // line break (and with it more manifests) into the file.
    check_names(doc, tmd)?;
    let key_maps = [
        ("spec.encryptedData", spec.and_then(|s| s.get("encryptedData"))),
        ("spec.template.data", template.and_then(|t| t.get("data"))),
    ];
    for (field, m) in key_maps {
        let bad = m.and_then(Value::as_map).map_or(0, |m| m.pairs().filter(|(k, _)| !valid_secret_key(k)).count());
        if bad > 0 {
            return Err(format!(
                "{field} has {bad} key name(s) that Kubernetes refuses in a Secret (allowed: letters, digits, '-', '_' and '.', at most 253 characters)"
            ));
        }
    }
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

/// Checks the object's `metadata.name` (a DNS-1123 subdomain) and
/// `metadata.namespace` (a DNS-1123 label) as the API server does, and,
/// when the object names no namespace, `spec.template.metadata.namespace`
/// (`template_md`, for a Bitnami object). The error names the field, never
/// its value: a hostile value is not echoed.
fn check_names(doc: &Map, template_md: Option<&Map>) -> Result<(), String> {
    let md = doc.get("metadata").and_then(Value::as_map);
    /// A field's value; null is no value, as Kubernetes reads it.
    fn field<'a>(m: Option<&'a Map>, k: &str) -> Option<&'a Value> {
        m.and_then(|m| m.get(k)).filter(|v| !matches!(v, Value::Null))
    }
    let namespace = match field(md, "namespace") {
        Some(v) => Some(("metadata.namespace", v)),
        None => field(template_md, "namespace").map(|v| ("spec.template.metadata.namespace", v)),
    };
    if let Some(v) = field(md, "name")
        && !v.as_str().is_some_and(is_dns_subdomain)
    {
        return Err(
            "metadata.name is not a name Kubernetes accepts: a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters)"
                .into(),
        );
    }
    if let Some((name, v)) = namespace
        && !v.as_str().is_some_and(is_dns_label)
    {
        return Err(format!(
            "{name} is not a namespace Kubernetes accepts: a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)"
        ));
    }
    Ok(())
}

/// One part of a DNS-1123 name: lowercase letters, digits and '-',
/// starting and ending with a letter or digit.
fn is_dns_part(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    s.starts_with(alnum) && s.ends_with(alnum) && s.chars().all(|c| alnum(c) || c == '-')
}

/// A DNS-1123 label (what a namespace must be): one part, at most 63 characters.
pub fn is_dns_label(s: &str) -> bool {
    s.len() <= 63 && is_dns_part(s)
}

/// A DNS-1123 subdomain (what most object names must be): parts joined
/// by '.', at most 253 characters.
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels_and_subdomains_are_the_kubernetes_ones() {
        for ok in ["a", "db", "prod-1", "0", &"n".repeat(63)] {
            assert!(is_dns_label(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", "a\n---\nb", "a b", "é", &"n".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
        for ok in ["db", "db.prod", "a-1.b-2.c", &format!("{}.{}", "a".repeat(126), "b".repeat(126))] {
            assert!(is_dns_subdomain(ok), "{ok}");
        }
        for bad in ["", ".", "a.", ".a", "a..b", "a.-b", "Db", "db\n---\nkind: Secret", "a/b", &"a".repeat(254)] {
            assert!(!is_dns_subdomain(bad), "{bad}");
        }
    }

    fn bitnami(name: &str, namespace: &str, key: &str) -> Map {
        let text = format!(
            "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  encryptedData:\n    {key}: AgB\n"
        );
        sops::yaml::parse(&text).ok().and_then(|mut d| d.pop()).unwrap_or_default()
    }

    #[test]
    fn a_skeleton_refuses_names_that_would_add_lines() {
        assert!(bitnami_skeleton(&bitnami("db", "prod", "password")).is_ok());
        let e = bitnami_skeleton(&bitnami("\"db\\n---\\nkind: Secret\"", "prod", "password")).err().unwrap_or_default();
        assert!(e.starts_with("metadata.name ") && !e.contains("kind: Secret"), "{e}");
        let e = bitnami_skeleton(&bitnami("db", "Prod_1", "password")).err().unwrap_or_default();
        assert!(e.starts_with("metadata.namespace "), "{e}");
        let e = bitnami_skeleton(&bitnami("db", "prod", "\"a\\n---\\nb\"")).err().unwrap_or_default();
        assert!(e.starts_with("spec.encryptedData ") && !e.contains("---"), "{e}");
    }

    #[test]
    fn labels_and_annotations_with_line_breaks_stay_quoted_in_the_skeleton() {
        let mut doc = bitnami("db", "prod", "password");
        let hostile = "x\n---\napiVersion: v1\nkind: Secret\n";
        let mut labels = Map::new();
        labels.push(hostile, Value::str(hostile));
        let mut md = Map::new();
        md.push("labels", Value::Map(labels.clone()));
        md.push("annotations", Value::Map(labels));
        let mut template = Map::new();
        template.push("metadata", Value::Map(md));
        template.push("type", Value::str(hostile));
        if let Some(Value::Map(spec)) = doc.get_mut("spec") {
            spec.push("template", Value::Map(template));
        }
        let (skeleton, _) = bitnami_skeleton(&doc).unwrap_or_default();
        // One document, whose label reads back as written.
        assert!(!skeleton.lines().any(|l| l.starts_with("---")), "{skeleton}");
        let docs = sops::yaml::parse(&skeleton).unwrap_or_default();
        assert_eq!(docs.len(), 1);
        let label = docs
            .first()
            .and_then(|d| d.get("metadata"))
            .and_then(Value::as_map)
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_map)
            .and_then(|l| l.get(hostile))
            .and_then(Value::as_str);
        assert_eq!(label, Some(hostile));
    }
}
