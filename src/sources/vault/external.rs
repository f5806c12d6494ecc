//! An `ExternalSecret` → the Secret's data: which store, which paths, which
//! properties, under which keys. Reads go through the pool, so a path is
//! read once per refresh round however many objects and keys name it.

use std::time::Duration;

use kube::ResourceExt;
use zeroize::Zeroizing;

use super::{ResolvedStore, VaultError, store};
use crate::api::Reason;
use crate::api::duration;
use crate::api::external_secret::{
    ConversionStrategy, CreationPolicy, DecodingStrategy, DeletionPolicy, ExternalSecret, RefreshPolicy,
};
use crate::sources::{
    Common, CommonStatus, Desired, Ownership, Retry, SecretData, Source, SourceContext, SourceError, input_digest,
};

/// Default refresh interval, as in External Secrets Operator.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(3600);
/// Shortest refresh interval accepted: faster polling only loads Vault.
pub const MIN_REFRESH: Duration = Duration::from_secs(1);
/// Longest refresh interval accepted (timers further out are refused).
pub const MAX_REFRESH: Duration = Duration::from_secs(8760 * 3600);

/// The object's refresh interval (`spec.refreshInterval`, Go syntax).
pub fn refresh_interval(es: &ExternalSecret) -> Result<Duration, SourceError> {
    match es.spec.refresh_interval.as_deref() {
        None => Ok(DEFAULT_REFRESH),
        // Read once (see `refresh_policy`); the interval then only spaces
        // the read window.
        Some(s) if is_zero(s) => Ok(DEFAULT_REFRESH),
        Some(s) => duration::parse_bounded(s, "spec.refreshInterval", MIN_REFRESH, MAX_REFRESH)
            .map_err(|e| SourceError::new(Reason::InvalidDocument, e.to_string(), Retry::AwaitChange)),
    }
}

fn is_zero(s: &str) -> bool {
    duration::parse(s).is_ok_and(|d| d.is_zero())
}

/// The object's refresh policy: `spec.refreshPolicy`, else `CreatedOnce`
/// for `refreshInterval: 0`, else `Periodic`.
pub fn refresh_policy(es: &ExternalSecret) -> Result<RefreshPolicy, SourceError> {
    let zero = es.spec.refresh_interval.as_deref().is_some_and(is_zero);
    match (es.spec.refresh_policy, zero) {
        (Some(RefreshPolicy::Periodic), true) => Err(SourceError::new(
            Reason::InvalidDocument,
            "spec.refreshPolicy Periodic needs a refreshInterval above 0",
            Retry::AwaitChange,
        )),
        (Some(p), _) => Ok(p),
        (None, true) => Ok(RefreshPolicy::CreatedOnce),
        (None, false) => Ok(RefreshPolicy::Periodic),
    }
}

