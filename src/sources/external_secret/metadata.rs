//! The Secret's metadata as ESO's templates make it: where a `templateFrom`
//! entry writes (`target`), and the checks on rendered labels and
//! annotations the API server would otherwise refuse with a message that
//! quotes the value. Errors name the spec field a key came from, never a
//! rendered value, nor a key that is template output.

use std::collections::BTreeMap;

use super::templates::TemplateError;

/// `templateFrom[].target`: where the rendered entries go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputTarget {
    /// The Secret's data (the default).
    Data,
    /// Its annotations.
    Annotations,
    /// Its labels.
    Labels,
}

impl OutputTarget {
    /// ESO's targets for a Secret, compared case-insensitively as ESO
    /// compares them; any other (ESO's paths into custom resources) is
    /// refused, as ESO refuses it when the target is a Secret.
    pub fn parse(target: Option<&str>, field: &str) -> Result<OutputTarget, TemplateError> {
        match target.map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("data") => Ok(OutputTarget::Data),
            Some("annotations") => Ok(OutputTarget::Annotations),
            Some("labels") => Ok(OutputTarget::Labels),
            Some(_) => Err(TemplateError::Refused(format!(
                "{field}.target: only Data, Annotations and Labels are supported for a Secret"
            ))),
        }
    }
}

/// The longest label value the API server accepts.
const MAX_LABEL_VALUE: usize = 63;

/// Whether the API server accepts `v` as a label value: at most 63
/// characters, letters, digits, `-`, `_` and `.`, beginning and ending with
/// a letter or digit (or empty).
pub fn valid_label_value(v: &str) -> bool {
    v.is_empty() || (v.len() <= MAX_LABEL_VALUE && name_part(v))
}

fn name_part(v: &str) -> bool {
    let b = v.as_bytes();
    matches!((b.first(), b.last()), (Some(f), Some(l)) if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric())
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Whether `k` is a qualified name (`[prefix/]name`), as label and
/// annotation keys must be: a DNS subdomain prefix of at most 253
/// characters, a name of at most 63.
pub fn valid_qualified_name(k: &str) -> bool {
    let (prefix, name) = match k.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|l| {
                let b = l.as_bytes();
                l.len() <= 63
                    && matches!((b.first(), b.last()), (Some(f), Some(e)) if f.is_ascii_alphanumeric() && e.is_ascii_alphanumeric())
                    && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            })
    });
    prefix_ok && !name.is_empty() && name.len() <= MAX_LABEL_VALUE && name_part(name)
}

/// Checks the rendered labels before they are written. A label of the
/// template's own `metadata.labels` (`from_spec`) is named by its key, a
/// spec field; one a `templateFrom` entry made is only counted.
pub fn check_labels(labels: &BTreeMap<String, String>, from_spec: impl Fn(&str) -> bool) -> Result<(), String> {
    let rule = "a label value has at most 63 characters: letters, digits, '-', '_' and '.', beginning and ending with a letter or digit";
    let mut made = 0usize;
    for (k, v) in labels {
        if from_spec(k) {
            if !valid_label_value(v) {
                return Err(format!(
                    "spec.target.template.metadata.labels[{k:?}]: the rendered value is not a valid label value ({rule}); the value is not shown"
                ));
            }
        } else if !valid_label_value(v) || !valid_qualified_name(k) {
            made += 1;
        }
    }
    if made > 0 {
        return Err(format!(
            "spec.target.template.templateFrom: {made} rendered labels are not valid (a key is [prefix/]name, the name at most 63 characters; {rule}); they are not shown"
        ));
    }
    Ok(())
}

/// Checks the keys of the rendered annotations (the template's own keys
/// are spec fields the API server checks as written; a `templateFrom`
/// entry's are template output, counted, not named).
pub fn check_annotation_keys(annotations: &BTreeMap<String, String>) -> Result<(), String> {
    let bad = annotations.keys().filter(|k| !valid_qualified_name(k)).count();
    if bad > 0 {
        return Err(format!(
            "spec.target.template: {bad} rendered annotation keys are not valid ([prefix/]name, the name at most 63 characters: letters, digits, '-', '_' and '.'); they are not shown"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_follow_the_api_servers_rule() {
        for ok in ["", "a", "web-1", "a.b_c", &"x".repeat(63)] {
            assert!(valid_label_value(ok), "{ok}");
        }
        for bad in ["-a", "a-", "a b", "é", "{{ .x }}", &"x".repeat(64)] {
            assert!(!valid_label_value(bad), "{bad}");
        }
    }

    #[test]
    fn qualified_names_follow_the_api_servers_rule() {
        for ok in ["app", "app.kubernetes.io/name", "example.com/x_y", "a-b.c"] {
            assert!(valid_qualified_name(ok), "{ok}");
        }
        for bad in ["", "/x", "Example.com/x", "a/b/c", "-x", &"x".repeat(64)] {
            assert!(!valid_qualified_name(bad), "{bad}");
        }
    }

    #[test]
    fn targets_are_esos_compared_case_insensitively() {
        let f = "spec.target.template.templateFrom[0]";
        assert_eq!(OutputTarget::parse(None, f).ok(), Some(OutputTarget::Data));
        assert_eq!(OutputTarget::parse(Some("labels"), f).ok(), Some(OutputTarget::Labels));
        assert_eq!(OutputTarget::parse(Some("Annotations"), f).ok(), Some(OutputTarget::Annotations));
        let e = OutputTarget::parse(Some("spec.x"), f).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with("spec.target.template.templateFrom[0].target"), "{e}");
    }

    #[test]
    fn a_refused_label_names_its_spec_key_and_never_the_value() {
        let labels = BTreeMap::from([("tier".to_owned(), "not a label!".to_owned())]);
        let e = check_labels(&labels, |_| true).err().unwrap_or_default();
        assert!(e.contains("labels[\"tier\"]") && !e.contains("not a label!"), "{e}");
        let e = check_labels(&labels, |_| false).err().unwrap_or_default();
        assert!(e.contains("1 rendered labels") && !e.contains("tier") && !e.contains("not a label"), "{e}");
    }
}
