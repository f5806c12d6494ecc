//! The cost of one decryption, X25519 against the post-quantum hybrid
//! recipient: recovering a SealedSecret-sized document's data key (one age
//! file, as seal and sops write them) and then its values, and sealing one.
//! Prints the median of several runs of many iterations each.
//!
//!     cargo run --release -p seal-format --example decrypt_cost [-- RUNS ITERATIONS]

use std::time::Instant;

use seal_format::sops::hybrid::HybridIdentity;
use seal_format::sops::{self, DecryptOptions, EncryptOptions, Format, Identities, Recipient, Rule};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median microseconds per call of `f` over `runs` runs of `iters` calls.
fn time(runs: usize, iters: usize, mut f: impl FnMut()) -> f64 {
    let per_run: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_secs_f64() * 1e6 / iters as f64
        })
        .collect();
    median(per_run)
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().expect("a number"));
    let runs = args.next().unwrap_or(7);
    let iters = args.next().unwrap_or(500);
    let doc = b"apiVersion: seal.dev/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: db\n  namespace: prod\nspec:\n  scope: prod/db\n  stringData:\n    password: s3cr3t-value\n    username: admin\n    host: db.prod.svc\n";
    let rule = Rule::EncryptedRegex(regex::Regex::new("^(data|stringData|scope)$").expect("regex"));
    let x = age::x25519::Identity::generate();
    let h = HybridIdentity::generate().expect("random");
    let mut x_ids = Identities::new();
    x_ids.push(x.clone());
    let mut h_ids = Identities::new();
    h_ids.push_hybrid(h.clone());
    println!("runs {runs} × {iters} iterations; median µs per operation");
    println!("{:<40} {:>10} {:>10} {:>10}", "operation", "X25519", "hybrid", "hybrid − X25519");
    let mut rows = Vec::new();
    for (name, r, ids) in [
        ("x", Recipient::parse(&x.to_public().to_string()).expect("x"), &x_ids),
        ("h", Recipient::parse(&h.to_public().to_string()).expect("h"), &h_ids),
    ] {
        let opts =
            EncryptOptions { groups: vec![vec![r]], shamir_threshold: 0, rule: rule.clone(), mac_only_encrypted: true };
        let seal = || {
            let plain = sops::parse_plain(doc, Format::Yaml).expect("parse");
            sops::emit_encrypted(&sops::encrypt_document(plain, &opts).expect("encrypt"), Format::Yaml).expect("emit")
        };
        let text = seal();
        let md = sops::parse_encrypted(&text, Format::Yaml).expect("parse").metadata;
        let unwrap = time(runs, iters, || {
            sops::recipients::recover(&md, ids).expect("recover");
        });
        let decrypt = time(runs, iters, || {
            let parsed = sops::parse_encrypted(&text, Format::Yaml).expect("parse");
            sops::decrypt_document(parsed, ids, DecryptOptions::default()).expect("decrypt");
        });
        let encrypt = time(runs, iters, || {
            seal();
        });
        rows.push((name, unwrap, decrypt, encrypt, text.len()));
    }
    let (x, h) = (&rows[0], &rows[1]);
    for (label, a, b) in [
        ("recover the data key (one age file)", x.1, h.1),
        ("decrypt the whole document", x.2, h.2),
        ("seal the whole document", x.3, h.3),
    ] {
        println!("{label:<40} {a:>10.1} {b:>10.1} {:>10.1}", b - a);
    }
    println!("{:<40} {:>10} {:>10}", "sealed file size (bytes)", x.4, h.4);
}
