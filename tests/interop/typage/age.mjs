// typage (npm age-encryption) as a command for seal's interoperability
// tests (tests/integration/pq.rs):
//   node age.mjs keygen                  -> identity line, then recipient line (hybrid)
//   node age.mjs recipient IDENTITY_FILE -> the identity's recipient
//   node age.mjs encrypt RECIPIENT       -> stdin (base64) to an armored age file on stdout
//   node age.mjs decrypt IDENTITY_FILE   -> stdin (armored) to the plaintext in base64 on stdout
import { readFileSync } from "node:fs"
import * as age from "age-encryption"

const [cmd, arg] = process.argv.slice(2)
const stdin = () => readFileSync(0)
const identity = (file) => readFileSync(file, "utf8").split("\n").map((l) => l.trim()).find((l) => l.startsWith("AGE-SECRET-KEY-"))

if (cmd === "keygen") {
    const id = await age.generateHybridIdentity()
    process.stdout.write(`${id}\n${await age.identityToRecipient(id)}\n`)
} else if (cmd === "recipient") {
    process.stdout.write(`${await age.identityToRecipient(identity(arg))}\n`)
} else if (cmd === "encrypt") {
    const e = new age.Encrypter()
    e.addRecipient(arg)
    const plain = Buffer.from(stdin().toString("utf8").trim(), "base64")
    process.stdout.write(age.armor.encode(await e.encrypt(plain)))
} else if (cmd === "decrypt") {
    const d = new age.Decrypter()
    d.addIdentity(identity(arg))
    const plain = await d.decrypt(age.armor.decode(stdin().toString("utf8")))
    process.stdout.write(Buffer.from(plain).toString("base64") + "\n")
} else {
    process.stderr.write(`unknown command ${cmd}\n`)
    process.exit(2)
}
