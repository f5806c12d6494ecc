#!/usr/bin/env python3
"""seal-controller at scale, against a baseline, on a real control plane.

For each N, on a fresh control plane and OpenBao started by tests/env/up:

1. baseline: a plain client creates N Secrets (POST, CONCURRENCY at once),
   timed until every one exists;
2. seal: the same client creates N SealedSecrets the same way (one sealed
   document with a cluster-wide scope, under N names), timed until every
   one is Ready and until every Secret exists; the controller's peak RSS
   (VmHWM), CPU seconds and its API requests by verb and resource (its
   metric seal_api_requests_total);
3. resync: the controller is restarted with nothing changed and reconciles
   all N again: the writes and decryptions it makes (both should be zero);
4. ExternalSecrets (--es-n): N ExternalSecrets over 100 OpenBao paths, timed
   until Ready; then one refresh round: Vault reads per refresh (should be
   the number of distinct paths), logins, writes, RSS. With --es-template
   every one renders a template from the same ConfigMap
   (templateFrom[].configMap): the ConfigMap requests while creating and per
   refresh round (the goal: one list and one watch, no GET per object).

Usage (stdlib only; needs the binaries from tests/env/build):

    cargo build --release -p seal --bin seal-controller
    cargo build --release -p seal-cli --bin seal
    python3 bench/scale.py --n 1000,4000,10000 --es-n 1000,10000 [--es-template] [--markdown]

This is a measurement, not a test: it takes minutes and its times depend on
the machine. The numbers in docs/scale.md were made with it.
"""
import argparse
import base64
import concurrent.futures
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE_BIN = os.environ.get("SEAL_TESTENV_CACHE", "/var/cache/seal-testenv") + "/bin"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = 500


def log(*a):
    print("scale:", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# The environment


class Env:
    """A control plane and OpenBao from tests/env/up, in their own state dir."""

    def __init__(self, state):
        self.state = state
        env = dict(os.environ, SEAL_TESTENV_STATE=state, SEAL_TESTENV_NO_BUILD="1")
        out = subprocess.run([f"{ROOT}/tests/env/up"], env=env, check=True, capture_output=True, text=True).stdout
        self.vars = dict(line.split("=", 1) for line in out.strip().splitlines())
        read = lambda f: open(os.path.join(state, f)).read().strip()
        self.url = urllib.parse.urlparse(read("apiserver.url"))
        self.token = read("admin.token")
        self.ctx = ssl.create_default_context(cafile=os.path.join(state, "ca.crt"))
        self.kubeconfig = self.vars["KUBECONFIG"]
        self.vault_addr = self.vars["VAULT_ADDR"]
        self.vault_token = self.vars["VAULT_TOKEN"]
        self.local = threading.local()
        self.kubectl("apply", "--server-side", "-f", f"{ROOT}/crds/")
        self.namespace("seal-system")
        deadline = time.monotonic() + 60
        while True:
            try:
                found = {r["name"] for r in self.request("GET", "/apis/seal.dev/v1alpha1")["resources"]}
                if {"sealedsecrets", "externalsecrets", "secretstores"} <= found:
                    break
            except RuntimeError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the CRDs are not served after 60 s")
            time.sleep(0.5)

    def down(self):
        env = dict(os.environ, SEAL_TESTENV_STATE=self.state)
        subprocess.run([f"{ROOT}/tests/env/down"], env=env, check=False, capture_output=True)

    def conn(self):
        """One keep-alive connection per thread."""
        c = getattr(self.local, "c", None)
        if c is None:
            c = http.client.HTTPSConnection(self.url.hostname, self.url.port, context=self.ctx, timeout=120)
            self.local.c = c
        return c

    def request(self, method, path, body=None, content_type="application/json", ok=(200, 201)):
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        for attempt in range(5):
            c = self.conn()
            try:
                c.request(method, path, body=data, headers=headers)
                r = c.getresponse()
                payload = r.read()
            except (http.client.HTTPException, OSError):
                c.close()
                self.local.c = None
                time.sleep(0.2 * (attempt + 1))
                continue
            if r.status in ok:
                return json.loads(payload) if payload else None
            if r.status in (429, 500, 503) and attempt < 4:
                time.sleep(0.2 * (attempt + 1))
                continue
            raise RuntimeError(f"{method} {path}: HTTP {r.status}: {payload[:300]!r}")
        raise RuntimeError(f"{method} {path}: no answer")

    def kubectl(self, *args, stdin=None):
        env = dict(os.environ, KUBECONFIG=self.kubeconfig)
        return subprocess.run([f"{CACHE_BIN}/kubectl", *args], env=env, input=stdin, check=True,
                              capture_output=True, text=True).stdout

    def namespace(self, name):
        self.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": {"name": name}}, ok=(201, 409))

    def vault(self, method, path, body=None):
        u = urllib.parse.urlparse(self.vault_addr)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers={"X-Vault-Token": self.vault_token})
        r = c.getresponse()
        data = r.read()
        if r.status >= 300:
            raise RuntimeError(f"vault {method} {path}: {r.status} {data[:200]!r}")
        return data


