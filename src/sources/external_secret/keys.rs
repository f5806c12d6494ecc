//! ESO's rules for the keys and values of what is read, with no I/O: a
//! property as a gjson-style path ([`property`]), the `decodingStrategy`
//! ([`decode`]), the key conversion of `dataFrom` entries without rewrite
//! rules ([`convert_keys`]), and the `rewrite` rules ([`rewrite_in`]), all
//! bounded whatever the store holds or the object asks.

use zeroize::Zeroizing;

use super::templates::engine;
use crate::api::Reason;
use crate::api::external_secret::{ConversionStrategy, DecodingStrategy};
use crate::sources::SecretData;
use crate::sources::vault::VaultSecret;

/// Why the keys or values of an entry could not be made. Messages name
/// fields and bounds and never quote a value; a key is quoted only where
/// the object names it (`secretKey`) or where ESO's rule names the result
/// (a conversion clash), never a key that a rule made too long.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A value is not base64 although its `decodingStrategy` says it is.
    #[error("the value for {key:?} is not base64 (decodingStrategy)")]
    NotBase64 {
        /// The Secret key (or store property) the value was for.
        key: String,
    },
    /// Key conversion made a key longer than a Secret key may be.
    #[error(
        "spec.dataFrom[{entry}]: a key from the store is longer than {MAX_KEY_BYTES} bytes, the longest Secret key; add rewrite rules to shorten it"
    )]
    ConvertedTooLong {
        /// The `dataFrom` entry.
        entry: usize,
    },
    /// Key conversion made two keys one.
    #[error("spec.dataFrom[{entry}]: two keys convert to {key:?}; add rewrite rules to tell them apart")]
    ConvertedClash {
        /// The `dataFrom` entry.
        entry: usize,
        /// The converted key.
        key: String,
    },
    /// A rewrite rule is not valid or passes a bound (the message names its
    /// field and the bound).
    #[error("{0}")]
    Rewrite(String),
    /// A `rewrite[].transform` template failed (its field named; the
    /// template engine's message never quotes the data).
    #[error("{0}")]
    Transform(String),
    /// A regular expression of the object is not valid.
    #[error("{field}: {why}")]
    Regex {
        /// The field holding it.
        field: String,
        /// The regex crate's reason.
        why: String,
    },
}

impl KeyError {
    /// The status reason: a value that does not decode is a decode failure;
    /// a template that fails is a template failure; the rest are the
    /// object's rules meeting the store's keys.
    pub fn reason(&self) -> Reason {
        match self {
            KeyError::NotBase64 { .. } => Reason::DecodeFailed,
            KeyError::Transform(_) => Reason::TemplateFailed,
            KeyError::ConvertedTooLong { .. }
            | KeyError::ConvertedClash { .. }
            | KeyError::Rewrite(_)
            | KeyError::Regex { .. } => Reason::InvalidDocument,
        }
    }
}

/// A regular expression from a tenant's object (`field`), with bounded size.
pub fn bounded_regex(src: &str, field: &str) -> Result<regex::Regex, KeyError> {
    regex::RegexBuilder::new(src)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| KeyError::Regex { field: field.to_owned(), why: format!("not a valid regular expression ({e})") })
}

/// ESO's key conversion (`conversionStrategy`) of `dataFrom` keys when the
/// entry has no rewrite rules: every character that is not a letter, a
/// digit, `-`, `.` or `_` becomes `_` (`Default`) or `_UXXXX_` with its
/// code point in hex (`Unicode`). Two keys that convert to one are an error,
/// and so is a key longer than a Secret key may be (checked as it is
/// built: a key from the store is never expanded past that).
pub fn convert_keys(entry: SecretData, strategy: ConversionStrategy, i: usize) -> Result<SecretData, KeyError> {
    let mut out = SecretData::default();
    for (k, v) in entry.0 {
        let mut key = String::with_capacity(k.len().min(MAX_KEY_BYTES));
        for c in k.chars() {
            if c.is_alphanumeric() || matches!(c, '-' | '.' | '_') {
                key.push(c);
            } else if strategy == ConversionStrategy::Unicode {
                key.push_str(&format!("_U{:04x}_", u32::from(c)));
            } else {
                key.push('_');
            }
            if key.len() > MAX_KEY_BYTES {
                return Err(KeyError::ConvertedTooLong { entry: i });
            }
        }
        if out.0.insert(key.clone(), v).is_some() {
            return Err(KeyError::ConvertedClash { entry: i, key });
        }
    }
    Ok(out)
}

