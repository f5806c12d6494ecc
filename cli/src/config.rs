//! `.sops.yaml` creation rules: which recipients and which selection rule a
//! path gets, as sops reads them (`config/config.go`).

use std::path::{Path, PathBuf};

use regex::Regex;
use seal_format::sops::{Map, Rule, Value, yaml};

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

fn recipients(v: &Value) -> Vec<String> {
    match v {
        Value::Str(s) => s.split(',').map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()).collect(),
        Value::List(l) => l.iter().filter_map(Value::as_str).map(|r| r.trim().to_owned()).collect(),
        _ => Vec::new(),
    }
}

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

fn parse_rule(r: &Map, config: &Path, i: usize) -> Result<CreationRule, String> {
    let mut out = CreationRule::default();
    if let Some(Value::List(groups)) = r.get("key_groups") {
        for g in groups {
            if let Some(age) = g.as_map().and_then(|g| g.get("age")) {
                out.groups.push(recipients(age));
            }
        }
        if let Some(Value::Int(t)) = r.get("shamir_threshold") {
            out.shamir_threshold = *t as usize;
        }
    } else if let Some(age) = r.get("age") {
        out.groups.push(recipients(age));
    }
    for field in [
        "unencrypted_suffix",
        "encrypted_suffix",
        "unencrypted_regex",
        "encrypted_regex",
        "unencrypted_comment_regex",
        "encrypted_comment_regex",
    ] {
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
