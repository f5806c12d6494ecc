//! sops' `stores/ini/store_test.go` (v3.11.0), case names kept, and the
//! writer's layout byte for byte.

use super::{emit, parse};
use crate::sops::{Format, Item, Map, Text, Value};

fn section(items: &[(&str, &str)]) -> Value {
    let mut m = Map::new();
    // An empty key stands for a comment, its text in the value.
    for (k, v) in items {
        if k.is_empty() {
            m.items.push(Item::Comment(Text::new((*v).to_owned())));
        } else {
            m.push(k, Value::str(*v));
        }
    }
    Value::Map(m)
}

fn tree(sections: &[(&str, Value)]) -> Map {
    let mut m = Map::new();
    for (k, v) in sections {
        m.items.push(Item::Pair((*k).to_owned(), v.clone()));
    }
    m
}

fn same(a: &Map, b: &Map) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

#[test]
fn decode_ini() {
    let src = "\n; last modified 1 April 2001 by John Doe\n[owner]\nname=John Doe\norganization=Acme Widgets Inc.\n\n[database]\n; use IP address in case network name resolution is not working\nserver=192.0.2.62     \nport=143\nfile=\"payroll.dat\"\n";
    let expected = tree(&[
        ("DEFAULT", section(&[])),
        (
            "owner",
            section(&[
                ("", "last modified 1 April 2001 by John Doe"),
                ("name", "John Doe"),
                ("organization", "Acme Widgets Inc."),
            ]),
        ),
        (
            "database",
            section(&[
                ("server", "192.0.2.62"),
                ("", "use IP address in case network name resolution is not working"),
                ("port", "143"),
                ("file", "payroll.dat"),
            ]),
        ),
    ]);
    let got = parse(src).expect("parses");
    assert!(same(&got, &expected), "{got:?}");
}

#[test]
fn encode_simple_ini() {
    let t = tree(&[("DEFAULT", section(&[("foo", "bar"), ("baz", "3.0"), ("qux", "false")]))]);
    let out = emit(&t).expect("emits");
    assert_eq!(out, "foo = bar\nbaz = 3.0\nqux = false\n");
    assert!(same(&parse(&out).expect("parses"), &t));
}

#[test]
fn encode_ini_with_escaping() {
    let t =
        tree(&[("DEFAULT", section(&[("foo\\bar", "value"), ("a_key_with\"quotes\"", "4.0"), ("baz\\\\foo", "2.0")]))]);
    let out = emit(&t).expect("emits");
    assert_eq!(out, "foo\\bar              = value\n`a_key_with\"quotes\"` = 4.0\nbaz\\\\foo             = 2.0\n");
    assert!(same(&parse(&out).expect("parses"), &t));
}

#[test]
fn encode_ini_with_duplicate_sections() {
    let s = section(&[("foo", "bar"), ("baz", "3.0"), ("qux", "false")]);
    let t = tree(&[("DEFAULT", section(&[])), ("foo", s.clone()), ("foo", s)]);
    let out = emit(&t).expect("emits");
    assert_eq!(out, "[foo]\nfoo = bar\nbaz = 3.0\nqux = false\n\n[foo]\nfoo = bar\nbaz = 3.0\nqux = false\n");
    assert!(same(&parse(&out).expect("parses"), &t));
}

#[test]
fn unmarshal_metadata_from_non_sops_file() {
    let Err(err) = crate::sops::parse_encrypted(b"hello=2", Format::Ini) else { panic!("no metadata accepted") };
    assert!(matches!(err, crate::sops::Error::Metadata(_)), "{err:?}");
}

#[test]
fn values_are_quoted_as_go_ini_quotes_them() {
    let t = tree(&[
        ("DEFAULT", section(&[])),
        (
            "s",
            section(&[
                ("multi", "a\nb"),
                ("tick", "a`b"),
                ("hash", "a#b"),
                ("semi", "a;b"),
                ("space", " a "),
                ("", "a comment"),
                ("k:v", "x"),
            ]),
        ),
    ]);
    let out = emit(&t).expect("emits");
    assert_eq!(
        out,
        "[s]\nmulti = \"\"\"a\nb\"\"\"\ntick  = \"\"\"a`b\"\"\"\nhash  = `a#b`\nsemi  = `a;b`\n; a comment\nspace = \" a \"\n`k:v` = x\n"
    );
    assert!(same(&parse(&out).expect("parses"), &t));
}

#[test]
fn inline_comments_continuations_and_repeated_keys_read_as_go_ini_reads_them() {
    let got = parse("a = x # c\nb = one \\\n  two\na = y\n- = first\n").expect("parses");
    let expected = tree(&[("DEFAULT", section(&[("a", "y"), ("b", "one two"), ("#1", "first")]))]);
    assert!(same(&got, &expected), "{got:?}");
}

#[test]
fn malformed_lines_are_refused_naming_the_line() {
    for (src, reason) in [
        ("[open\n", "line 1: unclosed section"),
        ("[]\n", "line 1: empty section name"),
        ("a\n", "line 1: key-value delimiter not found"),
        ("x = 1\n=v\n", "line 2: empty key name"),
        ("a = \"\"\"never closed\n", "line 1: missing closing key quote"),
    ] {
        let Err(err) = parse(src) else { panic!("{src:?} accepted") };
        let err = err.to_string();
        assert!(err.contains(reason), "{src:?}: {err}");
    }
}