# ---------------------------------------------------------------------------
# Watching until done


class Watch(threading.Thread):
    """Counts objects of a collection that satisfy `done`, from a list and
    then a watch; `wait(n)` returns when n are done."""

    def __init__(self, env, path, done):
        super().__init__(daemon=True)
        self.env, self.path, self.done = env, path, done
        self.ok = set()
        self.cv = threading.Condition()
        self.error = None
        listing = env.request("GET", f"{path}?limit=1")
        self.rv = listing["metadata"]["resourceVersion"]
        self.start()

    def run(self):
        try:
            while True:
                self._watch()
        except Exception as e:  # reported by wait()
            self.error = e
            with self.cv:
                self.cv.notify_all()

    def _watch(self):
        c = http.client.HTTPSConnection(self.env.url.hostname, self.env.url.port, context=self.env.ctx,
                                        timeout=3600)
        q = urllib.parse.urlencode({"watch": "true", "resourceVersion": self.rv, "allowWatchBookmarks": "true",
                                    "timeoutSeconds": "3000"})
        c.request("GET", f"{self.path}?{q}", headers={"Authorization": f"Bearer {self.env.token}"})
        r = c.getresponse()
        if r.status != 200:
            raise RuntimeError(f"watch {self.path}: HTTP {r.status}")
        while True:
            line = r.readline()
            if not line:
                return
            ev = json.loads(line)
            obj = ev["object"]
            if ev["type"] == "ERROR":
                raise RuntimeError(f"watch {self.path}: {obj}")
            self.rv = obj["metadata"]["resourceVersion"]
            if ev["type"] == "BOOKMARK":
                continue
            name = obj["metadata"]["name"]
            with self.cv:
                if ev["type"] != "DELETED" and self.done(obj):
                    self.ok.add(name)
                else:
                    self.ok.discard(name)
                self.cv.notify_all()

    def wait(self, n, timeout, what):
        deadline = time.monotonic() + timeout
        with self.cv:
            while len(self.ok) < n:
                if self.error:
                    raise self.error
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"{what}: only {len(self.ok)} of {n} after {timeout}s")
                self.cv.wait(min(left, 1.0))
        return time.monotonic()


def ready(obj):
    st = obj.get("status") or {}
    if st.get("observedGeneration") != obj["metadata"].get("generation"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])


# ---------------------------------------------------------------------------
# The controller