/// The refresh epoch of `now`: a generator's value is the same within one.
pub fn epoch(now_secs: u64, interval: Duration) -> u64 {
    now_secs / interval.as_secs().max(1)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// How old a value read for another ExternalSecret may be and still be
/// used: half the refresh interval. One refresh round (every object once,
/// spread by creation order and jitter) then reads each path once, and no
/// value is older than one and a half intervals.
pub fn read_window(interval: Duration) -> Duration {
    interval / 2
}

fn vault_error(e: VaultError) -> SourceError {
    let gone = matches!(e, VaultError::NotFound(_));
    // A paused store is tried again when the pause ends: failing fast while
    // it lasts must not grow the object's own backoff.
    let retry = match e {
        VaultError::Paused(_, left) => Retry::After(left + crate::sources::jitter(Duration::from_secs(1))),
        _ => Retry::Backoff,
    };
    SourceError { reason: e.reason(), message: e.to_string(), retry, gone }
}

/// The checks External Secrets Operator's admission webhook makes, done by
/// the controller (the CRD schema cannot express them on every supported
/// Kubernetes version): an object with nothing to read, a `dataFrom` entry
/// with no source, and policy combinations that cannot work.
pub fn validate(es: &ExternalSecret) -> Result<(), String> {
    let spec = &es.spec;
    if spec.data.is_empty() && spec.data_from.is_empty() {
        return Err("spec.data and spec.dataFrom are both empty: name at least one value to read".into());
    }
    for (i, df) in spec.data_from.iter().enumerate() {
        let generator = df.source_ref.as_ref().is_some_and(|r| r.generator_ref.is_some());
        match [df.extract.is_some(), df.find.is_some(), generator].iter().filter(|x| **x).count() {
            0 => {
                return Err(format!(
                    "spec.dataFrom[{i}] names no source: give extract, find or sourceRef.generatorRef"
                ));
            }
            1 => {}
            _ => {
                return Err(format!(
                    "spec.dataFrom[{i}]: extract, find and sourceRef.generatorRef cannot be set in the same entry"
                ));
            }
        }
        if df.rewrite.len() > MAX_REWRITE_RULES {
            return Err(format!(
                "spec.dataFrom[{i}].rewrite has {} rules; at most {MAX_REWRITE_RULES}",
                df.rewrite.len()
            ));
        }
        for (j, r) in df.rewrite.iter().enumerate() {
            if r.regexp.is_some() == r.transform.is_some() {
                return Err(format!("spec.dataFrom[{i}].rewrite[{j}]: give exactly one of regexp and transform"));
            }
            if r.regexp.as_ref().is_some_and(|r| r.target.len() > MAX_REWRITE_TARGET) {
                return Err(format!(
                    "spec.dataFrom[{i}].rewrite[{j}].regexp.target is longer than {MAX_REWRITE_TARGET} bytes"
                ));
            }
        }
    }
    for (i, d) in spec.data.iter().enumerate() {
        if d.secret_key.is_empty() {
            return Err(format!("spec.data[{i}].secretKey is empty"));
        }
        if d.remote_ref.key.is_empty() {
            return Err(format!("spec.data[{i}].remoteRef.key is empty"));
        }
    }
    if spec.target.creation_policy == Some(CreationPolicy::Merge)
        && spec.target.deletion_policy == Some(DeletionPolicy::Delete)
    {
        return Err(
            "spec.target: deletionPolicy Delete cannot be used with creationPolicy Merge (the Secret belongs to someone else)"
                .into(),
        );
    }
    Ok(())
}

/// Reads every value the ExternalSecret names (each path once per read
/// window; `interval` seeds the generators' refresh epoch); rewrite
/// transforms are charged to `work`, the object's template budget.
pub async fn fetch(
    ctx: &SourceContext,
    es: &ExternalSecret,
    store: Option<&ResolvedStore>,
    max_age: Duration,
    interval: Duration,
    work: &std::sync::Arc<crate::sources::template::Work>,
) -> Result<SecretData, VaultError> {
    let mut data = SecretData::default();
    let no_store = || VaultError::Misconfigured("spec.secretStoreRef names no store".into());
    for d in &es.spec.data {
        let r = &d.remote_ref;
        let store = store.ok_or_else(no_store)?;
        let secret =
            ctx.vault.read(&ctx.client, store, &r.key, r.version.as_deref(), r.fetch_metadata(), max_age).await?;
        let value: Zeroizing<Vec<u8>> = match &r.property {
            Some(p) => match property(&secret, p) {
                Some(v) => v,
                None => {
                    return Err(VaultError::PropertyNotFound(format!(
                        "{}: {} has no property {p:?}",
                        store.display, r.key
                    )));
                }
            },
            None => {
                let map: serde_json::Map<String, serde_json::Value> =
                    secret.0.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.to_string()))).collect();
                Zeroizing::new(serde_json::to_vec(&map).unwrap_or_default())
            }
        };
        let value = decode(value, r.decoding_strategy, &d.secret_key).map_err(VaultError::PropertyNotFound)?;
        data.0.insert(d.secret_key.clone(), value);
    }
    for (i, df) in es.spec.data_from.iter().enumerate() {
        let mut entry = SecretData::default();
        if let Some(r) = &df.extract {
            let store = store.ok_or_else(no_store)?;
            let secret =
                ctx.vault.read(&ctx.client, store, &r.key, r.version.as_deref(), r.fetch_metadata(), max_age).await?;
            for (k, v) in &secret.0 {
                let value = decode(Zeroizing::new(v.as_bytes().to_vec()), r.decoding_strategy, k)
                    .map_err(VaultError::PropertyNotFound)?;
                entry.0.insert(k.clone(), value);
            }
        }
        if let Some(f) = &df.find {
            let store = store.ok_or_else(no_store)?;
            let field = format!("spec.dataFrom[{i}].find");
            let name = match &f.name {
                Some(n) => Some(
                    bounded_regex(&n.regexp)
                        .map_err(|e| VaultError::Misconfigured(format!("{field}.name.regexp: {e}")))?,
                ),
                None => None,
            };
            let found = ctx.vault.find(&ctx.client, store, f.path.as_deref().unwrap_or(""), !f.tags.is_empty()).await?;
            for (path, meta) in found {
                if name.as_ref().is_some_and(|re| !re.is_match(&path))
                    || f.tags.iter().any(|(k, v)| meta.get(k) != Some(v))
                {
                    continue;
                }
                let secret = ctx.vault.read(&ctx.client, store, &path, None, false, max_age).await?;
                let map: serde_json::Map<String, serde_json::Value> =
                    secret.0.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.to_string()))).collect();
                // Named by path ("a/b"); without rewrite rules the `/`
                // becomes `_` by the conversion strategy below, as ESO does.
                let key = path.clone();
                let value =
                    decode(Zeroizing::new(serde_json::to_vec(&map).unwrap_or_default()), f.decoding_strategy, &key)
                        .map_err(VaultError::PropertyNotFound)?;
                entry.0.insert(key, value);
            }
        }
        if let Some(g) = df.source_ref.as_ref().and_then(|r| r.generator_ref.as_ref()) {
            let field = format!("spec.dataFrom[{i}].sourceRef.generatorRef");
            let value = generate(ctx, es, g, epoch(now_secs(), interval)).await.map_err(|e| match e {
                VaultError::Invalid(m) => VaultError::Invalid(format!("{field}: {m}")),
                other => VaultError::Misconfigured(format!("{field}: {other}")),
            })?;
            entry.0.insert("password".to_owned(), value);
        }
        // ESO: the rewrite rules, or, when there are none, the key
        // conversion of the entry's source.
        let entry = if df.rewrite.is_empty() {
            let strategy = df
                .extract
                .as_ref()
                .and_then(|r| r.conversion_strategy)
                .or(df.find.as_ref().and_then(|f| f.conversion_strategy));
            convert_keys(entry, strategy.unwrap_or_default(), i).map_err(VaultError::Misconfigured)?
        } else {
            // Transform rules are tenant templates: off the async workers,
            // and charged to the object's one template budget.
            let (rules, work) = (df.rewrite.clone(), work.clone());
            tokio::task::spawn_blocking(move || rewrite_in(&work, entry, &rules, i))
                .await
                .map_err(|_| {
                    VaultError::Invalid(format!("spec.dataFrom[{i}].rewrite: the rewrite stopped unexpectedly"))
                })?
                .map_err(VaultError::Invalid)?
        };
        data.0.extend(entry.0);
    }
    Ok(data)
}

