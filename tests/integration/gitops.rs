//! seal around GitOps tools: `seal render` (plain, as a kustomize KRM
//! function run by the real kustomize, and as the Argo CD plugin's commands
//! run the way the repo-server sidecar runs them), `seal convert` (Flux and
//! Bitnami manifests), `seal diff` (also as a git diff driver), and the
//! Argo CD Lua health checks run by a real Lua interpreter against statuses
//! a real seal-controller wrote. Rendering is also checked against the
//! Secret the controller makes from the same SealedSecret.

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::{Patch, PatchParams};
use libtest_mimic::{Failed, Trial};
use seal::api::{ExternalSecret, SealedSecret};
use serde_json::{Value, json};

use crate::env::{self, ensure, wait_for};
use crate::fixtures::{Opts, kubectl, objects, setup};
use crate::support::{
    CANARY, Run, Sealed, age_keygen, assert_absent, check, repo_root, seal_bin, sealed_fixture, tool,
};

mod kubectl;

/// Every GitOps test.
pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "gitops::render_turns_a_mixed_folder_into_secrets_and_passes_the_rest_through",
            render_mixed_folder,
        ),
        Trial::test("gitops::render_fails_whole_on_a_tampered_or_mis_scoped_file", render_fails_whole),
        Trial::test(
            "gitops::render_opens_a_renamed_sealed_secret_with_its_scope_check",
            render_opens_renamed_sealed_secret,
        ),
        Trial::test(
            "gitops::render_refuses_function_config_files_outside_the_kustomization_dir",
            render_refuses_files_outside_root,
        ),
        Trial::test("gitops::render_refuses_a_symlink_out_of_the_directory_tree", render_refuses_symlink_out_of_tree),
        Trial::test("gitops::render_runs_as_a_kustomize_krm_function", render_as_krm_function),
        // kubectl v1.20.2 comes with the test environment.
        env::trial(
            "gitops::kubectl_kustomize_does_what_the_docs_say",
            kubectl::kubectl_kustomize_does_what_the_docs_say,
        ),
        Trial::test("gitops::argocd_plugin_discovers_and_generates_an_application", argocd_plugin),
        Trial::test("gitops::convert_turns_a_flux_secret_into_a_sealed_secret_with_its_values", convert_flux),
        Trial::test("gitops::convert_turns_a_bitnami_sealed_secret_into_a_seal_secret_skeleton", convert_bitnami),
        Trial::test(
            "gitops::convert_refuses_a_bitnami_name_that_would_inject_manifests_and_writes_nothing",
            convert_refuses_injected_name,
        ),
        Trial::test(
            "gitops::convert_refuses_a_bitnami_namespace_that_is_not_a_dns_label_and_writes_nothing",
            convert_refuses_bad_namespace,
        ),
        Trial::test(
            "gitops::diff_names_added_removed_changed_and_template_changes_without_values",
            diff_without_values,
        ),
        Trial::test("gitops::diff_works_as_a_git_diff_driver", diff_as_git_driver),
        env::trial(
            "gitops::render_gives_the_secret_the_controller_writes_and_health_checks_read_real_statuses",
            render_matches_controller_and_health_checks,
        ),
    ]
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn utf8(b: Vec<u8>) -> Result<String, Failed> {
    Ok(String::from_utf8(b)?)
}

/// A Flux-style SOPS Secret made by the real sops (the Kubernetes rule, a
/// MAC over every value), holding `token`.
fn flux_secret(dir: &Path, recipient: &str, name: &str, token: &str) -> Result<PathBuf, Failed> {
    let plain = dir.join(format!("{name}.plain.yaml"));
    std::fs::write(
        &plain,
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: prod\ntype: Opaque\nstringData:\n  token: {token}\n"
        ),
    )?;
    let enc =
        Run::new(tool("sops")?, ["-e", "--age", recipient, "--encrypted-regex", "^(data|stringData)$", &s(&plain)])
            .ok()?;
    std::fs::remove_file(&plain)?;
    let out = dir.join(format!("{name}.enc.yaml"));
    std::fs::write(&out, enc)?;
    Ok(out)
}

/// The text without its `metadata.namespace` line.
fn without_namespace(text: &str) -> String {
    text.split_inclusive('\n').filter(|l| l.trim() != "namespace: prod").collect()
}

const CONFIGMAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings   # kept as written\n  namespace: prod\ndata:\n  mode: \"fast\"\n";

/// The documents of a stream, split at `---` lines.
fn documents(stream: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in stream.split_inclusive('\n') {
        if line.trim_end() == "---" {
            docs.push(String::new());
        } else if let Some(d) = docs.last_mut() {
            d.push_str(line);
        }
    }
    docs.retain(|d| !d.trim().is_empty());
    docs
}

fn b64(v: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(v)
}

fn render_mixed_folder() -> Result<(), Failed> {
    let f = sealed_fixture()?;
    let dir = f.dir.path().join("app");
    std::fs::create_dir_all(dir.join("nested"))?;
    std::fs::rename(&f.file, dir.join("20-db.sealed.yaml"))?;
    std::fs::write(dir.join("10-settings.yaml"), CONFIGMAP)?;
    let flux = flux_secret(f.dir.path(), &f.recipient, "api", "flux-token-1")?;
    std::fs::rename(&flux, dir.join("nested/30-api.enc.yaml"))?;
    std::fs::write(dir.join("kustomization.yaml"), "resources: []\n")?;
    std::fs::write(dir.join("README.md"), "not a manifest\n")?;

    let out = utf8(Run::seal(["render", &s(&dir)]).env("SOPS_AGE_KEY_FILE", &f.key).ok()?)?;
    let docs = documents(&out);
    check(docs.len() == 3, format!("three objects expected (kustomization and README skipped), got:\n{out}"))?;
    // In name order: the ConfigMap byte for byte, comment included.
    check(docs[0] == CONFIGMAP, format!("the ConfigMap must pass through unchanged, got:\n{}", docs[0]))?;
    let db = &docs[1];
    for want in [
        "apiVersion: v1\n",
        "kind: Secret\n",
        "  name: db\n",
        "  namespace: prod\n",
        "type: Opaque\n",
        &format!("  password: {}\n", b64(CANARY)),
        &format!("  username: {}\n", b64("admin")),
        &format!("  host: {}\n", b64("db.prod.svc")),
    ] {
        check(db.contains(want), format!("the rendered SealedSecret lacks {want:?}:\n{db}"))?;
    }
    check(!db.contains("sops:") && !db.contains("ENC["), "the rendered Secret must hold no SOPS remains")?;
    let api = &docs[2];
    check(
        api.contains("kind: Secret") && api.contains("token: flux-token-1") && !api.contains("sops:"),
        format!("the Flux Secret must come out decrypted:\n{api}"),
    )?;
    // stdin works the same, and a JSON file passes through.
    let sealed_text = std::fs::read(dir.join("20-db.sealed.yaml"))?;
    let from_stdin = utf8(Run::seal(["render", "-"]).env("SOPS_AGE_KEY_FILE", &f.key).stdin(sealed_text).ok()?)?;
    check(documents(&from_stdin) == vec![db.clone()], "rendering from stdin must give the same Secret")?;
    let json_file = f.dir.path().join("cm.json");
    std::fs::write(&json_file, "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"j\"}}\n")?;
    let out = utf8(Run::seal(["render", &s(&json_file)]).ok()?)?;
    check(
        out == "---\n{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"j\"}}\n",
        format!("JSON passes through: {out}"),
    )
}

