//! [`RunOutcome`]: how a server's run ended, for host threads that wait on it.

use std::{
    sync::{Arc, Condvar, Mutex, PoisonError},
    time::Duration,
};

use crate::Error;

/// Set once, when a server's run ends; any thread can wait for it, with or without a limit.
#[derive(Debug, Default)]
pub struct RunOutcome {
    ended: Mutex<Option<Result<(), Arc<Error>>>>,
    changed: Condvar,
}

impl RunOutcome {
    /// Record how the run ended and wake every waiter.
    pub fn finish(&self, result: Result<(), Error>) {
        *self.ended.lock().unwrap_or_else(PoisonError::into_inner) = Some(result.map_err(Arc::new));
        self.changed.notify_all();
    }

    /// How the run ended; `None` while it runs.
    #[must_use]
    pub fn get(&self) -> Option<Result<(), Arc<Error>>> {
        self.ended.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Block until the run ended, at most `timeout` when given; `None` when it still runs.
    #[must_use]
    pub fn wait(&self, timeout: Option<Duration>) -> Option<Result<(), Arc<Error>>> {
        let guard = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        let running = |ended: &mut Option<_>| ended.is_none();
        let guard = match timeout {
            None => self.changed.wait_while(guard, running).unwrap_or_else(PoisonError::into_inner),
            Some(limit) => {
                self.changed
                    .wait_timeout_while(guard, limit, running)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
        };
        guard.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, thread, time::Duration};

    use super::RunOutcome;

    #[test]
    fn waiters_see_the_end_once_it_is_recorded() {
        let outcome = Arc::new(RunOutcome::default());
        assert!(outcome.get().is_none());
        assert!(outcome.wait(Some(Duration::from_millis(10))).is_none());
        let waiter = thread::spawn({
            let outcome = Arc::clone(&outcome);
            move || outcome.wait(None)
        });
        outcome.finish(Err(crate::Error::InvalidConfig("boom".into())));
        assert!(waiter.join().unwrap().unwrap().is_err());
        assert!(outcome.get().unwrap().is_err());
    }
}
