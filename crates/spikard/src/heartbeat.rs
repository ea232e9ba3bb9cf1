//! Heartbeats: the server pings every connection at an interval and closes one whose pong does
//! not come back in time (a peer that vanished without closing keeps no room membership or
//! memory), and, when an idle timeout is set, one that sent no message for that long.
//!
//! The connection's reader keeps one [`Heartbeat`] and one timer. It tells the heartbeat about
//! the frames it reads ([`Heartbeat::pong`], [`Heartbeat::data`], which only store a time) and
//! asks it what to do when the timer fires ([`Heartbeat::fire`]), then re-arms the timer at
//! [`Heartbeat::deadline`]. The reader judges a missed pong only when no frame is waiting to be
//! read, so a slow handler never gets an answering client closed.

use std::time::Duration;

use tokio::time::Instant;

/// An app's heartbeat settings (see [`App::ping_interval`](crate::App::ping_interval),
/// [`App::ping_timeout`](crate::App::ping_timeout) and
/// [`App::idle_timeout`](crate::App::idle_timeout)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeartbeatSettings {
    /// Time between pings; zero sends none.
    pub(crate) ping_interval: Duration,
    /// Time a ping waits for its pong.
    pub(crate) ping_timeout: Duration,
    /// Time without a message from the client before it is closed; zero never closes.
    pub(crate) idle_timeout: Duration,
}

/// What the reader does when the heartbeat's timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Beat {
    /// Nothing is due yet.
    Wait,
    /// Send a ping now.
    Ping,
    /// A ping got no pong within the ping timeout: the peer is gone.
    PongMissed,
    /// The client sent no message for the idle timeout.
    Idle,
}

/// One connection's heartbeat state.
#[derive(Debug)]
pub(crate) struct Heartbeat {
    settings: HeartbeatSettings,
    /// When the next ping is due (`None`: pings are off).
    next_ping: Option<Instant>,
    /// When the pong of the oldest unanswered ping is due.
    pong_due: Option<Instant>,
    /// When the client's last message arrived (`None`: no idle timeout, or it already fired).
    last_data: Option<Instant>,
}

/// A deadline for a timer that never needs to fire.
fn far_future(now: Instant) -> Instant {
    now + Duration::from_secs(86_400 * 365)
}

impl Heartbeat {
    /// A heartbeat for a connection that opened at `now`.
    pub(crate) fn new(settings: HeartbeatSettings, now: Instant) -> Self {
        Self {
            settings,
            next_ping: (!settings.ping_interval.is_zero()).then(|| now + settings.ping_interval),
            pong_due: None,
            last_data: (!settings.idle_timeout.is_zero()).then_some(now),
        }
    }

    /// Whether anything is ever due (pings or an idle timeout).
    pub(crate) fn is_on(&self) -> bool {
        self.next_ping.is_some() || self.last_data.is_some()
    }

    /// When the timer should fire next.
    pub(crate) fn deadline(&self, now: Instant) -> Instant {
        let idle = self.last_data.map(|at| at + self.settings.idle_timeout);
        [self.next_ping, self.pong_due, idle].into_iter().flatten().min().unwrap_or_else(|| far_future(now))
    }

    /// A pong arrived: every ping sent so far is answered.
    pub(crate) fn pong(&mut self) {
        self.pong_due = None;
    }

    /// A text or binary message arrived.
    pub(crate) fn data(&mut self) {
        if let Some(at) = &mut self.last_data {
            *at = Instant::now();
        }
    }

    /// The timer fired at `now`: what is due, if anything.
    pub(crate) fn fire(&mut self, now: Instant) -> Beat {
        if self.pong_due.is_some_and(|due| now >= due) {
            return Beat::PongMissed;
        }
        if self.last_data.is_some_and(|at| now >= at + self.settings.idle_timeout) {
            self.last_data = None;
            return Beat::Idle;
        }
        if self.next_ping.is_some_and(|at| now >= at) {
            self.next_ping = Some(now + self.settings.ping_interval);
            self.pong_due.get_or_insert(now + self.settings.ping_timeout);
            return Beat::Ping;
        }
        Beat::Wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn settings(ping: u64, timeout: u64, idle: u64) -> HeartbeatSettings {
        HeartbeatSettings {
            ping_interval: S * u32::try_from(ping).unwrap(),
            ping_timeout: S * u32::try_from(timeout).unwrap(),
            idle_timeout: S * u32::try_from(idle).unwrap(),
        }
    }

    #[test]
    fn pings_at_the_interval_and_a_pong_clears_the_deadline() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(settings(10, 3, 0), t0);
        assert!(hb.is_on());
        assert_eq!(hb.deadline(t0), t0 + 10 * S);
        assert_eq!(hb.fire(t0 + 5 * S), Beat::Wait);
        assert_eq!(hb.fire(t0 + 10 * S), Beat::Ping);
        assert_eq!(hb.deadline(t0), t0 + 13 * S);
        hb.pong();
        assert_eq!(hb.deadline(t0), t0 + 20 * S);
        assert_eq!(hb.fire(t0 + 20 * S), Beat::Ping);
        assert_eq!(hb.fire(t0 + 23 * S), Beat::PongMissed);
    }

    #[test]
    fn a_timeout_longer_than_the_interval_keeps_the_oldest_deadline() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(settings(2, 5, 0), t0);
        assert_eq!(hb.fire(t0 + 2 * S), Beat::Ping);
        assert_eq!(hb.fire(t0 + 4 * S), Beat::Ping);
        assert_eq!(hb.deadline(t0), t0 + 6 * S);
        assert_eq!(hb.fire(t0 + 7 * S), Beat::PongMissed);
    }

    #[test]
    fn idle_fires_once_after_the_last_message() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(settings(0, 1, 30), t0);
        assert_eq!(hb.deadline(t0), t0 + 30 * S);
        assert_eq!(hb.fire(t0 + 30 * S), Beat::Idle);
        assert!(!hb.is_on());
        assert_eq!(hb.fire(t0 + 60 * S), Beat::Wait);
    }

    #[test]
    fn everything_off_never_fires() {
        let t0 = Instant::now();
        let hb = Heartbeat::new(settings(0, 1, 0), t0);
        assert!(!hb.is_on());
        assert!(hb.deadline(t0) > t0 + 300 * S);
    }
}
