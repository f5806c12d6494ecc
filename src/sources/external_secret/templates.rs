//! `target.template`: the Secret's values rendered from what was read, with
//! ESO's engine v2 (Go text/template with sprig). Templates come from
//! `templateFrom` (ConfigMaps, Secrets of the object's namespace, literals)
//! and `data`. A Secret is read only with its owner's consent, the
//! [`ALLOW_TEMPLATE_READ_ANNOTATION`] naming this ExternalSecret: without it
//! a template would be a way to read what its author cannot.
//!
//! The template engine (`sources::template`) is named here only, as
//! [`engine`]; it runs in two places: [`render_templates`] here and the
//! rewrite `transform` in `keys`.

use kube::ResourceExt;
use zeroize::Zeroizing;

use crate::api::Reason;
use crate::api::external_secret::ExternalSecret;
pub use crate::sources::template as engine;

use super::metadata::{self, OutputTarget};
use super::template_cache::{Snapshot, SourceKind};
use crate::api::TemplateMetadata;
use crate::sources::{Made, SecretData, SourceContext};
use engine::Work;

/// Why `target.template` could not make the Secret's values. Messages name
/// fields, objects and keys of the object's own spec; never template output
/// or values (template errors come from the engine, which quotes neither).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template asks for what seal does not do (an engine, a target, a
    /// `templateFrom` entry with no or two sources): tried again only when
    /// the object changes.
    #[error("{0}")]
    Refused(String),
    /// A template or one of its sources failed; tried again with backoff.
    #[error("{0}")]
    Failed(String),
    /// A `templateFrom` Secret whose owner has not granted this
    /// ExternalSecret; tried again with backoff (the grant is given on the
    /// Secret, not on this object).
    #[error("{0}")]
    NotShared(String),
}

impl TemplateError {
    /// The status reason.
    pub fn reason(&self) -> Reason {
        match self {
            TemplateError::Refused(_) | TemplateError::Failed(_) => Reason::TemplateFailed,
            TemplateError::NotShared(_) => Reason::SecretNotShared,
        }
    }
}

/// Applies `target.template` to the values read: templates from
/// `templateFrom` (ConfigMaps, Secrets of the object's namespace, literals),
/// then `data`; with `mergePolicy: Merge` over the values read, else alone.
/// The sources are read here; the rendering (which may hash: `htpasswd`,
/// the PKCS#12 functions) runs on a blocking thread, off the async workers.
pub async fn apply_templates(
    ctx: &SourceContext,
    es: &ExternalSecret,
    fetched: SecretData,
    salt_key: &[u8],
    work: &std::sync::Arc<Work>,
) -> Result<Made, TemplateError> {
    let Some(t) = es.spec.target.template.as_ref() else {
        return Ok(fetched.into());
    };
    let refused = TemplateError::Refused;
    if let Some(v) = t.engine_version.as_deref().filter(|v| *v != "v2") {
        return Err(refused(format!(
            "spec.target.template.engineVersion {v:?}: seal runs ESO's engine v2 only (Go text/template with sprig); set v2"
        )));
    }
    let ns = es.namespace().unwrap_or_default();
    let mut sources = Vec::with_capacity(t.template_from.len());
    for (i, from) in t.template_from.iter().enumerate() {
        let field = format!("spec.target.template.templateFrom[{i}]");
        OutputTarget::parse(from.target.as_deref(), &field)?;
        let given = [from.config_map.is_some(), from.secret.is_some(), from.literal.is_some()];
        if given.iter().filter(|x| **x).count() != 1 {
            return Err(refused(format!("{field}: give exactly one of configMap, secret and literal")));
        }
        sources.push(match (&from.config_map, &from.secret) {
            (Some(r), _) => Some(template_source(ctx, &ns, SourceKind::ConfigMap, &r.name, &es.name_any()).await),
            (_, Some(r)) => {
                let read = template_source(ctx, &ns, SourceKind::Secret, &r.name, &es.name_any()).await;
                // No grant: refused at once, before anything is rendered;
                // tried again with backoff, as the grant is given on the
                // Secret, not on this object.
                if let Err(TemplateSourceError::NotGranted(m)) = &read {
                    return Err(TemplateError::NotShared(format!("{field}.secret: {m}")));
                }
                Some(read)
            }
            _ => None,
        });
    }
    let (t, salt_key, work) = (t.clone(), salt_key.to_vec(), work.clone());
    tokio::task::spawn_blocking(move || render_templates(&t, &ns, fetched, sources, &salt_key, &work))
        .await
        .map_err(|_| TemplateError::Failed("the template run stopped unexpectedly".into()))?
}