/// A generator's value (`Password`, from the ExternalSecret's namespace),
/// the same within one refresh epoch (see `sources::generator`). A shape
/// that cannot be made is `Invalid`, refused before anything is drawn; the
/// draw itself is bounded and cheap (at most 1024 characters, no
/// rejection loop), so it runs here rather than on a blocking thread.
async fn generate(
    ctx: &SourceContext,
    es: &ExternalSecret,
    g: &crate::api::external_secret::GeneratorRef,
    epoch: u64,
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    use crate::api::generator::Password;
    use crate::sources::generator;
    if g.kind != "Password" || g.api_version.as_deref().is_some_and(|v| !v.starts_with("seal.dev/")) {
        return Err(VaultError::Invalid(format!(
            "{} {}: seal has one generator, seal.dev/v1alpha1 Password",
            g.api_version.as_deref().unwrap_or(""),
            g.kind
        )));
    }
    let ns = es.namespace().unwrap_or_default();
    let api: kube::Api<Password> = kube::Api::namespaced(ctx.client.clone(), &ns);
    let p = api
        .get_opt(&g.name)
        .await
        .map_err(|e| VaultError::Misconfigured(format!("cannot read Password {ns}/{}: {e}", g.name)))?
        .ok_or_else(|| VaultError::Misconfigured(format!("Password {ns}/{} does not exist", g.name)))?;
    let key = ctx
        .registry
        .hmac_key_bytes()
        .ok_or_else(|| VaultError::Unavailable("the controller's keys are not loaded yet".into()))?;
    let uid = es.uid().unwrap_or_default();
    let seed = format!("password\0{uid}\0{}\0{epoch}", g.name);
    let value = generator::password(&p.spec, &mut generator::Stream::new(&key[..], seed.as_bytes()))
        .map_err(|e| VaultError::Invalid(format!("Password {ns}/{}: {e}", g.name)))?;
    Ok(Zeroizing::new(value.as_bytes().to_vec()))
}

/// A regular expression from a tenant's object, with bounded size.
fn bounded_regex(src: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(src)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("not a valid regular expression ({e})"))
}

