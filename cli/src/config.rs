//! `.sops.yaml` creation rules: which recipients and which selection rule a
//! path gets, as sops reads them (`config/config.go`).

use std::path::{Path, PathBuf};

use regex::Regex;
use seal_format::sops::metadata::RULE_FIELDS;
use seal_format::sops::{Layout, Map, Rule, Value, yaml};

/// The settings one creation rule gives a file.
#[derive(Default)]
pub struct CreationRule {
    /// Recipient groups (one group unless `key_groups` has several).
    pub groups: Vec<Vec<String>>,
    /// Shamir threshold for several groups.
    pub shamir_threshold: usize,
    /// The selection rule, if the creation rule names one.
    pub rule: Option<Rule>,
    /// `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
}

/// Finds `.sops.yaml` (or `.sops.yml`) in `start` or its parents.
pub fn find(start: &Path) -> Option<PathBuf> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        for name in [".sops.yaml", ".sops.yml"] {
            let p = d.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
        dir = d.parent();
    }
    None
}

/// The `stores` section of `config`: how sops' YAML and JSON stores indent
/// (`yaml.indent`, `json.indent`, `json_binary.indent`). A key sops does not
/// have is refused by name (sops ignores it): a misspelt `indent` would
/// otherwise change the files without a word.
pub fn layout(config: &Path) -> Result<Layout, String> {
    let text = std::fs::read_to_string(config).map_err(|e| format!("{}: {e}", config.display()))?;
    let docs = yaml::parse_without_comments(&text).map_err(|e| format!("{}: {e}", config.display()))?;
    let mut layout = Layout::default();
    let stores = match docs.first().and_then(|root| root.get("stores")) {
        None | Some(Value::Null) => return Ok(layout),
        Some(Value::Map(m)) => m,
        Some(_) => return Err(format!("{}: stores must be a mapping", config.display())),
    };
    for (store, settings) in stores.pairs() {
        let field = |k: &str| format!("{}: stores.{store}{k}", config.display());
        let mut target = match store {
            "yaml" => Some(&mut layout.yaml),
            "json" => Some(&mut layout.json),
            "json_binary" => Some(&mut layout.json_binary),
            "dotenv" | "ini" => None,
            _ => return Err(format!("{} is not a store sops has (yaml, json, json_binary, dotenv, ini)", field(""))),
        };
        let settings = match settings {
            Value::Null => continue,
            Value::Map(m) => m,
            _ => return Err(format!("{} must be a mapping", field(""))),
        };
        for (key, value) in settings.pairs() {
            match (key, target.as_deref_mut(), value) {
                ("indent", Some(t), Value::Int(n)) => *t = *n,
                ("indent", Some(_), _) => return Err(format!("{} must be an integer", field(".indent"))),
                _ => return Err(format!("{} is not a setting sops has", field(&format!(".{key}")))),
            }
        }
    }
    Ok(layout)
}

fn recipients(v: &Value) -> Vec<String> {
    match v {
        Value::Str(s) => s.split(',').map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()).collect(),
        Value::List(l) => l.iter().filter_map(Value::as_str).map(|r| r.trim().to_owned()).collect(),
        _ => Vec::new(),
    }
}

/// sops' message, word for word, for a matching creation rule that gives
/// no key (no keys, `key_groups: []`, or an empty group): scripts and sops'
/// own tests match on it.
pub const EMPTY_KEY_GROUP: &str = "Could not generate data key: [empty key group provided]";

/// The first creation rule of `config` whose `path_regex` matches `file`
/// (the path as given, relative to the config's folder when possible).
pub fn creation_rule(config: &Path, file: &Path) -> Result<Option<CreationRule>, String> {
    let text = std::fs::read_to_string(config).map_err(|e| format!("{}: {e}", config.display()))?;
    let docs = yaml::parse_without_comments(&text).map_err(|e| format!("{}: {e}", config.display()))?;
    let Some(root) = docs.first() else { return Ok(None) };
    let Some(Value::List(rules)) = root.get("creation_rules") else {
        return Ok(None);
    };
    let base = config.parent().unwrap_or(Path::new("."));
    let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let rel = abs
        .strip_prefix(std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf()))
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| file.to_path_buf());
    let candidates = [rel.to_string_lossy().into_owned(), file.to_string_lossy().into_owned()];
    for (i, r) in rules.iter().enumerate() {
        let Some(r) = r.as_map() else { continue };
        if let Some(re) = r.get("path_regex").and_then(Value::as_str) {
            let re = Regex::new(re)
                .map_err(|e| format!("{}: creation_rules[{i}].path_regex is invalid: {e}", config.display()))?;
            if !candidates.iter().any(|c| re.is_match(c)) {
                continue;
            }
        }
        return Ok(Some(parse_rule(r, config, i)?));
    }
    Ok(None)
}

