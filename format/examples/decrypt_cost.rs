//! The cost of one decryption, X25519 against the post-quantum hybrid
//! recipient: recovering a SealedSecret-sized document's data key (one age
//! file, as seal and sops write them; then the same with the identity's
//! entry after three team recipients' of the same kind), decrypting the
//! whole document, and sealing one.
//!
//! The two kinds run alternately, run by run, so that a change in the
//! machine's load falls on both; each figure is the median over the runs of
//! the time per operation, in wall time and in this thread's CPU time (from
//! `/proc/thread-self/schedstat`, Linux; what other processes take of the
//! CPU does not count there).
//!
//!     cargo run --release -p seal-format --example decrypt_cost [-- RUNS ITERATIONS]

use std::time::Instant;

use seal_format::sops::hybrid::HybridIdentity;
use seal_format::sops::metadata::Metadata;
use seal_format::sops::{self, DecryptOptions, EncryptOptions, Format, Identities, Recipient, Rule};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// This thread's CPU time in nanoseconds (the first field of schedstat).
fn cpu_ns() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// One run of `iters` calls of `f`: (wall, CPU) microseconds per call.
fn run(iters: usize, f: &mut dyn FnMut()) -> (f64, f64) {
    let (t, c) = (Instant::now(), cpu_ns());
    for _ in 0..iters {
        f();
    }
    let n = iters as f64;
    (t.elapsed().as_secs_f64() * 1e6 / n, (cpu_ns() - c) / 1e3 / n)
}

/// One kind of key: the sealed document, its metadata, and one with the
/// identity's entry after three others of the same kind.
struct Case {
    text: Vec<u8>,
    md: Metadata,
    md_last: Metadata,
    ids: Identities,
    opts: EncryptOptions,
}

const DOC: &[u8] = b"apiVersion: seal.dev/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: db\n  namespace: prod\nspec:\n  scope: prod/db\n  stringData:\n    password: s3cr3t-value\n    username: admin\n    host: db.prod.svc\n";

fn seal(opts: &EncryptOptions) -> Vec<u8> {
    let plain = sops::parse_plain(DOC, Format::Yaml).expect("parse");
    sops::emit_encrypted(&sops::encrypt_document(plain, opts).expect("encrypt"), Format::Yaml).expect("emit")
}

fn case(mine: Recipient, team: [Recipient; 3], ids: Identities) -> Case {
    let rule = Rule::EncryptedRegex(regex::Regex::new("^(data|stringData|scope)$").expect("regex"));
    let opts = |groups| EncryptOptions { groups, shamir_threshold: 0, rule: rule.clone(), mac_only_encrypted: true };
    let mut last = team.to_vec();
    last.push(mine.clone());
    let md_of = |o: &EncryptOptions| sops::parse_encrypted(&seal(o), Format::Yaml).expect("parse").metadata;
    let opts_one = opts(vec![vec![mine]]);
    let text = seal(&opts_one);
    let md = sops::parse_encrypted(&text, Format::Yaml).expect("parse").metadata;
    Case { text, md, md_last: md_of(&opts(vec![last])), ids, opts: opts_one }
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().expect("a number"));
    let runs = args.next().unwrap_or(7);
    let iters = args.next().unwrap_or(500);
    let x = age::x25519::Identity::generate();
    let h = HybridIdentity::generate().expect("random");
    let mut x_ids = Identities::new();
    x_ids.push(x.clone());
    let mut h_ids = Identities::new();
    h_ids.push_hybrid(h.clone());
    let parse = |s: String| Recipient::parse(&s).expect("recipient");
    let x_team = || parse(age::x25519::Identity::generate().to_public().to_string());
    let h_team = || parse(HybridIdentity::generate().expect("random").to_public().to_string());
    let cases = [
        case(parse(x.to_public().to_string()), [x_team(), x_team(), x_team()], x_ids),
        case(parse(h.to_public().to_string()), [h_team(), h_team(), h_team()], h_ids),
    ];
    type Op = fn(&Case);
    let ops: [(&str, Op); 4] = [
        ("recover the data key (one age file)", |c| {
            sops::recipients::recover(&c.md, &c.ids).expect("recover");
        }),
        ("recover, its entry after 3 others", |c| {
            sops::recipients::recover(&c.md_last, &c.ids).expect("recover");
        }),
        ("decrypt the whole document", |c| {
            let parsed = sops::parse_encrypted(&c.text, Format::Yaml).expect("parse");
            sops::decrypt_document(parsed, &c.ids, DecryptOptions::default()).expect("decrypt");
        }),
        ("seal the whole document", |c| {
            seal(&c.opts);
        }),
    ];
    println!("runs {runs} × {iters} iterations, X25519 and hybrid alternating; median µs per operation");
    println!(
        "{:<38} {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9}",
        "operation", "X25519", "hybrid", "diff", "X cpu", "hyb cpu", "diff cpu"
    );
    for (label, op) in ops {
        // (wall, cpu) per run, for each kind.
        let mut got: [Vec<(f64, f64)>; 2] = [Vec::new(), Vec::new()];
        for _ in 0..runs {
            for (c, out) in cases.iter().zip(got.iter_mut()) {
                out.push(run(iters, &mut || op(c)));
            }
        }
        let [xs, hs] = &got;
        let m = |v: &[(f64, f64)], cpu: bool| median(v.iter().map(|p| if cpu { p.1 } else { p.0 }).collect());
        let diff =
            |cpu: bool| median(xs.iter().zip(hs).map(|(a, b)| if cpu { b.1 - a.1 } else { b.0 - a.0 }).collect());
        println!(
            "{label:<38} {:>9.1} {:>9.1} {:>9.1} | {:>9.1} {:>9.1} {:>9.1}",
            m(xs, false),
            m(hs, false),
            diff(false),
            m(xs, true),
            m(hs, true),
            diff(true)
        );
    }
    let [xc, hc] = &cases;
    println!("{:<38} {:>9} {:>9}", "sealed file size (bytes)", xc.text.len(), hc.text.len());
}
