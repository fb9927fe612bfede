//! Phase timings of a load on stderr, for profiling (`UPSERTX_TRACE=1`).

use std::time::Instant;

/// Phase timings on stderr when `UPSERTX_TRACE` is set (for profiling, not a stable format).
pub(crate) fn trace(what: &str) {
    use std::sync::OnceLock;
    static START: OnceLock<Option<Instant>> = OnceLock::new();
    if let Some(start) = START.get_or_init(|| std::env::var_os("UPSERTX_TRACE").map(|_| Instant::now())) {
        eprintln!("[{:8.3}s] {what}", start.elapsed().as_secs_f64());
    }
}