fn render_fails_whole() -> Result<(), Failed> {
    let f = sealed_fixture()?;
    let dir = f.dir.path().join("app");
    std::fs::create_dir_all(&dir)?;
    let text = std::fs::read_to_string(&f.file)?;
    std::fs::write(dir.join("10-settings.yaml"), CONFIGMAP)?;
    std::fs::write(dir.join("20-db.sealed.yaml"), &text)?;

    // A ciphertext changed by one character: the value no longer decrypts.
    let line = text.lines().find(|l| l.trim_start().starts_with("password: ENC[")).ok_or("no password line")?;
    let at = line.find("data:").ok_or("no data")? + 5;
    let mut bad = line.to_owned();
    let c = if &bad[at..at + 1] == "A" { "B" } else { "A" };
    bad.replace_range(at..at + 1, c);
    std::fs::write(dir.join("30-tampered.sealed.yaml"), text.replace(line, &bad))?;
    let (code, out, err) = Run::seal(["render", &s(&dir)]).env("SOPS_AGE_KEY_FILE", &f.key).fails()?;
    // 25: sops' "error decrypting tree".
    check(code == 25, format!("a tampered file exits 25, got {code}: {err}"))?;
    check(out.is_empty(), format!("nothing may be printed when one file fails, got:\n{out}"))?;
    check(
        err.contains("30-tampered.sealed.yaml")
            && err.contains("SealedSecret prod/db")
            && err.contains(r#"["spec"]["stringData"]["password"]"#),
        format!("the error must name the file, the object and the path: {err}"),
    )?;
    assert_absent(err.as_bytes(), CANARY, "the render error")?;

    // The same file applied to another namespace: the scope refuses it.
    std::fs::remove_file(dir.join("30-tampered.sealed.yaml"))?;
    std::fs::write(dir.join("40-moved.sealed.yaml"), text.replace("namespace: prod", "namespace: staging"))?;
    let (code, out, err) = Run::seal(["render", &s(&dir)]).env("SOPS_AGE_KEY_FILE", &f.key).fails()?;
    // 66: seal's scope mismatch.
    check(code == 66 && out.is_empty(), format!("a mis-scoped file fails the render with 66: {code} {err}"))?;
    check(
        err.contains("40-moved.sealed.yaml") && err.contains("scope mismatch") && err.contains("prod/db"),
        format!("the error must say the scope does not allow it: {err}"),
    )?;

    // No namespace in the file and none given: said, not guessed.
    std::fs::remove_file(dir.join("40-moved.sealed.yaml"))?;
    let (code, _, err) =
        Run::seal(["render", "-"]).env("SOPS_AGE_KEY_FILE", &f.key).stdin(without_namespace(&text)).fails()?;
    check(code == 2 && err.contains("--namespace"), format!("a missing namespace asks for --namespace: {code} {err}"))?;
    let out = utf8(
        Run::seal(["render", "--namespace", "prod", "-"])
            .env("SOPS_AGE_KEY_FILE", &f.key)
            .stdin(without_namespace(&text))
            .ok()?,
    )?;
    check(out.contains("namespace: prod"), "with --namespace the object renders in it")?;

    // Without a key: exit 128 (sops' "could not retrieve key"), nothing printed.
    let (code, out, _) = Run::seal(["render", &s(&dir)]).fails()?;
    check(code == 128 && out.is_empty(), format!("no key exits 128 and prints nothing, got {code}"))
}

/// Runs a render that must be refused: exit 2 (input) or 66 (scope),
/// nothing on stdout, and the canary (plain or base64) nowhere. Returns
/// (exit code, stderr).
fn refused(run: Run, what: &str) -> Result<(i32, String), Failed> {
    let out = run.output()?;
    let code = out.status.code().unwrap_or(-1);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert_absent(bytes, CANARY, &format!("{what}: {stream}"))?;
        assert_absent(bytes, &b64(CANARY), &format!("{what}: {stream} (base64)"))?;
    }
    check(code == 2 || code == 66, format!("{what}: must be refused with exit 2 or 66, got {code}: {err}"))?;
    check(
        out.stdout.is_empty(),
        format!("{what}: nothing may be printed, got:\n{}", String::from_utf8_lossy(&out.stdout)),
    )?;
    Ok((code, err))
}

