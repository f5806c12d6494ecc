//! The work budget of one object's templates in one reconcile, and the
//! wrapper that charges every function call to it.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use gotmpl::{FuncMap, TemplateError, Value};

use crate::functions::fail;
use crate::{MAX_BCRYPT_CALLS, pkcs12};

/// Most bytes the templates of one object may process in one reconcile:
/// every function's string arguments and results, and every output.
pub const MAX_WORK_BYTES: usize = 64 << 20;
/// Most list and map elements (and strings in them) the functions of one
/// object's templates may build in one reconcile.
pub const MAX_WORK_ELEMENTS: usize = 200_000;
/// Deepest list or map a function may return (lists of lists built in a
/// loop would otherwise make printing and dropping them recurse without
/// bound).
pub const MAX_VALUE_DEPTH: usize = 64;
/// Longest the templates of one object may run in one reconcile, all
/// executions together, checked before every function call and every
/// template.
pub const MAX_WORK_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// The work budget of one object's templates in one reconcile: bytes
/// processed, elements built, bcrypt hashes and key derivations, and time
/// spent rendering. Shared by all of its templates (the Secret's and the
/// rewrite transforms), so that a tenant cannot multiply a per-template
/// bound by writing more templates.
pub struct Work {
    spent: Mutex<Spent>,
    time: std::time::Duration,
    pub(crate) bcrypt_calls: AtomicUsize,
    pub(crate) max_bcrypt_calls: usize,
    pub(crate) rsa_calls: AtomicUsize,
    pub(crate) derive_calls: AtomicUsize,
    pub(crate) kdf: Mutex<pkcs12::Budget>,
}

#[derive(Default)]
pub(crate) struct Spent {
    bytes: usize,
    elements: usize,
    /// Time spent by the executions that ended.
    used: std::time::Duration,
    /// When the running execution must stop.
    deadline: Option<std::time::Instant>,
    /// The message of the last failure of one of seal's functions: written
    /// by seal (names and reasons, never values), so it may be shown.
    pub(crate) failure: Option<String>,
}

impl Work {
    /// A full budget, with [`MAX_WORK_TIME`] to spend rendering.
    pub fn new() -> Arc<Work> {
        Work::with_time(MAX_WORK_TIME)
    }

    /// A full budget with `time` to spend rendering.
    pub fn with_time(time: std::time::Duration) -> Arc<Work> {
        Work::with_limits(time, pkcs12::MAX_ITERATIONS, MAX_BCRYPT_CALLS)
    }

    /// A budget with `time` to spend rendering, `kdf_iterations` of
    /// PKCS#12 key derivation and `bcrypt_calls` hashes (which also caps
    /// `derivePassword`'s scrypt): the fuzz target's, so that one run stays
    /// short.
    pub fn with_limits(time: std::time::Duration, kdf_iterations: u64, bcrypt_calls: usize) -> Arc<Work> {
        Arc::new(Work {
            spent: Mutex::new(Spent::default()),
            time,
            bcrypt_calls: AtomicUsize::new(0),
            max_bcrypt_calls: bcrypt_calls,
            rsa_calls: AtomicUsize::new(0),
            derive_calls: AtomicUsize::new(0),
            kdf: Mutex::new(pkcs12::Budget::new(kdf_iterations)),
        })
    }

    fn out_of_time() -> String {
        format!("the object's templates ran longer than {} s in one reconcile", MAX_WORK_TIME.as_secs())
    }

    /// Starts an execution: its deadline is what is left of the time.
    pub(crate) fn begin(&self) -> Result<std::time::Instant, String> {
        let now = std::time::Instant::now();
        let mut s = self.spent();
        let left = self.time.checked_sub(s.used).filter(|d| !d.is_zero()).ok_or_else(Work::out_of_time)?;
        s.deadline = Some(now + left);
        Ok(now)
    }

    /// Ends the execution started at `started`.
    pub(crate) fn end(&self, started: std::time::Instant) {
        let mut s = self.spent();
        s.used = s.used.saturating_add(started.elapsed());
        s.deadline = None;
    }

    pub(crate) fn spent(&self) -> std::sync::MutexGuard<'_, Spent> {
        self.spent.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn check_time(&self) -> Result<(), String> {
        match self.spent().deadline {
            Some(d) if std::time::Instant::now() > d => Err(Work::out_of_time()),
            _ => Ok(()),
        }
    }

    /// Charges `n` bytes processed.
    pub fn charge_bytes(&self, n: usize) -> Result<(), String> {
        let mut s = self.spent();
        s.bytes = s.bytes.saturating_add(n);
        if s.bytes > MAX_WORK_BYTES {
            return Err(format!(
                "the object's templates process more than {} MiB in one reconcile",
                MAX_WORK_BYTES >> 20
            ));
        }
        Ok(())
    }

