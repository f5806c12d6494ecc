//! The template engine against the shapes ESO's documentation shows, its
//! bounds, and its error messages (positions, never values).

use std::sync::Arc;

use base64::Engine;
use seal_format::document::SecretData;
use zeroize::Zeroizing;

use super::*;

const CANARY: &str = "canary-T3mpl4te-Zq8";
const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

fn data(pairs: &[(&str, &str)]) -> SecretData {
    let mut d = SecretData::default();
    for (k, v) in pairs {
        d.0.insert((*k).to_owned(), Zeroizing::new(v.as_bytes().to_vec()));
    }
    d
}

fn run(src: &str, pairs: &[(&str, &str)]) -> Result<String, String> {
    execute_in(&unhurried(), "t", src, &context(&data(pairs)), KEY).map(|z| z.to_string())
}

/// A budget whose deadline is an hour away: the tests of the other bounds
/// must not depend on how fast (or how loaded) the machine is; the deadline
/// has a test of its own.
fn unhurried() -> Arc<Work> {
    Work::with_time(std::time::Duration::from_secs(3600))
}

#[test]
fn a_database_url_is_built_from_several_values() {
    let out = run(
        "postgresql://{{ .username }}:{{ .password | urlquery }}@{{ .host }}:5432/{{ .database | default \"app\" }}?sslmode=require",
        &[("username", "app"), ("password", "p@ss w/rd"), ("host", "db.svc"), ("database", "")],
    );
    assert_eq!(out.as_deref(), Ok("postgresql://app:p%40ss+w%2Frd@db.svc:5432/app?sslmode=require"));
}

