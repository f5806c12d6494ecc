//! The hybrid recipient inside SOPS files: sealing, the rule against mixing
//! it with X25519 recipients, identity files with both kinds, and the
//! re-derived bounds on age files and on the stanzas of one document.

use std::io::Write;

use super::hybrid::{HybridIdentity, HybridRecipient};
use super::metadata::{AgeEntry, KeyGroup};
use super::*;

fn hybrid() -> (HybridIdentity, Recipient) {
    let id = HybridIdentity::generate().expect("identity");
    let r = Recipient::parse(&id.to_public().to_string()).expect("recipient");
    (id, r)
}

fn classic() -> (age::x25519::Identity, Recipient) {
    let id = age::x25519::Identity::generate();
    let r = Recipient::parse(&id.to_public().to_string()).expect("recipient");
    (id, r)
}

fn seal(groups: Vec<Vec<Recipient>>, threshold: usize) -> Result<String, Error> {
    let opts = EncryptOptions { groups, shamir_threshold: threshold, rule: Rule::default(), mac_only_encrypted: false };
    let plain = parse_plain(b"a: secret\n", Format::Yaml)?;
    let doc = encrypt_document(plain, &opts)?;
    Ok(String::from_utf8(emit_encrypted(&doc, Format::Yaml)?).expect("utf-8"))
}

fn open(text: &str, ids: &Identities) -> Result<String, Error> {
    let parsed = parse_encrypted(text.as_bytes(), Format::Yaml)?;
    let (out, _, _) = decrypt_document(parsed, ids, DecryptOptions::default())?;
    Ok(out[0].get("a").and_then(Value::as_str).unwrap_or_default().to_owned())
}

/// An armored age file of `recipients`, holding `payload`.
fn age_file(recipients: &[&dyn age::Recipient], payload: &[u8]) -> String {
    let enc = age::Encryptor::with_recipients(recipients.iter().copied()).expect("recipients");
    let mut out = Vec::new();
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor).expect("armor");
    let mut w = enc.wrap_output(armor).expect("wrap");
    w.write_all(payload).expect("write");
    w.finish().and_then(|a| a.finish()).expect("finish");
    String::from_utf8(out).expect("text")
}

#[test]
fn a_file_sealed_to_hybrid_recipients_opens_with_an_identity_file_holding_both_kinds() {
    let (id1, r1) = hybrid();
    let (_, r2) = hybrid();
    let text = seal(vec![vec![r1, r2]], 0).expect("seal");
    assert!(text.contains("recipient: age1pq1"));
    let (x, _) = classic();
    let mut ids = Identities::new();
    let file = format!("# both kinds\n{}\n\n{}\n", x.to_string().expose_secret(), &*id1.to_secret_string());
    assert_eq!(ids.add_text(&file, "keys.txt").expect("identities"), 2);
    assert_eq!(ids.len(), 2);
    assert_eq!(ids.recipients()[1], id1.to_public().to_string());
    assert_eq!(open(&text, &ids).expect("opens"), "secret");
    // The X25519 identity alone does not open it.
    let mut only_x = Identities::new();
    only_x.push(x);
    assert!(matches!(open(&text, &only_x), Err(Error::NoMatchingKey(_))));
}

use age::secrecy::ExposeSecret;

#[test]
fn hybrid_shamir_key_groups_encrypt_and_decrypt() {
    let (ids, groups): (Vec<HybridIdentity>, Vec<Vec<Recipient>>) =
        (0..3).map(|_| hybrid()).map(|(i, r)| (i, vec![r])).unzip();
    let text = seal(groups, 2).expect("seal");
    let mut two = Identities::new();
    two.push_hybrid(ids[0].clone());
    two.push_hybrid(ids[2].clone());
    assert_eq!(open(&text, &two).expect("two groups"), "secret");
    let mut one = Identities::new();
    one.push_hybrid(ids[1].clone());
    assert!(matches!(open(&text, &one), Err(Error::NoMatchingKey(_))));
}

