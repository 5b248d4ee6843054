//! Graceful stop on SIGINT and SIGTERM: the first signal asks the training run to stop after its
//! current iteration (it then writes a checkpoint and flushes its logs); a second one ends the
//! process at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use enco_train::StopFlag;
use signal_hook::consts::{SIGINT, SIGTERM};

/// The stop signals this process listens to while it trains.
pub struct StopSignals {
    any: Arc<AtomicBool>,
    interrupt: Arc<AtomicBool>,
    terminate: Arc<AtomicBool>,
}

impl StopSignals {
    /// Installs the handlers.
    pub fn install() -> std::io::Result<Self> {
        let any = Arc::new(AtomicBool::new(false));
        let interrupt = Arc::new(AtomicBool::new(false));
        let terminate = Arc::new(AtomicBool::new(false));
        for (signal, own) in [(SIGINT, &interrupt), (SIGTERM, &terminate)] {
            // Registered first, so it sees the flag as the previous signal left it: a second
            // signal while a stop is pending exits at once (128 + the signal's number).
            signal_hook::flag::register_conditional_shutdown(
                signal,
                128 + signal,
                Arc::clone(&any),
            )?;
            signal_hook::flag::register(signal, Arc::clone(&any))?;
            signal_hook::flag::register(signal, Arc::clone(own))?;
        }
        Ok(Self {
            any,
            interrupt,
            terminate,
        })
    }

    /// The flag the training run polls.
    pub fn stop_flag(&self) -> StopFlag {
        StopFlag::from_atomic(Arc::clone(&self.any))
    }

    /// The conventional exit status after a graceful stop: 130 for SIGINT, 143 for SIGTERM.
    pub fn exit_status(&self) -> u8 {
        if self.terminate.load(Ordering::SeqCst) && !self.interrupt.load(Ordering::SeqCst) {
            143
        } else {
            130
        }
    }
}