/// Longest Secret key Kubernetes accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 253;
/// Most rewrite rules one `dataFrom` entry may have.
pub const MAX_REWRITE_RULES: usize = 32;
/// Most keys one `dataFrom` entry with rewrite rules may have.
pub const MAX_REWRITE_KEYS: usize = 1000;
/// Longest `rewrite[].regexp.target`, in bytes.
pub const MAX_REWRITE_TARGET: usize = 1024;
/// Most template runs the `transform` rules of one entry may make (rules
/// times keys): each run is bounded by the template engine, but thousands
/// of them would hold a reconcile's task for minutes.
pub const MAX_TRANSFORM_RUNS: usize = 4096;

/// Applies ESO's `rewrite` rules to the keys of one `dataFrom` entry.
///
/// Bounded whatever the rules: at most [`MAX_REWRITE_RULES`] rules over at
/// most [`MAX_REWRITE_KEYS`] keys, and every key, after every rule, at most
/// [`MAX_KEY_BYTES`] (checked while a replacement is built, so no rule can
/// make a key larger than that plus one target: doubling rules cannot grow
/// memory). A rule that would make a longer key is refused with its field;
/// keys and values are never quoted. Transform templates are charged to
/// `work`, the object's template budget for this reconcile.
pub fn rewrite_in(
    work: &std::sync::Arc<engine::Work>,
    entry: SecretData,
    rules: &[crate::api::external_secret::Rewrite],
    i: usize,
) -> Result<SecretData, KeyError> {
    rewrite_at(work, entry, rules, &format!("spec.dataFrom[{i}]"))
}

/// [`rewrite_in`] for the entry at `entry_field` (`spec.dataFrom[0]`,
/// `spec.dataTo[0]`), the rules at `{entry_field}.rewrite`.
pub fn rewrite_at(
    work: &std::sync::Arc<engine::Work>,
    entry: SecretData,
    rules: &[crate::api::external_secret::Rewrite],
    entry_field: &str,
) -> Result<SecretData, KeyError> {
    let i = entry_field;
    if rules.len() > MAX_REWRITE_RULES {
        return Err(KeyError::Rewrite(format!("{i}.rewrite has {} rules; at most {MAX_REWRITE_RULES}", rules.len())));
    }
    if entry.0.len() > MAX_REWRITE_KEYS {
        return Err(KeyError::Rewrite(format!(
            "{i}.rewrite: the entry has {} keys; rewrite rules apply to at most {MAX_REWRITE_KEYS}",
            entry.0.len()
        )));
    }
    let transforms = rules.iter().filter(|r| r.regexp.is_none() && r.transform.is_some()).count();
    if transforms.saturating_mul(entry.0.len()) > MAX_TRANSFORM_RUNS {
        return Err(KeyError::Rewrite(format!(
            "{i}.rewrite: {transforms} transform rules over {} keys would run {} templates; at most {MAX_TRANSFORM_RUNS}",
            entry.0.len(),
            transforms.saturating_mul(entry.0.len())
        )));
    }
    let too_long = |field: &str| {
        KeyError::Rewrite(format!(
            "{field}: a rewritten key would be longer than {MAX_KEY_BYTES} bytes, the longest Secret key"
        ))
    };
    let mut entry = entry;
    for (j, rule) in rules.iter().enumerate() {
        let field = format!("{i}.rewrite[{j}]");
        let mut out = SecretData::default();
        if let Some(r) = &rule.regexp {
            if r.target.len() > MAX_REWRITE_TARGET {
                return Err(KeyError::Rewrite(format!(
                    "{field}.regexp.target is longer than {MAX_REWRITE_TARGET} bytes"
                )));
            }
            let re = bounded_regex(&r.source, &format!("{field}.regexp.source"))?;
            for (k, v) in entry.0 {
                let key = replace_bounded(&re, &k, &r.target, MAX_KEY_BYTES).ok_or_else(|| too_long(&field))?;
                out.0.insert(key, v);
            }
        } else if let Some(t) = &rule.transform {
            for (k, v) in entry.0 {
                let ctx = gotmpl::Value::Map(std::sync::Arc::new(
                    [(std::sync::Arc::from("value"), gotmpl::Value::String(std::sync::Arc::from(k.as_str())))]
                        .into_iter()
                        .collect(),
                ));
                // The template's output is bounded by the template engine
                // (1 MiB); the key is checked before it is kept.
                let key = engine::execute_in(work, &format!("{field}.transform"), &t.template, &ctx, &[])
                    .map_err(KeyError::Transform)?;
                let key = key.trim();
                if key.len() > MAX_KEY_BYTES {
                    return Err(too_long(&format!("{field}.transform")));
                }
                out.0.insert(key.to_owned(), v);
            }
        } else {
            out = entry;
        }
        entry = out;
    }
    Ok(entry)
}