#[test]
fn hybrid_and_x25519_recipients_are_not_mixed_in_one_file() {
    let (_, pq) = hybrid();
    let (_, x) = classic();
    let expect_refusal = |e: Error| {
        let reason = e.to_string();
        let Error::MixedRecipients { recipient } = e else { panic!("{e}") };
        assert_eq!(recipient, x.as_str());
        assert!(reason.contains("A hybrid cluster key needs hybrid team keys"), "{reason}");
        assert!(reason.contains("seal keygen --pq"), "{reason}");
    };
    expect_refusal(seal(vec![vec![pq.clone(), x.clone()]], 0).expect_err("one group"));
    expect_refusal(seal(vec![vec![x.clone(), pq.clone()]], 0).expect_err("either order"));
    expect_refusal(seal(vec![vec![pq.clone()], vec![x.clone()]], 2).expect_err("Shamir groups"));
    // Re-keying an existing data key follows the same rule.
    let key = DataKey::generate().expect("key");
    let existing = KeyGroup { age: Vec::new(), other: Vec::new() };
    expect_refusal(recipients::rewrap_single(&key, &existing, &[pq.clone(), x.clone()]).err().expect("rewrap"));
    // Each kind alone is fine.
    assert!(seal(vec![vec![pq]], 0).is_ok());
    assert!(seal(vec![vec![x]], 0).is_ok());
}

#[test]
fn a_file_mixing_both_kinds_written_elsewhere_still_decrypts_with_either_identity() {
    // sops writes one age file per recipient and does not refuse the mix;
    // seal reads such files with either identity.
    let (hid, hr) = hybrid();
    let (xid, xr) = classic();
    let key = DataKey::generate().expect("key");
    let entry = |r: &Recipient| AgeEntry {
        recipient: r.as_str().to_owned(),
        enc: recipients::wrap(key.as_bytes(), r).expect("wrap"),
    };
    let md = Metadata {
        key_groups: vec![KeyGroup { age: vec![entry(&xr), entry(&hr)], other: Vec::new() }],
        ..Metadata::default()
    };
    for ids in [
        {
            let mut i = Identities::new();
            i.push_hybrid(hid.clone());
            i
        },
        {
            let mut i = Identities::new();
            i.push(xid.clone());
            i
        },
    ] {
        assert_eq!(recipients::recover(&md, &ids).expect("recovers").as_bytes(), key.as_bytes());
    }
}

#[test]
fn tagged_and_malformed_pq_recipients_are_refused_by_name() {
    for (text, want) in [
        (
            "age1tag1qt8lw0ual6avlwmwatk888yqnmdamm7xfd0wak53ut6elz5c4swx2yqdj4e",
            "tagged (hardware-key) recipients are not supported",
        ),
        ("age1tagpq1qqqq", "tagged (hardware-key) recipients are not supported"),
        ("age1pq1qqqqqqqqqq", "not a valid post-quantum age recipient"),
    ] {
        let Err(Error::Recipient { recipient, reason }) = Recipient::parse(text) else { panic!("{text} parsed") };
        assert_eq!(recipient, text);
        assert!(reason.contains(want), "{text}: {reason}");
    }
    let mut ids = Identities::new();
    let Err(Error::NoMatchingKey(m)) = ids.add_text("AGE-SECRET-KEY-PQ-1QQQQ\n", "keys.txt") else { panic!("parsed") };
    assert!(m.contains("keys.txt, line 1: not a valid post-quantum age identity"), "{m}");
    assert!(!m.contains("QQQQ"), "the error must not repeat the key text: {m}");
}

#[test]
fn an_age_file_of_fifteen_hybrid_stanzas_and_grease_fits_the_size_limit_and_one_more_is_refused_by_count() {
    // The age crate adds one grease stanza to every file: 15 + 1 = 16.
    let id = HybridIdentity::generate().expect("identity");
    let mut ids = Identities::new();
    ids.push_hybrid(id.clone());
    let n = recipients::MAX_STANZAS - 1;
    let others: Vec<HybridRecipient> = (0..n).map(|_| HybridIdentity::generate().expect("id").to_public()).collect();
    let mine = id.to_public();
    let mut rs: Vec<&dyn age::Recipient> = others.iter().take(n - 1).map(|r| r as &dyn age::Recipient).collect();
    rs.push(&mine);
    let text = age_file(&rs, &[7u8; 33]);
    assert!(text.len() > 30_000 && text.len() <= recipients::MAX_AGE_FILE, "{} bytes", text.len());
    assert_eq!(recipients::unwrap(&text, &ids).expect("sixteen").as_slice(), &[7u8; 33]);
    let mut rs: Vec<&dyn age::Recipient> = others.iter().map(|r| r as &dyn age::Recipient).collect();
    rs.push(&mine);
    let Err(e) = recipients::unwrap(&age_file(&rs, &[7u8; 33]), &ids) else { panic!("seventeen accepted") };
    assert!(e.contains("17 stanzas; at most 16"), "{e}");
}