class Controller:
    def __init__(self, env, bin_path, watch, log_path, extra=()):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        env_vars = {k: v for k, v in os.environ.items() if not k.startswith("SEAL_")}
        env_vars.update(KUBECONFIG=env.kubeconfig, RUST_LOG="warn")
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [bin_path, "--namespace", "seal-system", "--watch-namespace", ",".join(watch),
             "--metrics-address", f"127.0.0.1:{self.port}", "--leader-election", "false", *extra],
            env=env_vars, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the controller exited ({self.proc.returncode}); see {log_path}")
            try:
                if self.get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the controller did not become ready in 60 s")

    def get(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode()

    def metrics(self):
        """{(name, frozenset(labels)): value}"""
        out = {}
        for line in self.get("/metrics")[1].splitlines():
            if not line or line.startswith("#"):
                continue
            name, _, rest = line.partition("{") if "{" in line.split(" ")[0] else (line.split(" ")[0], "", "")
            if rest:
                labels, _, value = rest.rpartition("} ")
                pairs = frozenset(tuple(kv.split("=", 1)) for kv in labels.split(",") if kv)
                pairs = frozenset((k, v.strip('"')) for k, v in pairs)
            else:
                pairs, value = frozenset(), line.split(" ")[1]
            out[(name, pairs)] = float(value.split(" ")[0])
        return out

    def proc_stats(self):
        """(peak RSS MiB, current RSS MiB, CPU seconds)."""
        status = open(f"/proc/{self.proc.pid}/status").read()
        kib = lambda key: int(next(line.split()[1] for line in status.splitlines() if line.startswith(key)))
        stat = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        cpu = (int(stat[11]) + int(stat[12])) / CLK_TCK
        return kib("VmHWM:") / 1024, kib("VmRSS:") / 1024, cpu

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def total(m, name, **want):
    return sum(v for (n, labels), v in m.items()
               if n == name and all((k, w) in labels for k, w in want.items()))


def requests(m0, m1):
    """API requests between two samples: {(verb, resource[/sub]): count}."""
    out = {}
    for (n, labels), v in m1.items():
        if n != "seal_api_requests_total":
            continue
        d = dict(labels)
        delta = v - m0.get((n, labels), 0.0)
        if delta:
            res = d["resource"] + (f"/{d['subresource']}" if d.get("subresource") else "")
            out[(d["verb"], res)] = out.get((d["verb"], res), 0) + delta
    return out


WRITES = {"create", "update", "patch", "delete", "deletecollection"}


def wait_idle(ctrl, kind, at_least, timeout=1800):
    """Waits until `kind` was reconciled at least `at_least` times and no
    reconcile ran for 3 s."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        n = total(ctrl.metrics(), "seal_reconcile_total", kind=kind)
        if n != last:
            last, since = n, time.monotonic()
        elif n >= at_least and time.monotonic() - since >= 3:
            return n
        time.sleep(0.5)
    raise RuntimeError(f"{kind}: {last} reconciles, wanted {at_least}")


# ---------------------------------------------------------------------------
# The runs


def bulk(env, path, objects, concurrency):
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        for f in [pool.submit(env.request, "POST", path, o) for o in objects]:
            f.result()


def baseline(env, n, concurrency, value):
    ns = f"base-{n}"
    env.namespace(ns)
    secrets = ({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"s{i}", "namespace": ns},
                "type": "Opaque", "data": {"password": value}} for i in range(n))
    watch = Watch(env, f"/api/v1/namespaces/{ns}/secrets", lambda o: True)
    start = time.monotonic()
    bulk(env, f"/api/v1/namespaces/{ns}/secrets", secrets, concurrency)
    return watch.wait(n, 3600, "baseline Secrets") - start


def sealed_template(env, args, tmp):
    """One SealedSecret document with a cluster-wide scope, as JSON."""
    cm = env.request("GET", "/api/v1/namespaces/seal-system/configmaps/seal-recipients")
    rfile = os.path.join(tmp, "recipients.txt")
    open(rfile, "w").write(cm["data"]["recipients.txt"])
    out = os.path.join(tmp, "tpl.sealed.yaml")
    subprocess.run([args.seal, "secret", "--name", "tpl", "--namespace", "tpl", "--from-literal",
                    "password=bench-value-0123456789abcdef", "--from-literal", "username=bench",
                    "--recipients-file", rfile, "--scope", "cluster", "-o", out], check=True)
    env.namespace("tpl")
    env.kubectl("apply", "--server-side", "-f", out)
    obj = env.request("GET", "/apis/seal.dev/v1alpha1/namespaces/tpl/sealedsecrets/tpl")
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "spec": obj["spec"], "sops": obj["sops"]}


def run_sealed(env, args, n, tmp, results):
    ns = f"ss-{n}"
    env.namespace(ns)
    log_path = os.path.join(tmp, f"controller-ss-{n}.log")
    ctrl = Controller(env, args.controller, [ns, "tpl"], log_path, args.controller_flag)
    try:
        tpl = sealed_template(env, args, tmp)
        wait_idle(ctrl, "SealedSecret", 1, timeout=60)
        m0 = ctrl.metrics()
        ready_watch = Watch(env, f"/apis/seal.dev/v1alpha1/namespaces/{ns}/sealedsecrets", ready)
        secret_watch = Watch(env, f"/api/v1/namespaces/{ns}/secrets", lambda o: True)
        objects = (dict(tpl, metadata={"name": f"s{i}", "namespace": ns}) for i in range(n))
        start = time.monotonic()
        bulk(env, f"/apis/seal.dev/v1alpha1/namespaces/{ns}/sealedsecrets", objects, args.concurrency)
        created = time.monotonic() - start
        t_ready = ready_watch.wait(n, 3600, "Ready SealedSecrets") - start
        t_secrets = secret_watch.wait(n, 3600, "Secrets") - start
        wait_idle(ctrl, "SealedSecret", n + 1)
        m1 = ctrl.metrics()
        hwm, rss, cpu = ctrl.proc_stats()
        reqs = requests(m0, m1)
        row = {"n": n, "created": created, "ready": t_ready, "secrets": t_secrets, "rss_peak": hwm,
               "rss_end": rss, "cpu": cpu, "requests": sum(reqs.values()), "requests_by": reqs,
               "decrypts": total(m1, "seal_decrypt_total") - total(m0, "seal_decrypt_total"),
               "reconciles": total(m1, "seal_reconcile_total", kind="SealedSecret")
               - total(m0, "seal_reconcile_total", kind="SealedSecret")}
    finally:
        ctrl.stop()
    # The resync: a new process lists and reconciles every object again.
    ctrl = Controller(env, args.controller, [ns, "tpl"], log_path, args.controller_flag)
    try:
        m0 = {}  # a new process: everything it did counts, from its start
        start = time.monotonic()
        wait_idle(ctrl, "SealedSecret", n + 1)
        took = time.monotonic() - start - 3
        m1 = ctrl.metrics()
        hwm, _, cpu = ctrl.proc_stats()
        reqs = requests(m0, m1)
        row.update(resync_s=took, resync_writes=sum(v for (verb, _), v in reqs.items() if verb in WRITES),
                   resync_reads=sum(v for (verb, _), v in reqs.items() if verb not in WRITES),
                   resync_requests_by=reqs, resync_decrypts=total(m1, "seal_decrypt_total"),
                   resync_rss_peak=hwm, resync_cpu=cpu)
    finally:
        ctrl.stop()
    results.append(row)
    return row


def run_external(env, args, n, tmp, results, paths=100):
    ns = f"es-{n}"
    env.namespace(ns)
    for p in range(paths):
        env.vault("POST", f"/v1/secret/data/bench/p{p}", {"data": {"value": f"v-{p}-0123456789"}})
    token = base64.b64encode(env.vault_token.encode()).decode()
    env.request("POST", f"/api/v1/namespaces/{ns}/secrets",
                {"apiVersion": "v1", "kind": "Secret", "data": {"token": token},
                 "metadata": {"name": "vault-token", "annotations": {"seal.dev/allowed-stores": "SecretStore/bao"}}})
    store = {"apiVersion": "seal.dev/v1alpha1", "kind": "SecretStore", "metadata": {"name": "bao"},
             "spec": {"provider": {"vault": {"server": env.vault_addr, "path": "secret", "version": "v2",
                                             "allowInsecureHttp": True,
                                             "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token"}}}}}}
    env.request("POST", f"/apis/seal.dev/v1alpha1/namespaces/{ns}/secretstores", store)
    target = {}
    if args.es_template:
        env.request("POST", f"/api/v1/namespaces/{ns}/configmaps",
                    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shape"},
                     "data": {"tpl": 'dsn: "{{ .value }}@db"'}})
        target = {"template": {"templateFrom": [{"configMap": {"name": "shape", "items": [
            {"key": "tpl", "templateAs": "KeysAndValues"}]}}]}}
    log_path = os.path.join(tmp, f"controller-es-{n}.log")
    ctrl = Controller(env, args.controller, [ns], log_path, args.controller_flag)
    try:
        m0 = ctrl.metrics()
        watch = Watch(env, f"/apis/seal.dev/v1alpha1/namespaces/{ns}/externalsecrets", ready)
        objects = ({"apiVersion": "seal.dev/v1alpha1", "kind": "ExternalSecret",
                    "metadata": {"name": f"e{i}", "namespace": ns},
                    "spec": {"secretStoreRef": {"name": "bao", "kind": "SecretStore"},
                             "refreshInterval": args.es_refresh, **({"target": target} if target else {}),
                             "data": [{"secretKey": "value", "remoteRef": {"key": f"bench/p{i % paths}",
                                                                           "property": "value"}}]}}
                   for i in range(n))
        start = time.monotonic()
        bulk(env, f"/apis/seal.dev/v1alpha1/namespaces/{ns}/externalsecrets", objects, args.concurrency)
        t_ready = watch.wait(n, 3600, "Ready ExternalSecrets") - start
        m1 = ctrl.metrics()
        reqs = requests(m0, m1)
        row = {"n": n, "paths": paths, "ready": t_ready, "requests": sum(reqs.values()), "requests_by": reqs,
               "reads_create": total(m1, "seal_vault_reads_total") - total(m0, "seal_vault_reads_total"),
               "logins": total(m1, "seal_vault_logins_total")}
        # One refresh round: every object reconciled once more, nothing changed.
        base = total(m1, "seal_reconcile_total", kind="ExternalSecret")
        deadline = time.monotonic() + 3600
        while total(ctrl.metrics(), "seal_reconcile_total", kind="ExternalSecret") < base + n:
            if time.monotonic() > deadline:
                raise RuntimeError("no full refresh round")
            time.sleep(0.5)
        m2 = ctrl.metrics()
        round_reqs = requests(m1, m2)
        hwm, rss, cpu = ctrl.proc_stats()
        row.update(refresh_reads=total(m2, "seal_vault_reads_total") - total(m1, "seal_vault_reads_total"),
                   refresh_writes=sum(v for (verb, _), v in round_reqs.items() if verb in WRITES),
                   refresh_requests_by=round_reqs, logins=total(m2, "seal_vault_logins_total"),
                   rss_peak=hwm, rss_end=rss, cpu=cpu, template=bool(args.es_template),
                   configmaps_create={v: c for (v, res), c in reqs.items() if res == "configmaps"},
                   configmaps_refresh={v: c for (v, res), c in round_reqs.items() if res == "configmaps"})
    finally:
        ctrl.stop()
    results.append(row)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", default="1000", help="SealedSecret counts, comma-separated (empty: none)")
    ap.add_argument("--es-n", default="", help="ExternalSecret counts, comma-separated")
    ap.add_argument("--concurrency", type=int, default=16, help="requests in flight of the bulk client")
    ap.add_argument("--es-refresh", default="2m", help="refreshInterval of the ExternalSecrets")
    ap.add_argument("--es-template", action="store_true",
                    help="every ExternalSecret renders a template from one shared ConfigMap")
    ap.add_argument("--controller", default=f"{ROOT}/target/release/seal-controller")
    ap.add_argument("--seal", default=f"{ROOT}/target/release/seal")
    ap.add_argument("--controller-flag", action="append", default=[], help="extra controller flag (repeatable)")
    ap.add_argument("--state", default="/tmp/seal-scale", help="state dir prefix (one control plane per N)")
    ap.add_argument("--json", help="write the raw results here")
    args = ap.parse_args()
    ns = [int(x) for x in args.n.split(",") if x]
    es_ns = [int(x) for x in args.es_n.split(",") if x]
    sealed, external = [], []
    value = base64.b64encode(b"bench-value-0123456789abcdef").decode()
    import tempfile
    for n in ns:
        tmp = tempfile.mkdtemp(prefix=f"seal-scale-{n}-")
        env = Env(f"{args.state}-ss-{n}")
        try:
            log(f"N={n}: baseline")
            base = baseline(env, n, args.concurrency, value)
            log(f"N={n}: baseline {base:.1f}s; SealedSecrets")
            row = run_sealed(env, args, n, tmp, sealed)
            row["baseline"] = base
            log(f"N={n}: {json.dumps({k: v for k, v in row.items() if not k.endswith('_by')})}")
        finally:
            env.down()
    for n in es_ns:
        tmp = tempfile.mkdtemp(prefix=f"seal-scale-es-{n}-")
        env = Env(f"{args.state}-es-{n}")
        try:
            log(f"N={n}: baseline")
            base = baseline(env, n, args.concurrency, value)
            log(f"N={n}: ExternalSecrets")
            row = run_external(env, args, n, tmp, external)
            row["baseline"] = base
            log(f"N={n}: {json.dumps({k: v for k, v in row.items() if not k.endswith('_by')})}")
        finally:
            env.down()
    if args.json:
        def enc(rows):
            return [{k: ({f"{a} {b}": c for (a, b), c in v.items()} if k.endswith("_by") else v)
                     for k, v in r.items()} for r in rows]
        json.dump({"sealed": enc(sealed), "external": enc(external)}, open(args.json, "w"), indent=1)
    report(sealed, external)


def report(sealed, external):
    if sealed:
        print("| N | baseline | seal: Ready | ratio | all Secrets exist | peak RSS | CPU | API requests / object"
              " | resync: writes | resync: decryptions | resync: reads |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in sealed:
            print(f"| {r['n']:,} | {r['baseline']:.1f} s | {r['ready']:.1f} s | {r['ready'] / r['baseline']:.2f}x"
                  f" | {r['secrets']:.1f} s | {r['rss_peak']:.0f} MiB | {r['cpu']:.1f} s"
                  f" | {r['requests'] / r['n']:.2f} | {r['resync_writes']:.0f} | {r['resync_decrypts']:.0f}"
                  f" | {r['resync_reads']:.0f} |")
        print()
        for r in sealed:
            by = ", ".join(f"{v} {res} {c / r['n']:.2f}" for (v, res), c in sorted(r["requests_by"].items()))
            rby = ", ".join(f"{v} {res} {c:.0f}" for (v, res), c in sorted(r["resync_requests_by"].items()))
            print(f"- N={r['n']:,}: per object: {by}. Resync ({r['resync_s']:.1f} s, peak RSS"
                  f" {r['resync_rss_peak']:.0f} MiB): {rby}")
        print()
    if external:
        print("| N | paths | baseline | seal: Ready | ratio | Vault reads while creating | Vault reads per refresh"
              " | writes per refresh | logins | peak RSS | CPU |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in external:
            print(f"| {r['n']:,} | {r['paths']} | {r['baseline']:.1f} s | {r['ready']:.1f} s"
                  f" | {r['ready'] / r['baseline']:.2f}x | {r['reads_create']:.0f} | {r['refresh_reads']:.0f}"
                  f" | {r['refresh_writes']:.0f} | {r['logins']:.0f} | {r['rss_peak']:.0f} MiB | {r['cpu']:.1f} s |")
        for r in external:
            if r["template"]:
                def verbs(d):
                    return ", ".join(f"{v} {c:.0f}" for v, c in sorted(d.items())) or "none"
                print(f"\n- N={r['n']:,}, one shared template ConfigMap: ConfigMap requests while creating:"
                      f" {verbs(r['configmaps_create'])}; per refresh round: {verbs(r['configmaps_refresh'])}")


if __name__ == "__main__":
    main()
