#!/usr/bin/env python3
"""Re-key sops' functional-test fixtures from PGP to age, values untouched.

sops' functional tests (getsops/sops, functional-tests/res) ship files
whose data key is wrapped to a PGP test key. seal does not implement PGP,
so the port puts an age key in the PGP key's role: this script unwraps each
file's data key with that PGP key and wraps the same data key to an age
recipient, rewriting only the key entry (in the file's own syntax: YAML
block, JSON or dotenv escapes, INI `\\n` escapes or triple quotes). The
ciphertexts, the MAC, `lastmodified` and the rest of the layout stay byte
for byte what sops wrote, so the fixtures still test what sops' do.

Usage: rekey.py SOPS_CHECKOUT OUT_DIR
  SOPS_CHECKOUT  a getsops/sops tree (functional-tests/res and
                 pgp/sops_functional_tests_key.asc are read from it)
  OUT_DIR        where the re-keyed files are written

PGP fingerprints map to the age keys next to this script: FBC7… → k1,
D722… → k2, B611… → k3 (the functional tests hold FBC7 and D722's
private keys, not B611's; the port holds k1 and k2, not k3).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FPS = {
    "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4": "k1",
    "D7229043384BCC60326C6FB9D8720D957C3D3074": "k2",
    "B611A2F9F11D0FF82568805119F9B5DAEA91FF86": "k3",
}
PGP = re.compile(r"-----BEGIN PGP MESSAGE-----(.*?)-----END PGP MESSAGE-----", re.S)


def recipient(name):
    with open(os.path.join(HERE, name + ".key")) as f:
        for line in f:
            if line.startswith("# public key: "):
                return line.split(": ", 1)[1].strip()
    raise SystemExit(f"{name}.key has no public key line")


def unwrap(armor, gnupghome):
    out = subprocess.run(["gpg", "--batch", "--quiet", "--decrypt"], input=armor.encode(),
                         capture_output=True, env={**os.environ, "GNUPGHOME": gnupghome}, check=True)
    return out.stdout


def wrap(data_key, rcpt):
    out = subprocess.run(["age", "-a", "-r", rcpt], input=data_key, capture_output=True, check=True)
    return out.stdout.decode()


def rekey(text, gnupghome, fp_order):
    """Replaces each PGP message (in order) by an age message of the same data key."""
    data_key = None
    pieces, last, i = [], 0, 0
    for m in PGP.finditer(text):
        body = m.group(0)
        if "\\n" in body:
            style, armor = "escaped", body.replace("\\n", "\n")
            indent = ""
        else:
            indent = re.search(r"\n([ \t]*)-----END", body)
            indent = indent.group(1) if indent else ""
            style = "block"
            armor = "\n".join(l[len(indent):] if l.startswith(indent) else l for l in body.split("\n"))
        key = unwrap(armor + "\n", gnupghome)
        if data_key is None:
            data_key = key
        elif key != data_key:
            raise SystemExit("two PGP entries wrap different data keys")
        age = wrap(key, recipient(FPS[fp_order[i]])).rstrip("\n")
        new = age.replace("\n", "\\n") if style == "escaped" else age.replace("\n", "\n" + indent)
        pieces.append(text[last:m.start()])
        pieces.append(new)
        last = m.end()
        i += 1
    pieces.append(text[last:])
    return "".join(pieces)


def rename(text, name):
    rc = lambda fp: recipient(FPS[fp])
    if name.endswith(".json"):
        text = text.replace('"pgp": [', '"age": [')
        return re.sub(r'"created_at": "[^"]*",(\s+"enc": "[^"]*"),\s+"fp": "(\w+)"',
                      lambda m: f'"recipient": "{rc(m.group(2))}",{m.group(1)}', text)
    if name.endswith(".env") or name.endswith(".ini"):
        fps = dict(re.findall(r"pgp__list_(\d+)__map_fp\s*=\s*(\w+)", text))
        text = re.sub(r"(sops_)?pgp__list_(\d+)__map_fp[^\n]*\n", "", text)
        text = re.sub(r"((?:sops_)?)pgp__list_(\d+)__map_created_at(\s*)=(\s*)[^\n]*",
                      lambda m: f"{m.group(1)}age__list_{m.group(2)}__map_recipient{m.group(3) + ' ' if m.group(3) else ''}={m.group(4)}{rc(fps[m.group(2)])}",
                      text)
        return text.replace("pgp__list_", "age__list_")
    # YAML: the entry's created_at line becomes its recipient, its fp line goes.
    text = re.sub(r"\n[ \t]*age: \[\]", "", text)
    text = re.sub(r"\n([ \t]*)pgp:\n", r"\n\1age:\n", text)
    return re.sub(r"created_at: \S+\n(.*?)\n[ \t]*fp: (\w+)",
                  lambda m: f"recipient: {rc(m.group(2))}\n{m.group(1)}", text, flags=re.S)


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    checkout, out = sys.argv[1], sys.argv[2]
    res = os.path.join(checkout, "functional-tests", "res")
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as gnupghome:
        subprocess.run(["gpg", "--batch", "--quiet", "--import",
                        os.path.join(checkout, "pgp", "sops_functional_tests_key.asc")],
                       env={**os.environ, "GNUPGHOME": gnupghome}, check=True, capture_output=True)
        for name in sorted(os.listdir(res)):
            src = os.path.join(res, name)
            with open(src) as f:
                text = f.read()
            if "PGP MESSAGE" not in text:
                shutil.copyfile(src, os.path.join(out, name))
                continue
            fp_order = re.findall(r"(?:fp\"?:\s*\"?|_fp\s*=\s*)(\w{40})", text)
            text = rename(rekey(text, gnupghome, fp_order), name)
            with open(os.path.join(out, name), "w") as f:
                f.write(text)


if __name__ == "__main__":
    main()