/// A SealedSecret bound to prod/db, copied into another namespace under
/// another apiVersion or kind (clear text, outside the MAC): it is still
/// opened as a SealedSecret, so its scope refuses it, whatever it claims to
/// be. In its own namespace it renders as the Secret, never as a decrypted
/// copy of itself.
fn render_opens_renamed_sealed_secret() -> Result<(), Failed> {
    let f = sealed_fixture()?;
    let text = std::fs::read_to_string(&f.file)?;
    let header = "apiVersion: seal.dev/v1alpha1\nkind: SealedSecret\n";
    check(text.starts_with(header), format!("the fixture starts with {header:?}"))?;
    let renames = [
        ("apiVersion example.com/v1", "apiVersion: example.com/v1\nkind: SealedSecret\n"),
        ("kind ConfigMap", "apiVersion: v1\nkind: ConfigMap\n"),
        ("kind ResourceList", "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n"),
    ];
    for (what, head) in renames {
        let renamed = text.replacen(header, head, 1);
        let moved = renamed.replace("namespace: prod", "namespace: attacker");
        // A file, stdin, and an item of a ResourceList (the KRM function).
        let file = f.dir.path().join("moved.yaml");
        std::fs::write(&file, &moved)?;
        let (code, err) =
            refused(Run::seal(["render", &s(&file)]).env("SOPS_AGE_KEY_FILE", &f.key), &format!("{what}, a file"))?;
        check(
            code == 66 && err.contains("scope mismatch") && err.contains("moved.yaml"),
            format!("{what}: the scope must refuse the copy in another namespace (exit 66): {code} {err}"),
        )?;
        refused(
            Run::seal(["render", "-"]).env("SOPS_AGE_KEY_FILE", &f.key).stdin(moved.clone()),
            &format!("{what}, stdin"),
        )?;
        let list = format!(
            "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n{}",
            moved
                .lines()
                .enumerate()
                .map(|(i, l)| format!("{}{l}\n", if i == 0 { "- " } else { "  " }))
                .collect::<String>()
        );
        let (code, err) = refused(
            Run::seal(["render", "-"]).env("SOPS_AGE_KEY_FILE", &f.key).stdin(list),
            &format!("{what}, a ResourceList item"),
        )?;
        check(
            code == 66 && err.contains("scope mismatch"),
            format!("{what}: the item's scope refuses it: {code} {err}"),
        )?;

        // In the namespace it is bound to: the Secret the controller would write.
        let out = utf8(Run::seal(["render", "-"]).env("SOPS_AGE_KEY_FILE", &f.key).stdin(renamed).ok()?)?;
        check(
            out.contains("kind: Secret\n")
                && out.contains(&format!("password: {}", b64(CANARY)))
                && !out.contains("scope")
                && !out.contains("sops:"),
            format!("{what}: in prod it renders as the Secret prod/db:\n{}", out.replace(CANARY, "CANARY")),
        )?;
    }
    // The selection rule rewritten as well (the sops block is clear text
    // too): the encrypted spec.scope still marks it, and it is refused.
    let rule = "encrypted_regex: ^(data|stringData|scope)$";
    check(text.contains(rule), "the fixture names its rule")?;
    let moved = text
        .replacen(header, "apiVersion: v1\nkind: ConfigMap\n", 1)
        .replace(rule, "encrypted_regex: ^(scope|data|stringData)$")
        .replace("namespace: prod", "namespace: attacker");
    refused(Run::seal(["render", "-"]).env("SOPS_AGE_KEY_FILE", &f.key).stdin(moved), "a rewritten rule")?;
    // Restructured too: `spec.scope` becomes a top-level key "spec:scope".
    // SOPS binds a value to its keys joined with ':', so every ciphertext
    // still decrypts and the MAC still matches; there is no `spec` left,
    // yet the values sit where a SealedSecret's do, and that is refused.
    let flat = text
        .replacen(header, "apiVersion: v1\nkind: ConfigMap\n", 1)
        .replace("namespace: prod", "namespace: attacker")
        .replace("spec:\n    scope: ", "\"spec:scope\": ")
        .replace("    stringData:\n", "\"spec:stringData\":\n")
        .replace("        host:", "    host:")
        .replace("        password:", "    password:")
        .replace("        username:", "    username:")
        .replace("    template:\n        type: Opaque\n", "")
        .replace(rule, "encrypted_regex: ^(spec:scope|spec:stringData)$");
    check(
        flat.contains("\"spec:scope\": ENC[") && !flat.contains("template:"),
        format!("the flattened copy:\n{flat}"),
    )?;
    refused(Run::seal(["render", "-"]).env("SOPS_AGE_KEY_FILE", &f.key).stdin(flat), "a restructured copy")?;
    Ok(())
}

/// A ResourceList, as kustomize hands a generator, listing `files`.
fn generator_input(files: &[String]) -> String {
    let mut list = String::from(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\nfunctionConfig:\n  apiVersion: seal.dev/v1alpha1\n  kind: Render\n  metadata:\n    name: seal-generator\n  files:\n",
    );
    for f in files {
        list.push_str(&format!("  - {f:?}\n"));
    }
    list
}

/// `functionConfig.files` names files relative to the kustomization (the
/// function's working directory); a path that leaves it, as given or
/// through a symlink, is refused, as kustomize's load restrictor refuses
/// it, and no file is decrypted.
fn render_refuses_files_outside_root() -> Result<(), Failed> {
    let f = sealed_fixture()?;
    let app = f.dir.path().join("kapp");
    let outside = f.dir.path().join("outside");
    std::fs::create_dir_all(&app)?;
    std::fs::create_dir_all(&outside)?;
    let secret = flux_secret(&outside, &f.recipient, "other-team", CANARY)?;
    let inside = flux_secret(&app, &f.recipient, "ours", "our-token")?;
    std::os::unix::fs::symlink(&secret, app.join("link.enc.yaml"))?;
    std::os::unix::fs::symlink(&outside, app.join("linked-dir"))?;
    let abs = s(&secret);
    let cases = [
        ("../", "../outside/other-team.enc.yaml".to_owned()),
        ("an absolute path", abs.clone()),
        ("an absolute path through the root", format!("{}/../outside/other-team.enc.yaml", s(&app))),
        ("a symlink", "link.enc.yaml".to_owned()),
        ("a symlinked folder", "linked-dir/other-team.enc.yaml".to_owned()),
    ];
    for (what, path) in cases {
        let input = generator_input(&["ours.enc.yaml".to_owned(), path.clone()]);
        let (code, err) = refused(
            Run::seal(["render", "-"]).dir(&app).env("SOPS_AGE_KEY_FILE", &f.key).stdin(input),
            &format!("functionConfig.files with {what}"),
        )?;
        check(
            code == 2 && err.contains("functionConfig.files") && err.contains(&path) && err.contains("outside"),
            format!("{what}: exit 2, naming the field, the path and why: {code} {err}"),
        )?;
    }
    // A path inside stays allowed, also through `..` that comes back in.
    let input = generator_input(&["ours.enc.yaml".to_owned(), "../kapp/ours.enc.yaml".to_owned()]);
    let out = utf8(Run::seal(["render", "-"]).dir(&app).env("SOPS_AGE_KEY_FILE", &f.key).stdin(input).ok()?)?;
    check(out.contains("token: our-token"), format!("a file inside the kustomization renders:\n{out}"))?;
    let _ = inside;
    Ok(())
}

