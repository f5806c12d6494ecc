#!/usr/bin/env python3
"""seal against sops 3.11 on the same files, in the same run.

Encrypt and decrypt YAML with 1,000 and 10,000 values and JSON with 10,000
values, and on the same encrypted file `set` one value, `unset` one key and
`exec-env FILE true`; report the median wall time of several runs, the peak
RSS of each command (from wait4), and the ratios sops/seal. `set` and
`unset` rewrite the file, so each run starts from a fresh copy (copied
outside the timing). Usage:

    cargo build --release -p seal-cli
    python3 bench/compare.py [--runs 5] [--seal target/release/seal] [--markdown] [--key-type x25519|pq|both]

`--key-type pq` seals to a post-quantum hybrid recipient (`seal keygen --pq`;
sops 3.11 reads and writes it too); `both` measures X25519 and hybrid in the
same run and adds a table of seal's hybrid cost over X25519 per file.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def run(cmd, env, stdout_path=None, fresh=None):
    """Runs cmd; returns (seconds, peak RSS in MiB). `fresh` is (source,
    target): copied before the timing starts."""
    if fresh:
        shutil.copyfile(*fresh)
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read()
    if stdout_path:
        out.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed: {err.decode(errors='replace')}")
    return elapsed, usage.ru_maxrss / 1024.0


def gen_yaml(n):
    """n top-level keys, as in the reference measurements in docs/sops-format.md."""
    return "".join(f"key{i}: value-{i}-secret\n" for i in range(n))


def gen_json(n):
    return "{" + ", ".join(f'"key{i}": "value-{i}-secret"' for i in range(n)) + "}\n"


CASES = [("YAML", 1000, "yaml", gen_yaml), ("YAML", 10000, "yaml", gen_yaml), ("JSON", 10000, "json", gen_json)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seal", default="target/release/seal")
    ap.add_argument("--sops", default=shutil.which("sops") or "sops")
    ap.add_argument("--age-keygen", default=shutil.which("age-keygen") or "age-keygen")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--key-type", choices=["x25519", "pq", "both"], default="x25519")
    a = ap.parse_args()
    kinds = ["x25519", "pq"] if a.key_type == "both" else [a.key_type]
    for kind in kinds:
        if len(kinds) > 1:
            print(f"== {kind}")
        rows = measure(a, kind)
        if kind == "x25519":
            x_rows = rows
        elif len(kinds) > 1:
            print("== seal, hybrid over X25519 (median, per file)")
            for (l, n, op, t, s_, _), (_, _, _, _, sx, _) in zip(rows, x_rows):
                if t == "seal":
                    print(f"{l} {n:,} values {op:<8} X25519 {sx * 1000:.2f} ms  hybrid {s_ * 1000:.2f} ms  +{(s_ - sx) * 1000:.2f} ms")


def measure(a, kind):
    work = tempfile.mkdtemp(prefix="seal-bench-")
    key = os.path.join(work, "key.txt")
    if kind == "pq":
        subprocess.run([a.seal, "keygen", "--pq", "-o", key], check=True, capture_output=True)
    else:
        subprocess.run([a.age_keygen, "-o", key], check=True, capture_output=True)
    recipient = [l.split(": ")[1] for l in open(key) if l.startswith("# public key: ")][0].strip()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}
    env["SOPS_AGE_KEY_FILE"] = key

    rows = []
    for label, n, ext, gen in CASES:
        plain = os.path.join(work, f"plain{n}.{ext}")
        with open(plain, "w") as f:
            f.write(gen(n))
        for tool, exe in (("seal", a.seal), ("sops", a.sops)):
            enc = os.path.join(work, f"{tool}-enc{n}.{ext}")
            enc_cmd = [exe, "encrypt", "--age", recipient, plain] if tool == "seal" else [exe, "-e", "--age", recipient, plain]
            dec_cmd = [exe, "decrypt", enc] if tool == "seal" else [exe, "-d", enc]
            work_copy = os.path.join(work, f"{tool}-work{n}.{ext}")
            ops = (
                ("encrypt", enc_cmd, enc, None),
                ("decrypt", dec_cmd, None, None),
                ("set", [exe, "set", work_copy, '["key0"]', '"changed"'], None, (enc, work_copy)),
                ("unset", [exe, "unset", work_copy, '["key1"]'], None, (enc, work_copy)),
                ("exec-env", [exe, "exec-env", enc, "true"], None, None),
            )
            for op, cmd, out, fresh in ops:
                times, rss = [], []
                for _ in range(a.runs):
                    t, m = run(cmd, env, out, fresh)
                    times.append(t)
                    rss.append(m)
                rows.append((label, n, op, tool, statistics.median(times), max(rss)))
    shutil.rmtree(work)

    table = []
    for label, n, ext, _ in CASES:
        for op in ("encrypt", "decrypt", "set", "unset", "exec-env"):
            r = {t: (s, m) for (l, k, o, t, s, m) in rows if l == label and k == n and o == op}
            (se, sm), (so, om) = r["seal"], r["sops"]
            table.append((f"{label} {n:,} values", op, se, so, so / se, sm, om, sm / om))
    if a.markdown:
        print(f"| file | operation | seal (s) | sops (s) | speed-up | seal peak RSS (MiB) | sops peak RSS (MiB) | memory ratio |")
        print("|---|---|---|---|---|---|---|---|")
        for row in table:
            print("| {} | {} | {:.4f} | {:.3f} | {:.1f}× | {:.1f} | {:.1f} | {:.2f} |".format(*row))
    else:
        for row in table:
            print("{:<20} {:<8} seal {:.4f}s  sops {:.3f}s  {:6.1f}x faster   RSS seal {:.1f} MiB sops {:.1f} MiB ({:.2f})".format(*row))
    print(f"({kind} recipient; median of {a.runs} runs each; peak RSS is the largest of the runs; {os.cpu_count()} CPUs)")
    return rows


if __name__ == "__main__":
    main()
