//! The function map against ESO's: every function ESO's engine v2 offers is
//! provided or refused by name, and a sample of each family gives what
//! sprig gives (values from sprig's own tests and documentation).

use super::render;

/// Every function of ESO v2.9.0's template map (`runtime/template/v2`:
/// its own and the sprig copy it keeps, which has no `env`, `expandenv`
/// or `getHostByName`), by name.
pub const ESO_FUNCTIONS: &[&str] = &[
    "abbrev",
    "abbrevboth",
    "add",
    "add1",
    "add1f",
    "addf",
    "adler32sum",
    "ago",
    "all",
    "any",
    "append",
    "atoi",
    "b32dec",
    "b32enc",
    "b64dec",
    "b64enc",
    "base",
    "bcrypt",
    "biggest",
    "buildCustomCert",
    "camelcase",
    "cat",
    "ceil",
    "certSANs",
    "chunk",
    "clean",
    "coalesce",
    "compact",
    "concat",
    "contains",
    "date",
    "dateInZone",
    "dateModify",
    "date_in_zone",
    "date_modify",
    "decryptAES",
    "deepCopy",
    "deepEqual",
    "default",
    "derivePassword",
    "dict",
    "dig",
    "dir",
    "div",
    "divf",
    "duration",
    "durationRound",
    "empty",
    "encryptAES",
    "ext",
    "fail",
    "filterCertChain",
    "filterPEM",
    "first",
    "float64",
    "floor",
    "fromJson",
    "fromYaml",
    "fullPemToPkcs12",
    "fullPemToPkcs12Pass",
    "genCA",
    "genCAWithKey",
    "genPrivateKey",
    "genSelfSignedCert",
    "genSelfSignedCertWithKey",
    "genSignedCert",
    "genSignedCertWithKey",
    "get",
    "has",
    "hasKey",
    "hasPrefix",
    "hasSuffix",
    "hello",
    "hexdec",
    "htmlDate",
    "htmlDateInZone",
    "htpasswd",
    "indent",
    "initial",
    "initials",
    "int",
    "int64",
    "isAbs",
    "join",
    "jwkPrivateKeyPem",
    "jwkPublicKeyPem",
    "kebabcase",
    "keys",
    "kindIs",
    "kindOf",
    "last",
    "list",
    "lower",
    "max",
    "maxf",
    "merge",
    "mergeOverwrite",
    "min",
    "minf",
    "mod",
    "mul",
    "mulf",
    "mustAppend",
    "mustChunk",
    "mustCompact",
    "mustDateModify",
    "mustDeepCopy",
    "mustFirst",
    "mustFromJson",
    "mustHas",
    "mustInitial",
    "mustLast",
    "mustMerge",
    "mustMergeOverwrite",
    "mustPrepend",
    "mustPush",
    "mustRegexFind",
    "mustRegexFindAll",
    "mustRegexMatch",
    "mustRegexReplaceAll",
    "mustRegexReplaceAllLiteral",
    "mustRegexSplit",
    "mustRest",
    "mustReverse",
    "mustSlice",
    "mustToDate",
    "mustToJson",
    "mustToPrettyJson",
    "mustToRawJson",
    "mustUniq",
    "mustWithout",
    "must_date_modify",
    "nindent",
    "nospace",
    "now",
    "omit",
    "osBase",
    "osClean",
    "osDir",
    "osExt",
    "osIsAbs",
    "pemToPkcs12",
    "pemToPkcs12Pass",
    "pemTruststoreToPKCS12",
    "pemTruststoreToPKCS12Pass",
    "pick",
    "pkcs12cert",
    "pkcs12certPass",
    "pkcs12key",
    "pkcs12keyPass",
    "pluck",
    "plural",
    "prepend",
    "push",
    "quote",
    "randAlpha",
    "randAlphaNum",
    "randAscii",
    "randBytes",
    "randInt",
    "randNumeric",
    "regexFind",
    "regexFindAll",
    "regexMatch",
    "regexQuoteMeta",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "regexSplit",
    "repeat",
    "replace",
    "rest",
    "reverse",
    "round",
    "rsaDecrypt",
    "semver",
    "semverCompare",
    "seq",
    "set",
    "sha1sum",
    "sha256sum",
    "sha512sum",
    "shuffle",
    "slice",
    "snakecase",
    "sortAlpha",
    "split",
    "splitList",
    "splitn",
    "squote",
    "sub",
    "subf",
    "substr",
    "swapcase",
    "ternary",
    "title",
    "toDate",
    "toDecimal",
    "toJson",
    "toPrettyJson",
    "toRawJson",
    "toString",
    "toStrings",
    "toYaml",
    "trim",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "trimall",
    "trunc",
    "tuple",
    "typeIs",
    "typeIsLike",
    "typeOf",
    "uniq",
    "unixEpoch",
    "unset",
    "until",
    "untilStep",
    "untitle",
    "upper",
    "urlJoin",
    "urlParse",
    "uuidv4",
    "values",
    "without",
    "wrap",
    "wrapWith",
];

