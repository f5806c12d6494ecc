//! Where `seal` finds age identities, in sops' order: `--identity` files,
//! `SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD`, then the default
//! key file (`$XDG_CONFIG_HOME/sops/age/keys.txt` or `~/.config/sops/age/keys.txt`).

use std::path::{Path, PathBuf};

use seal_format::sops::Identities;

use crate::{Failure, exit};

/// The default sops age key file.
pub fn default_key_file() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("sops/age/keys.txt"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/sops/age/keys.txt"))
}

/// Loads every identity the environment offers.
/// Checks sops' `--decryption-order` (`SOPS_DECRYPTION_ORDER`): the key
/// types to try first, in order (sops still tries the others after them;
/// its default is `age,pgp`). seal has age keys only, so every order gives
/// the same result and is followed as it is; a type named twice is sops'
/// error, with its code.
pub fn decryption_order(order: &str) -> Result<(), Failure> {
    let types: Vec<&str> = order.split(',').collect();
    match types.iter().enumerate().find(|(i, t)| types.get(..*i).is_some_and(|before| before.contains(t))) {
        Some((_, t)) => {
            Err(Failure::new(exit::DUPLICATE_DECRYPTION_KEY_TYPE, format!("Duplicate decryption key type: {t}")))
        }
        None => Ok(()),
    }
}

pub fn load(files: &[PathBuf]) -> Result<Identities, Failure> {
    let mut ids = Identities::new();
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| {
            Failure::new(exit::COULD_NOT_RETRIEVE_KEY, format!("cannot read identity file {}: {e}", p.display()))
        })
    };
    for f in files {
        let text = read(f)?;
        ids.add_text(&text, &f.display().to_string()).map_err(Failure::from)?;
    }
    if let Ok(text) = std::env::var("SOPS_AGE_KEY") {
        ids.add_text(&text, "SOPS_AGE_KEY").map_err(Failure::from)?;
    }
    if let Some(p) = std::env::var_os("SOPS_AGE_KEY_FILE").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        let text = read(&p)?;
        ids.add_text(&text, &p.display().to_string()).map_err(Failure::from)?;
    }
    if let Ok(cmd) = std::env::var("SOPS_AGE_KEY_CMD")
        && !cmd.trim().is_empty()
    {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&cmd)
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| Failure::new(exit::COULD_NOT_RETRIEVE_KEY, format!("SOPS_AGE_KEY_CMD could not run: {e}")))?;
        if !out.status.success() {
            return Err(Failure::new(
                exit::COULD_NOT_RETRIEVE_KEY,
                format!("SOPS_AGE_KEY_CMD failed ({})", out.status),
            ));
        }
        let text = String::from_utf8(out.stdout).map_err(|_| {
            Failure::new(exit::COULD_NOT_RETRIEVE_KEY, "SOPS_AGE_KEY_CMD printed something that is not text")
        })?;
        ids.add_text(&text, "SOPS_AGE_KEY_CMD").map_err(Failure::from)?;
    }
    if let Some(p) = default_key_file()
        && p.is_file()
    {
        let text = read(&p)?;
        ids.add_text(&text, &p.display().to_string()).map_err(Failure::from)?;
    }
    Ok(ids)
}