/// The contents of one `templateFrom` ConfigMap or Secret, as read.
type TemplateSource =
    Result<std::sync::Arc<std::collections::BTreeMap<String, Zeroizing<String>>>, TemplateSourceError>;

/// Why a `templateFrom` source could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TemplateSourceError {
    /// Not read: a Secret whose owner did not grant this ExternalSecret.
    #[error("{0}")]
    NotGranted(String),
    /// Missing, unreadable or not text.
    #[error("{0}")]
    Unreadable(String),
}

/// Annotation on a Secret: the ExternalSecrets (comma-separated names, or
/// `*`) of its namespace that may read it through `templateFrom`. Without
/// it a template cannot become a way to read what its author cannot.
pub use crate::api::annotations::ALLOW_TEMPLATE_READ_ANNOTATION;

/// Whether a Secret's annotations let the ExternalSecret `name` read it
/// through `templateFrom`.
pub fn template_read_allowed(annotations: &std::collections::BTreeMap<String, String>, name: &str) -> bool {
    annotations.get(ALLOW_TEMPLATE_READ_ANNOTATION).is_some_and(|v| consent_names(v, name))
}

/// Whether the read-consent annotation's value names the ExternalSecret `name`.
fn consent_names(value: &str, name: &str) -> bool {
    value.split(',').map(str::trim).any(|n| n == "*" || n == name)
}

fn render_templates(
    t: &crate::api::external_secret::ExternalSecretTemplate,
    ns: &str,
    fetched: SecretData,
    sources: Vec<Option<TemplateSource>>,
    salt_key: &[u8],
    work: &std::sync::Arc<Work>,
) -> Result<Made, TemplateError> {
    use crate::api::external_secret::{MergePolicy, TemplateAs};
    use engine as template;
    let failed = TemplateError::Failed;
    let ctx_value = template::context(&fetched);
    // As ESO: with no value template, or `mergePolicy: Merge`, the values
    // read are kept; the templates' output goes over them.
    let keep = t.merge_policy.unwrap_or_default() == MergePolicy::Merge || !t.has_templates();
    let mut out = Output {
        data: if keep { fetched } else { SecretData::default() },
        // ESO copies the template's metadata as written, then renders over it.
        metadata: t.secret.metadata.clone().unwrap_or_default(),
    };
    for (i, (from, source)) in t.template_from.iter().zip(sources).enumerate() {
        let field = format!("spec.target.template.templateFrom[{i}]");
        let target = OutputTarget::parse(from.target.as_deref(), &field)?;
        let decoding = from.values_decoding_strategy;
        if let Some(lit) = &from.literal {
            let text =
                template::execute_in(work, &format!("{field}.literal"), lit, &ctx_value, salt_key).map_err(failed)?;
            for (n, (k, v)) in keys_and_values(&text, &field)?.into_iter().enumerate() {
                let v = decoded(v, decoding, || format!("{field}.literal: the output's entry {}", n + 1))?;
                out.put(target, k, v, &field)?;
            }
            continue;
        }
        let (kind, r) = match (&from.config_map, &from.secret) {
            (Some(r), _) => ("ConfigMap", r),
            (_, Some(r)) => ("Secret", r),
            _ => continue,
        };
        let contents = source
            .unwrap_or_else(|| Err(TemplateSourceError::Unreadable("not read".into())))
            .map_err(|m| failed(format!("{field}: {m}")))?;
        for item in &r.items {
            let src = contents
                .get(&item.key)
                .ok_or_else(|| failed(format!("{field}: {kind} {ns}/{} has no key {:?}", r.name, item.key)))?;
            let name = format!("{kind} {}/{}", r.name, item.key);
            let text = template::execute_in(work, &name, src, &ctx_value, salt_key).map_err(failed)?;
            match item.template_as.unwrap_or_default() {
                TemplateAs::Values => {
                    let v = decoded(Zeroizing::new(template::bytes_from_text(&text)), decoding, || {
                        format!("{field}: {name}")
                    })?;
                    out.put(target, item.key.clone(), v, &field)?;
                }
                TemplateAs::KeysAndValues => {
                    for (n, (k, v)) in keys_and_values(&text, &name)?.into_iter().enumerate() {
                        let v = decoded(v, decoding, || format!("{field}: {name}: the output's entry {}", n + 1))?;
                        out.put(target, k, v, &field)?;
                    }
                }
            }
        }
    }
    for (key, src) in &t.data {
        let text = template::execute_in(work, key, src, &ctx_value, salt_key)
            .map_err(|e| failed(format!("spec.target.template.data[{key:?}]: {e}")))?;
        out.data.0.insert(key.clone(), Zeroizing::new(template::bytes_from_text(&text)));
    }
    // Then the template's own labels and annotations, each value a
    // template (ESO renders them last, over what `templateFrom` wrote).
    if let Some(m) = &t.secret.metadata {
        for (what, map) in [("labels", &m.labels), ("annotations", &m.annotations)] {
            for (key, src) in map {
                let field = format!("spec.target.template.metadata.{what}[{key:?}]");
                let text = template::execute_in(work, &field, src, &ctx_value, salt_key).map_err(failed)?;
                let value = String::from_utf8(template::bytes_from_text(&text))
                    .map_err(|_| failed(format!("{field}: the rendered value is not UTF-8")))?;
                let into = if what == "labels" { &mut out.metadata.labels } else { &mut out.metadata.annotations };
                into.insert(key.clone(), value);
            }
        }
    }
    let spec_labels = t.secret.metadata.as_ref().map(|m| &m.labels);
    metadata::check_labels(&out.metadata.labels, |k| spec_labels.is_some_and(|l| l.contains_key(k))).map_err(failed)?;
    metadata::check_annotation_keys(&out.metadata.annotations).map_err(failed)?;
    Ok(Made { data: out.data, metadata: Some(out.metadata) })
}

