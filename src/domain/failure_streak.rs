//! Tracks that fail right after they start, one after another (a broken playlist, a source that
//! is down): after [`FAILURE_STREAK_LIMIT`] of them in a row the player stops advancing instead
//! of trying, and reporting, every remaining track.

/// A failure (exception, `loadFailed`, stuck) less than this long (ms) after its track started
/// is a quick failure: the track never really played.
pub const QUICK_FAILURE_MS: u64 = 5_000;

/// Quick failures in a row after which the player stops.
pub const FAILURE_STREAK_LIMIT: u32 = 3;

/// One guild's quick failures in a row. A track that plays to its end, one that fails only after
/// [`QUICK_FAILURE_MS`], and a member's action (`/play`, `/skip`, `/previous`) end the streak.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureStreak {
    quick_failures: u32,
}

/// What the player does after a track failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Go on with the next track.
    Advance,
    /// Stop advancing: `failures` tracks in a row failed right after they started. The streak
    /// starts afresh.
    Stop { failures: u32 },
}

impl FailureStreak {
    /// The current track failed `played_ms` (ms) after it started.
    pub fn failed(&mut self, played_ms: u64) -> AfterFailure {
        if played_ms >= QUICK_FAILURE_MS {
            // It played: a failure of its own, not part of a streak.
            self.quick_failures = 0;
            return AfterFailure::Advance;
        }
        self.quick_failures += 1;
        if self.quick_failures < FAILURE_STREAK_LIMIT {
            return AfterFailure::Advance;
        }
        let failures = self.quick_failures;
        self.quick_failures = 0;
        AfterFailure::Stop { failures }
    }

    /// A track played to its end, or a member acted: the streak ends.
    pub fn reset(&mut self) {
        self.quick_failures = 0;
    }

    /// Quick failures in a row so far.
    pub fn count(&self) -> u32 {
        self.quick_failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_third_quick_failure_in_a_row_stops() {
        let mut s = FailureStreak::default();
        assert_eq!(s.failed(50), AfterFailure::Advance);
        assert_eq!(s.failed(QUICK_FAILURE_MS - 1), AfterFailure::Advance);
        assert_eq!(s.failed(0), AfterFailure::Stop { failures: 3 });
        // Afresh afterwards.
        assert_eq!(s.count(), 0);
        assert_eq!(s.failed(10), AfterFailure::Advance);
    }

    #[test]
    fn a_track_that_played_or_a_member_ends_the_streak() {
        let mut s = FailureStreak::default();
        s.failed(10);
        s.failed(10);
        // Failed only after playing for a while: not quick, and the streak is over.
        assert_eq!(s.failed(QUICK_FAILURE_MS), AfterFailure::Advance);
        assert_eq!(s.count(), 0);
        s.failed(10);
        s.failed(10);
        s.reset();
        assert_eq!(s.failed(10), AfterFailure::Advance);
        assert_eq!(s.count(), 1);
    }
}