#[test]
fn a_document_whose_age_files_hold_more_than_the_stanza_budget_is_refused_before_trying_the_rest() {
    let id = HybridIdentity::generate().expect("identity");
    let mut ids = Identities::new();
    ids.push_hybrid(id.clone());
    let strangers: Vec<HybridRecipient> =
        (0..15).map(|_| HybridIdentity::generate().expect("id").to_public()).collect();
    let rs: Vec<&dyn age::Recipient> = strangers.iter().map(|r| r as &dyn age::Recipient).collect();
    let fifteen = age_file(&rs, &[7u8; 32]);
    let mine = age_file(&[&id.to_public()], &[9u8; 32]);
    let group = |n: usize| {
        let mut age: Vec<AgeEntry> =
            (0..n).map(|i| AgeEntry { recipient: format!("r{i}"), enc: fifteen.clone() }).collect();
        age.push(AgeEntry { recipient: "mine".into(), enc: mine.clone() });
        Metadata { key_groups: vec![KeyGroup { age, other: Vec::new() }], ..Metadata::default() }
    };
    // 5 × 15 native stanzas pass the budget of 64 at the fifth file: it and
    // every file after it are not tried.
    let Err(Error::NoMatchingKey(m)) = recipients::recover(&group(5), &ids) else { panic!("recovered") };
    assert!(m.contains("r4: the document's age files hold more than 64"), "{m}");
    assert!(m.contains("mine: the document's age files hold more than 64"), "{m}");
    // 4 × 15 + 1 fits, and the key is found.
    assert_eq!(recipients::recover(&group(4), &ids).expect("recovers").as_bytes(), &[9u8; 32]);
}

#[test]
fn the_entry_named_for_a_loaded_hybrid_identity_is_opened_first_with_that_identity() {
    // 64 entries for another recipient before this identity's: tried in
    // order they would use up the document's stanza budget
    // (MAX_DOCUMENT_STANZAS) before reaching it.
    let (mine, my_r) = hybrid();
    let (_, other_r) = hybrid();
    let key = DataKey::generate().expect("key");
    let entry = |label: &Recipient, sealed_to: &Recipient| AgeEntry {
        recipient: label.as_str().to_owned(),
        enc: recipients::wrap(key.as_bytes(), sealed_to).expect("wrap"),
    };
    let other = entry(&other_r, &other_r);
    let mut age = vec![other.clone(); recipients::MAX_DOCUMENT_STANZAS];
    age.push(entry(&my_r, &my_r));
    let md =
        |age: Vec<AgeEntry>| Metadata { key_groups: vec![KeyGroup { age, other: Vec::new() }], ..Metadata::default() };
    let mut ids = Identities::new();
    for _ in 0..3 {
        ids.push_hybrid(hybrid().0);
    }
    ids.push_hybrid(mine.clone());
    assert_eq!(recipients::recover(&md(age), &ids).expect("recovers").as_bytes(), key.as_bytes());
    // The recipient field is not authenticated: an entry that names this
    // identity but is sealed to another key does not stop the others.
    let liar = entry(&my_r, &other_r);
    let mut alone = Identities::new();
    alone.push_hybrid(mine);
    let honest = AgeEntry { recipient: "age1pq1elsewhere".into(), ..entry(&my_r, &my_r) };
    assert_eq!(recipients::recover(&md(vec![liar, honest]), &alone).expect("recovers").as_bytes(), key.as_bytes());
}
