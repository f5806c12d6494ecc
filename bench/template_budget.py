#!/usr/bin/env python3
"""The most one ExternalSecret's templates can cost the controller per refresh.

Every template of an object shares one work budget per reconcile (see the
README, "Templates run in the controller on a tenant's input"). This runs,
on a real control plane and OpenBao (tests/env/up), one hostile
ExternalSecret at a time against a fresh release controller: each spends one
axis of the budget to its end, under 20 keys so that the per-object sharing
is what stops it. For each it reports the controller's CPU seconds and the
growth of its peak RSS over one reconcile (median of --runs refreshes,
forced with an annotation), next to an ordinary templated object.

    cargo build --release -p seal --bin seal-controller
    python3 bench/template_budget.py [--runs 5]

A measurement, not a test: the figures depend on the machine. The numbers in
docs/scale.md ("Template work budget") were made with it.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scale  # noqa: E402  (Env and Controller: the same harness as the scale bench)

ROOT = scale.ROOT
BIG = 960 * 1024

# name -> (template, what it spends)
SHAPES = {
    "ordinary": ('postgres://{{ .user }}:{{ .pw | urlquery }}@db:5432/app', "nothing: the baseline"),
    "hash-loop": ("{{ range 100000 }}{{ $h := sha256sum $.big }}{{ end }}", "bytes processed (64 MiB)"),
    "split-lists": ('{{ range 100000 }}{{ $l := splitList "," $.few }}{{ end }}', "list elements (200,000)"),
    "bcrypt": ('{{ range 100 }}{{ $h := htpasswd "u" $.pw }}{{ end }}', "bcrypt hashes (16)"),
    "builtin-eq": ("{{ range 100000 }}{{ if eq $.big $.big2 }}{{ end }}{{ end }}", "the deadline (10 s)"),
}


def es(name, template, ns):
    data = {f"k{i}": template for i in range(20)}
    items = [{"secretKey": k, "remoteRef": {"key": path, "property": k}}
             for k, path in (("big", "bench/big"), ("big2", "bench/big2"), ("few", "bench/small"),
                             ("user", "bench/small"), ("pw", "bench/small"))]
    return {"apiVersion": "seal.dev/v1alpha1", "kind": "ExternalSecret",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"secretStoreRef": {"name": "bao", "kind": "SecretStore"}, "refreshInterval": "1h",
                     "data": items, "target": {"template": {"engineVersion": "v2", "data": data}}}}


def reconciles(ctrl):
    return scale.total(ctrl.metrics(), "seal_reconcile_total", kind="ExternalSecret")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--controller", default=f"{ROOT}/target/release/seal-controller")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="seal-template-budget-")
    env = scale.Env(os.path.join(tmp, "env"))
    rows = []
    try:
        ns = "budget"
        env.namespace(ns)
        few = ",".join(["a"] * 999)
        # One large value a path: a store's answer is capped at 1 MiB.
        env.vault("POST", "/v1/secret/data/bench/big", {"data": {"big": "x" * BIG}})
        env.vault("POST", "/v1/secret/data/bench/big2", {"data": {"big2": "x" * (BIG - 1) + "y"}})
        env.vault("POST", "/v1/secret/data/bench/small", {"data": {"few": few, "user": "app", "pw": "p@ss w/rd"}})
        token = __import__("base64").b64encode(env.vault_token.encode()).decode()
        env.request("POST", f"/api/v1/namespaces/{ns}/secrets",
                    {"apiVersion": "v1", "kind": "Secret", "data": {"token": token},
                     "metadata": {"name": "vault-token", "annotations": {"seal.dev/allowed-stores": "*"}}})
        store = {"apiVersion": "seal.dev/v1alpha1", "kind": "SecretStore", "metadata": {"name": "bao"},
                 "spec": {"provider": {"vault": {"server": env.vault_addr, "path": "secret", "version": "v2",
                                                 "allowInsecureHttp": True,
                                                 "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token"}}}}}}
        env.request("POST", f"/apis/seal.dev/v1alpha1/namespaces/{ns}/secretstores", store)
        path = f"/apis/seal.dev/v1alpha1/namespaces/{ns}/externalsecrets"
        for shape, (template, spends) in SHAPES.items():
            ctrl = scale.Controller(env, args.controller, [ns], os.path.join(tmp, f"{shape}.log"))
            try:
                time.sleep(2)
                hwm0, _, _ = ctrl.proc_stats()
                cpu, peak, outcome = [], [], ""
                env.request("POST", path, es(shape, template, ns))
                for run in range(args.runs):
                    n0 = reconciles(ctrl)
                    _, _, c0 = ctrl.proc_stats()
                    if run:
                        env.request("PATCH", f"{path}/{shape}",
                                    {"metadata": {"annotations": {"force-sync": str(run)}}},
                                    content_type="application/merge-patch+json")
                    deadline = time.monotonic() + 120
                    while reconciles(ctrl) <= n0:
                        if time.monotonic() > deadline:
                            raise RuntimeError(f"{shape}: no reconcile in 120 s")
                        time.sleep(0.2)
                    time.sleep(0.5)
                    hwm, _, c1 = ctrl.proc_stats()
                    # A failed object is also retried with backoff: per reconcile.
                    cpu.append((c1 - c0) / max(1, reconciles(ctrl) - n0))
                    peak.append(hwm - hwm0)
                obj = env.request("GET", f"{path}/{shape}")
                cond = next((c for c in (obj.get("status") or {}).get("conditions") or []
                             if c.get("type") == "Ready"), {})
                outcome = f"{cond.get('status')} {cond.get('reason')}"
                rows.append((shape, spends, statistics.median(cpu), max(peak), outcome))
                scale.log(f"{shape}: cpu {cpu}, peak growth {peak} MiB, {outcome}")
                env.request("DELETE", f"{path}/{shape}")
            finally:
                ctrl.stop()
    finally:
        env.down()
    print("| template (under 20 keys) | spends | CPU s per reconcile (median of %d) | peak RSS growth, MiB | Ready |"
          % args.runs)
    print("|---|---|---|---|---|")
    for shape, spends, cpu, peak, outcome in rows:
        print(f"| {shape} | {spends} | {cpu:.2f} | {peak:.0f} | {outcome} |")


if __name__ == "__main__":
    main()