    pub(crate) fn charge_elements(&self, n: usize) -> Result<(), String> {
        let mut s = self.spent();
        s.elements = s.elements.saturating_add(n);
        if s.elements > MAX_WORK_ELEMENTS {
            return Err(format!(
                "the object's templates build more than {MAX_WORK_ELEMENTS} list or map elements in one reconcile"
            ));
        }
        Ok(())
    }

    pub(crate) fn failed(&self, message: String) {
        self.spent().failure = Some(message);
    }
}

/// The execution in progress on this thread: its budget and the
/// controller's key. The function map is built once for the process
/// (`engine`); the functions that need the budget or the key read them
/// here, so that an execution does not build 200 closures.
pub(crate) struct Scope {
    pub(crate) work: Arc<Work>,
    pub(crate) salt_key: Vec<u8>,
}

thread_local! {
    static SCOPE: std::cell::RefCell<Option<std::rc::Rc<Scope>>> = const { std::cell::RefCell::new(None) };
}

/// The execution in progress on this thread.
pub(crate) fn scope() -> Option<std::rc::Rc<Scope>> {
    SCOPE.with(|s| s.borrow().clone())
}

/// Makes `work` and `salt_key` the execution in progress until dropped.
pub(crate) struct Entered(Option<std::rc::Rc<Scope>>);

pub(crate) fn enter(work: &Arc<Work>, salt_key: &[u8]) -> Entered {
    let scope = Scope { work: work.clone(), salt_key: salt_key.to_vec() };
    Entered(SCOPE.with(|s| s.replace(Some(std::rc::Rc::new(scope)))))
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.0.take();
        SCOPE.with(|s| *s.borrow_mut() = previous);
    }
}

/// Bytes of the strings a function is given (the strings directly in a
/// list or map argument included): what it will read.
fn input_bytes(args: &[Value]) -> usize {
    let one = |v: &Value| match v {
        Value::String(x) => x.len(),
        _ => 1,
    };
    args.iter()
        .map(|a| match a {
            Value::List(l) => l.iter().map(one).fold(0, usize::saturating_add),
            Value::Map(m) => m.iter().map(|(k, v)| k.len().saturating_add(one(v))).fold(0, usize::saturating_add),
            other => one(other),
        })
        .fold(0, usize::saturating_add)
}

/// Charges what a function returned: its strings' bytes, its elements, and
/// refuses a result nested deeper than [`MAX_VALUE_DEPTH`]. An explicit
/// stack, not recursion, and the walk stops as soon as the budget is spent.
fn charge_result(work: &Work, v: &Value) -> Result<(), String> {
    let mut stack: Vec<(&Value, usize)> = vec![(v, 0)];
    let (mut bytes, mut elements) = (0usize, 0usize);
    while let Some((v, depth)) = stack.pop() {
        if depth > MAX_VALUE_DEPTH {
            return Err(format!("a list or map nested deeper than {MAX_VALUE_DEPTH} levels"));
        }
        match v {
            Value::String(x) => bytes = bytes.saturating_add(x.len()),
            Value::List(l) => {
                elements = elements.saturating_add(l.len());
                stack.extend(l.iter().map(|x| (x, depth + 1)));
            }
            Value::Map(m) => {
                elements = elements.saturating_add(m.len());
                for (k, x) in m.iter() {
                    bytes = bytes.saturating_add(k.len());
                    stack.push((x, depth + 1));
                }
            }
            _ => {}
        }
        if elements > MAX_WORK_ELEMENTS || bytes > MAX_WORK_BYTES {
            break; // over budget either way: the charges below say so
        }
    }
    work.charge_elements(elements)?;
    work.charge_bytes(bytes)
}

/// seal's functions behind the work budget: the deadline checked and the
/// arguments charged before the call, the result charged after it; a
/// failure remembered, so that its message (seal's words, see `fail`) can
/// be shown. The engine's built-ins (`eq`, `len`, `slice`, …) are not
/// reachable from outside the engine; they do work proportional to their
/// arguments, which seal's functions and the store's values bound, times
/// the range iterations of one execution.
pub(crate) fn metered(funcs: FuncMap) -> FuncMap {
    funcs
        .into_iter()
        .map(|(name, f)| {
            let label = name.clone();
            let wrapped: gotmpl::ValueFunc = Arc::new(move |args: &[Value]| {
                let scope = scope().ok_or_else(|| fail(&label, "called outside an execution"))?;
                let work = &scope.work;
                let refuse = |why: String| {
                    let e = fail(&label, &why);
                    work.failed(format!("{label}: {why}"));
                    e
                };
                work.check_time().map_err(refuse)?;
                work.charge_bytes(input_bytes(args)).map_err(refuse)?;
                match f(args) {
                    Ok(v) => charge_result(work, &v).map(|()| v).map_err(refuse),
                    Err(TemplateError::Exec(m)) if m.starts_with(&format!("{label}: ")) => {
                        // One of seal's functions: its own words (see `fail`).
                        work.failed(m.clone());
                        Err(TemplateError::Exec(m))
                    }
                    Err(e) => Err(e),
                }
            });
            (name, wrapped)
        })
        .collect()
}