/// ESO's key conversion (`conversionStrategy`) of `dataFrom` keys when the
/// entry has no rewrite rules: every character that is not a letter, a
/// digit, `-`, `.` or `_` becomes `_` (`Default`) or `_UXXXX_` with its
/// code point in hex (`Unicode`). Two keys that convert to one are an error,
/// and so is a key longer than a Secret key may be (checked as it is
/// built: a key from the store is never expanded past that).
pub fn convert_keys(entry: SecretData, strategy: ConversionStrategy, i: usize) -> Result<SecretData, String> {
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
                return Err(format!(
                    "spec.dataFrom[{i}]: a key from the store is longer than {MAX_KEY_BYTES} bytes, the longest Secret key; add rewrite rules to shorten it"
                ));
            }
        }
        if out.0.insert(key.clone(), v).is_some() {
            return Err(format!(
                "spec.dataFrom[{i}]: two keys convert to {key:?}; add rewrite rules to tell them apart"
            ));
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
    work: &std::sync::Arc<crate::sources::template::Work>,
    entry: SecretData,
    rules: &[crate::api::external_secret::Rewrite],
    i: usize,
) -> Result<SecretData, String> {
    if rules.len() > MAX_REWRITE_RULES {
        return Err(format!("spec.dataFrom[{i}].rewrite has {} rules; at most {MAX_REWRITE_RULES}", rules.len()));
    }
    if entry.0.len() > MAX_REWRITE_KEYS {
        return Err(format!(
            "spec.dataFrom[{i}].rewrite: the entry has {} keys; rewrite rules apply to at most {MAX_REWRITE_KEYS}",
            entry.0.len()
        ));
    }
    let transforms = rules.iter().filter(|r| r.regexp.is_none() && r.transform.is_some()).count();
    if transforms.saturating_mul(entry.0.len()) > MAX_TRANSFORM_RUNS {
        return Err(format!(
            "spec.dataFrom[{i}].rewrite: {transforms} transform rules over {} keys would run {} templates; at most {MAX_TRANSFORM_RUNS}",
            entry.0.len(),
            transforms.saturating_mul(entry.0.len())
        ));
    }
    let too_long = |field: &str| {
        format!("{field}: a rewritten key would be longer than {MAX_KEY_BYTES} bytes, the longest Secret key")
    };
    let mut entry = entry;
    for (j, rule) in rules.iter().enumerate() {
        let field = format!("spec.dataFrom[{i}].rewrite[{j}]");
        let mut out = SecretData::default();
        if let Some(r) = &rule.regexp {
            if r.target.len() > MAX_REWRITE_TARGET {
                return Err(format!("{field}.regexp.target is longer than {MAX_REWRITE_TARGET} bytes"));
            }
            let re = bounded_regex(&r.source).map_err(|e| format!("{field}.regexp.source: {e}"))?;
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
                let key =
                    crate::sources::template::execute_in(work, &format!("{field}.transform"), &t.template, &ctx, &[])?;
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
pub fn property(secret: &super::pool::VaultSecret, path: &str) -> Option<Zeroizing<Vec<u8>>> {
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
) -> Result<Zeroizing<Vec<u8>>, String> {
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
    out.map(Zeroizing::new).ok_or_else(|| format!("the value for {key:?} is not base64 (decodingStrategy)"))
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
    work: &std::sync::Arc<crate::sources::template::Work>,
) -> Result<SecretData, SourceError> {
    let Some(t) = es.spec.target.template.as_ref().filter(|t| t.has_templates()) else {
        return Ok(fetched);
    };
    let failed = |m: String| SourceError::new(Reason::TemplateFailed, m, Retry::Backoff);
    let refused = |m: String| SourceError::new(Reason::TemplateFailed, m, Retry::AwaitChange);
    if let Some(v) = t.engine_version.as_deref().filter(|v| *v != "v2") {
        return Err(refused(format!(
            "spec.target.template.engineVersion {v:?}: seal runs ESO's engine v2 only (Go text/template with sprig); set v2"
        )));
    }
    let ns = es.namespace().unwrap_or_default();
    let mut sources = Vec::with_capacity(t.template_from.len());
    for (i, from) in t.template_from.iter().enumerate() {
        let field = format!("spec.target.template.templateFrom[{i}]");
        if from.target.as_deref().is_some_and(|x| x != "Data") {
            return Err(refused(format!("{field}.target: only Data is supported")));
        }
        let given = [from.config_map.is_some(), from.secret.is_some(), from.literal.is_some()];
        if given.iter().filter(|x| **x).count() != 1 {
            return Err(refused(format!("{field}: give exactly one of configMap, secret and literal")));
        }
        sources.push(match (&from.config_map, &from.secret) {
            (Some(r), _) => Some(template_source(ctx, &ns, "ConfigMap", &r.name, &es.name_any()).await),
            (_, Some(r)) => {
                let read = template_source(ctx, &ns, "Secret", &r.name, &es.name_any()).await;
                // No grant: refused at once, before anything is rendered;
                // tried again with backoff, as the grant is given on the
                // Secret, not on this object.
                if let Err(TemplateSourceError::NotGranted(m)) = &read {
                    return Err(SourceError::new(
                        Reason::SecretNotShared,
                        format!("{field}.secret: {m}"),
                        Retry::Backoff,
                    ));
                }
                Some(read)
            }
            _ => None,
        });
    }
    let (t, salt_key, work) = (t.clone(), salt_key.to_vec(), work.clone());
    tokio::task::spawn_blocking(move || render_templates(&t, &ns, fetched, sources, &salt_key, &work))
        .await
        .map_err(|_| failed("the template run stopped unexpectedly".into()))?
}

/// The contents of one `templateFrom` ConfigMap or Secret, as read.
type TemplateSource = Result<std::collections::BTreeMap<String, Zeroizing<String>>, TemplateSourceError>;

/// Why a `templateFrom` source could not be used.
#[derive(Debug)]
pub enum TemplateSourceError {
    /// Not read: a Secret whose owner did not grant this ExternalSecret.
    NotGranted(String),
    /// Missing, unreadable or not text.
    Unreadable(String),
}

impl std::fmt::Display for TemplateSourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TemplateSourceError::NotGranted(m) | TemplateSourceError::Unreadable(m) => f.write_str(m),
        }
    }
}