#[test]
fn a_dockerconfigjson_is_built_with_printf_and_b64enc() {
    let src = r#"{"auths":{"{{ .registry }}":{"username":"{{ .user }}","password":"{{ .pass }}","auth":"{{ printf "%s:%s" .user .pass | b64enc }}"}}}"#;
    let out = run(src, &[("registry", "ghcr.io"), ("user", "bot"), ("pass", "tok")]).expect("renders");
    assert_eq!(out, r#"{"auths":{"ghcr.io":{"username":"bot","password":"tok","auth":"Ym90OnRvaw=="}}}"#);
    let dict = run(
        r#"{{ dict "auths" (dict .registry (dict "auth" (printf "%s:%s" .user .pass | b64enc))) | toJson }}"#,
        &[("registry", "ghcr.io"), ("user", "bot"), ("pass", "tok")],
    );
    assert_eq!(dict.as_deref(), Ok(r#"{"auths":{"ghcr.io":{"auth":"Ym90OnRvaw=="}}}"#));
}

#[test]
fn a_config_file_is_built_with_range_if_and_indent() {
    let src = "[database]\n{{- range $k, $v := . }}\n{{ $k | upper }} = {{ $v | quote }}\n{{- end }}\nextra:{{ .b | nindent 2 }}";
    let out = run(src, &[("a", "1"), ("b", "x\ny")]).expect("renders");
    assert_eq!(out, "[database]\nA = \"1\"\nB = \"x\\ny\"\nextra:\n  x\n  y");
}

#[test]
fn json_and_yaml_values_are_read_and_written() {
    let out = run(
        r#"{{ (.config | fromJson).db.port }} {{ (.y | fromYaml).a }} {{ .config | fromJson | toYaml }}"#,
        &[("config", r#"{"db":{"port":5432}}"#), ("y", "a: b\n")],
    );
    assert_eq!(out.as_deref(), Ok("5432 b db:\n  port: 5432"));
    assert_eq!(run("{{ .x | b64dec }}", &[("x", "aGk=")]).as_deref(), Ok("hi"));
    assert_eq!(
        run("{{ squote .x }} {{ trim .y }} {{ replace \"-\" \"_\" .x }} {{ lower .x }}", &[("x", "A-B"), ("y", " s ")])
            .as_deref(),
        Ok("'A-B' s A_B a-b")
    );
}

#[test]
fn filter_pem_keeps_the_blocks_of_one_type_matched_case_insensitively_as_eso() {
    let pem = "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nBAUG\n-----END PRIVATE KEY-----\n";
    for kind in ["PRIVATE KEY", "private key", "Private Key"] {
        assert_eq!(
            run(&format!("{{{{ .pem | filterPEM {kind:?} }}}}"), &[("pem", pem)]).as_deref(),
            Ok("-----BEGIN PRIVATE KEY-----\nBAUG\n-----END PRIVATE KEY-----\n"),
            "{kind}"
        );
    }
    // No block of the type: the empty string, as ESO gives it.
    assert_eq!(run(r#"{{ .pem | filterPEM "EC PRIVATE KEY" }}"#, &[("pem", pem)]).as_deref(), Ok(""));
    let e = run(r#"{{ .pem | filterPEM "EC PRIVATE KEY" }}"#, &[("pem", CANARY)]).expect_err("junk");
    assert!(e.ends_with("filterPEM: error filtering pem: found junk"), "{e}");
}

#[test]
fn htpasswd_is_bcrypt_and_stable_for_the_same_input() {
    let a = run("{{ htpasswd .user .pass }}", &[("user", "admin"), ("pass", CANARY)]).expect("renders");
    let b = run("{{ htpasswd .user .pass }}", &[("user", "admin"), ("pass", CANARY)]).expect("renders");
    assert_eq!(a, b, "the same input must give the same line, or every refresh rewrites the Secret");
    let (user, hash) = a.split_once(':').expect("user:hash");
    assert_eq!(user, "admin");
    assert!(hash.starts_with("$2a$10$"), "{hash}");
    assert!(bcrypt::verify(CANARY, hash).expect("a bcrypt hash"));
    let other = execute_in(
        &unhurried(),
        "t",
        "{{ htpasswd .user .pass }}",
        &context(&data(&[("user", "admin"), ("pass", CANARY)])),
        b"another key",
    )
    .expect("renders");
    assert_ne!(a, *other, "the salt depends on the controller's key");
}

#[test]
fn a_missing_key_names_the_template_and_its_position() {
    let e = run("host={{ .host }}\nurl=postgres://{{ .user }}:{{ .password }}@x", &[("host", "h"), ("user", CANARY)])
        .expect_err("missing");
    assert_eq!(e, "template: t:2:31: map has no entry for key \"password\" (no such value in the store's data)");
    // `index` on a missing key gives the empty string, as Go's does on
    // ESO's map[string]string (missingkey=error applies to fields only).
    assert_eq!(run("[{{ index . \"db-pass\" }}]", &[("x", CANARY)]).as_deref(), Ok("[]"));
    assert_eq!(run("{{ index . \"db-pass\" }}", &[("db-pass", "v")]).as_deref(), Ok("v"));
}

#[test]
fn parse_errors_carry_their_position() {
    let e = run("ok\n{{ if .a }}x{{ end }}{{ .a | }}", &[("a", CANARY)]).expect_err("bad syntax");
    assert!(e.starts_with("template: t:2:"), "{e}");
    assert!(!e.contains(CANARY));
}

#[test]
fn executions_are_bounded() {
    let big = "x".repeat(64 * 1024);
    let many = r#"{{ range $a := splitList "," .l }}{{ range $b := splitList "," $.l }}{{ $.big }}{{ end }}{{ end }}"#;
    let list = vec!["1"; 100].join(",");
    let e = run(many, &[("big", &big), ("l", &list)]).expect_err("too much output");
    assert!(e.contains("larger than 1024 KiB"), "{e}");
    let iter = r#"{{ range $a := splitList "," .l }}{{ range $b := splitList "," $.l }}{{ range $c := splitList "," $.l }}{{ end }}{{ end }}{{ end }}"#;
    let e = run(iter, &[("l", &list)]).expect_err("too many iterations");
    assert!(e.contains("range iterations"), "{e}");
    let e = run(&"{{ htpasswd \"u\" \"p\" }}".repeat(MAX_BCRYPT_CALLS + 1), &[]).expect_err("too many hashes");
    assert!(e.contains("htpasswd") && e.contains("more than 16"), "{e}");
    let deep = format!("{}x{}", "{{ if true }}".repeat(500), "{{ end }}".repeat(500));
    assert!(run(&deep, &[]).is_err(), "nesting is bounded");
    let parens = format!("{{{{ {}1{} }}}}", "(".repeat(100_000), ")".repeat(100_000));
    assert!(run(&parens, &[]).is_err(), "parentheses are bounded");
}

#[test]
fn env_and_expandenv_do_not_exist() {
    for src in ["{{ env \"HOME\" }}", "{{ expandenv \"$HOME\" }}"] {
        let e = run(src, &[]).expect_err("ESO removes env functions");
        assert!(e.contains("env"), "{e}");
    }
}

#[test]
fn no_error_message_holds_a_value() {
    let values = [("secret", CANARY), ("json", "{not json"), ("num", "12")];
    for src in [
        "{{ .secret | b64dec }}",
        "{{ .json | fromJson }}",
        "{{ .secret | fromYaml }}",
        "{{ required \"password is required\" .nothing }}",
        "{{ .secret | filterPEM \"CERTIFICATE\" }}",
        "{{ index .secret 99 }}",
        "{{ .secret.inner }}",
        "{{ .secret | indent \"x\" }}",
        "{{ div 1 (atoi .secret) }}",
        "{{ printf \"%d\" .secret | b64dec }}",
        "{{ template \"x\" . }}",
        "{{ htpasswd \"a:b\" .secret }}",
        "{{ filterPEM .secret .json }}",
        "{{ filterPEM . .json }}",
    ] {
        let e = run(src, &values).expect_err(src);
        assert!(!e.contains(CANARY), "{src} leaked the value: {e}");
        assert!(e.contains("t"), "{e}");
    }
}

#[test]
fn growing_functions_are_bounded_even_in_a_loop() {
    let big = "x".repeat(600 * 1024);
    let amp = "&".repeat(600 * 1024);
    let nl = "\n".repeat(2000);
    let list = vec!["1"; 40].join(",");
    for src in [
        "{{ $x := .big }}{{ range splitList \",\" .l }}{{ $x = printf \"%s%s\" $x $x }}{{ end }}{{ len $x }}",
        "{{ $x := .big }}{{ range splitList \",\" .l }}{{ $x = print $x $x }}{{ end }}{{ len $x }}",
        "{{ $x := .big }}{{ range splitList \",\" .l }}{{ $x = b64enc $x }}{{ end }}{{ len $x }}",
        "{{ $x := .amp }}{{ range splitList \",\" .l }}{{ $x = urlquery $x | html }}{{ end }}{{ len $x }}",
        "{{ $x := .big }}{{ range splitList \",\" .l }}{{ $x = toJson $x }}{{ end }}{{ len $x }}",
        "{{ replace \"x\" .big .big }}",
        "{{ .nl | indent 1024 }}",
        "{{ join .big (splitList \",\" .l) }}",
    ] {
        let e = match run(src, &[("big", &big), ("amp", &amp), ("nl", &nl), ("l", &list)]) {
            Ok(out) => panic!("{src} gave {} bytes", out.len()),
            Err(e) => e,
        };
        assert!(e.contains("larger than 1024 KiB"), "{src}: {e}");
    }
}

#[test]
fn printf_covers_the_verbs_manifests_use() {
    let out = run(
        r#"{{ printf "%s:%s" .u .p }}|{{ printf "%5s|%-5s|" "a" "b" }}{{ printf "%05d %+d %x %X %q %t %.2f %%" 42 7 255 "hi" "q" true 3.14159 }}|{{ printf "%s" }}|{{ printf "%s" "a" "b" }}"#,
        &[("u", "bot"), ("p", "tok")],
    );
    assert_eq!(
        out.as_deref(),
        Ok(r#"bot:tok|    a|b    |00042 +7 ff 6869 "q" true 3.14 %|%!s(MISSING)|a%!(EXTRA string=b)"#)
    );
    assert!(run(r#"{{ printf "%z" 1 }}"#, &[]).is_err_and(|e| e.contains("%z is not supported")));
    assert_eq!(run(r#"{{ printf "%9999999999d" 1 }}"#, &[]).map(|o| o.len()), Ok(1024), "widths are capped");
}

fn raw(pairs: &[(&str, &[u8])]) -> Value {
    let mut d = SecretData::default();
    for (k, v) in pairs {
        d.0.insert((*k).to_owned(), Zeroizing::new(v.to_vec()));
    }
    context(&d)
}

fn fixture(name: &str) -> Vec<u8> {
    let b64 = match name {
        "modern" => include_str!("../testdata/pkcs12/modern.p12.b64"),
        _ => include_str!("../testdata/pkcs12/des.p12.b64"),
    };
    base64::engine::general_purpose::STANDARD.decode(b64.split_whitespace().collect::<String>()).expect("fixture")
}

#[test]
fn bytes_that_are_not_utf8_pass_through_the_engine_unchanged() {
    let samples: [&[u8]; 5] = [
        b"plain",
        &[0xff, 0x00, 0x80, b'a', 0xc3],
        "caf\u{e9} \u{f780}\u{f7ff} \u{f77f}".as_bytes(),
        &[0xe0, 0x80, 0xef, 0x9e, 0x80],
        &(0u8..=255).collect::<Vec<u8>>(),
    ];
    for bytes in samples {
        assert_eq!(bytes_from_text(&text_from_bytes(bytes)), bytes);
        let out = execute_in(&unhurried(), "t", "{{ .v }}|{{ .v | b64enc | b64dec }}", &raw(&[("v", bytes)]), KEY)
            .expect("renders");
        let mut twice = bytes.to_vec();
        twice.push(b'|');
        twice.extend_from_slice(bytes);
        assert_eq!(bytes_from_text(&out), twice);
        let b64 = execute_in(&unhurried(), "t", "{{ .v | b64enc }}", &raw(&[("v", bytes)]), KEY).expect("renders");
        assert_eq!(*b64, base64::engine::general_purpose::STANDARD.encode(bytes));
    }
}

#[test]
fn pkcs12_functions_give_the_key_and_the_ordered_chain_as_pem() {
    let key = include_str!("../testdata/pkcs12/leaf.key");
    let chain = format!("{}{}", include_str!("../testdata/pkcs12/leaf.crt"), include_str!("../testdata/pkcs12/ca.crt"));
    for file in ["modern", "des"] {
        let ctx = raw(&[("p12", &fixture(file))]);
        let got = |src: &str| execute_in(&unhurried(), "t", src, &ctx, KEY).map(|z| z.to_string());
        assert_eq!(got(r#"{{ .p12 | pkcs12keyPass "my-password" }}"#).as_deref(), Ok(key));
        assert_eq!(got(r#"{{ .p12 | pkcs12certPass "my-password" }}"#).as_deref(), Ok(chain.as_str()));
        assert_eq!(got(r#"{{ .p12 | b64enc | b64dec | pkcs12keyPass "my-password" }}"#).as_deref(), Ok(key));
        let e = got("{{ .p12 | pkcs12key }}").expect_err("needs the password");
        assert!(e.contains("pkcs12key") && e.contains("MAC does not match"), "{e}");
    }
    let ctx = raw(&[("crt", chain.as_bytes()), ("key", key.as_bytes())]);
    let pfx = execute_in(&unhurried(), "t", r#"{{ fullPemToPkcs12Pass .crt .key "pw" }}"#, &ctx, KEY).expect("renders");
    let back = execute_in(
        &unhurried(),
        "t",
        r#"{{ .p | b64dec | pkcs12certPass "pw" }}"#,
        &raw(&[("p", pfx.as_bytes())]),
        KEY,
    );
    assert_eq!(back.map(|z| z.to_string()).as_deref(), Ok(chain.as_str()));
    let one = execute_in(&unhurried(), "t", "{{ pemToPkcs12 .crt .key }}", &ctx, KEY).expect("renders");
    let back = execute_in(&unhurried(), "t", "{{ .p | b64dec | pkcs12cert }}", &raw(&[("p", one.as_bytes())]), KEY);
    assert_eq!(back.map(|z| z.to_string()).as_deref(), Ok(include_str!("../testdata/pkcs12/leaf.crt")));
}

#[test]
fn pkcs12_key_derivation_is_bounded_per_execution() {
    // 2048 iterations per derivation: about 160 reads fit in the budget;
    // a loop asking for 1,000 stops with a clear error instead of hashing on.
    let list = vec!["1"; 1000].join(",");
    let ctx = raw(&[("p12", &fixture("modern")), ("l", list.as_bytes())]);
    let e = execute_in(
        &unhurried(),
        "t",
        r#"{{ range splitList "," .l }}{{ $.p12 | pkcs12keyPass "my-password" | len }}{{ end }}"#,
        &ctx,
        KEY,
    )
    .expect_err("over budget");
    assert!(e.contains("more iterations"), "{e}");
}

#[test]
fn pkcs12_errors_hold_no_value() {
    let ctx = raw(&[("p12", &fixture("modern")), ("secret", CANARY.as_bytes())]);
    for src in [
        r#"{{ .p12 | pkcs12keyPass .secret }}"#,
        r#"{{ .secret | pkcs12cert }}"#,
        r#"{{ pemToPkcs12 .secret .secret }}"#,
        r#"{{ fullPemToPkcs12Pass .secret .secret .secret }}"#,
    ] {
        let e = execute_in(&unhurried(), "t", src, &ctx, KEY).expect_err(src);
        assert!(!e.contains(CANARY), "{src} leaked the value: {e}");
    }
}

#[test]
fn a_block_without_end_is_refused_as_go_refuses_it() {
    for (src, at) in [
        ("{{ if .a }}x", "t:1:1:"),
        ("ok\n  {{- range .l }}x{{ if .a }}{{ end }}", "t:2:3:"),
        ("{{ with .a }}{{ end }}{{ define \"x\" }}y", "t:1:23:"),
    ] {
        let e = run(src, &[("a", CANARY), ("l", "")]).expect_err(src);
        assert!(e.contains(at) && e.contains("unexpected EOF"), "{src}: {e}");
        assert!(!e.contains(CANARY));
    }
    // Strings, raw strings and comments that look like actions do not count.
    for src in [
        r#"{{ if eq .a "{{ if" }}y{{ end }}"#,
        "{{ if eq .a `}} {{ range` }}y{{ end }}",
        "{{/* {{ if }} */}}{{ if .a }}y{{ end }}",
        "{{ if .a }}{{ else if .a }}{{ else }}{{ end }}",
    ] {
        assert!(run(src, &[("a", "v")]).is_ok(), "{src}");
    }
}

#[test]
fn required_does_not_show_its_message_which_is_template_output() {
    // `required .v ""` would put the value in the object's status.
    let e = run("{{ required .v \"\" }}", &[("v", CANARY)]).expect_err("the value is empty");
    assert!(e.contains("required") && e.contains("empty"), "{e}");
    assert!(!e.contains(CANARY), "{e}");
}

#[test]
fn engine_errors_are_described_by_kind_never_by_the_engine_text() {
    // The engine's own messages quote values: `len` prints its argument,
    // `slice` its indices, a type error the value.
    for (src, kind) in [
        ("{{ len (fromJson .n) }}", "error calling len: len of type int"),
        // sprig's `slice` replaces Go's, as in ESO, and takes lists only.
        ("{{ slice .v 0 (len (printf \"%s%s\" .v .v)) }}", "error calling slice: cannot use type string as a list"),
        ("{{ range .v }}{{ end }}", "range over a value"),
    ] {
        let e = run(src, &[("n", "9081726354"), ("v", CANARY)]).expect_err(src);
        assert!(e.contains(kind), "{src}: {e}");
        assert!(!e.contains("9081726354") && !e.contains(CANARY), "{src} leaked a value: {e}");
    }
}

#[test]
fn work_on_large_values_stops_at_the_objects_byte_budget() {
    // `range` × `sha256sum` of 960 KiB: minutes of CPU per template without
    // a budget; now refused after 64 MiB processed (a fraction of a second in a release build).
    let big = "x".repeat(960 * 1024);
    let e = run("{{ range 100000 }}{{ $h := sha256sum $.big }}{{ end }}", &[("big", &big)])
        .expect_err("over the byte budget");
    assert!(e.contains("MiB in one reconcile"), "{e}");
}

#[test]
fn lists_stop_at_the_objects_element_budget() {
    // Eight splitList calls on 960 KiB used to take 800 MiB.
    let commas = ",".repeat(960 * 1024);
    let src = "{{ range 8 }}{{ $l := splitList \",\" $.c }}{{ end }}";
    let e = run(src, &[("c", &commas)]).expect_err("over the element budget");
    assert!(e.contains(&MAX_WORK_ELEMENTS.to_string()), "{e}");
    let few = vec!["a"; 1000].join(",");
    let src = "{{ range 50 }}{{ $l := splitList \",\" $.c }}{{ end }}{{ len (splitList \",\" .c) }}";
    assert_eq!(run(src, &[("c", &few)]).as_deref(), Ok("1000"), "ordinary lists fit");
}

#[test]
fn lists_nested_in_a_loop_stop_at_the_depth_bound() {
    let src = "{{ $x := list }}{{ range 100000 }}{{ $x = list $x }}{{ end }}{{ $x }}";
    let e = run(src, &[]).expect_err("too deep");
    assert!(e.contains(&format!("deeper than {MAX_VALUE_DEPTH}")), "{e}");
}

#[test]
fn the_budget_is_shared_by_every_template_of_one_object() {
    let work = unhurried();
    let ctx = context(&data(&[]));
    let half = "{{ htpasswd \"u\" \"p\" }}".repeat(MAX_BCRYPT_CALLS / 2);
    execute_in(&work, "a", &half, &ctx, KEY).expect("the first half fits");
    execute_in(&work, "b", &half, &ctx, KEY).expect("the second half fits");
    let e = execute_in(&work, "c", "{{ htpasswd \"u\" \"p\" }}", &ctx, KEY).expect_err("the budget is spent");
    assert!(e.contains("more than 16"), "{e}");
    // A fresh object starts with a full budget.
    assert!(execute("d", "{{ htpasswd \"u\" \"p\" }}", &ctx, KEY).is_ok());
}

#[test]
fn templates_stop_at_the_objects_deadline() {
    let e = execute_in(&Work::with_time(std::time::Duration::ZERO), "t", "x", &context(&data(&[])), KEY)
        .expect_err("no time left");
    assert!(e.contains("ran longer than"), "{e}");
    // The time is the executions', shared: a loop that outlasts what is
    // left stops at its next function call.
    let work = Work::with_time(std::time::Duration::from_millis(10));
    let src = "{{ range 100000 }}{{ $h := sha256sum \"x\" }}{{ end }}";
    let e = execute_in(&work, "t", src, &context(&data(&[])), KEY).expect_err("out of time");
    assert!(e.contains("ran longer than"), "{e}");
    assert!(execute_in(&work, "u", "x", &context(&data(&[])), KEY).is_err(), "nothing is left for the next one");
}

#[test]
fn a_bcrypt_hash_is_made_once_per_input_and_the_memory_is_bounded() {
    use crate::functions::encoding::{MAX_REMEMBERED_BCRYPT, remembered_bcrypt};
    let done = std::sync::Mutex::default();
    let made = std::sync::atomic::AtomicUsize::new(0);
    let hash = |key: &[u8], user: &str, pass: &str| {
        remembered_bcrypt(&done, key, user, pass, || {
            made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(format!("h{}", made.load(std::sync::atomic::Ordering::Relaxed)))
        })
        .expect("hashed")
    };
    assert_eq!(hash(KEY, "admin", CANARY), "h1");
    assert_eq!(hash(KEY, "admin", CANARY), "h1", "the same input is not hashed again");
    assert_eq!(hash(KEY, "admin", "other"), "h2");
    assert_eq!(hash(KEY, "root", CANARY), "h3");
    assert_eq!(hash(b"another key", "admin", CANARY), "h4");
    assert!(!format!("{:?}", done.lock().expect("lock")).contains(CANARY), "the password is not a key");
    for i in 0..MAX_REMEMBERED_BCRYPT {
        hash(KEY, "u", &i.to_string());
    }
    assert!(done.lock().expect("lock").len() <= MAX_REMEMBERED_BCRYPT);
}
