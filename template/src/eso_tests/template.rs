//! `template_test.go`: `TestExecute` (the engine's part of every case: the
//! templates of `data`, labels, annotations and `stringData` rendered over
//! the case's values) and `TestFuncMapDoesNotExposeGetHostByName`.

use base64::Engine;

use super::Want::{self, Differs, Err, Out};
use super::vectors::*;
use super::{check, render};

/// One case of `TestExecute`: its templates with what each must give, and
/// its values.
struct Case {
    name: &'static str,
    templates: Vec<(&'static str, Want)>,
    data: Vec<(&'static str, Vec<u8>)>,
}

fn case(name: &'static str, templates: Vec<(&'static str, Want)>, data: &[(&'static str, &str)]) -> Case {
    Case { name, templates, data: data.iter().map(|(k, v)| (*k, v.as_bytes().to_vec())).collect() }
}

fn b64(x: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(x).expect("base64")
}

const MULTILINE: &str = "\n\t\tdatasources:\n\t\t- name: Graphite\n\t\t\ttype: graphite\n\t\t\taccess: proxy\n\t\t\turl: http://localhost:8080\n\t\t\tpassword: \"{{ .password }}\"\n\t\t\tuser: \"{{ .user }}\"";
const MULTILINE_OUT: &str = "\n\t\tdatasources:\n\t\t- name: Graphite\n\t\t\ttype: graphite\n\t\t\taccess: proxy\n\t\t\turl: http://localhost:8080\n\t\t\tpassword: \"harharhar\"\n\t\t\tuser: \"foobert\"";

fn cases() -> Vec<Case> {
    let filter_input = format!("{JWK_PRIV_RSA_PKCS8}{PKCS12_CERT}");
    let sans_input = format!("{PKCS12_KEY}{PKCS12_CERT}");
    vec![
        case("test empty", vec![], &[]),
        case("b64dec func", vec![("{{ .secret | b64dec }}", Out("1234"))], &[("secret", "MTIzNA==")]),
        case(
            "fromJson func",
            vec![("{{ $var := .secret | fromJson }}{{ $var.foo }}", Out("bar"))],
            &[("secret", r#"{"foo": "bar"}"#)],
        ),
        case(
            "from & toJson func",
            vec![("{{ $var := .secret | fromJson }}{{ $var.foo | toJson }}", Out(r#"{"baz":"bang"}"#))],
            &[("secret", r#"{"foo": {"baz":"bang"}}"#)],
        ),
        case(
            "fromJson & toYaml func",
            vec![("{{ $var := .secret | fromJson | toYaml }}{{ $var }}", Out("foo: bar"))],
            &[("secret", r#"{"foo": "bar"}"#)],
        ),
        case(
            "fromYaml & toJson func",
            vec![("{{ $var := .secret | fromYaml | toJson }}{{ $var }}", Out(r#"{"foo":"bar"}"#))],
            &[("secret", "foo: bar")],
        ),
        case("use sprig functions", vec![("{{ .path | ext }}", Out(".exe"))], &[("path", "foo/bar/baz.exe")]),
        case(
            "use replace function",
            vec![(
                r#"{{ .conn | replace "postgres://" "db+postgresql://"}}"#,
                Out("db+postgresql://user:pass@db.host:5432/dbname"),
            )],
            &[("conn", "postgres://user:pass@db.host:5432/dbname")],
        ),
        case("use upper function", vec![("{{ .value | upper }}", Out("USERNAME"))], &[("value", "username")]),
        case(
            "multiline template",
            vec![(MULTILINE, Out(MULTILINE_OUT))],
            &[("user", "foobert"), ("password", "harharhar")],
        ),
        case("base64 pipeline", vec![(r#"{{ "123412341234" | b64enc | b64dec }}"#, Out("123412341234"))], &[]),
        case(
            "base64 pkcs12 extract",
            vec![
                ("{{ .secret | b64dec | pkcs12key }}", Out(PKCS12_KEY)),
                ("{{ .secret | b64dec | pkcs12cert }}", Out(PKCS12_CERT)),
            ],
            &[("secret", PKCS12_CONTENT_NO_PASS)],
        ),
        case(
            "base64 pkcs12 extract with password",
            vec![
                (r#"{{ .secret | b64dec | pkcs12keyPass "123456" }}"#, Out(PKCS12_KEY)),
                (r#"{{ .secret | b64dec | pkcs12certPass "123456" }}"#, Out(PKCS12_CERT)),
            ],
            &[("secret", PKCS12_CONTENT_WITH_PASS)],
        ),
        case(
            "base64 decode error",
            vec![(
                "{{ .example | b64dec }}",
                Differs {
                    why: "ESO's b64dec writes its error text into the Secret as the value; seal refuses the template",
                    err: "b64dec: the value is not base64",
                },
            )],
            &[("example", "iam_no_base64")],
        ),
        case(
            "hexdec",
            vec![("{{ .example | sha256sum | hexdec | b64enc }}", Out("UNhY4JhezH9gQYqvDMWrWH9CwlcKiECVqejMrND2VFw="))],
            &[("example", "example")],
        ),
        case(
            "pkcs12 key wrong password",
            vec![(r#"{{ .secret | b64dec | pkcs12keyPass "wrong" }}"#, Err("unable to decode the PKCS#12 file"))],
            &[("secret", PKCS12_CONTENT_WITH_PASS)],
        ),
        case(
            "pkcs12 cert wrong password",
            vec![(r#"{{ .secret | b64dec | pkcs12certPass "wrong" }}"#, Err("unable to decode the PKCS#12 file"))],
            &[("secret", PKCS12_CONTENT_WITH_PASS)],
        ),
        case(
            "fromJson error",
            vec![(
                r#"{{ "{ # no json # }" | fromJson }}"#,
                Differs {
                    why: "ESO's fromJson ignores the error and renders an empty value; seal refuses the template",
                    err: "fromJson: the value is not JSON",
                },
            )],
            &[],
        ),
        case("template syntax error", vec![("{{ #xx }}", Err("template: t:1:"))], &[]),
        case("unknown key error", vec![("{{ .unknown }}", Err("map has no entry for key \"unknown\""))], &[]),
        case(
            "jwk rsa pub pem",
            vec![("{{ .secret | jwkPublicKeyPem }}", Out(JWK_PUB_RSA_PKIX))],
            &[("secret", JWK_PUB_RSA)],
        ),
        case(
            "jwk rsa priv pem",
            vec![("{{ .secret | jwkPrivateKeyPem }}", Out(JWK_PRIV_RSA_PKCS8))],
            &[("secret", JWK_PRIV_RSA)],
        ),
        case(
            "jwk ecdsa pub pem",
            vec![("{{ .secret | jwkPublicKeyPem }}", Out(JWK_PUB_EC_PKIX))],
            &[("secret", JWK_PUB_EC)],
        ),
        case(
            "jwk ecdsa priv pem",
            vec![("{{ .secret | jwkPrivateKeyPem }}", Out(JWK_PRIV_EC_PKCS8))],
            &[("secret", JWK_PRIV_EC)],
        ),
        Case {
            name: "filter pem certificate",
            templates: vec![(r#"{{ .secret | filterPEM "CERTIFICATE" }}"#, Out(PKCS12_CERT))],
            data: vec![("secret", filter_input.into_bytes())],
        },
        case(
            "labels",
            vec![("{{ .secret | b64dec }}", Out("1234")), ("{{ .env | b64dec }}", Out("dev"))],
            &[("secret", "MTIzNA=="), ("env", "ZGV2")],
        ),
        case(
            "annotations",
            vec![("{{ .secret | b64dec }}", Out("1234")), ("{{ .env | b64dec }}", Out("dev"))],
            &[("secret", "MTIzNA=="), ("env", "ZGV2")],
        ),
        case("stringData", vec![("{{ .secret | b64dec }}", Out("1234"))], &[("secret", "MTIzNA=="), ("env", "ZGV2")]),
        case(
            "NonStandardDelimiters",
            vec![(
                "<< .secret | b64dec >>",
                Differs {
                    why: "ESO's delimiters are a controller flag (--template-left-delimiter); seal's templates always use {{ }}, so this text is not a template",
                    err: "",
                },
            )],
            &[("secret", "MTIzNA=="), ("env", "ZGV2")],
        ),
        case(
            "rsa decrypt rsa-oaep sha1 pkcs8 data base64",
            vec![(
                r#"{{ .private_key | rsaDecrypt "RSA-OAEP" "SHA1" (.data_crypted_base64 | b64dec) }}"#,
                Out("a1b2c3d4"),
            )],
            &[("private_key", RSA_DECRYPT_PK_RSA_PKCS8), ("data_crypted_base64", RSA_DECRYPT_DATA_PKCS8_BASE64)],
        ),
        case(
            "rsa decrypt rsa-oaep sha256 pkcs1 data base64",
            vec![(
                r#"{{ .private_key | rsaDecrypt "RSA-OAEP" "SHA256" (.data_crypted_base64 | b64dec) }}"#,
                Out("hellopkcs1sha256"),
            )],
            &[("private_key", RSA_DECRYPT_PK_RSA_PKCS1), ("data_crypted_base64", RSA_DECRYPT_DATA_PKCS1_BASE64)],
        ),
        Case {
            name: "rsa decrypt rsa-oaep sha256 pkcs1 data bin",
            templates: vec![(
                r#"{{ .private_key | rsaDecrypt "RSA-OAEP" "SHA256" .data_crypted_bin }}"#,
                Out("hellopkcs1sha256"),
            )],
            data: vec![
                ("private_key", RSA_DECRYPT_PK_RSA_PKCS1.as_bytes().to_vec()),
                ("data_crypted_bin", b64(RSA_DECRYPT_DATA_PKCS1_BIN_BASE64)),
            ],
        },
        case(
            "certSANs extract DNS SANs as comma-separated string",
            vec![(r#"{{ .certificate | certSANs | join "," }}"#, Out("gooble.com"))],
            &[("certificate", PKCS12_CERT)],
        ),
        case(
            "certSANs extract first SAN with index",
            vec![("{{ index (.certificate | certSANs) 0 }}", Out("gooble.com"))],
            &[("certificate", PKCS12_CERT)],
        ),
        case(
            "certSANs with toJson",
            vec![("{{ .certificate | certSANs | toJson }}", Out(r#"["gooble.com"]"#))],
            &[("certificate", PKCS12_CERT)],
        ),
        Case {
            name: "certSANs combined with filterPEM pipeline",
            templates: vec![(r#"{{ .secret | filterPEM "CERTIFICATE" | certSANs | join "," }}"#, Out("gooble.com"))],
            data: vec![("secret", sans_input.into_bytes())],
        },
        case(
            "certSANs with invalid PEM",
            vec![("{{ .certificate | certSANs }}", Err("failed to decode PEM block"))],
            &[("certificate", "not-a-pem")],
        ),
        case(
            "htpasswd with sha1",
            vec![(r#"{{ htpasswd .username .password "sha" }}"#, Out("foo1:{SHA}wtdJD6OIjUniEJkTlewnKzfFxA4="))],
            &[("username", "foo1"), ("password", "FZ4jR;l]ON;pHKi=_'zh79P")],
        ),
    ]
}

#[test]
fn test_execute() {
    let cases = cases();
    assert_eq!(cases.len(), 38, "TestExecute has 38 cases");
    for c in &cases {
        let data: Vec<(&str, &[u8])> = c.data.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        for (src, want) in &c.templates {
            if let Differs { err: "", .. } = want {
                // Not a template for seal: rendered as the text it is.
                assert_eq!(render(src, &data).as_deref(), Ok(*src), "case {:?}", c.name);
                continue;
            }
            check(c.name, render(src, &data), want);
        }
    }
}

#[test]
fn test_func_map_does_not_expose_get_host_by_name() {
    // ESO removes getHostByName, env and expandenv from sprig's map.
    for f in ["getHostByName", "env", "expandenv"] {
        let e = render(&format!("{{{{ {f} \"x\" }}}}"), &[]).expect_err("not a function");
        assert!(e.contains(&format!("function {f:?} not defined")), "{e}");
    }
}