/// `seal render DIR` reads DIR's tree only: a symlink (to a file or a
/// folder) that resolves outside it is refused, naming it; one inside is
/// read.
fn render_refuses_symlink_out_of_tree() -> Result<(), Failed> {
    let f = sealed_fixture()?;
    let app = f.dir.path().join("app");
    let outside = f.dir.path().join("outside");
    std::fs::create_dir_all(app.join("nested"))?;
    std::fs::create_dir_all(&outside)?;
    let secret = flux_secret(&outside, &f.recipient, "other-team", CANARY)?;
    std::fs::write(app.join("10-settings.yaml"), CONFIGMAP)?;
    for (what, link, target) in [
        ("a file", app.join("20-other.yaml"), secret.clone()),
        ("a folder", app.join("nested/30-other"), outside.clone()),
        ("a relative link", app.join("nested/40-other.yaml"), PathBuf::from("../../outside/other-team.enc.yaml")),
    ] {
        std::os::unix::fs::symlink(&target, &link)?;
        let (code, err) =
            refused(Run::seal(["render", &s(&app)]).env("SOPS_AGE_KEY_FILE", &f.key), &format!("a symlink to {what}"))?;
        let name = link.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        check(
            code == 2 && err.contains(&name) && err.contains("outside"),
            format!("{what}: exit 2, naming the link and why: {code} {err}"),
        )?;
        std::fs::remove_file(&link)?;
    }
    // Links inside the tree are followed, a loop ends.
    std::fs::copy(&f.file, app.join("nested/db.sealed"))?;
    std::os::unix::fs::symlink("nested/db.sealed", app.join("20-db.yaml"))?;
    std::os::unix::fs::symlink("..", app.join("nested/loop"))?;
    let out = utf8(Run::seal(["render", &s(&app)]).env("SOPS_AGE_KEY_FILE", &f.key).ok()?)?;
    let docs = documents(&out);
    check(
        docs.len() == 2 && out.contains(&format!("password: {}", b64(CANARY))),
        format!("a link inside the tree is read, once:\n{}", out.replace(&b64(CANARY), "CANARY")),
    )
}

/// The kustomize on PATH (tests/run installs kustomize v4.5.4, the version
/// kubectl 1.24 embeds) if it runs KRM exec functions.
fn kustomize() -> Result<PathBuf, Failed> {
    tool("kustomize")
}

/// A folder with `seal-render` (the documented wrapper, pointing at the
/// `seal` under test) and the generator and transformer configs from
/// deploy/kustomize.
fn kustomize_app(root: &Path) -> Result<PathBuf, Failed> {
    let app = root.join("kapp");
    std::fs::create_dir_all(&app)?;
    let wrapper = std::fs::read_to_string(repo_root().join("deploy/kustomize/seal-render"))?;
    let wrapper = wrapper.replace("exec seal render", &format!("exec {} render", s(&seal_bin())));
    std::fs::write(app.join("seal-render"), wrapper)?;
    make_executable(&app.join("seal-render"))?;
    for f in ["seal-generator.yaml", "seal-transformer.yaml"] {
        std::fs::copy(repo_root().join("deploy/kustomize").join(f), app.join(f))?;
    }
    Ok(app)
}

fn make_executable(p: &Path) -> Result<(), Failed> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

fn render_as_krm_function() -> Result<(), Failed> {
    let kustomize = kustomize()?;
    let f = sealed_fixture()?;
    let app = kustomize_app(f.dir.path())?;
    std::fs::copy(&f.file, app.join("db.sealed.yaml"))?;
    std::fs::write(app.join("settings.yaml"), CONFIGMAP)?;
    let flux = flux_secret(f.dir.path(), &f.recipient, "flux-secret", "flux-token-2")?;
    std::fs::rename(&flux, app.join("flux-secret.enc.yaml"))?;
    std::fs::write(
        app.join("kustomization.yaml"),
        "resources:\n- settings.yaml\n- db.sealed.yaml\ngenerators:\n- seal-generator.yaml\ntransformers:\n- seal-transformer.yaml\n",
    )?;
    let build = |key: &Path| {
        Run::new(&kustomize, ["build", "--enable-alpha-plugins", "--enable-exec", "."])
            .dir(&app)
            .env("SOPS_AGE_KEY_FILE", key)
    };
    let out = utf8(build(&f.key).ok()?)?;
    let docs = documents(&out);
    let find = |needle: &str| docs.iter().find(|d| d.contains(needle)).cloned();
    let db = find("name: db").ok_or(format!("no db object in:\n{out}"))?;
    check(
        db.contains("kind: Secret") && db.contains(&format!("password: {}", b64(CANARY))) && !db.contains("sops:"),
        format!("the transformer must turn the SealedSecret into its Secret:\n{db}"),
    )?;
    check(
        !db.contains("config.kubernetes.io"),
        format!("kustomize's own annotations must not reach the output:\n{db}"),
    )?;
    let flux = find("name: flux-secret").ok_or(format!("no flux-secret in:\n{out}"))?;
    check(
        flux.contains("kind: Secret") && flux.contains("token: flux-token-2") && !flux.contains("sops:"),
        format!("the generator must decrypt the Flux Secret it lists:\n{flux}"),
    )?;
    let cm = find("kind: ConfigMap").ok_or("no ConfigMap")?;
    check(cm.contains("mode: fast") && cm.contains("name: settings"), format!("the ConfigMap passes through:\n{cm}"))?;
    check(docs.len() == 3, format!("exactly three objects expected:\n{out}"))?;

    // The same Flux file as a plain resource: kustomize reorders its fields,
    // which its full MAC cannot allow; the failure says what to do.
    std::fs::write(
        app.join("kustomization.yaml"),
        "resources:\n- flux-secret.enc.yaml\ntransformers:\n- seal-transformer.yaml\n",
    )?;
    let (_, _, err) = build(&f.key).fails()?;
    check(
        err.contains("flux-secret") && err.contains("MAC") && err.contains("files:"),
        format!("a reordered full-MAC file fails, naming the generator's `files:`: {err}"),
    )?;
    assert_absent(err.as_bytes(), "flux-token-2", "kustomize's error")?;

    // A tampered SealedSecret fails the whole build.
    let text = std::fs::read_to_string(app.join("db.sealed.yaml"))?;
    std::fs::write(app.join("db.sealed.yaml"), text.replace("namespace: prod", "namespace: other"))?;
    // kustomize tells a function where an item came from only with origin
    // annotations (`buildMetadata: [originAnnotations]`).
    std::fs::write(
        app.join("kustomization.yaml"),
        "resources:\n- db.sealed.yaml\ntransformers:\n- seal-transformer.yaml\nbuildMetadata: [originAnnotations]\n",
    )?;
    let (_, out, err) = build(&f.key).fails()?;
    check(out.trim().is_empty(), "a failed function leaves no output")?;
    check(
        err.contains("scope mismatch") && err.contains("SealedSecret other/db from db.sealed.yaml"),
        format!("kustomize shows seal's reason and file: {err}"),
    )
}

/// The plugin's commands, as `sh -c SCRIPT` the way Argo CD's cmp-server
/// runs `command` (its args appended), in the application's folder.
struct Plugin {
    discover: Vec<String>,
    generate: Vec<String>,
}

