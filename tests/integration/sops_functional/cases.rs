//! The cases of sops' `functional-tests/src/lib.rs`, in its order and with
//! its names; each comment-free body mirrors sops' commands and assertions.

use libtest_mimic::Failed;
use serde_yaml::Value;

use super::{Suite, assert_encrypted, assert_foo_bar_encrypted, ensure, fails, json, read, stdout, success, yaml};

type Case = fn(&Suite) -> Result<(), Failed>;

pub const CASES: &[(&str, Case)] = &[
    ("encrypt_json_file", encrypt_json_file),
    ("encrypt_from_stdin", encrypt_from_stdin),
    ("test_ini_values_as_strings", test_ini_values_as_strings),
    ("encrypt_yaml_file", encrypt_yaml_file),
    ("set_json_file_update", set_json_file_update),
    ("set_json_file_update_idempotent_write", set_json_file_update_idempotent_write),
    ("set_json_file_update_idempotent_nowrite", set_json_file_update_idempotent_nowrite),
    ("set_json_file_insert", set_json_file_insert),
    ("set_json_file_insert_with_value_file", set_json_file_insert_with_value_file),
    ("set_json_file_insert_with_value_stdin", set_json_file_insert_with_value_stdin),
    ("set_yaml_file_update", set_yaml_file_update),
    ("set_yaml_file_insert", set_yaml_file_insert),
    ("set_yaml_file_string", set_yaml_file_string),
    ("set_yaml_file_string_compat", set_yaml_file_string_compat),
    ("test_yaml_time", test_yaml_time),
    ("unset_json_file", unset_json_file),
    ("unset_yaml_file", unset_yaml_file),
    ("decrypt_file_no_mac", decrypt_file_no_mac),
    ("decrypt_from_stdin", decrypt_from_stdin),
    ("encrypt_comments", encrypt_comments),
    ("encrypt_comments_list", encrypt_comments_list),
    ("decrypt_comments", decrypt_comments),
    ("decrypt_comments_unencrypted_comments", decrypt_comments_unencrypted_comments),
    ("roundtrip_shamir", roundtrip_shamir),
    ("roundtrip_shamir_missing_decryption_key", roundtrip_shamir_missing_decryption_key),
    ("test_decrypt_file_multiple_keys", test_decrypt_file_multiple_keys),
    ("test_no_keygroups", test_no_keygroups),
    ("test_zero_keygroups", test_zero_keygroups),
    ("test_empty_keygroup", test_empty_keygroup),
    ("extract_string", extract_string),
    ("roundtrip_binary", roundtrip_binary),
    ("output_flag", output_flag),
    ("exec_env", exec_env),
    ("exec_file", exec_file),
    ("exec_file_filename", exec_file_filename),
    ("decrypt_format", decrypt_format),
];

fn encrypt_json_file(s: &Suite) -> Result<(), Failed> {
    let file_path = s.prepare_temp_file("test_encrypt.json", b"{\n    \"foo\": 2,\n    \"bar\": \"baz\"\n}")?;
    let output = s.ok(["encrypt", &file_path])?;
    assert_foo_bar_encrypted(&json(&stdout(&output))?)
}

fn encrypt_from_stdin(s: &Suite) -> Result<(), Failed> {
    let output = s
        .cmd(["encrypt", "--filename-override", "test_encrypt.yaml", "--output-type", "json"])?
        .stdin(&b"foo: 2\nbar: baz\n"[..])
        .output()?;
    success(&output, "sops didn't exit successfully")?;
    assert_foo_bar_encrypted(&json(&stdout(&output))?)
}

fn test_ini_values_as_strings(s: &Suite) -> Result<(), Failed> {
    let file_path = s.prepare_temp_file(
        "test_ini_values_as_strings.yaml",
        b"the_section:
  int: 123
  float: 1.23
  bool: true
  date: 2025-01-02
  timestamp: 2025-01-02 03:04:05
  utc_timestamp: 2025-01-02T03:04:05Z
  string: this is a string",
    )?;
    s.ok(["encrypt", "-i", &file_path])?;
    let output = s.ok(["decrypt", "--output-type", "ini", &file_path])?;
    let data = stdout(&output);
    ensure(
        data == "[the_section]
int           = 123
float         = 1.23
bool          = true
date          = 2025-01-02T00:00:00Z
timestamp     = 2025-01-02T03:04:05Z
utc_timestamp = 2025-01-02T03:04:05Z
string        = this is a string
",
        format!("unexpected INI:\n{data}"),
    )
}