/// The key types sops reads from a creation rule or a key group besides
/// `age`. seal encrypts to age recipients only, and a key it left out would
/// change who can decrypt: a key group without its PGP or KMS keys is a
/// group age keys alone open, so a file meant to need two groups would
/// open with one. A rule naming any of these is refused, never narrowed.
const OTHER_KEY_TYPES: [&str; 8] =
    ["pgp", "kms", "gcp_kms", "azure_keyvault", "hc_vault_transit_uri", "hc_vault", "hckms", "merge"];

/// Part of the message refusing a rule with keys seal does not implement
/// (its exit code is [`crate::exit::UNSUPPORTED`], not a config error's).
pub const AGE_ONLY: &str = "seal encrypts to age recipients only";

/// Refuses the first key type of `m` that seal does not implement (a field
/// present with a value; an empty one is no key).
fn only_age(m: &Map, place: impl Fn() -> String) -> Result<(), String> {
    for field in OTHER_KEY_TYPES {
        let set = match m.get(field) {
            None | Some(Value::Null) => false,
            Some(Value::Str(s)) => !s.trim().is_empty(),
            Some(Value::List(l)) => !l.is_empty(),
            Some(_) => true,
        };
        if set {
            return Err(format!(
                "{} has {field} keys: {AGE_ONLY} and does not leave other keys out, \
                 as that would change who can decrypt the file; use age recipients, or sops for this rule",
                place()
            ));
        }
    }
    Ok(())
}

fn parse_rule(r: &Map, config: &Path, i: usize) -> Result<CreationRule, String> {
    let mut out = CreationRule::default();
    let rule = || format!("{}: creation_rules[{i}]", config.display());
    if let Some(groups) = r.get("key_groups") {
        let Value::List(groups) = groups else { return Err(format!("{}.key_groups must be a list", rule())) };
        for (j, g) in groups.iter().enumerate() {
            let place = || format!("{}.key_groups[{j}]", rule());
            let Some(g) = g.as_map() else { return Err(format!("{} must be a map of keys", place())) };
            only_age(g, place)?;
            let group = g.get("age").map(recipients).unwrap_or_default();
            if group.is_empty() {
                return Err(EMPTY_KEY_GROUP.to_owned());
            }
            out.groups.push(group);
        }
        if let Some(t) = r.get("shamir_threshold") {
            out.shamir_threshold = threshold(t, out.groups.len(), config, i)?;
        }
    } else {
        only_age(r, rule)?;
        if let Some(age) = r.get("age") {
            out.groups.push(recipients(age));
        }
    }
    for field in RULE_FIELDS {
        if let Some(v) = r.get(field).and_then(Value::as_str) {
            if out.rule.is_some() {
                return Err(format!("{}: creation_rules[{i}] sets more than one selection rule", config.display()));
            }
            out.rule = Some(Rule::from_field(field, v).map_err(|e| format!("{}: {e}", config.display()))?);
        }
    }
    out.mac_only_encrypted = matches!(r.get("mac_only_encrypted"), Some(Value::Bool(true)));
    Ok(out)
}