/// `re.replace_all(haystack, target)` (the same matches and the same
/// `$1`/`${name}`/`$$` syntax, through the regex crate's own interpolation),
/// or `None` as soon as the result would be longer than `limit` bytes: the
/// result never grows past `limit` plus one piece of `target`.
fn replace_bounded(re: &regex::Regex, haystack: &str, target: &str, limit: usize) -> Option<String> {
    let names: Vec<Option<&str>> = re.capture_names().collect();
    let mut out = String::new();
    let mut last = 0;
    let fits = |out: &String, more: usize| out.len().checked_add(more).is_some_and(|n| n <= limit);
    for caps in re.captures_iter(haystack) {
        let m = caps.get(0)?;
        let before = haystack.get(last..m.start())?;
        if !fits(&out, before.len()) {
            return None;
        }
        out.push_str(before);
        let mut over = false;
        regex_automata::util::interpolate::string(
            target,
            |index, dst| {
                let group = caps.get(index).map(|g| g.as_str()).unwrap_or_default();
                if over || !fits(dst, group.len()) {
                    over = true;
                } else {
                    dst.push_str(group);
                }
            },
            |name| names.iter().position(|n| *n == Some(name)),
            &mut out,
        );
        if over || out.len() > limit {
            return None;
        }
        last = m.end();
    }
    let rest = haystack.get(last..)?;
    if !fits(&out, rest.len()) {
        return None;
    }
    out.push_str(rest);
    Some(out)
}