/// Annotation on a Secret: the ExternalSecrets (comma-separated names, or
/// `*`) of its namespace that may read it through `templateFrom`. Without
/// it a template cannot become a way to read what its author cannot.
pub const ALLOW_TEMPLATE_READ_ANNOTATION: &str = "seal.dev/allow-template-read";

/// Whether a Secret's annotations let the ExternalSecret `name` read it
/// through `templateFrom`.
pub fn template_read_allowed(annotations: &std::collections::BTreeMap<String, String>, name: &str) -> bool {
    annotations
        .get(ALLOW_TEMPLATE_READ_ANNOTATION)
        .is_some_and(|v| v.split(',').map(str::trim).any(|n| n == "*" || n == name))
}

fn render_templates(
    t: &crate::api::external_secret::ExternalSecretTemplate,
    ns: &str,
    fetched: SecretData,
    sources: Vec<Option<TemplateSource>>,
    salt_key: &[u8],
    work: &std::sync::Arc<crate::sources::template::Work>,
) -> Result<SecretData, SourceError> {
    use crate::api::external_secret::{MergePolicy, TemplateAs};
    use crate::sources::template;
    let failed = |m: String| SourceError::new(Reason::TemplateFailed, m, Retry::Backoff);
    let ctx_value = template::context(&fetched);
    let mut out =
        if t.merge_policy.unwrap_or_default() == MergePolicy::Merge { fetched } else { SecretData::default() };
    for (i, (from, source)) in t.template_from.iter().zip(sources).enumerate() {
        let field = format!("spec.target.template.templateFrom[{i}]");
        if let Some(lit) = &from.literal {
            let text =
                template::execute_in(work, &format!("{field}.literal"), lit, &ctx_value, salt_key).map_err(failed)?;
            keys_and_values(&text, &field, &mut out).map_err(failed)?;
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
                    out.0.insert(item.key.clone(), Zeroizing::new(template::bytes_from_text(&text)));
                }
                TemplateAs::KeysAndValues => keys_and_values(&text, &name, &mut out).map_err(failed)?,
            }
        }
    }
    for (key, src) in &t.data {
        let text = template::execute_in(work, key, src, &ctx_value, salt_key)
            .map_err(|e| failed(format!("spec.target.template.data[{key:?}]: {e}")))?;
        out.0.insert(key.clone(), Zeroizing::new(template::bytes_from_text(&text)));
    }
    Ok(out)
}

/// A template's output read as YAML `key: value` lines (ESO's
/// `KeysAndValues` and `literal`). Errors count the entries, never quote
/// them: keys and values are template output.
fn keys_and_values(text: &str, name: &str, out: &mut SecretData) -> Result<(), String> {
    use seal_format::sops::Value as Y;
    let docs = seal_format::sops::yaml::parse(text)
        .map_err(|_| format!("{name}: the output is not YAML `key: value` lines"))?;
    for doc in docs {
        for (n, (k, v)) in doc.pairs().enumerate() {
            let bytes = match v {
                Y::Str(s) => crate::sources::template::bytes_from_text(s),
                Y::Null => Vec::new(),
                Y::Bool(b) => b.to_string().into_bytes(),
                Y::Int(i) => i.to_string().into_bytes(),
                Y::Float(f) => f.to_string().into_bytes(),
                _ => return Err(format!("{name}: the output's entry {} is not a scalar", n + 1)),
            };
            out.0.insert(k.to_owned(), Zeroizing::new(bytes));
        }
    }
    Ok(())
}

