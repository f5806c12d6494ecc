#!/usr/bin/env python3
"""What the API server itself charges for a SealedSecret, with no controller.

On a fresh control plane (tests/env/up), the client of bench/scale.py
(POST, --concurrency requests in flight) creates N objects of each kind,
in rounds, and reports the time and the ratio to N Secrets of the same
round:

- Secret: the baseline of bench/scale.py (two short keys);
- SealedSecret: one sealed document (two keys, one age recipient,
  cluster-wide scope) under N names, against seal's CRD and its schema;
- the same document in a CRD with no schema (x-kubernetes-preserve-unknown-
  fields): what the schema's validation costs;
- a tiny custom resource in that CRD (`spec: {a: 1}`): what any custom
  resource costs;
- a ConfigMap holding the sealed document as one string: what the size
  costs a built-in kind.

This bounds what bench/scale.py can show: a SealedSecret cannot become Ready
faster than it can be created, plus the Secret the controller must write.

Usage (stdlib, age-keygen, and a seal binary):

    cargo build --release -p seal-cli --bin seal
    python3 bench/api_cost.py --n 2000,10000 --rounds 3
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scale  # noqa: E402

LOOSE_CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: looses.bench.seal.dev}
spec:
  group: bench.seal.dev
  names: {kind: Loose, plural: looses}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""


def sealed_document(env, seal, tmp):
    key = subprocess.run(["age-keygen"], capture_output=True, text=True, check=True).stdout
    pub = next(l for l in key.splitlines() if l.startswith("# public key:")).split(": ")[1]
    out = os.path.join(tmp, "tpl.sealed.yaml")
    subprocess.run([seal, "secret", "--name", "tpl", "--namespace", "tpl", "--from-literal",
                    "password=bench-value-0123456789abcdef", "--from-literal", "username=bench",
                    "--age", pub, "--scope", "cluster", "-o", out], check=True)
    env.namespace("tpl")
    env.kubectl("apply", "--server-side", "-f", out)
    obj = env.request("GET", "/apis/seal.dev/v1alpha1/namespaces/tpl/sealedsecrets/tpl")
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "spec": obj["spec"], "sops": obj["sops"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", default="2000", help="object counts, comma-separated")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--seal", default=f"{scale.ROOT}/target/release/seal")
    ap.add_argument("--state", default="/tmp/seal-api-cost")
    args = ap.parse_args()
    for n in [int(x) for x in args.n.split(",") if x]:
        state = f"{args.state}-{n}-{os.getpid()}"
        env = scale.Env(state)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                doc = sealed_document(env, args.seal, tmp)
            env.kubectl("apply", "-f", "-", stdin=LOOSE_CRD)
            env.kubectl("wait", "--for=condition=Established", "crd/looses.bench.seal.dev")
            kinds = [
                ("Secret", "/api/v1/namespaces/{ns}/secrets",
                 lambda i: {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"o{i}"},
                            "stringData": {"password": "bench-value-0123456789abcdef", "username": "bench"}}),
                ("SealedSecret", "/apis/seal.dev/v1alpha1/namespaces/{ns}/sealedsecrets",
                 lambda i: dict(doc, metadata={"name": f"o{i}"})),
                ("same document, CRD without schema", "/apis/bench.seal.dev/v1/namespaces/{ns}/looses",
                 lambda i: dict(doc, apiVersion="bench.seal.dev/v1", kind="Loose", metadata={"name": f"o{i}"})),
                ("tiny custom resource", "/apis/bench.seal.dev/v1/namespaces/{ns}/looses",
                 lambda i: {"apiVersion": "bench.seal.dev/v1", "kind": "Loose", "metadata": {"name": f"o{i}"},
                            "spec": {"a": 1}}),
                ("ConfigMap holding the document", "/api/v1/namespaces/{ns}/configmaps",
                 lambda i: {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"o{i}"},
                            "data": {"doc": json.dumps(doc)}}),
            ]
            times = {k: [] for k, _, _ in kinds}
            ratios = {k: [] for k, _, _ in kinds}
            for r in range(args.rounds):
                base = None
                for j, (kind, path, make) in enumerate(kinds):
                    ns = f"r{r}-k{j}"
                    env.namespace(ns)
                    objects = [make(i) for i in range(n)]
                    t = time.monotonic()
                    scale.bulk(env, path.format(ns=ns), objects, args.concurrency)
                    d = time.monotonic() - t
                    base = d if base is None else base
                    times[kind].append(d)
                    ratios[kind].append(d / base)
                    scale.log(f"N={n} round {r + 1}: {kind}: {d:.1f} s ({d / base:.2f}x)")
            print(f"\nN = {n}, {args.rounds} rounds, medians; document {len(json.dumps(doc))} bytes of JSON\n")
            print("| kind | time | ratio to Secrets (same round) |")
            print("|---|---|---|")
            for kind, _, _ in kinds:
                print(f"| {kind} | {statistics.median(times[kind]):.1f} s | {statistics.median(ratios[kind]):.2f}x |")
        finally:
            env.down()


if __name__ == "__main__":
    main()