/// What the templates have written so far.
struct Output {
    data: SecretData,
    metadata: TemplateMetadata,
}

impl Output {
    /// Writes one rendered entry where its `templateFrom` sends it.
    /// Labels and annotations are text: a value that is not UTF-8 is an
    /// error naming the entry's `templateFrom` field, not its key (which
    /// is template output for `KeysAndValues`).
    fn put(
        &mut self,
        target: OutputTarget,
        key: String,
        value: Zeroizing<Vec<u8>>,
        field: &str,
    ) -> Result<(), TemplateError> {
        let text = |what: &str| {
            String::from_utf8(value.to_vec())
                .map_err(|_| TemplateError::Failed(format!("{field}: a rendered {what} value is not UTF-8")))
        };
        match target {
            OutputTarget::Data => {
                self.data.0.insert(key, value);
            }
            OutputTarget::Labels => {
                let v = text("label")?;
                self.metadata.labels.insert(key, v);
            }
            OutputTarget::Annotations => {
                let v = text("annotation")?;
                self.metadata.annotations.insert(key, v);
            }
        }
        Ok(())
    }
}

/// A rendered value decoded by `templateFrom[].valuesDecodingStrategy`;
/// `name` names it in the error (never the value, nor a key the template made).
fn decoded(
    value: Zeroizing<Vec<u8>>,
    strategy: Option<crate::api::external_secret::DecodingStrategy>,
    name: impl FnOnce() -> String,
) -> Result<Zeroizing<Vec<u8>>, TemplateError> {
    super::keys::decode(value, strategy, "").map_err(|_| {
        TemplateError::Failed(format!(
            "{}: the rendered value does not decode as valuesDecodingStrategy {} asks",
            name(),
            match strategy.unwrap_or_default() {
                crate::api::external_secret::DecodingStrategy::Base64Url => "Base64URL",
                _ => "Base64",
            }
        ))
    })
}

