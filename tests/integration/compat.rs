//! Differential test against sops 3.11 on documents built from the shapes
//! where the two tools used to disagree (`docs/sops-compatibility.md`):
//! numbers in every base and range, tags, block scalars, byte-order marks,
//! Unicode line breaks, long keys, empty collections, trailing comments,
//! values left in clear, JSON zeros and big integers, dotenv carriage
//! returns. For each document X the reference is `sops -d (sops -e X)`;
//! seal's file must decrypt with sops, sops' file with seal and seal's file
//! with seal, each to the reference byte for byte, except where the note in
//! `style_only` says the difference is layout and the data is the same.
//!
//! `SEAL_COMPAT_DOCS` sets the documents per format (default 60).

use std::path::Path;

use libtest_mimic::{Failed, Trial};
use seal_format::sops::{self, Format, compare};

use crate::support::{Run, age_keygen, check, tool};

/// The differential trial.
pub fn trials() -> Vec<Trial> {
    vec![Trial::test("compat::seal_and_sops_read_each_others_files_of_divergent_shapes", differential)]
}

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

const YAML_VALUES: &[&str] = &[
    "017",
    "0X1F",
    "0O17",
    "0B11",
    "0x1f",
    "-0",
    "-0.0",
    "1e400",
    "-1e400",
    "123456789012345678901234567890",
    "9007199254740993",
    "!foo 5",
    "!<tag:yaml.org,2002:str> 7",
    "!!str 8",
    "\"x\" # c",
    "'y' # c",
    "[1, 2] # c",
    "plain",
    "\"quoted\"",
    "true",
    "3.5",
    "2001-12-14T21:59:43.1-05:00",
    "\"a\\u2028b\"",
    "\"a\\u2029#b\"",
    "\"a\\u0085b\"",
    "[]",
    "{}",
    "|\n    line one\n    line two\n",
    "|\n\n",
    ">\n    folded\n",
    "null",
    "~",
    "08",
];
const JSON_VALUES: &[&str] = &[
    "-0",
    "-0.0",
    "0",
    "9007199254740993",
    "-9007199254740993",
    "12345678901234567890",
    "1e300",
    "1.5",
    "\"s\"",
    "\"a\\u2028b\"",
    "\"\\u0085k\"",
    "true",
    "null",
    "[1, \"x\", {\"n\": 2}]",
    "{\"inner\": -0}",
    "4928776",
];

fn yaml_doc(g: &mut Lcg, i: usize) -> String {
    let mut out = String::new();
    if g.next().is_multiple_of(8) {
        out.push('\u{feff}');
    }
    let n = 1 + g.next() % 5;
    for j in 0..n {
        let key = match g.next() % 10 {
            0 => format!("k{j}_unencrypted"),
            1 => format!("long{j}{}", "x".repeat(130 + (g.next() % 1000) as usize)),
            2 => format!("\"u{j}\\u2028k\""),
            _ => format!("k{i}_{j}"),
        };
        out.push_str(&format!("{key}: {}\n", g.pick(YAML_VALUES)));
    }
    if g.next().is_multiple_of(6) {
        // A block scalar that ends the file without a newline.
        out.push_str("tail: |\n  last");
    }
    out
}

fn json_doc(g: &mut Lcg, i: usize) -> String {
    let n = 1 + g.next() % 5;
    let items: Vec<String> = (0..n)
        .map(|j| {
            let key = match g.next() % 6 {
                0 => format!("k{j}_unencrypted"),
                1 => format!("u{j}\\u2028k"),
                _ => format!("k{i}_{j}"),
            };
            format!("\"{key}\": {}", g.pick(JSON_VALUES))
        })
        .collect();
    format!("{{{}}}\n", items.join(", "))
}

fn dotenv_doc(g: &mut Lcg, i: usize) -> String {
    let n = 1 + g.next() % 5;
    (0..n)
        .map(|j| match g.next() % 6 {
            0 => format!("#comment {j}\n"),
            1 => format!("K{i}_{j}=with\\nnewline\n"),
            2 => format!("K{i}_{j}_unencrypted=clear\n"),
            3 => format!("K{i}_{j}=crlf\r\n"),
            _ => format!("K{i}_{j}=value {j}\n"),
        })
        .collect()
}

/// Selection flags, some leaving every value in clear.
fn flags(g: &mut Lcg) -> Vec<&'static str> {
    match g.next() % 6 {
        0 => vec!["--encrypted-regex", "^zzz"],
        1 => vec!["--unencrypted-suffix", ""],
        2 => vec!["--unencrypted-regex", "^k0"],
        _ => vec![],
    }
}