/// The text of a ConfigMap's or Secret's keys, in the object's namespace.
/// A Secret is read only when it grants the ExternalSecret `reader`
/// ([`ALLOW_TEMPLATE_READ_ANNOTATION`]); ConfigMaps hold no secrets by
/// contract and are read as they are.
async fn template_source(ctx: &SourceContext, ns: &str, kind: &str, name: &str, reader: &str) -> TemplateSource {
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    use kube::Api;
    let gone = || TemplateSourceError::Unreadable(format!("{kind} {ns}/{name} does not exist"));
    // The API server's text is not repeated: only its status code.
    let why =
        |e: kube::Error| TemplateSourceError::Unreadable(format!("cannot read {kind} {ns}/{name}: {}", api_reason(&e)));
    let mut out = std::collections::BTreeMap::new();
    if kind == "ConfigMap" {
        let cm =
            Api::<ConfigMap>::namespaced(ctx.client.clone(), ns).get_opt(name).await.map_err(why)?.ok_or_else(gone)?;
        for (k, v) in cm.data.unwrap_or_default() {
            out.insert(k, Zeroizing::new(v));
        }
    } else {
        let s = Api::<Secret>::namespaced(ctx.client.clone(), ns).get_opt(name).await.map_err(why)?.ok_or_else(gone)?;
        if !template_read_allowed(s.annotations(), reader) {
            return Err(TemplateSourceError::NotGranted(format!(
                "Secret {ns}/{name} does not let this ExternalSecret read it: its owner must annotate it {ALLOW_TEMPLATE_READ_ANNOTATION}: \"{reader}\" (or \"*\")"
            )));
        }
        for (k, v) in s.data.unwrap_or_default() {
            let text = String::from_utf8(v.0)
                .map_err(|_| TemplateSourceError::Unreadable(format!("{kind} {ns}/{name} key {k:?} is not text")))?;
            out.insert(k, Zeroizing::new(text));
        }
    }
    Ok(out)
}

/// A Kubernetes API error as its status code and reason, never its message
/// (which can quote what was sent).
fn api_reason(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("the API server answered {} {}", s.code, s.reason),
        _ => "the API server could not be reached".to_owned(),
    }
}

/// The store, unless every value comes from a generator.
async fn resolve_if_needed(ctx: &SourceContext, es: &ExternalSecret) -> Result<Option<ResolvedStore>, SourceError> {
    let needs = !es.spec.data.is_empty() || es.spec.data_from.iter().any(|d| d.extract.is_some() || d.find.is_some());
    if !needs {
        return Ok(None);
    }
    store::resolve(&ctx.client, &ctx.stores, es)
        .await
        .map(Some)
        .map_err(|(reason, message)| SourceError::new(reason, message, Retry::Backoff))
}

impl Source for ExternalSecret {
    const OK_MESSAGE: &'static str = "the Secret holds the store's current values";
    const RECORDS_REFRESH_TIME: bool = true;

