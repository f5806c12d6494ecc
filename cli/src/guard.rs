//! Protection for a process that holds plaintext on disk (`seal edit`):
//! no core dumps, and signals that cannot leave the private temporary
//! directory behind.
//!
//! - SIGINT and SIGQUIT (Ctrl-C, Ctrl-\) are for the editor while it runs:
//!   seal ignores them then (the editor, started after the handlers are in
//!   place, gets the default dispositions back at exec). Outside the editor
//!   they clean up and exit.
//! - SIGTERM and SIGHUP (a closed terminal) remove the directory, pass the
//!   signal on to the editor and exit with 128 + the signal number.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::Signals;

/// Turns off core dumps for this process: a crash while plaintext is in
/// memory must not write it to disk (nor let other processes of the same
/// user read it through /proc or ptrace).
pub fn disable_core_dumps() {
    let zero = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain system calls with valid arguments; failure is harmless
    // (the limits stay as they were) and not worth aborting an edit.
    #[allow(unsafe_code)]
    unsafe {
        libc::setrlimit(libc::RLIMIT_CORE, &zero);
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

#[derive(Default)]
struct State {
    /// The private directory holding plaintext, while it exists.
    dir: Option<PathBuf>,
    /// The editor's process id, while it runs.
    editor: Option<u32>,
}

/// Installed for the life of an edit; see the module documentation.
pub struct Guard {
    state: Arc<Mutex<State>>,
    handle: signal_hook::iterator::Handle,
}

impl Guard {
    /// Installs the handlers for `dir` (before plaintext is written to it).
    pub fn install(dir: &Path) -> std::io::Result<Guard> {
        let state = Arc::new(Mutex::new(State { dir: Some(dir.to_owned()), editor: None }));
        let mut signals = Signals::new([SIGINT, SIGQUIT, SIGTERM, SIGHUP])?;
        let handle = signals.handle();
        let shared = Arc::clone(&state);
        std::thread::Builder::new().name("seal-signals".into()).spawn(move || {
            for sig in signals.forever() {
                let mut st = shared.lock().unwrap_or_else(|p| p.into_inner());
                if matches!(sig, SIGINT | SIGQUIT) && st.editor.is_some() {
                    continue;
                }
                if let Some(dir) = st.dir.take() {
                    remove_plaintext(&dir);
                }
                if let Some(pid) = st.editor.take()
                    && let Ok(pid) = i32::try_from(pid)
                {
                    // SAFETY: sends a signal to the editor we started.
                    #[allow(unsafe_code)]
                    unsafe {
                        libc::kill(pid, sig);
                    }
                }
                eprintln!(
                    "seal: stopped by signal {sig}; the temporary plaintext was removed and the file was not changed"
                );
                std::process::exit(128 + sig);
            }
        })?;
        Ok(Guard { state, handle })
    }

    /// Records the running editor (or `None` once it has exited).
    pub fn editor(&self, pid: Option<u32>) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).editor = pid;
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.handle.close();
    }
}

/// Overwrites every file in `dir` with zeros, then removes the directory.
fn remove_plaintext(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if let Ok(meta) = entry.metadata()
                && meta.is_file()
            {
                let zeros = vec![0u8; usize::try_from(meta.len()).unwrap_or(0).min(64 << 20)];
                let _ = std::fs::write(entry.path(), zeros);
            }
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}