/// Layout differences that the note on issue 11 lists as deliberate: the
/// same data, a different (valid) spelling or comment position.
fn style_only(doc: &str) -> bool {
    doc.contains("\\u2028")
        || doc.contains("\\u2029")
        || doc.contains("\\u0085")
        || doc.contains("] # c")
        || doc.contains("[] # c")
        || doc.contains("{} # c")
}

fn differential() -> Result<(), Failed> {
    let per_format: usize = std::env::var("SEAL_COMPAT_DOCS").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let dir = tempfile::tempdir()?;
    let (key, recipient) = age_keygen(dir.path(), "k")?;
    let sops_bin = tool("sops")?;
    let mut g = Lcg(0x5ea1_c0de);
    let (mut compared, mut both_rejected, mut data_only, mut sops_inconsistent) = (0, 0, 0, 0);
    for (ext, format) in [("yaml", Format::Yaml), ("json", Format::Json), ("env", Format::Dotenv)] {
        for i in 0..per_format {
            let doc = match format {
                Format::Yaml => yaml_doc(&mut g, i),
                Format::Json => json_doc(&mut g, i),
                _ => dotenv_doc(&mut g, i),
            };
            let fl = flags(&mut g);
            let plain = dir.path().join(format!("d{i}.{ext}"));
            std::fs::write(&plain, &doc)?;
            let p = plain.display().to_string();
            let args = |cmd: &'static str| -> Vec<String> {
                let mut a = vec![cmd.to_owned(), "--age".into(), recipient.clone()];
                a.extend(fl.iter().map(|s| s.to_string()));
                a.push(p.clone());
                a
            };
            let by_sops = Run::new(sops_bin.clone(), args("-e")).output()?;
            let by_seal = Run::seal(args("encrypt")).output()?;
            let what = format!("document {doc:?} with {fl:?}");
            match (by_sops.status.success(), by_seal.status.success()) {
                (false, false) => {
                    both_rejected += 1;
                    continue;
                }
                (true, true) => {}
                (s, l) => {
                    return Err(format!(
                        "{what}: sops accepts: {s}, seal accepts: {l}\nseal: {}\nsops: {}",
                        String::from_utf8_lossy(&by_seal.stderr),
                        String::from_utf8_lossy(&by_sops.stderr)
                    )
                    .into());
                }
            }
            let (sops_file, seal_file) =
                (dir.path().join(format!("s{i}.{ext}")), dir.path().join(format!("l{i}.{ext}")));
            std::fs::write(&sops_file, &by_sops.stdout)?;
            std::fs::write(&seal_file, &by_seal.stdout)?;
            let dec = |with_sops: bool, f: &Path| -> Result<Vec<u8>, Failed> {
                let f = f.display().to_string();
                let run = if with_sops {
                    Run::new(sops_bin.clone(), ["-d".to_owned(), f])
                } else {
                    Run::seal(["decrypt".to_owned(), f])
                };
                run.env("SOPS_AGE_KEY_FILE", &key).ok()
            };
            let Ok(reference) = dec(true, &sops_file) else {
                // sops cannot read its own file (a MAC it computes two ways,
                // as for `!!binary` or tabs); seal must still read its own.
                dec(false, &seal_file).map_err(|e| format!("{what}: seal cannot read its own file: {e:?}"))?;
                sops_inconsistent += 1;
                continue;
            };
            for (name, got) in [
                ("sops -d of seal's file", dec(true, &seal_file)?),
                ("seal decrypt of sops' file", dec(false, &sops_file)?),
                ("seal decrypt of seal's file", dec(false, &seal_file)?),
            ] {
                if got == reference {
                    continue;
                }
                // Deliberate: seal writes a negative zero as `-0.0`, which
                // reads back as one; go-yaml writes `-0`, which reads back
                // as the integer 0 (and so fails sops' own MAC check).
                if String::from_utf8_lossy(&got).replace("-0.0", "-0") == String::from_utf8_lossy(&reference) {
                    data_only += 1;
                    continue;
                }
                let same = match (sops::parse_plain(&got, format), sops::parse_plain(&reference, format)) {
                    (Ok(a), Ok(b)) => compare::same_data(&a, &b),
                    _ => false,
                };
                check(
                    same && style_only(&doc),
                    format!(
                        "{what}: {name} differs from sops' round trip:\n--- got\n{}\n--- sops\n{}",
                        String::from_utf8_lossy(&got),
                        String::from_utf8_lossy(&reference)
                    ),
                )?;
                data_only += 1;
            }
            compared += 1;
        }
    }
    eprintln!(
        "compat: {compared} documents compared both ways ({per_format} generated per format), {both_rejected} rejected by both, {sops_inconsistent} sops cannot read back itself, {data_only} same data in another layout"
    );
    check(compared >= per_format, "most generated documents must be accepted by both tools")
}
