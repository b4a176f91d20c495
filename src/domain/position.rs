use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The position rule: the last observed position plus the wall-clock time elapsed since it was
/// observed while playing, clamped to the track's length (`length_ms = None` for a stream or an
/// unknown length). A paused player stays where it was; a clock that went backwards adds nothing.
pub fn extrapolate_position(
    position_ms: u64,
    observed_at_ms: u64,
    now_ms: u64,
    paused: bool,
    length_ms: Option<u64>,
) -> u64 {
    let position = if paused {
        position_ms
    } else {
        position_ms.saturating_add(now_ms.saturating_sub(observed_at_ms))
    };
    match length_ms {
        Some(len) => position.min(len),
        None => position,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playing_advances_by_elapsed_time() {
        assert_eq!(
            extrapolate_position(10_000, 1_000, 3_500, false, Some(60_000)),
            12_500
        );
    }

    #[test]
    fn paused_does_not_advance() {
        assert_eq!(
            extrapolate_position(10_000, 1_000, 90_000, true, Some(60_000)),
            10_000
        );
    }

    #[test]
    fn clamped_to_length_but_not_for_streams() {
        assert_eq!(
            extrapolate_position(59_000, 0, 5_000, false, Some(60_000)),
            60_000
        );
        assert_eq!(extrapolate_position(59_000, 0, 5_000, false, None), 64_000);
    }

    #[test]
    fn clock_going_backwards_adds_nothing() {
        assert_eq!(
            extrapolate_position(7_000, 5_000, 4_000, false, Some(60_000)),
            7_000
        );
    }

    #[test]
    fn now_is_after_2020() {
        assert!(now_ms() > 1_577_836_800_000);
    }
}