fn plugin() -> Result<Plugin, Failed> {
    let text = std::fs::read_to_string(repo_root().join("deploy/argocd/plugin.yaml"))?;
    let v: serde_yaml::Value = serde_yaml::from_str(&text)?;
    check(v["kind"] == "ConfigManagementPlugin" && v["metadata"]["name"] == "seal", "plugin.yaml is the seal CMP")?;
    let list = |v: &serde_yaml::Value| -> Vec<String> {
        v.as_sequence().map(|s| s.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()).unwrap_or_default()
    };
    let mut discover = list(&v["spec"]["discover"]["find"]["command"]);
    discover.extend(list(&v["spec"]["discover"]["find"]["args"]));
    let mut generate = list(&v["spec"]["generate"]["command"]);
    generate.extend(list(&v["spec"]["generate"]["args"]));
    check(!discover.is_empty() && !generate.is_empty(), "plugin.yaml has discover and generate commands")?;
    Ok(Plugin { discover, generate })
}

fn run_plugin(cmd: &[String], app: &Path, key: &Path, bin: &Path) -> Run {
    let path = format!("{}:{}", s(bin), std::env::var("PATH").unwrap_or_default());
    Run::new(&cmd[0], &cmd[1..])
        .dir(app)
        .env("PATH", path)
        .env("SOPS_AGE_KEY_FILE", key)
        .env("ARGOCD_APP_NAME", "payments")
        .env("ARGOCD_APP_NAMESPACE", "prod")
        .env("ARGOCD_APP_SOURCE_PATH", ".")
}

fn argocd_plugin() -> Result<(), Failed> {
    let p = plugin()?;
    let f = sealed_fixture()?;
    // `seal` and `kustomize` on PATH, as in the sidecar image.
    let bin = f.dir.path().join("bin");
    std::fs::create_dir_all(&bin)?;
    std::os::unix::fs::symlink(seal_bin(), bin.join("seal"))?;
    std::os::unix::fs::symlink(kustomize()?, bin.join("kustomize"))?;

    // A plain folder; the SealedSecret names no namespace (Argo CD's
    // destination namespace applies).
    let plain = f.dir.path().join("plain");
    std::fs::create_dir_all(&plain)?;
    let text = std::fs::read_to_string(&f.file)?;
    std::fs::write(plain.join("db.sealed.yaml"), without_namespace(&text))?;
    std::fs::write(plain.join("settings.yaml"), CONFIGMAP)?;
    let found = utf8(run_plugin(&p.discover, &plain, &f.key, &bin).ok()?)?;
    check(found.contains("db.sealed.yaml"), format!("discover must claim the folder, printed {found:?}"))?;
    let out = utf8(run_plugin(&p.generate, &plain, &f.key, &bin).ok()?)?;
    check(
        out.contains("kind: Secret")
            && out.contains(&format!("password: {}", b64(CANARY)))
            && out.contains("namespace: prod"),
        format!("generate must render the SealedSecret into ARGOCD_APP_NAMESPACE:\n{out}"),
    )?;
    check(out.contains(CONFIGMAP), "generate passes the ConfigMap through")?;

    // A folder without seal's files is not claimed.
    let other = f.dir.path().join("other");
    std::fs::create_dir_all(&other)?;
    std::fs::write(other.join("settings.yaml"), CONFIGMAP)?;
    let found = run_plugin(&p.discover, &other, &f.key, &bin).ok()?;
    check(found.is_empty(), "discover must not claim a folder without SealedSecrets or SOPS files")?;

    // A kustomization: built by kustomize, then rendered.
    let kapp = f.dir.path().join("kapp");
    std::fs::create_dir_all(&kapp)?;
    std::fs::copy(&f.file, kapp.join("db.sealed.yaml"))?;
    std::fs::write(kapp.join("settings.yaml"), CONFIGMAP)?;
    std::fs::write(
        kapp.join("kustomization.yaml"),
        "resources:\n- settings.yaml\n- db.sealed.yaml\ncommonLabels:\n  team: payments\n",
    )?;
    let out = utf8(run_plugin(&p.generate, &kapp, &f.key, &bin).ok()?)?;
    check(
        out.contains("kind: Secret")
            && out.contains(&format!("password: {}", b64(CANARY)))
            && out.contains("team: payments"),
        format!("generate must build the kustomization and render its SealedSecret:\n{out}"),
    )?;

    // A wrong key fails the sync instead of dropping the Secret.
    let (wrong, _) = age_keygen(f.dir.path(), "wrong")?;
    let (code, out, err) = run_plugin(&p.generate, &plain, &wrong, &bin).fails()?;
    check(code != 0 && !out.contains("kind: Secret"), format!("a wrong key must fail generate: {code} {err}"))
}

fn convert_flux() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let (flux_key, flux_r) = age_keygen(dir.path(), "flux")?;
    let (cluster_key, cluster_r) = age_keygen(dir.path(), "cluster")?;
    let flux = flux_secret(dir.path(), &flux_r, "api", CANARY)?;
    let out = dir.path().join("api.sealed.yaml");
    Run::seal(["convert", &s(&flux), "--age", &cluster_r, "--scope", "namespace", "-o", &s(&out)])
        .env("SOPS_AGE_KEY_FILE", &flux_key)
        .ok()?;
    let text = std::fs::read_to_string(&out)?;
    assert_absent(text.as_bytes(), CANARY, "the converted SealedSecret")?;
    check(text.contains("kind: SealedSecret") && !text.contains(&flux_r), "a SealedSecret for the cluster's key only")?;
    let verify = utf8(Run::seal(["verify", &s(&out)]).env("SOPS_AGE_KEY_FILE", &cluster_key).ok()?)?;
    check(verify.contains("scope prod/*"), format!("the scope flag is kept: {verify}"))?;
    let rendered = utf8(Run::seal(["render", &s(&out)]).env("SOPS_AGE_KEY_FILE", &cluster_key).ok()?)?;
    check(rendered.contains(&format!("token: {}", b64(CANARY))), "the value is kept through the conversion")?;
    // Without the Flux key there is nothing to convert from.
    let (code, _, err) = Run::seal(["convert", &s(&flux), "--age", &cluster_r]).fails()?;
    check(code == 128, format!("converting without the Flux key exits 128: {code} {err}"))
}

const BITNAMI: &str = r#"apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  name: mysecret
  namespace: payments
  annotations:
    sealedsecrets.bitnami.com/namespace-wide: "true"
spec:
  encryptedData:
    password: AgBy3i4OJSWK+PiTySYZZA9rO43cGDEq
    username: AgAKAoiQm7xFtFqSJ8TqDE9I8tkvoHMq
  template:
    type: kubernetes.io/basic-auth
    metadata:
      labels:
        app: web
      annotations:
        team.example.com/owner: payments
    data:
      url: https://db.example.com
"#;