#[test]
fn every_function_of_esos_map_is_provided_or_refused_by_name() {
    let map = crate::functions::functions();
    let missing: Vec<&&str> = ESO_FUNCTIONS.iter().filter(|f| !map.contains_key(**f)).collect();
    assert!(missing.is_empty(), "not in seal's map: {missing:?}");
    for (name, _) in crate::functions::misc::REFUSED {
        let e = render(&format!("{{{{ {name} }}}}"), &[]).expect_err("refused");
        assert!(e.contains(&format!("error calling {name}: not supported: ")), "{e}");
    }
    // What seal has beyond ESO's map: Go's built-ins it bounds, and `required`.
    let extra: Vec<&str> = map.keys().map(|k| k.as_str()).filter(|k| !ESO_FUNCTIONS.contains(k)).collect();
    assert_eq!(extra, ["html", "index", "js", "len", "print", "printf", "println", "required", "urlquery"]);
}

#[test]
fn a_sample_of_each_family_gives_what_sprig_gives() {
    let cases: &[(&str, &str)] = &[
        // strings
        (r#"{{ trunc 5 "Hello World" }}"#, "Hello"),
        (r#"{{ trunc -5 "Hello World" }}"#, "World"),
        (r#"{{ abbrev 5 "hello world" }}"#, "he..."),
        (r#"{{ abbrevboth 5 10 "1234 5678 9123" }}"#, "...5678..."),
        (r#"{{ substr 0 5 "hello world" }}"#, "hello"),
        (r#"{{ untitle "Hello World" }}"#, "hello World"),
        (r#"{{ swapcase "This Is A.Test" }}"#, "tHIS iS a.tEST"),
        (r#"{{ nospace "hello w o r l d" }}"#, "helloworld"),
        (r#"{{ initials "First Try" }}"#, "FT"),
        (r#"{{ snakecase "FirstName" }}"#, "first_name"),
        (r#"{{ kebabcase "FirstName" }}"#, "first-name"),
        (r#"{{ camelcase "http_server" }}"#, "HttpServer"),
        (r#"{{ wrap 5 "Hello World" }}"#, "Hello\nWorld"),
        (r#"{{ wrapWith 5 "\t" "Hello World" }}"#, "Hello\tWorld"),
        (r#"{{ repeat 3 "hello" }}"#, "hellohellohello"),
        (r#"{{ cat "hello" "beautiful" "world" }}"#, "hello beautiful world"),
        (r#"{{ plural "one anchovy" "many anchovies" 2 }}"#, "many anchovies"),
        (r#"{{ $a := split "$" "foo$bar$baz" }}{{ $a._0 }}{{ $a._2 }}"#, "foobaz"),
        (r#"{{ $a := splitn "$" 2 "foo$bar$baz" }}{{ $a._1 }}"#, "bar$baz"),
        (r#"{{ list 1 2 | toStrings | join "," }}"#, "1,2"),
        // numbers
        (r#"{{ add 1 2 3 }} {{ add1 1 }} {{ sub 3 2 }} {{ mul 2 3 4 }} {{ div 10 3 }} {{ mod 10 3 }}"#, "6 2 1 24 3 1"),
        (r#"{{ max 1 5 3 }} {{ min 4 2 8 }} {{ biggest 1 9 }}"#, "5 2 9"),
        (
            r#"{{ addf 1.5 2 2 }} {{ subf 1.5 2 }} {{ mulf 1.5 2 }} {{ divf 10 4 }} {{ add1f 1.1 }}"#,
            "5.5 -0.5 3 2.5 2.1",
        ),
        (r#"{{ addf 0.1 0.2 }}"#, "0.3"),
        (r#"{{ round 123.555555 3 }} {{ floor 123.9999 }} {{ ceil 123.001 }}"#, "123.556 123 124"),
        (r#"{{ atoi "42" }} {{ int "0x1A" }} {{ int64 "12" }} {{ toDecimal "0777" }}"#, "42 26 12 511"),
        (r#"{{ until 5 | toJson }} {{ untilStep 3 6 2 | toJson }}"#, "[0,1,2,3,4] [3,5]"),
        (r#"{{ seq 5 }}|{{ seq 2 5 }}|{{ seq 0 2 10 }}|{{ seq 5 -1 2 }}"#, "1 2 3 4 5|2 3 4 5|0 2 4 6 8 10|5 4 3 2"),
        // lists
        (
            r#"{{ list 1 2 3 | first }} {{ list 1 2 3 | last }} {{ list 1 2 3 | rest | toJson }} {{ list 1 2 3 | initial | toJson }}"#,
            "1 3 [2,3] [1,2]",
        ),
        (
            r#"{{ append (list 1 2) 3 | toJson }} {{ prepend (list 1 2) 0 | toJson }} {{ concat (list 1) (list 2 3) | toJson }}"#,
            "[1,2,3] [0,1,2] [1,2,3]",
        ),
        (
            r#"{{ list 1 1 2 | uniq | toJson }} {{ without (list 1 2 3) 2 | toJson }} {{ has 4 (list 1 2 3) }}"#,
            "[1,2] [1,3] false",
        ),
        (
            r#"{{ reverse (list 1 2 3) | toJson }} {{ compact (list 1 "" 2) | toJson }} {{ slice (list 1 2 3 4) 1 3 | toJson }}"#,
            "[3,2,1] [1,2] [2,3]",
        ),
        (r#"{{ chunk 2 (list 1 2 3) | toJson }} {{ list "b" "a" | sortAlpha | toJson }}"#, "[[1,2],[3]] [\"a\",\"b\"]"),
        // dictionaries
        (
            r#"{{ $d := dict "a" 1 "b" 2 }}{{ $d = set $d "c" 3 }}{{ $d | toJson }} {{ unset $d "a" | toJson }}"#,
            r#"{"a":1,"b":2,"c":3} {"b":2,"c":3}"#,
        ),
        (
            r#"{{ pick (dict "a" 1 "b" 2) "a" | toJson }} {{ omit (dict "a" 1 "b" 2) "a" | toJson }} {{ values (dict "a" 1) | toJson }}"#,
            r#"{"a":1} {"b":2} [1]"#,
        ),
        (
            r#"{{ pluck "a" (dict "a" 1) (dict "a" 2) | toJson }} {{ dig "x" "y" "d" (dict "x" (dict "y" 7)) }} {{ dig "x" "z" "d" (dict "x" (dict "y" 7)) }}"#,
            "[1,2] 7 d",
        ),
        (
            r#"{{ merge (dict "a" 1 "n" (dict "x" 1)) (dict "a" 2 "b" 3 "n" (dict "y" 2)) | toJson }}"#,
            r#"{"a":1,"b":3,"n":{"x":1,"y":2}}"#,
        ),
        (r#"{{ mergeOverwrite (dict "a" 1) (dict "a" 2 "b" 3) | toJson }}"#, r#"{"a":2,"b":3}"#),
        (r#"{{ all 1 "a" true }} {{ any 0 "" 1 }} {{ deepEqual (list 1) (list 1) }}"#, "true true true"),
        (
            r#"{{ typeOf "a" }} {{ kindOf (list 1) }} {{ kindIs "map" (dict) }} {{ typeIs "bool" true }}"#,
            "string slice true true",
        ),
        // encodings and JSON
        (
            r#"{{ b32enc "hello" }} {{ b32dec "NBSWY3DP" }} {{ sha1sum "hello" }} {{ adler32sum "hello" }}"#,
            "NBSWY3DP hello aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d 103547413",
        ),
        (r#"{{ dict "a" "<b>" | toJson }} {{ dict "a" "<b>" | toRawJson }}"#, r#"{"a":"\u003cb\u003e"} {"a":"<b>"}"#),
        (r#"{{ dict "a" 1 | toPrettyJson }}"#, "{\n  \"a\": 1\n}"),
        // paths
        (
            r#"{{ base "foo/bar.txt" }} {{ dir "foo/bar.txt" }} {{ clean "foo/../bar//baz" }} {{ ext "a.tar.gz" }} {{ isAbs "/x" }}"#,
            "bar.txt foo bar/baz .gz true",
        ),
        // regular expressions
        (
            r#"{{ regexMatch "^[a-z]+$" "abc" }} {{ regexFind "[0-9]+" "ab12cd34" }} {{ regexFindAll "[0-9]" "a1b2c3" 2 | toJson }}"#,
            "true 12 [\"1\",\"2\"]",
        ),
        (
            r#"{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "${1}W" }} {{ regexReplaceAllLiteral "a(x*)b" "-ab-" "${1}" }}"#,
            "-W-xxW- -${1}-",
        ),
        (r#"{{ regexSplit "z+" "pizza" -1 | toJson }} {{ regexQuoteMeta "1.2" }}"#, r#"["pi","a"] 1\.2"#),
        // URLs
        (
            r#"{{ $u := urlParse "https://u:p@host:80/a%20b?x=1#f" }}{{ $u.scheme }} {{ $u.hostname }} {{ $u.path }} {{ $u.query }} {{ $u.userinfo }}"#,
            "https host /a b x=1 u:p",
        ),
        (r#"{{ urlJoin (dict "scheme" "https" "host" "h" "path" "/p" "query" "q=1") }}"#, "https://h/p?q=1"),
        // dates (times are Unix seconds)
        (r#"{{ date "2006-01-02T15:04:05Z07:00 Mon Jan _2 3PM" 0 }}"#, "1970-01-01T00:00:00Z Thu Jan  1 12AM"),
        (
            r#"{{ dateModify "1h30m" 0 | date "15:04" }} {{ duration 3661 }} {{ durationRound "2h10m" }} {{ unixEpoch 42 }}"#,
            "01:30 1h1m1s 2h 42",
        ),
        // crypto
        (r#"{{ derivePassword 1 "long" "password" "user" "example.com" }}"#, "ZedaFaxcZaso9*"),
        (r#"{{ encryptAES "secretkey" "plaintext" | decryptAES "secretkey" }}"#, "plaintext"),
        (r#"{{ bcrypt "x" | len }} {{ hello }}"#, "60 Hello!"),
    ];
    for (src, want) in cases {
        assert_eq!(render(src, &[]).as_deref(), Ok(*want), "{src}");
    }
}

#[test]
fn random_functions_give_values_of_the_asked_shape() {
    let out = render(
        r#"{{ randAlphaNum 8 | len }} {{ randNumeric 4 | regexMatch "^[0-9]{4}$" }} {{ uuidv4 | regexMatch "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$" }} {{ randBytes 3 | b64dec | len }} {{ randInt 5 6 }} {{ shuffle "aa" }}"#,
        &[],
    );
    assert_eq!(out.as_deref(), Ok("8 true true 3 5 aa"));
    assert_ne!(render("{{ uuidv4 }}", &[]), render("{{ uuidv4 }}", &[]), "random on every call, as in ESO");
    let e = render(&format!("{{{{ randAlpha {} }}}}", (1 << 16) + 1), &[]).expect_err("too long");
    assert!(e.contains("the count must be 0 to 65536"), "{e}");
}

#[test]
fn keeping_sets_result_under_another_name_is_refused_as_it_would_differ_from_eso() {
    let e = render(r#"{{ $d := dict "a" 1 }}{{ $_ := set $d "b" 2 }}{{ $d | toJson }}"#, &[]).expect_err("idiom");
    assert!(e.contains("t:1:26: set returns the changed dictionary and leaves $d as it was"), "{e}");
    assert_eq!(
        render(r#"{{ $d := dict "a" 1 }}{{ $d = set $d "b" 2 }}{{ $d | toJson }}"#, &[]).as_deref(),
        Ok(r#"{"a":1,"b":2}"#)
    );
}

#[test]
fn encrypt_aes_is_stable_for_the_same_input_where_sprig_draws_an_iv() {
    let a = render(r#"{{ encryptAES "k" "v" }}"#, &[]);
    assert_eq!(a, render(r#"{{ encryptAES "k" "v" }}"#, &[]));
    assert_ne!(a, render(r#"{{ encryptAES "k" "w" }}"#, &[]));
}

#[test]
fn test_derive_password() {
    // sprig's TestDerivePassword (Masterminds/sprig crypto_test.go), the
    // Master Password algorithm: its vectors, all of them.
    for (counter, kind, want) in [
        (1, "long", "ZedaFaxcZaso9*"),
        (2, "long", "Fovi2@JifpTupx"),
        (1, "maximum", "pf4zS1LjCg&LjhsZ7T2~"),
        (1, "medium", "ZedJuz8$"),
        (1, "basic", "pIS54PLs"),
        (1, "short", "Zed5"),
        (1, "pin", "6685"),
    ] {
        let src = format!(r#"{{{{ derivePassword {counter} "{kind}" "password" "user" "example.com" }}}}"#);
        assert_eq!(render(&src, &[]).as_deref(), Ok(want), "{src}");
    }
    let e = render(&r#"{{ derivePassword 1 "pin" "p" "u" "s" }}"#.repeat(5), &[]).expect_err("bounded");
    assert!(e.contains("derivePassword: called more than 4 times"), "{e}");
}