/// A property of a secret, as ESO finds it: the key itself, else a gjson
/// path (`a.b.c`, `list.0`, `\.` for a dot inside a name) into the JSON of
/// the value its first segment names. A string is returned as it is,
/// anything else as JSON.
pub fn property(secret: &VaultSecret, path: &str) -> Option<Zeroizing<Vec<u8>>> {
    if let Some(v) = secret.0.get(path) {
        return Some(Zeroizing::new(v.as_bytes().to_vec()));
    }
    let segments = split_path(path);
    let (first, rest) = segments.split_first()?;
    let top = secret.0.get(first)?;
    if rest.is_empty() {
        return Some(Zeroizing::new(top.as_bytes().to_vec()));
    }
    // Values that are objects or lists are kept as their JSON text. (The
    // parsed tree cannot be zeroized; it lives only for this lookup.)
    let json: serde_json::Value = serde_json::from_str(top).ok()?;
    let mut at: &serde_json::Value = &json;
    for seg in rest {
        at = match at {
            serde_json::Value::Object(m) => m.get(seg)?,
            serde_json::Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(Zeroizing::new(match at {
        serde_json::Value::String(s) => s.as_bytes().to_vec(),
        other => serde_json::to_vec(other).ok()?,
    }))
}

/// A gjson path's segments: split at dots, `\.` keeping a dot.
fn split_path(path: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(n), Some(last)) = (chars.next(), out.last_mut()) {
                    last.push(n);
                }
            }
            '.' => out.push(String::new()),
            c => {
                if let Some(last) = out.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    out
}

/// Applies a decoding strategy to a value (`key` names it in errors).
pub fn decode(
    value: Zeroizing<Vec<u8>>,
    strategy: Option<DecodingStrategy>,
    key: &str,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let unpadded = |v: &[u8]| -> Vec<u8> {
        let t: Vec<u8> = v.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
        let end = t.iter().rposition(|b| *b != b'=').map_or(0, |i| i + 1);
        t[..end].to_vec()
    };
    let std_dec = |v: &[u8]| STANDARD_NO_PAD.decode(unpadded(v)).ok();
    let url_dec = |v: &[u8]| URL_SAFE_NO_PAD.decode(unpadded(v)).ok();
    let out = match strategy.unwrap_or_default() {
        DecodingStrategy::None => return Ok(value),
        DecodingStrategy::Base64 => std_dec(&value),
        DecodingStrategy::Base64Url => url_dec(&value),
        DecodingStrategy::Auto => match std_dec(&value).or_else(|| url_dec(&value)) {
            Some(v) => Some(v),
            None => return Ok(value),
        },
    };
    out.map(Zeroizing::new).ok_or_else(|| KeyError::NotBase64 { key: key.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn secret(pairs: &[(&str, &str)]) -> VaultSecret {
        VaultSecret(pairs.iter().map(|(k, v)| ((*k).to_owned(), Zeroizing::new((*v).to_owned()))).collect())
    }

    fn text(v: Option<Zeroizing<Vec<u8>>>) -> Option<String> {
        v.map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    #[test]
    fn properties_are_keys_first_then_gjson_paths() {
        let s = secret(&[
            ("a.b", "literal key"),
            ("a", r#"{"b":{"c":"deep","n":5,"o":{"x":1}},"list":["zero","one"]}"#),
            ("plain", "text"),
            ("dot.in", r#"{"x.y":"escaped"}"#),
        ]);
        assert_eq!(text(property(&s, "a.b")).as_deref(), Some("literal key"));
        assert_eq!(text(property(&s, "a.b.c")).as_deref(), Some("deep"));
        assert_eq!(text(property(&s, "a.b.n")).as_deref(), Some("5"));
        assert_eq!(text(property(&s, "a.b.o")).as_deref(), Some(r#"{"x":1}"#));
        assert_eq!(text(property(&s, "a.list.1")).as_deref(), Some("one"));
        assert_eq!(text(property(&s, "plain")).as_deref(), Some("text"));
        assert_eq!(text(property(&s, r"dot\.in.x\.y")).as_deref(), Some("escaped"));
        for missing in ["a.b.zz", "a.list.9", "plain.x", "nope", "a.list.x"] {
            assert!(property(&s, missing).is_none(), "{missing}");
        }
    }

    #[test]
    fn decoding_strategies_follow_eso() {
        let v = |s: &str| Zeroizing::new(s.as_bytes().to_vec());
        let d = |s: &str, st| decode(v(s), Some(st), "k").map(|z| String::from_utf8_lossy(&z).into_owned());
        assert_eq!(d("aGk/Pz4+", DecodingStrategy::Base64).as_deref(), Ok("hi??>>"));
        assert_eq!(d("aGk_Pz4-", DecodingStrategy::Base64Url).as_deref(), Ok("hi??>>"));
        assert_eq!(d("aGk", DecodingStrategy::Base64).as_deref(), Ok("hi"));
        assert_eq!(d("aGk_Pz4-", DecodingStrategy::Auto).as_deref(), Ok("hi??>>"));
        assert_eq!(d("not base64!", DecodingStrategy::Auto).as_deref(), Ok("not base64!"));
        assert_eq!(d("x y", DecodingStrategy::None).as_deref(), Ok("x y"));
        let e = d("not base64!", DecodingStrategy::Base64).expect_err("refused");
        assert_eq!(e.reason(), Reason::DecodeFailed, "not a missing property");
        let e = e.to_string();
        assert!(e.contains("\"k\"") && !e.contains("not base64!"), "{e}");
    }

    #[test]
    fn keys_convert_as_eso_converts_them_when_there_are_no_rewrite_rules() {
        let mut d = SecretData::default();
        for k in ["team/a/db", "ok-key.1_x", "é ü"] {
            d.0.insert(k.to_owned(), Zeroizing::new(b"v".to_vec()));
        }
        let keys = |d: SecretData| d.0.into_keys().collect::<Vec<_>>();
        assert_eq!(
            keys(convert_keys(d.clone(), ConversionStrategy::Default, 0).expect("converts")),
            ["ok-key.1_x", "team_a_db", "é_ü"]
        );
        assert_eq!(
            keys(convert_keys(d, ConversionStrategy::Unicode, 0).expect("converts")),
            ["ok-key.1_x", "team_U002f_a_U002f_db", "é_U0020_ü"]
        );
        let mut clash = SecretData::default();
        for k in ["a/b", "a_b"] {
            clash.0.insert(k.to_owned(), Zeroizing::new(b"v".to_vec()));
        }
        let e = convert_keys(clash, ConversionStrategy::Default, 2).err().expect("two keys, one name");
        assert_eq!(e.reason(), Reason::InvalidDocument, "not a store problem");
        let e = e.to_string();
        assert!(e.contains("spec.dataFrom[2]") && e.contains("\"a_b\""), "{e}");
    }

    #[test]
    fn a_converted_key_longer_than_a_secret_key_is_refused_without_quoting_it() {
        let ok = "k".repeat(MAX_KEY_BYTES);
        assert!(convert_keys(one_key(&ok), ConversionStrategy::Default, 0).is_ok());
        for (key, strategy) in [
            ("k".repeat(MAX_KEY_BYTES + 1), ConversionStrategy::Default),
            ("/".repeat(1 << 20), ConversionStrategy::Unicode),
            (format!("canary{}", "/".repeat(40)), ConversionStrategy::Unicode),
        ] {
            let e = convert_keys(one_key(&key), strategy, 2).err().expect("too long").to_string();
            assert!(e.starts_with("spec.dataFrom[2]: a key from the store is longer than 253 bytes"), "{e}");
            assert!(!e.contains("canary") && !e.contains("///"), "{e}");
        }
    }

    /// `rewrite_in` with a budget of its own.
    fn rewrite(
        entry: SecretData,
        rules: &[crate::api::external_secret::Rewrite],
        i: usize,
    ) -> Result<SecretData, String> {
        rewrite_in(&engine::Work::new(), entry, rules, i).map_err(|e| e.to_string())
    }

    #[test]
    fn transforms_are_charged_to_the_objects_template_budget() {
        use crate::api::external_secret::{Rewrite, RewriteTransform};
        let mut d = SecretData::default();
        d.0.insert("k".to_owned(), Zeroizing::new(b"v".to_vec()));
        let rule = Rewrite { regexp: None, transform: Some(RewriteTransform { template: "{{ .value }}".into() }) };
        let spent = engine::Work::with_time(Duration::ZERO);
        let e = rewrite_in(&spent, d.clone(), std::slice::from_ref(&rule), 0).err().expect("past the deadline");
        assert_eq!(e.reason(), Reason::TemplateFailed);
        let e = e.to_string();
        assert!(e.contains("spec.dataFrom[0].rewrite[0].transform") && e.contains("ran longer than"), "{e}");
        assert!(rewrite(d, &[rule], 0).is_ok(), "a fresh budget runs it");
    }

    #[test]
    fn rewrites_rename_keys_in_order() {
        use crate::api::external_secret::{Rewrite, RewriteRegexp, RewriteTransform};
        let mut d = SecretData::default();
        for k in ["team_a_db", "team_a_api", "other"] {
            d.0.insert(k.to_owned(), Zeroizing::new(b"v".to_vec()));
        }
        let rules = vec![
            Rewrite {
                regexp: Some(RewriteRegexp { source: "^team_a_(.*)$".into(), target: "app-${1}".into() }),
                transform: None,
            },
            Rewrite { regexp: None, transform: Some(RewriteTransform { template: "{{ .value | upper }}".into() }) },
        ];
        let out = rewrite(d, &rules, 0).expect("rewrites");
        assert_eq!(out.keys().collect::<Vec<_>>(), vec!["APP-API", "APP-DB", "OTHER"]);
        let bad = vec![Rewrite {
            regexp: Some(RewriteRegexp { source: "(".into(), target: String::new() }),
            transform: None,
        }];
        let e = rewrite(SecretData::default(), &bad, 2).err().unwrap_or_default();
        assert!(e.starts_with("spec.dataFrom[2].rewrite[0].regexp.source"), "{e}");
    }

    fn regexp(source: &str, target: &str) -> crate::api::external_secret::Rewrite {
        use crate::api::external_secret::{Rewrite, RewriteRegexp};
        Rewrite { regexp: Some(RewriteRegexp { source: source.into(), target: target.into() }), transform: None }
    }

    fn one_key(k: &str) -> SecretData {
        let mut d = SecretData::default();
        d.0.insert(k.to_owned(), Zeroizing::new(b"v".to_vec()));
        d
    }

    #[test]
    fn doubling_rules_are_refused_at_the_rule_that_passes_the_key_limit() {
        // 25 rules that double the key made 788 MiB; 31 aborted the process.
        let rules = vec![regexp("^.*$", "$0$0"); 25];
        let e = rewrite(one_key("canary-key-name"), &rules, 1).err().expect("refused");
        // 15 → 30 → 60 → 120 → 240 → 480: the fifth rule passes 253 bytes.
        assert!(e.starts_with("spec.dataFrom[1].rewrite[4]:"), "{e}");
        assert!(e.contains("253 bytes") && !e.contains("canary"), "{e}");
        let fits = rewrite(one_key("canary-key-name"), &rules[..4], 1).expect("240 bytes fit");
        assert_eq!(fits.0.keys().next().map(String::len), Some(240));
    }

    #[test]
    fn rule_counts_targets_and_key_counts_are_bounded() {
        let rules = vec![regexp("a", "b"); MAX_REWRITE_RULES + 1];
        let e = rewrite(one_key("a"), &rules, 0).err().expect("too many rules");
        assert!(e.starts_with("spec.dataFrom[0].rewrite has 33 rules"), "{e}");
        let long = vec![regexp("a", &"b".repeat(MAX_REWRITE_TARGET + 1))];
        let e = rewrite(one_key("a"), &long, 0).err().expect("target too long");
        assert!(e.starts_with("spec.dataFrom[0].rewrite[0].regexp.target"), "{e}");
        let mut many = SecretData::default();
        for n in 0..=MAX_REWRITE_KEYS {
            many.0.insert(format!("k{n}"), Zeroizing::new(Vec::new()));
        }
        let e = rewrite(many, &[regexp("k", "x")], 0).err().expect("too many keys");
        assert!(e.contains("1001 keys"), "{e}");
        let mut keys = SecretData::default();
        for n in 0..500 {
            keys.0.insert(format!("k{n}"), Zeroizing::new(Vec::new()));
        }
        let upper = crate::api::external_secret::Rewrite {
            regexp: None,
            transform: Some(crate::api::external_secret::RewriteTransform { template: "{{ .value | upper }}".into() }),
        };
        assert!(rewrite(keys.clone(), &vec![upper.clone(); 8], 0).is_ok(), "4000 runs");
        let e = rewrite(keys, &vec![upper; 9], 0).err().expect("4500 runs");
        assert!(e.contains("9 transform rules over 500 keys"), "{e}");
    }

    #[test]
    fn a_transform_output_longer_than_a_key_is_refused_without_quoting_it() {
        use crate::api::external_secret::{Rewrite, RewriteTransform};
        let rules = vec![Rewrite {
            regexp: None,
            transform: Some(RewriteTransform { template: format!("{{{{ .value }}}}{}", "x".repeat(300)) }),
        }];
        let e = rewrite(one_key("canary"), &rules, 3).err().expect("too long");
        assert!(e.starts_with("spec.dataFrom[3].rewrite[0].transform"), "{e}");
        assert!(!e.contains("canary") && !e.contains("xxx"), "{e}");
    }

    #[test]
    fn bounded_replacement_is_regex_replace_all() {
        for (source, target, key) in [
            ("^team_a_(.*)$", "app-${1}", "team_a_db"),
            ("(?P<first>[a-z]+)_(?P<second>[a-z]+)", "$second.$first", "ab_cd-ef_gh"),
            ("a", "$$1", "banana"),
            ("", "-", "abc"),
            ("x*", "<$0>", "axxb"),
            ("(a)|(b)", "[$1|$2]", "abc"),
            ("é", "$0$0", "café"),
            ("(q)", "$1x$name${1}x", "qq"),
            ("nomatch", "z", "key"),
        ] {
            let re = bounded_regex(source, "f").expect("regex");
            let want = re.replace_all(key, target).into_owned();
            assert_eq!(replace_bounded(&re, key, target, 253).as_deref(), Some(want.as_str()), "{source} {target}");
        }
    }

    #[test]
    fn a_huge_key_from_a_store_is_rewritten_without_copying_it() {
        let huge = "k".repeat(1 << 20);
        let re = bounded_regex("^(.{3}).*$", "f").expect("regex");
        assert_eq!(replace_bounded(&re, &huge, "$1", 253).as_deref(), Some("kkk"));
        let all = bounded_regex(".*", "f").expect("regex");
        assert_eq!(replace_bounded(&all, &huge, "$0$0", 253), None);
        assert_eq!(replace_bounded(&all, "short", &"$0".repeat(200), 253), None);
        let e = rewrite(one_key(&huge), &[regexp("x", "y")], 0).err().expect("refused");
        assert!(e.contains("longer than 253"), "{e}");
    }
}