fn convert_bitnami() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let (key, recipient) = age_keygen(dir.path(), "k")?;
    let input = dir.path().join("bitnami.yaml");
    std::fs::write(&input, BITNAMI)?;
    let out = Run::seal(["convert", &s(&input)]).output()?;
    check(out.status.success(), format!("convert failed: {}", String::from_utf8_lossy(&out.stderr)))?;
    let skeleton = utf8(out.stdout)?;
    let err = utf8(out.stderr)?;
    check(err.contains("values to supply: password, username"), format!("the values to supply are listed: {err}"))?;
    for want in [
        "kind: Secret\n",
        "  name: mysecret\n",
        "  namespace: payments\n",
        "type: kubernetes.io/basic-auth\n",
        "    app: web\n",
        "    team.example.com/owner: payments\n",
        "  password: \"\"\n",
        "  username: \"\"\n",
        "  url: https://db.example.com\n",
        "--scope namespace",
    ] {
        check(skeleton.contains(want), format!("the skeleton lacks {want:?}:\n{skeleton}"))?;
    }
    check(!skeleton.contains("AgBy3i4"), "Bitnami ciphertexts are not copied")?;
    // Filled in, the skeleton seals as the comment says.
    let filled = skeleton
        .replace("  password: \"\"", &format!("  password: {CANARY}"))
        .replace("  username: \"\"", "  username: app");
    let file = dir.path().join("mysecret.yaml");
    std::fs::write(&file, filled)?;
    let sealed = dir.path().join("mysecret.sealed.yaml");
    Run::seal(["secret", &s(&file), "--scope", "namespace", "--age", &recipient, "-o", &s(&sealed)]).ok()?;
    let rendered = utf8(Run::seal(["render", &s(&sealed)]).env("SOPS_AGE_KEY_FILE", &key).ok()?)?;
    for want in [
        format!("password: {}", b64(CANARY)),
        format!("url: {}", b64("https://db.example.com")),
        "type: kubernetes.io/basic-auth".to_owned(),
        "app: web".to_owned(),
    ] {
        check(rendered.contains(&want), format!("the sealed skeleton renders {want:?}:\n{rendered}"))?;
    }
    let verify = utf8(Run::seal(["verify", &s(&sealed)]).env("SOPS_AGE_KEY_FILE", &key).ok()?)?;
    check(verify.contains("scope payments/*"), format!("namespace-wide becomes the namespace scope: {verify}"))
}

/// `seal convert` of a Bitnami object whose name or namespace Kubernetes
/// would refuse: exit 2, the field named, no file written and nothing on
/// stdout.
fn convert_refused(doc: &str, field: &str) -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("bitnami.yaml");
    std::fs::write(&input, doc)?;
    let out_file = dir.path().join("skeleton.yaml");
    let (code, out, err) = Run::seal(["convert", &s(&input), "-o", &s(&out_file)]).fails()?;
    check(code == 2, format!("{field}: exit 2 expected, got {code}: {err}"))?;
    check(err.contains(field), format!("the error must name {field}: {err}"))?;
    check(
        !err.contains("\n---\n") && !err.contains("kind: Secret"),
        format!("the error must not echo the value: {err}"),
    )?;
    check(out.is_empty() && !out_file.exists(), "nothing may be written")?;
    let (code, out, _) = Run::seal(["convert", &s(&input)]).fails()?;
    check(code == 2 && out.is_empty(), format!("{field}: nothing on stdout either ({code}):\n{out}"))
}

fn convert_refuses_injected_name() -> Result<(), Failed> {
    let hostile = BITNAMI.replace(
        "  name: mysecret\n",
        "  name: \"mysecret\\n---\\napiVersion: v1\\nkind: Secret\\nmetadata:\\n  name: injected\\n  namespace: kube-system\\n\"\n",
    );
    check(hostile != BITNAMI, "the name was replaced")?;
    convert_refused(&hostile, "metadata.name")?;
    // The same through a comment line's other inputs: a key name.
    let hostile_key = BITNAMI.replace("    username: AgAK", "    \"x\\n---\\nkind: Secret\": AgAK");
    check(hostile_key != BITNAMI, "the key was replaced")?;
    convert_refused(&hostile_key, "spec.encryptedData")
}

fn convert_refuses_bad_namespace() -> Result<(), Failed> {
    for ns in ["\"payments\\n---\\nkind: Secret\"", "Payments_NS", "a.b", &"n".repeat(64)] {
        let bad = BITNAMI.replace("  namespace: payments\n", &format!("  namespace: {ns}\n"));
        check(bad != BITNAMI, "the namespace was replaced")?;
        convert_refused(&bad, "metadata.namespace")?;
    }
    Ok(())
}

/// The fixture, and a second version: `password` changed, `token` added,
/// `host` removed (with `seal edit`, as a person would).
fn two_versions(template_only: bool) -> Result<(Sealed, PathBuf), Failed> {
    let f = sealed_fixture()?;
    let new = f.dir.path().join("new.sealed.yaml");
    std::fs::copy(&f.file, &new)?;
    let script = f.dir.path().join("ed.sh");
    let edit = if template_only {
        "sed -i 's/type: Opaque/type: kubernetes.io\\/basic-auth/' \"$1\"\n".to_owned()
    } else {
        format!(
            "sed -i -e 's/password: {CANARY}/password: other-{CANARY}/' -e '/host: db.prod.svc/d' -e 's/username: admin/token: t0k3n\\n        username: admin/' \"$1\"\n"
        )
    };
    std::fs::write(&script, format!("#!/bin/sh\n{edit}"))?;
    make_executable(&script)?;
    Run::seal(["edit", &s(&new)]).env("SOPS_AGE_KEY_FILE", &f.key).env("EDITOR", &script).ok()?;
    Ok((f, new))
}