fn encrypt_yaml_file(s: &Suite) -> Result<(), Failed> {
    let file_path = s.prepare_temp_file("test_encrypt.yaml", b"foo: 2\nbar: baz")?;
    let output = s.ok(["encrypt", &file_path])?;
    assert_foo_bar_encrypted(&yaml(&stdout(&output))?)
}

/// Encrypts `contents` in place as `name`; the path.
fn encrypted_in_place(s: &Suite, name: &str, contents: &str) -> Result<String, Failed> {
    let file_path = s.prepare_temp_file(name, contents.as_bytes())?;
    s.ok(["encrypt", "-i", &file_path])?;
    Ok(file_path)
}

/// The file parsed (JSON or YAML), its `key` a mapping whose `inner` is encrypted.
fn assert_nested_encrypted(data: Value, key: &str, inner: &str) -> Result<(), Failed> {
    match data.get(key) {
        Some(m @ Value::Mapping(_)) => assert_encrypted(m, inner),
        _ => Err("Output does not have the expected structure".into()),
    }
}

fn set_json_file_update(s: &Suite) -> Result<(), Failed> {
    let file_path = encrypted_in_place(s, "test_set_update.json", r#"{"a": 2, "b": "ba"}"#)?;
    s.ok(["set", &file_path, r#"["a"]"#, r#"{"aa": "aaa"}"#])?;
    assert_nested_encrypted(json(&read(&file_path)?)?, "a", "aa")
}

fn set_json_file_update_idempotent_write(s: &Suite) -> Result<(), Failed> {
    let file_path = encrypted_in_place(s, "test_set_update_idempotent_write.json", r#"{"a": 2, "b": "ba"}"#)?;
    let before = read(&file_path)?;
    s.ok(["set", "--output-type", "yaml", &file_path, r#"["b"]"#, r#""ba""#])?;
    let after = read(&file_path)?;
    ensure(before != after, "the file was not rewritten")?;
    ensure(after.starts_with("a: "), format!("not written as YAML:\n{after}"))?;
    let output = s.run(["decrypt", "--input-type", "yaml", "--output-type", "yaml", &file_path])?;
    let data = stdout(&output);
    ensure(data == "a: 2\nb: ba\n", format!("unexpected decryption: {data:?}"))
}

fn set_json_file_update_idempotent_nowrite(s: &Suite) -> Result<(), Failed> {
    let file_path = encrypted_in_place(s, "test_set_update_idempotent_nowrite.json", r#"{"a": 2, "b": "ba"}"#)?;
    let before = read(&file_path)?;
    s.ok(["set", "--output-type", "yaml", "--idempotent", &file_path, r#"["b"]"#, r#""ba""#])?;
    let after = read(&file_path)?;
    ensure(before == after, format!("before: {before}\nafter: {after}"))
}

fn set_json_file_insert(s: &Suite) -> Result<(), Failed> {
    let file_path = encrypted_in_place(s, "test_set_insert.json", r#"{"a": 2, "b": "ba"}"#)?;
    s.ok(["set", &file_path, r#"["c"]"#, r#"{"cc": "ccc"}"#])?;
    assert_nested_encrypted(json(&read(&file_path)?)?, "c", "cc")
}

fn set_json_file_insert_with_value_file(s: &Suite) -> Result<(), Failed> {
    let file_path = s.prepare_temp_file("test_set_json_file_insert_with_value_file.json", br#"{"a": 2, "b": "ba"}"#)?;
    let value_file = s.prepare_temp_file("insert_value_file.json", br#"{"cc": "ccc"}"#)?;
    s.ok(["encrypt", "-i", &file_path])?;
    s.ok(["set", "--value-file", &file_path, r#"["c"]"#, &value_file])?;
    assert_nested_encrypted(json(&read(&file_path)?)?, "c", "cc")
}

fn set_json_file_insert_with_value_stdin(s: &Suite) -> Result<(), Failed> {
    let file_path = encrypted_in_place(s, "test_set_json_file_insert_with_value_stdin.json", r#"{"a": 2, "b": "ba"}"#)?;
    let output = s.cmd(["set", "--value-stdin", &file_path, r#"["c"]"#])?.stdin(&b"{\"cc\": \"ccc\"}"[..]).output()?;
    success(&output, "sops didn't exit successfully")?;
    assert_nested_encrypted(json(&read(&file_path)?)?, "c", "cc")
}

fn set_yaml_file_update(s: &Suite) -> Result<(), Failed> {
    let file_path = encrypted_in_place(s, "test_set_update.yaml", "a: 2\nb: ba")?;
    s.ok(["set", &file_path, r#"["a"]"#, r#"{"aa": "aaa"}"#])?;
    assert_nested_encrypted(yaml(&read(&file_path)?)?, "a", "aa")
}

fn set_yaml_file_insert(s: &Suite) -> Result<(), Failed> {
    let file_path = encrypted_in_place(s, "test_set_insert.yaml", "a: 2\nb: ba")?;
    s.ok(["set", &file_path, r#"["c"]"#, r#"{"cc": "ccc"}"#])?;
    assert_nested_encrypted(yaml(&read(&file_path)?)?, "c", "cc")
}

fn assert_a_is_aaa(file_path: &str) -> Result<(), Failed> {
    let data = yaml(&read(file_path)?)?;
    ensure(data.get("a") == Some(&Value::String("aaa".to_owned())), format!("a is not \"aaa\": {data:?}"))
}

fn set_yaml_file_string(s: &Suite) -> Result<(), Failed> {
    let file_path = encrypted_in_place(s, "test_set_string.yaml", "a: 2\nb: ba")?;
    s.ok(["set", &file_path, r#"["a"]"#, r#""aaa""#])?;
    s.ok(["decrypt", "-i", &file_path])?;
    assert_a_is_aaa(&file_path)
}

fn set_yaml_file_string_compat(s: &Suite) -> Result<(), Failed> {
    let file_path = s.prepare_temp_file("test_set_string_compat.yaml", b"a: 2\nb: ba")?;
    s.ok(["-e", "-i", &file_path])?;
    s.ok(["--set", r#"["a"] "aaa""#, "-i", &file_path])?;
    s.ok(["-d", "-i", &file_path])?;
    assert_a_is_aaa(&file_path)
}

fn test_yaml_time(s: &Suite) -> Result<(), Failed> {
    let file_path = encrypted_in_place(s, "test_time.yaml", "a: 2024-01-01\nb: 2006-01-02T15:04:05+07:06")?;
    s.ok(["decrypt", "-i", &file_path])?;
    let text = read(&file_path)?;
    ensure(text == "a: 2024-01-01T00:00:00Z\nb: 2006-01-02T15:04:05+07:06\n", format!("unexpected: {text:?}"))
}

/// sops' `unset_json_file` and `unset_yaml_file`: the same steps, the
/// file parsed as its extension says.
fn unset_steps(s: &Suite, name: &str, first_item: &str) -> Result<(), Failed> {
    let parse = |t: &str| if name.ends_with(".json") { json(t) } else { yaml(t) };
    let file_path = encrypted_in_place(s, name, r#"{"a": 2, "b": "ba", "c": [1,2]}"#)?;
    // Removal of a tree branch.
    s.ok(["unset", &file_path, r#"["a"]"#])?;
    let content = read(&file_path)?;
    let data = parse(&content)?;
    ensure(data.get("a").is_none() && data.get("b").is_some(), format!("a not removed, or b gone:\n{content}"))?;
    // Idempotent unset.
    s.ok(["unset", "--idempotent", &file_path, r#"["a"]"#])?;
    ensure(read(&file_path)? == content, "idempotent unset of a missing key changed the file")?;
    // Removal of a list item.
    s.ok(["unset", &file_path, first_item])?;
    let content = read(&file_path)?;
    let len = parse(&content)?.get("c").and_then(Value::as_sequence).map(Vec::len);
    ensure(len == Some(1), format!("c should have one item left:\n{content}"))?;
    // Idempotent unset of a list item.
    s.ok(["unset", "--idempotent", &file_path, r#"["c"][1]"#])?;
    ensure(read(&file_path)? == content, "idempotent unset of a missing item changed the file")
}

fn unset_json_file(s: &Suite) -> Result<(), Failed> {
    unset_steps(s, "test_unset.json", r#"["c"][1]"#)
}

fn unset_yaml_file(s: &Suite) -> Result<(), Failed> {
    unset_steps(s, "test_unset.yaml", r#"["c"][0]"#)
}

fn decrypt_file_no_mac(s: &Suite) -> Result<(), Failed> {
    let file_path = s.prepare_temp_file("test_decrypt_no_mac.yaml", read(s.path("res/no_mac.yaml"))?.as_bytes())?;
    fails(&s.run(["decrypt", &file_path])?, "SOPS allowed decrypting a file with no MAC without --ignore-mac")?;
    let output = s.run(["decrypt", "--ignore-mac", &file_path])?;
    success(&output, "SOPS failed to decrypt a file with no MAC with --ignore-mac passed in")
}

fn decrypt_from_stdin(s: &Suite) -> Result<(), Failed> {
    let input = std::fs::read(s.path("res/comments.enc.yaml"))?;
    let output = s.cmd(["decrypt", "--input-type", "yaml", "--output-type", "yaml"])?.stdin(input).output()?;
    success(&output, "sops didn't exit successfully")?;
    let data = yaml(&stdout(&output))?;
    ensure(data.get("sops").is_none(), "sops metadata branch found")?;
    ensure(data.get("lorem") == Some(&Value::String("ipsum".into())), "lorem is not ipsum")?;
    ensure(data.get("dolor") == Some(&Value::String("sit".into())), "dolor is not sit")
}

fn encrypt_comments(s: &Suite) -> Result<(), Failed> {
    let output = s.run(["encrypt", "res/comments.yaml"])?;
    success(&output, "SOPS didn't return successfully")?;
    ensure(!stdout(&output).contains("first comment in file"), "Comment was not encrypted")?;
    ensure(!stdout(&output).contains("this-is-a-comment"), "Comment was not encrypted")
}

fn encrypt_comments_list(s: &Suite) -> Result<(), Failed> {
    let output = s.run(["encrypt", "res/comments_list.yaml"])?;
    success(&output, "SOPS didn't return successfully")?;
    ensure(!stdout(&output).contains("this-is-a-comment"), "Comment was not encrypted")
}

fn decrypts_comments(s: &Suite, file: &str) -> Result<(), Failed> {
    let output = s.run(["decrypt", file])?;
    success(&output, "SOPS didn't return successfully")?;
    ensure(stdout(&output).contains("first comment in file"), "Comment was not decrypted")?;
    ensure(stdout(&output).contains("this-is-a-comment"), "Comment was not decrypted")
}

fn decrypt_comments(s: &Suite) -> Result<(), Failed> {
    decrypts_comments(s, "res/comments.enc.yaml")
}

fn decrypt_comments_unencrypted_comments(s: &Suite) -> Result<(), Failed> {
    decrypts_comments(s, "res/comments_unencrypted_comments.yaml")
}

fn roundtrip_shamir(s: &Suite) -> Result<(), Failed> {
    // .sops.yaml: two key groups, one age key each (PGP keys in sops' suite).
    let file_path = s.prepare_temp_file("test_roundtrip_keygroups.yaml", b"a: secret")?;
    success(&s.run(["encrypt", "-i", &file_path])?, "SOPS failed to encrypt a file with Shamir Secret Sharing")?;
    let output = s.run(["decrypt", &file_path])?;
    success(&output, "SOPS failed to decrypt a file with Shamir Secret Sharing")?;
    ensure(stdout(&output).contains("secret"), "the value is not in the output")
}

fn roundtrip_shamir_missing_decryption_key(s: &Suite) -> Result<(), Failed> {
    // Two key groups, and the suite does not hold the second group's key.
    let file_path = s.prepare_temp_file("test_roundtrip_keygroups_missing_decryption_key.yaml", b"a: secret")?;
    success(&s.run(["encrypt", "-i", &file_path])?, "SOPS failed to encrypt a file with Shamir Secret Sharing")?;
    fails(&s.run(["decrypt", &file_path])?, "SOPS succeeded decrypting a file with a missing decryption key")
}

fn test_decrypt_file_multiple_keys(s: &Suite) -> Result<(), Failed> {
    let file_path = s.prepare_temp_file(
        "test_decrypt_file_multiple_keys.yaml",
        read(s.path("res/multiple_keys.yaml"))?.as_bytes(),
    )?;
    success(&s.run(["decrypt", &file_path])?, "SOPS failed to decrypt a file that uses multiple keys")
}

/// sops' three key-group refusals: exit non-zero, exactly its message.
fn refuses_without_keys(s: &Suite, name: &str) -> Result<(), Failed> {
    let file_path = s.prepare_temp_file(name, b"a: secret")?;
    let output = s.run(["encrypt", "-i", &file_path])?;
    fails(&output, "SOPS succeeded encrypting a file without a key group")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure(stderr == "Could not generate data key: [empty key group provided]\n", format!("stderr: {stderr:?}"))
}

fn test_no_keygroups(s: &Suite) -> Result<(), Failed> {
    refuses_without_keys(s, "test_no_keygroups.yaml")
}

fn test_zero_keygroups(s: &Suite) -> Result<(), Failed> {
    refuses_without_keys(s, "test_zero_keygroups.yaml")
}

fn test_empty_keygroup(s: &Suite) -> Result<(), Failed> {
    refuses_without_keys(s, "test_empty_keygroup.yaml")
}

fn extract_string(s: &Suite) -> Result<(), Failed> {
    let file_path = s.prepare_temp_file("test_extract_string.yaml", b"multiline: |\n  multi\n  line")?;
    success(&s.run(["encrypt", "-i", &file_path])?, "SOPS failed to encrypt a file")?;
    let output = s.run(["decrypt", "--extract", "[\"multiline\"]", &file_path])?;
    success(&output, "SOPS failed to extract")?;
    ensure(output.stdout == b"multi\nline", format!("extracted {:?}", stdout(&output)))
}

fn roundtrip_binary(s: &Suite) -> Result<(), Failed> {
    let data = b"\"\"{}this_is_binary_data";
    let file_path = s.prepare_temp_file("test.binary", data)?;
    success(&s.run(["encrypt", "-i", &file_path])?, "SOPS failed to encrypt a binary file")?;
    let output = s.run(["decrypt", &file_path])?;
    success(&output, "SOPS failed to decrypt a binary file")?;
    ensure(output.stdout == data, format!("decrypted {:?}", stdout(&output)))
}

fn output_flag(s: &Suite) -> Result<(), Failed> {
    let input_path = s.prepare_temp_file("test_output_flag.binary", b"foo")?;
    let output_path = s.path("output_flag.txt");
    let output = s.run(["encrypt".as_ref(), "--output".as_ref(), output_path.as_os_str(), input_path.as_ref()])?;
    success(&output, "SOPS failed to encrypt a binary file")?;
    ensure(output.stdout.is_empty(), "stdout is not empty")?;
    let contents = std::fs::read_to_string(&output_path).map_err(|e| format!("output file not found: {e}"))?;
    ensure(!contents.is_empty(), "Output file is empty")
}

const EXEC_FILE: &str = "foo: bar\nbar: |-\n  baz\n  bam\n";

fn exec_env(s: &Suite) -> Result<(), Failed> {
    let file_path = encrypted_in_place(s, "test_exec_env.yaml", EXEC_FILE)?;
    let print_foo = s.prepare_temp_file("print_foo.sh", b"#!/bin/bash\necho -E \"${foo}\"\n")?;
    let output = s.ok(["exec-env".to_owned(), file_path.clone(), format!("/bin/bash {print_foo}")])?;
    ensure(stdout(&output) == "bar\n", format!("foo printed as {:?}", stdout(&output)))?;
    let print_bar = s.prepare_temp_file("print_bar.sh", b"#!/bin/bash\necho -E \"${bar}\"\n")?;
    let output = s.ok(["exec-env".to_owned(), file_path, format!("/bin/bash {print_bar}")])?;
    ensure(stdout(&output) == "baz\nbam\n", format!("bar printed as {:?}", stdout(&output)))
}

fn exec_file(s: &Suite) -> Result<(), Failed> {
    let file_path = s.prepare_temp_file("test_exec_file.yaml", EXEC_FILE.as_bytes())?;
    s.ok(["-e", "-i", &file_path])?;
    let output = s.ok(["exec-file", "--output-type", "json", &file_path, "cat {}"])?;
    let want = "{\n\t\"foo\": \"bar\",\n\t\"bar\": \"baz\\nbam\"\n}\n";
    ensure(stdout(&output) == want, format!("cat printed {:?}", stdout(&output)))
}

fn exec_file_filename(s: &Suite) -> Result<(), Failed> {
    let file_path = s.prepare_temp_file("test_exec_file_filename.yaml", EXEC_FILE.as_bytes())?;
    s.ok(["-e", "-i", &file_path])?;
    let output = s.ok(["exec-file", "--no-fifo", "--filename", "foobar", &file_path, "echo {}"])?;
    ensure(stdout(&output).ends_with("foobar\n"), format!("filename did not end with 'foobar': {:?}", stdout(&output)))
}

fn decrypt_format(s: &Suite) -> Result<(), Failed> {
    for (file, want) in [
        ("res/format.enc.yaml", "foo: bar\n"),
        ("res/format.enc.json", "{\n\t\"foo\": \"bar\"\n}\n"),
        ("res/format.enc.env", "foo = bar\n"),
        ("res/format.enc.ini", "[foo]\nbar = baz\n"),
        // INI as sops 3.13.0 and 3.13.1 wrote it (multi-line values in triple quotes).
        ("res/format-2.enc.ini", "[foo]\nbar = baz\n"),
    ] {
        let output = s.run(["decrypt", file])?;
        success(&output, &format!("{file}: SOPS didn't return successfully"))?;
        ensure(stdout(&output) == want, format!("{file}: Unexpected decrypted content {:?}", stdout(&output)))?;
    }
    Ok(())
}