/// Checks a creation rule's `shamir_threshold` against its key groups. A
/// quorum must be between 1 and the number of groups: a negative value would
/// otherwise wrap to a huge `usize`, an explicit zero is no quorum (and would
/// silently mean "every group"), and more shares than groups could never be
/// met. The messages name the rule and field, not the value.
fn threshold(v: &Value, groups: usize, config: &Path, i: usize) -> Result<usize, String> {
    let field = || format!("{}: creation_rules[{i}].shamir_threshold", config.display());
    let t = match v {
        // `shamir_threshold:` with no value is unset, as in sops.
        Value::Null => return Ok(0),
        Value::Int(t) => t,
        _ => return Err(format!("{} must be an integer", field())),
    };
    match usize::try_from(*t) {
        Ok(t) if t >= 1 && t <= groups => Ok(t),
        Ok(0) | Err(_) => Err(format!("{} must be at least 1", field())),
        Ok(_) => Err(format!("{} is more than the number of key groups ({groups})", field())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_indentation_is_read_and_unknown_settings_are_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = |text: &str| {
            let p = dir.path().join(".sops.yaml");
            std::fs::write(&p, text).expect("write");
            layout(&p)
        };
        assert_eq!(at("creation_rules: []\n"), Ok(Layout::default()));
        assert_eq!(
            at(
                "stores:\n  yaml:\n    indent: 2\n  json:\n    indent: 0\n  json_binary:\n    indent: 3\n  dotenv: {}\n  ini:\n"
            ),
            Ok(Layout { yaml: 2, json: 0, json_binary: 3 })
        );
        for (text, named) in [
            ("stores:\n  yml:\n    indent: 2\n", "stores.yml"),
            ("stores:\n  yaml:\n    indnet: 2\n", "stores.yaml.indnet"),
            ("stores:\n  yaml:\n    indent: two\n", "stores.yaml.indent"),
            ("stores:\n  dotenv:\n    indent: 2\n", "stores.dotenv.indent"),
            ("stores: 2\n", "stores must be a mapping"),
        ] {
            let e = at(text).expect_err(text);
            assert!(e.contains(named), "{e}");
        }
    }

    #[test]
    fn a_key_group_seal_cannot_fill_is_refused_never_dropped() {
        // Two groups, one of them PGP: both were needed to decrypt. Dropping
        // the PGP group would let the age key alone open the file.
        let e = first_rule(
            "creation_rules:\n  - key_groups:\n      - age: [age1a]\n      - pgp: [FP]\n    shamir_threshold: 2\n",
        )
        .err()
        .expect("refused");
        assert!(e.contains("key_groups[1]") && e.contains("pgp"), "{e}");
        // PGP beside age in one group, and beside age at the top level.
        let e = first_rule("creation_rules:\n  - key_groups:\n      - age: [age1a]\n        kms: [arn]\n")
            .err()
            .expect("refused");
        assert!(e.contains("key_groups[0]") && e.contains("kms"), "{e}");
        let e = first_rule("creation_rules:\n  - age: age1a\n    pgp: FP\n").err().expect("refused");
        assert!(e.contains("creation_rules[0] has pgp"), "{e}");
        // An empty group, or one whose age list is empty, is refused as sops does.
        for text in
            ["creation_rules:\n  - key_groups:\n      - {}\n", "creation_rules:\n  - key_groups:\n      - age: []\n"]
        {
            let e = first_rule(text).err().expect("refused");
            assert!(e.contains("empty key group"), "{e}");
        }
        // An empty field of another type is no key, and age-only groups pass.
        let ok = first_rule("creation_rules:\n  - key_groups:\n      - age: [age1a]\n        pgp: []\n      - age: [age1b]\n    shamir_threshold: 2\n")
            .expect("age-only");
        assert_eq!(ok.groups, vec![vec!["age1a".to_owned()], vec!["age1b".to_owned()]]);
        assert_eq!(ok.shamir_threshold, 2);
    }

    /// Parses the first creation rule of a `.sops.yaml` text.
    fn first_rule(text: &str) -> Result<CreationRule, String> {
        let docs = yaml::parse_without_comments(text).expect("test config parses");
        let Some(Value::List(rules)) = docs.first().and_then(|d| d.get("creation_rules")) else {
            panic!("test config has creation_rules");
        };
        let rule = rules.first().and_then(Value::as_map).expect("a first rule");
        parse_rule(rule, Path::new(".sops.yaml"), 0)
    }

    fn two_groups(threshold: &str) -> String {
        format!(
            "creation_rules:\n  - key_groups:\n      - age: [age1a]\n      - age: [age1b]\n    shamir_threshold: {threshold}\n"
        )
    }

    #[test]
    fn negative_threshold_is_refused() {
        let e = first_rule(&two_groups("-1")).err().expect("refused");
        assert!(e.contains("creation_rules[0].shamir_threshold") && e.contains("at least 1"), "{e}");
        assert!(!e.contains("-1"), "the value stays out of the message: {e}");
    }

    #[test]
    fn zero_threshold_is_refused() {
        let e = first_rule(&two_groups("0")).err().expect("refused");
        assert!(e.contains("creation_rules[0].shamir_threshold") && e.contains("at least 1"), "{e}");
    }

    #[test]
    fn threshold_above_group_count_is_refused() {
        let e = first_rule(&two_groups("3")).err().expect("refused");
        assert!(e.contains("creation_rules[0].shamir_threshold") && e.contains("number of key groups"), "{e}");
        let e = first_rule(&two_groups("9223372036854775807")).err().expect("refused");
        assert!(e.contains("number of key groups"), "{e}");
    }

    #[test]
    fn non_integer_threshold_is_refused() {
        let e = first_rule(&two_groups("two")).err().expect("refused");
        assert!(e.contains("creation_rules[0].shamir_threshold") && e.contains("integer"), "{e}");
    }

    #[test]
    fn valid_threshold_is_kept() {
        for (text, want) in [("1", 1), ("2", 2)] {
            let r = first_rule(&two_groups(text)).expect("accepted");
            assert_eq!(r.shamir_threshold, want);
            assert_eq!(r.groups.len(), 2);
        }
        // Unset (no value) leaves the default: every group is needed.
        let r = first_rule(&two_groups("")).expect("accepted");
        assert_eq!(r.shamir_threshold, 0);
    }

    #[test]
    fn every_selection_rule_field_is_read() {
        for field in RULE_FIELDS {
            let text = format!("creation_rules:\n  - age: age1a\n    {field}: x\n");
            let r = first_rule(&text).expect("accepted");
            assert_eq!(r.rule.and_then(|r| r.field().map(|f| f.0)), Some(field));
        }
    }
}