fn diff_without_values() -> Result<(), Failed> {
    let (f, new) = two_versions(false)?;
    let with_key = utf8(Run::seal(["diff", &s(&f.file), &s(&new)]).env("SOPS_AGE_KEY_FILE", &f.key).ok()?)?;
    for want in [
        "comparing plaintexts",
        "~ spec.stringData.password: value changed",
        "- spec.stringData.host: removed",
        "+ spec.stringData.token: added",
    ] {
        check(with_key.contains(want), format!("with a key, the diff lacks {want:?}:\n{with_key}"))?;
    }
    check(!with_key.contains("username"), format!("an unchanged value is not listed:\n{with_key}"))?;
    assert_absent(with_key.as_bytes(), CANARY, "the diff with a key")?;
    assert_absent(with_key.as_bytes(), "t0k3n", "the diff with a key")?;
    let without = utf8(Run::seal(["diff", &s(&f.file), &s(&new)]).ok()?)?;
    check(without.contains("comparing ciphertexts"), format!("without a key it says so:\n{without}"))?;
    for want in [
        "~ spec.stringData.password: ciphertext changed",
        "- spec.stringData.host: removed",
        "+ spec.stringData.token: added",
    ] {
        check(without.contains(want), format!("without a key, the diff lacks {want:?}:\n{without}"))?;
    }
    // seal edit keeps an unchanged value's ciphertext: not listed either way.
    check(!without.contains("username"), format!("an unchanged ciphertext is not listed:\n{without}"))?;
    assert_absent(without.as_bytes(), CANARY, "the diff without a key")?;
    // Plaintext files (a decrypted copy) are compared without printing values.
    let (plain_old, plain_new) = (f.dir.path().join("old.yaml"), f.dir.path().join("new.yaml"));
    std::fs::write(&plain_old, format!("kind: Secret\nstringData:\n  password: {CANARY}\n"))?;
    std::fs::write(&plain_new, "kind: Secret\nstringData:\n  password: other\n  extra: x\n")?;
    let out = utf8(Run::seal(["diff", &s(&plain_old), &s(&plain_new)]).ok()?)?;
    check(
        out.contains("~ stringData.password: value changed") && out.contains("+ stringData.extra: added"),
        format!("plaintext files are compared by key:\n{out}"),
    )?;
    assert_absent(out.as_bytes(), CANARY, "the diff of plaintext files")?;
    check(!out.contains("other"), format!("no value of a plaintext file is printed:\n{out}"))?;
    // --exit-code: 1 on differences, 0 on none.
    let (code, _, _) = Run::seal(["diff", "--exit-code", &s(&f.file), &s(&new)]).fails()?;
    check(code == 1, format!("--exit-code gives 1 on differences, got {code}"))?;
    let same = utf8(Run::seal(["diff", "--exit-code", &s(&f.file), &s(&f.file)]).ok()?)?;
    check(same.contains("no changes"), format!("a file against itself: {same}"))?;

    // A template-only change: named with its old and new value (stored in clear).
    let (f, new) = two_versions(true)?;
    let out = utf8(Run::seal(["diff", &s(&f.file), &s(&new)]).env("SOPS_AGE_KEY_FILE", &f.key).ok()?)?;
    let changes: Vec<&str> = out.lines().filter(|l| l.starts_with(['~', '+', '-'])).collect();
    check(
        changes == vec!["~ spec.template.type: \"Opaque\" → \"kubernetes.io/basic-auth\""],
        format!("a template-only change is one line:\n{out}"),
    )
}

fn diff_as_git_driver() -> Result<(), Failed> {
    let git = tool("git")?;
    let (f, new) = two_versions(false)?;
    let repo = f.dir.path().join("repo");
    std::fs::create_dir_all(&repo)?;
    let g = |args: &[&str]| {
        Run::new(&git, args)
            .dir(&repo)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .env("SOPS_AGE_KEY_FILE", &f.key)
    };
    g(&["init", "-q"]).ok()?;
    // The documented setup (docs/gitops.md).
    g(&["config", "diff.seal.command", &format!("{} diff", s(&seal_bin()))]).ok()?;
    std::fs::write(repo.join(".gitattributes"), "*.sealed.yaml diff=seal\n")?;
    std::fs::copy(&f.file, repo.join("db.sealed.yaml"))?;
    g(&["add", "."]).ok()?;
    g(&["commit", "-qm", "first"]).ok()?;
    std::fs::copy(&new, repo.join("db.sealed.yaml"))?;
    let out = utf8(g(&["diff"]).ok()?)?;
    for want in [
        "seal diff db.sealed.yaml",
        "~ spec.stringData.password: value changed",
        "+ spec.stringData.token: added",
        "- spec.stringData.host: removed",
    ] {
        check(out.contains(want), format!("git diff through the driver lacks {want:?}:\n{out}"))?;
    }
    assert_absent(out.as_bytes(), CANARY, "git diff")?;
    assert_absent(out.as_bytes(), "ENC[", "git diff (no ciphertext churn)")?;
    // A new file: git passes /dev/null as the old side.
    std::fs::copy(&new, repo.join("api.sealed.yaml"))?;
    g(&["add", "-N", "api.sealed.yaml"]).ok()?;
    let out = utf8(g(&["diff", "--", "api.sealed.yaml"]).ok()?)?;
    check(out.contains("+ spec.stringData.password: added"), format!("a new file lists its keys as added:\n{out}"))?;
    assert_absent(out.as_bytes(), CANARY, "git diff of a new file")
}

// ---------------------------------------------------------------------------
// Against a real controller

/// A Lua table constructor for a JSON value.
fn lua_literal(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("nil"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => {
            out.push('"');
            for b in s.bytes() {
                if b.is_ascii_alphanumeric() || b" .,:;-_/+=()[]{}<>!?@#$%^&*'|~`".contains(&b) {
                    out.push(b as char);
                } else {
                    out.push_str(&format!("\\{b:03}"));
                }
            }
            out.push('"');
        }
        Value::Array(a) => {
            out.push('{');
            for x in a {
                lua_literal(x, out);
                out.push(',');
            }
            out.push('}');
        }
        Value::Object(m) => {
            out.push('{');
            for (k, x) in m {
                out.push('[');
                lua_literal(&Value::String(k.clone()), out);
                out.push_str("]=");
                lua_literal(x, out);
                out.push(',');
            }
            out.push('}');
        }
    }
}

/// Runs the health check for `kind` from deploy/argocd/argocd-cm.yaml on
/// each object with the real Lua interpreter: (status, message) per object.
fn health(kind: &str, objects: &[Value]) -> Result<Vec<(String, String)>, Failed> {
    let lua = tool("lua5.4").or_else(|_| tool("lua"))?;
    let cm: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(repo_root().join("deploy/argocd/argocd-cm.yaml"))?)?;
    let script = cm["data"][format!("resource.customizations.health.seal.dev_{kind}").as_str()]
        .as_str()
        .ok_or(format!("argocd-cm.yaml has no health check for {kind}"))?;
    let mut program = format!("local function check(obj)\n{script}\nend\nlocal objects = {{");
    for o in objects {
        lua_literal(o, &mut program);
        program.push(',');
    }
    program.push_str("}\nfor _, obj in ipairs(objects) do\n  local hs = check(obj)\n  print(hs.status .. \"\\t\" .. (hs.message or \"\"))\nend\n");
    let out = utf8(Run::new(lua, ["-"]).stdin(program).ok()?)?;
    Ok(out.lines().map(|l| l.split_once('\t').map(|(a, b)| (a.to_owned(), b.to_owned())).unwrap_or_default()).collect())
}

