//! Ctrl-C during `train`: the first one asks the run to stop after its current batch (its best
//! checkpoint is already on disk, and is written once more with the final summary); a second
//! one ends the process at once, as Ctrl-C normally does.

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether Ctrl-C was pressed since [`catch`].
pub fn requested() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

#[cfg(unix)]
pub fn catch() {
    extern "C" fn on_interrupt(_: libc::c_int) {
        INTERRUPTED.store(true, Ordering::Relaxed);
        // Only async-signal-safe calls here: put the default action back for a second Ctrl-C.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
        }
    }
    let handler: extern "C" fn(libc::c_int) = on_interrupt;
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
    }
}

/// Elsewhere Ctrl-C keeps its default action (the checkpoints written so far stay valid).
#[cfg(not(unix))]
pub fn catch() {}