    fn common(&self) -> Common<'_> {
        let status = self.status.clone().unwrap_or_default();
        Common {
            suspend: self.spec.suspend == Some(true),
            drift_policy: self.spec.drift_policy.unwrap_or_default(),
            template: match (self.spec.target.template.as_ref(), self.spec.target.immutable) {
                // ESO's `target.immutable`: the same as the template's `immutable`.
                (t, Some(true)) => {
                    let mut secret = t.map(|t| t.secret.clone()).unwrap_or_default();
                    secret.immutable = Some(true);
                    Some(std::borrow::Cow::Owned(secret))
                }
                (t, _) => t.map(|t| std::borrow::Cow::Borrowed(&t.secret)),
            },
            rollout_restart_targets: &self.spec.rollout_restart_targets,
            secret_name: self.spec.target.name.clone().unwrap_or_else(|| self.name_any()),
            delete_when_gone: self.spec.target.deletion_policy == Some(DeletionPolicy::Delete),
            status: CommonStatus {
                observed_generation: status.observed_generation,
                conditions: status.conditions,
                resumed: status.resumed,
            },
        }
    }

    /// The values must be read to know whether they changed: the digest
    /// covers the spec, an HMAC of the values (never the values) and the
    /// target name.
    async fn desired(&self, ctx: &SourceContext) -> Result<Desired, SourceError> {
        validate(self).map_err(|m| SourceError::new(Reason::InvalidDocument, m, Retry::AwaitChange))?;
        let interval = refresh_interval(self)?;
        let ownership = match self.spec.target.creation_policy.unwrap_or_default() {
            CreationPolicy::Owner => Ownership::Owner,
            CreationPolicy::Orphan => Ownership::Orphan,
            CreationPolicy::Merge => Ownership::Merge,
        };
        let target = self.common().secret_name;
        // OnChange and CreatedOnce: the digest leaves the values out, so an
        // unchanged object reads nothing and writes nothing; the store is
        // read (by `data`) only when a write is due: the object changed
        // (OnChange), or the Secret is missing or drifted.
        let policy = refresh_policy(self)?;
        if policy != RefreshPolicy::Periodic {
            let spec_json = serde_json::to_vec(&self.spec).unwrap_or_default();
            let meta = serde_json::to_vec(&(self.labels(), self.annotations())).unwrap_or_default();
            let parts: [&[u8]; 4] = match policy {
                RefreshPolicy::CreatedOnce => [b"created-once", b"", b"", target.as_bytes()],
                _ => [b"on-change", &spec_json, &meta, target.as_bytes()],
            };
            let digest = input_digest(&parts);
            return Ok(Desired { digest, ownership, requeue: None, data: None, record: Vec::new() });
        }
        let store = resolve_if_needed(ctx, self).await?;
        // One template budget for the object in this reconcile: rewrite
        // transforms and the Secret's templates.
        let work = crate::sources::template::Work::new();
        let data =
            fetch(ctx, self, store.as_ref(), read_window(interval), interval, &work).await.map_err(vault_error)?;
        let hmac_key = ctx.registry.hmac_key_bytes().ok_or_else(|| {
            SourceError::new(Reason::StoreUnavailable, "the controller's keys are not loaded yet", Retry::Backoff)
        })?;
        // The digest covers the output, so a changed template source (a
        // ConfigMap) is written even when the store's values are the same.
        let data = apply_templates(ctx, self, data, &hmac_key[..], &work).await?;
        let data_hmac = data.hmac(&hmac_key[..]);
        let spec_json = serde_json::to_vec(&self.spec).unwrap_or_default();
        let digest = input_digest(&[&spec_json, data_hmac.as_bytes(), target.as_bytes()]);
        let jitter = crate::sources::jitter(interval / 10);
        Ok(Desired { digest, ownership, requeue: Some(interval + jitter), data: Some(data), record: Vec::new() })
    }

    async fn data(&self, ctx: &SourceContext) -> Result<SecretData, SourceError> {
        // Reached when `desired` returned no data (OnChange, CreatedOnce)
        // and a write is due.
        let interval = refresh_interval(self)?;
        let store = resolve_if_needed(ctx, self).await?;
        let work = crate::sources::template::Work::new();
        let data =
            fetch(ctx, self, store.as_ref(), read_window(interval), interval, &work).await.map_err(vault_error)?;
        let hmac_key = ctx.registry.hmac_key_bytes().ok_or_else(|| {
            SourceError::new(Reason::StoreUnavailable, "the controller's keys are not loaded yet", Retry::Backoff)
        })?;
        apply_templates(ctx, self, data, &hmac_key[..], &work).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn es(refresh: Option<&str>) -> ExternalSecret {
        let mut es = ExternalSecret::new("x", Default::default());
        es.spec.refresh_interval = refresh.map(str::to_owned);
        es
    }

    #[test]
    fn refresh_intervals_follow_eso_syntax_and_bounds() {
        assert_eq!(refresh_interval(&es(None)).ok(), Some(DEFAULT_REFRESH));
        assert_eq!(refresh_interval(&es(Some("1h30m"))).ok(), Some(Duration::from_secs(5400)));
        assert_eq!(refresh_interval(&es(Some("0"))).ok(), Some(DEFAULT_REFRESH), "0 reads once");
        for bad in ["18446744073709551615s", "500ms", "1d", "9000h"] {
            let e = refresh_interval(&es(Some(bad))).expect_err(bad);
            assert_eq!(e.reason, Reason::InvalidDocument);
            assert_eq!(e.retry, Retry::AwaitChange);
            assert!(e.message.starts_with("spec.refreshInterval"), "{}", e.message);
        }
    }

    fn secret(pairs: &[(&str, &str)]) -> super::super::pool::VaultSecret {
        super::super::pool::VaultSecret(
            pairs.iter().map(|(k, v)| ((*k).to_owned(), Zeroizing::new((*v).to_owned()))).collect(),
        )
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
            let e = convert_keys(one_key(&key), strategy, 2).err().expect("too long");
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
        rewrite_in(&crate::sources::template::Work::new(), entry, rules, i)
    }

    #[test]
    fn transforms_are_charged_to_the_objects_template_budget() {
        use crate::api::external_secret::{Rewrite, RewriteTransform};
        let mut d = SecretData::default();
        d.0.insert("k".to_owned(), Zeroizing::new(b"v".to_vec()));
        let rule = Rewrite { regexp: None, transform: Some(RewriteTransform { template: "{{ .value }}".into() }) };
        let spent = crate::sources::template::Work::with_time(Duration::ZERO);
        let e = rewrite_in(&spent, d.clone(), std::slice::from_ref(&rule), 0).err().expect("past the deadline");
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

        let mut es = es(None);
        es.spec.data_from.push(crate::api::external_secret::DataFrom {
            extract: Some(Default::default()),
            rewrite: vec![regexp("a", "b"); MAX_REWRITE_RULES + 1],
            ..Default::default()
        });
        assert!(validate(&es).is_err_and(|e| e.starts_with("spec.dataFrom[0].rewrite has 33 rules")));
        es.spec.data_from[0].rewrite = long;
        assert!(validate(&es).is_err_and(|e| e.starts_with("spec.dataFrom[0].rewrite[0].regexp.target")));
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
            let re = bounded_regex(source).expect("regex");
            let want = re.replace_all(key, target).into_owned();
            assert_eq!(replace_bounded(&re, key, target, 253).as_deref(), Some(want.as_str()), "{source} {target}");
        }
    }

    #[test]
    fn a_huge_key_from_a_store_is_rewritten_without_copying_it() {
        let huge = "k".repeat(1 << 20);
        let re = bounded_regex("^(.{3}).*$").expect("regex");
        assert_eq!(replace_bounded(&re, &huge, "$1", 253).as_deref(), Some("kkk"));
        let all = bounded_regex(".*").expect("regex");
        assert_eq!(replace_bounded(&all, &huge, "$0$0", 253), None);
        assert_eq!(replace_bounded(&all, "short", &"$0".repeat(200), 253), None);
        let e = rewrite(one_key(&huge), &[regexp("x", "y")], 0).err().expect("refused");
        assert!(e.contains("longer than 253"), "{e}");
    }

    #[test]
    fn what_esos_webhook_refuses_is_refused() {
        use crate::api::external_secret::{DataFrom, ExternalSecretData, RemoteRef};
        let item = ExternalSecretData {
            secret_key: "k".into(),
            remote_ref: RemoteRef { key: "p".into(), ..Default::default() },
        };
        let mut ok = es(None);
        ok.spec.data.push(item.clone());
        assert_eq!(validate(&ok), Ok(()));
        let empty = es(None);
        assert!(validate(&empty).is_err_and(|e| e.contains("both empty")));
        let mut no_source = ok.clone();
        no_source.spec.data_from.push(DataFrom::default());
        assert!(validate(&no_source).is_err_and(|e| e.starts_with("spec.dataFrom[0]")));
        let mut merge_delete = ok.clone();
        merge_delete.spec.target.creation_policy = Some(CreationPolicy::Merge);
        merge_delete.spec.target.deletion_policy = Some(DeletionPolicy::Delete);
        assert!(validate(&merge_delete).is_err_and(|e| e.contains("creationPolicy Merge")));
        let mut no_key = es(None);
        no_key.spec.data.push(ExternalSecretData { secret_key: String::new(), ..item });
        assert!(validate(&no_key).is_err_and(|e| e.contains("secretKey is empty")));
    }

    #[test]
    fn refresh_policies_follow_eso() {
        let mut e = es(None);
        assert_eq!(refresh_policy(&e).ok(), Some(RefreshPolicy::Periodic));
        e.spec.refresh_interval = Some("0".into());
        assert_eq!(refresh_policy(&e).ok(), Some(RefreshPolicy::CreatedOnce));
        e.spec.refresh_policy = Some(RefreshPolicy::OnChange);
        assert_eq!(refresh_policy(&e).ok(), Some(RefreshPolicy::OnChange));
        e.spec.refresh_policy = Some(RefreshPolicy::Periodic);
        assert!(refresh_policy(&e).is_err_and(|x| x.reason == Reason::InvalidDocument));
        e.spec.refresh_interval = Some("0s".into());
        assert!(refresh_policy(&e).is_err());
    }

    #[test]
    fn a_read_is_shared_for_half_an_interval() {
        assert_eq!(read_window(Duration::from_secs(30)), Duration::from_secs(15));
        assert_eq!(read_window(Duration::from_secs(3600)), Duration::from_secs(1800));
    }

    #[test]
    fn a_paused_store_is_retried_when_the_pause_ends() {
        let se = vault_error(VaultError::Paused("s: Vault is unreachable".into(), Duration::from_secs(4)));
        assert_eq!(se.reason, Reason::StoreUnavailable);
        assert_eq!(se.message, "s: Vault is unreachable");
        match se.retry {
            Retry::After(d) => assert!(d >= Duration::from_secs(4) && d <= Duration::from_secs(5), "{d:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_a_plain_not_found_marks_the_values_gone() {
        assert!(vault_error(VaultError::NotFound("p".into())).gone);
        for e in [
            VaultError::Unavailable("u".into()),
            VaultError::Denied("d".into()),
            VaultError::PropertyNotFound("p".into()),
            VaultError::Misconfigured("m".into()),
        ] {
            let r = e.reason();
            let se = vault_error(e);
            assert!(!se.gone);
            assert_eq!(se.reason, r);
            assert_eq!(se.retry, Retry::Backoff);
        }
    }
}