/// Waits until the object's Ready condition has `status` for its current
/// generation; returns it as JSON.
async fn wait_ready_status<K>(api: &Api<K>, name: &str, status: &str) -> Result<Value, Failed>
where
    K: Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    wait_for(&format!("{name} to be Ready={status}"), Duration::from_secs(90), || async {
        let obj = api.get_opt(name).await.map_err(|e| e.to_string())?.ok_or("the object is not there")?;
        let v = serde_json::to_value(&obj).map_err(|e| e.to_string())?;
        match objects::ready_of(&v) {
            (true, Some((s, _, _, _))) if s == status => Ok(Some(v)),
            _ => Err(objects::describe(&v)),
        }
    })
    .await
}

fn render_matches_controller_and_health_checks() -> Result<(), Failed> {
    let fx = setup("gitops")?;
    let bao = env::bao()?;
    let dir = fx.dir.path().to_owned();
    let (team_key, team_r) = age_keygen(&dir, "team")?;
    let ns = fx.ns().to_owned();
    env::block_on(async {
        let ctrl = fx.start(Opts::default()).await?;
        // The cluster's recipients, as `seal recipients` reads them.
        let cms: Api<ConfigMap> = fx.sys.api();
        let cluster_r = wait_for("the recipients ConfigMap", Duration::from_secs(60), || async {
            let cm = cms.get_opt("seal-recipients").await.map_err(|e| e.to_string())?;
            Ok::<_, String>(cm.and_then(|c| c.data).and_then(|d| d.get("recipients.txt").cloned()))
        })
        .await?;
        let cluster_r =
            cluster_r.lines().map(str::trim).find(|l| l.starts_with("age1")).ok_or("no recipient")?.to_owned();

        // One SealedSecret with a template, for the controller and for render.
        let secret = dir.join("web.yaml");
        std::fs::write(
            &secret,
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: web\n  namespace: {ns}\n  labels:\n    app: web\n  annotations:\n    team.example.com/owner: payments\ntype: kubernetes.io/basic-auth\nstringData:\n  password: {CANARY}\n  username: admin\n"
            ),
        )?;
        let sealed = dir.join("web.sealed.yaml");
        Run::seal(["secret", &s(&secret), "--age", &format!("{cluster_r},{team_r}"), "-o", &s(&sealed)]).ok()?;
        let text = std::fs::read_to_string(&sealed)?;
        let kubectl = |args: &[&str], stdin: &str| kubectl(&fx.cluster.kubeconfig, args).stdin(stdin.to_owned()).ok();
        kubectl(&["apply", "-f", "-"], &text)?;
        let sss: Api<SealedSecret> = fx.app.api();
        let ready_ss = wait_ready_status(&sss, "web", "True").await?;
        let secrets: Api<Secret> = fx.secrets();
        let live = secrets.get("web").await?;

        // render, with the team key, gives the same Secret.
        let rendered = utf8(Run::seal(["render", &s(&sealed)]).env("SOPS_AGE_KEY_FILE", &team_key).ok()?)?;
        let r: Secret = serde_yaml::from_str(&rendered)?;
        ensure(r.data == live.data, "render's data differs from the controller's Secret")?;
        ensure(r.type_ == live.type_, format!("type: render {:?}, controller {:?}", r.type_, live.type_))?;
        for (what, mine, theirs) in [
            ("labels", r.metadata.labels.clone().unwrap_or_default(), live.metadata.labels.clone().unwrap_or_default()),
            (
                "annotations",
                r.metadata.annotations.clone().unwrap_or_default(),
                live.metadata.annotations.clone().unwrap_or_default(),
            ),
        ] {
            for (k, v) in &mine {
                ensure(theirs.get(k) == Some(v), format!("render's {what} {k}={v} is not on the controller's Secret"))?;
            }
            ensure(!mine.is_empty(), format!("the template's {what} are rendered"))?;
        }
        ensure(
            r.metadata.name == live.metadata.name && r.metadata.namespace == live.metadata.namespace,
            "same name and namespace",
        )?;

        // A copy under another name: the strict scope refuses it.
        let moved = text.replace("  name: web\n", "  name: web-copy\n");
        kubectl(&["apply", "-f", "-"], &moved)?;
        let refused_ss = wait_ready_status(&sss, "web-copy", "False").await?;
        // Suspended.
        sss.patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"suspend": true}}))).await?;
        let suspended_ss = serde_json::to_value(sss.get("web").await?)?;

        // ExternalSecrets: one that reads, one whose path is missing.
        let root = bao.root()?;
        let kv2 = bao.enable_kv2().await?;
        vaultrs::kv2::set(&root, &kv2, "app/web", &objects::kv(&[("password", "from-bao")])).await?;
        objects::put_secret(&secrets, "vault-token", "token", &bao.root_token).await?;
        objects::create_store(
            &fx.stores(),
            "kv",
            objects::vault(&bao.addr, &kv2, "v2", objects::token_auth("vault-token")),
        )
        .await?;
        let es: Api<ExternalSecret> = fx.es();
        objects::create_es(
            &es,
            "good",
            "kv",
            json!({"data": [objects::item("password", "app/web", Some("password"))]}),
        )
        .await?;
        objects::create_es(
            &es,
            "missing",
            "kv",
            json!({"data": [objects::item("password", "app/nothing", Some("password"))]}),
        )
        .await?;
        let ready_es = wait_ready_status(&es, "good", "True").await?;
        let failed_es = wait_ready_status(&es, "missing", "False").await?;
        drop(ctrl);

        // Objects seal-controller has not looked at yet: a new one (no
        // status) and one whose spec changed since (generation ahead).
        let mut fresh = ready_ss.clone();
        if let Some(m) = fresh.as_object_mut() {
            m.remove("status");
        }
        let mut ahead = ready_es.clone();
        let g = ahead["metadata"]["generation"].as_i64().unwrap_or(1);
        ahead["metadata"]["generation"] = json!(g + 1);

        let ss = health("SealedSecret", &[ready_ss, refused_ss, suspended_ss, fresh])?;
        let want = ["Healthy", "Degraded", "Suspended", "Progressing"];
        ensure(
            ss.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>() == want,
            format!("SealedSecret health: {ss:?}, expected {want:?}"),
        )?;
        ensure(ss[1].1.contains("ScopeMismatch"), format!("the Degraded message carries the reason: {}", ss[1].1))?;
        let es = health("ExternalSecret", &[ready_es, failed_es, ahead])?;
        let want = ["Healthy", "Degraded", "Progressing"];
        ensure(
            es.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>() == want,
            format!("ExternalSecret health: {es:?}, expected {want:?}"),
        )?;
        for (_, m) in ss.iter().chain(es.iter()) {
            assert_absent(m.as_bytes(), CANARY, "a health message")?;
        }
        Ok::<_, Failed>(())
    })
}
