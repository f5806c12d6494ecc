//! Bounds on what a reader accepts, so that a hostile file (one committed in
//! a pull request that `seal verify` checks, or applied by a tenant) costs
//! bounded time, memory and stack. Each limit is far above any real SOPS
//! file; a file beyond one is refused with [`Error::Limit`], which names
//! the limit and where it was reached, never a value.
//!
//! The recursive parts of the format engine (the tree walk, the emitters,
//! `Drop` of a tree) recurse once per nesting level, so bounding the depth
//! at parse time bounds their stack as well.

use super::error::Error;

/// Largest input file, in bytes (16 MiB; a Kubernetes object is at most
/// 1.5 MiB).
pub const MAX_INPUT_BYTES: usize = 16 << 20;

/// Deepest nesting of maps and lists (real files stay under 20; serde_json
/// and so the API objects the controller reads stop at 128 as well).
pub const MAX_DEPTH: usize = 128;

/// Most values (scalars, maps and lists, counted after YAML aliases are
/// expanded) in one file.
pub const MAX_VALUES: usize = 1_000_000;

/// Most bytes of scalar text after YAML aliases are expanded: 4× the
/// largest input, so aliases may repeat a value but not multiply a file.
pub const MAX_EXPANDED_BYTES: usize = 4 * MAX_INPUT_BYTES;

/// Largest list index in a flattened dotenv metadata key
/// (`sops_age__list_N__map_enc`); sops writes one per recipient.
pub const MAX_METADATA_INDEX: usize = 1024;

/// Most `__map_`/`__list_` segments in one flattened metadata key.
pub const MAX_METADATA_SEGMENTS: usize = 16;

/// Refuses an input larger than [`MAX_INPUT_BYTES`].
pub fn check_input_size(len: usize) -> Result<(), Error> {
    if len > MAX_INPUT_BYTES {
        return Err(Error::Limit(format!(
            "the input is {len} bytes; at most {MAX_INPUT_BYTES} bytes ({} MiB) are read",
            MAX_INPUT_BYTES >> 20
        )));
    }
    Ok(())
}

/// Counts what a reader has built, refusing past the limits.
#[derive(Default)]
pub struct Budget {
    depth: usize,
    values: usize,
    bytes: usize,
}

impl Budget {
    /// Enters a map or list; `at` says where, for the message.
    pub fn enter(&mut self, at: &dyn Fn() -> String) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Error::Limit(format!(
                "maps and lists are nested more than {MAX_DEPTH} levels deep ({})",
                at()
            )));
        }
        self.value(0, at)
    }

    /// Leaves a map or list.
    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Counts one scalar of `len` bytes.
    pub fn value(&mut self, len: usize, at: &dyn Fn() -> String) -> Result<(), Error> {
        self.add(1, len, at)
    }

    /// Counts `values` values holding `bytes` bytes of text (a YAML alias
    /// being expanded), before anything is copied.
    pub fn add(&mut self, values: usize, bytes: usize, at: &dyn Fn() -> String) -> Result<(), Error> {
        self.values = self.values.saturating_add(values);
        self.bytes = self.bytes.saturating_add(bytes);
        if self.values > MAX_VALUES {
            return Err(Error::Limit(format!(
                "the document holds more than {MAX_VALUES} values{} ({})",
                if values > 1 { " once its aliases are expanded" } else { "" },
                at()
            )));
        }
        if self.bytes > MAX_EXPANDED_BYTES {
            return Err(Error::Limit(format!(
                "the document's values exceed {} MiB once its aliases are expanded ({})",
                MAX_EXPANDED_BYTES >> 20,
                at()
            )));
        }
        Ok(())
    }

    /// The values counted so far.
    pub fn values(&self) -> usize {
        self.values
    }

    /// The text bytes counted so far.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}