/// One rendered `key: value` entry.
type Entry = (String, Zeroizing<Vec<u8>>);

/// A template's output read as YAML `key: value` lines (ESO's
/// `KeysAndValues` and `literal`). Errors count the entries, never quote
/// them: keys and values are template output.
fn keys_and_values(text: &str, name: &str) -> Result<Vec<Entry>, TemplateError> {
    use seal_format::sops::Value as Y;
    // Nothing but blanks, comments and document markers: no entries, as
    // ESO's `yaml.Unmarshal` into a map gives (the parser refuses an empty
    // document, as sops does with an empty file).
    let blank = |l: &str| l.is_empty() || l.starts_with('#') || l == "---" || l == "...";
    if text.lines().map(str::trim).all(blank) {
        return Ok(Vec::new());
    }
    let docs = seal_format::sops::yaml::parse(text)
        .map_err(|_| TemplateError::Failed(format!("{name}: the output is not YAML `key: value` lines")))?;
    let mut out = Vec::new();
    for doc in docs {
        for (n, (k, v)) in doc.pairs().enumerate() {
            let bytes = match v {
                Y::Str(s) => engine::bytes_from_text(s),
                Y::Null => Vec::new(),
                Y::Bool(b) => b.to_string().into_bytes(),
                Y::Int(i) => i.to_string().into_bytes(),
                Y::Float(f) => f.to_string().into_bytes(),
                _ => {
                    return Err(TemplateError::Failed(format!("{name}: the output's entry {} is not a scalar", n + 1)));
                }
            };
            out.push((k.to_owned(), Zeroizing::new(bytes)));
        }
    }
    Ok(out)
}

/// The text of a ConfigMap's or Secret's keys, in the object's namespace,
/// from the template cache. A Secret is read only when it grants the
/// ExternalSecret `reader` ([`ALLOW_TEMPLATE_READ_ANNOTATION`]); ConfigMaps
/// hold no secrets by contract and are read as they are.
async fn template_source(ctx: &SourceContext, ns: &str, kind: SourceKind, name: &str, reader: &str) -> TemplateSource {
    let unreadable = TemplateSourceError::Unreadable;
    let what = kind.name();
    let (consent, texts) = match ctx.templates.read(&ctx.client, kind, ns, name).await.map_err(unreadable)? {
        Snapshot::Missing => return Err(unreadable(format!("{what} {ns}/{name} does not exist"))),
        Snapshot::Present { consent, texts } => (consent, texts),
    };
    if kind == SourceKind::Secret && !consent.is_some_and(|c| consent_names(&c, reader)) {
        return Err(TemplateSourceError::NotGranted(format!(
            "Secret {ns}/{name} does not let this ExternalSecret read it: its owner must annotate it {ALLOW_TEMPLATE_READ_ANNOTATION}: \"{reader}\" (or \"*\")"
        )));
    }
    texts.map_err(|k| unreadable(format!("{what} {ns}/{name} key {k:?} is not text")))
}

/// A Kubernetes API error as its status code and reason, never its message
/// (which can quote what was sent).
pub(super) fn api_reason(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("the API server answered {} {}", s.code, s.reason),
        _ => "the API server could not be reached".to_owned(),
    }
}

#[cfg(test)]
#[path = "templates_eso_tests.rs"]
mod eso_tests;

#[cfg(test)]
mod tests {
    use super::keys_and_values;

    /// ESO reads an empty `KeysAndValues` output as no entries
    /// (`yaml.Unmarshal` of nothing into a map), not as an error.
    #[test]
    fn an_empty_keys_and_values_output_is_no_entries() {
        for text in ["", "\n", "  \n\t\n", "# only a comment\n", "---\n"] {
            assert_eq!(keys_and_values(text, "literal").map(|e| e.len()), Ok(0), "{text:?}");
        }
        let e = keys_and_values("a: 1\nb: x\n", "literal").expect("two entries");
        assert_eq!(
            e.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect::<Vec<_>>(),
            [("a", &b"1"[..]), ("b", b"x")]
        );
        assert!(keys_and_values("- a\n", "literal").is_err(), "a list is not key: value lines");
    }
}
