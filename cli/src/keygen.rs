//! `seal keygen`: a new age identity (X25519, or with `--pq` the hybrid
//! ML-KEM-768 + X25519 one), written to a file (0600) or stdout.

use std::io::Write;
use std::path::Path;

use zeroize::Zeroizing;

use crate::Failure;
use crate::common::write_stdout;

/// `seal keygen`.
pub fn run(output: Option<&Path>, pq: bool) -> Result<(), Failure> {
    use age::secrecy::ExposeSecret;
    let (recipient, secret) = if pq {
        let id = seal_format::sops::hybrid::HybridIdentity::generate().map_err(|e| Failure::general(e.to_string()))?;
        (id.to_public().to_string(), id.to_secret_string())
    } else {
        let id = age::x25519::Identity::generate();
        (id.to_public().to_string(), Zeroizing::new(id.to_string().expose_secret().to_owned()))
    };
    let created = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    let text = Zeroizing::new(format!("# created: {created}\n# public key: {recipient}\n{}\n", &*secret));
    match output {
        Some(path) => {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f =
                std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| {
                    Failure::output(format!("cannot create {} (it must not exist yet): {e}", path.display()))
                })?;
            f.write_all(text.as_bytes())
                .map_err(|e| Failure::output(format!("cannot write {}: {e}", path.display())))?;
            eprintln!("Public key: {recipient}");
            write_stdout(format!("{recipient}\n").as_bytes())
        }
        None => {
            eprintln!("Public key: {recipient}");
            write_stdout(text.as_bytes())
        }
    }
}
