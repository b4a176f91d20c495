//! A guild's voice health: what a voice fault means, the healing ladder it starts on, and the
//! "connected but silent" watch. Pure: the player service feeds it what Discord and Lavalink
//! report and carries out the steps it names.
//!
//! The close codes are Discord's voice close event codes (Discord developer docs, "Opcodes and
//! Status Codes" → "Voice Close Event Codes"), which Lavalink forwards in its
//! `WebSocketClosedEvent`, plus the websocket codes (RFC 6455) a voice socket that simply broke
//! closes with.

use std::time::Duration;

/// What a voice close code says about the connection (Discord's voice close event codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseClass {
    /// 4014 Disconnected, 4022 Call terminated: Discord ended this voice connection on purpose
    /// (kicked, moved, channel deleted, voice server changed, main gateway session dropped).
    /// "Should not reconnect" with the same session: Discord's voice state says where the bot
    /// is now; if it is still in a channel, voice is requested anew.
    Disconnected,
    /// 4003 Not authenticated, 4004 Authentication failed, 4006 Session no longer valid, 4009
    /// Session timeout: the voice token or session is spent; only a fresh one from Discord (op 4)
    /// works.
    SessionInvalid,
    /// 4011 Server not found, 4015 Voice server crashed ("try resuming"), and sockets that broke
    /// without a Discord code (1001, 1006, 1011, …): the voice server went away; handing
    /// Lavalink the voice state again lets it reconnect.
    ServerGone,
    /// 4021 Rate limited ("should not reconnect" at once): ask again, later.
    RateLimited,
    /// 4012 Unknown protocol, 4016 Unknown encryption mode, 4017 E2EE/DAVE protocol required:
    /// the node cannot speak what Discord asks for; another node may.
    Unsupported,
    /// 4001 Unknown opcode, 4002 Failed to decode payload, 4005 Already authenticated, 4020 Bad
    /// request: the node's voice client sent something wrong; start over with the same state.
    ProtocolError,
    /// 1000 Normal closure: closed on purpose (a destroyed player, a leave); nothing to heal.
    Normal,
}

/// Reads a voice close code (any code: unknown ones count as a broken socket).
pub fn classify_close(code: u16) -> CloseClass {
    match code {
        1000 => CloseClass::Normal,
        4014 | 4022 => CloseClass::Disconnected,
        4003 | 4004 | 4006 | 4009 => CloseClass::SessionInvalid,
        4021 => CloseClass::RateLimited,
        4012 | 4016 | 4017 => CloseClass::Unsupported,
        4001 | 4002 | 4005 | 4020 => CloseClass::ProtocolError,
        _ => CloseClass::ServerGone,
    }
}

/// Why a guild's voice is suspect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VoiceFault {
    /// Lavalink's voice socket closed with this code.
    Closed(u16),
    /// Lavalink says its voice connection is down (`playerUpdate.state.connected` false) on two
    /// updates in a row.
    NotConnected,
    /// Playing, not paused, connected, yet the position has not moved for the silence timeout.
    Silent,
    /// Discord announced a new voice server (`VOICE_SERVER_UPDATE` with a null endpoint) and
    /// the real one did not follow in time.
    ServerNotAllocated,
}

impl VoiceFault {
    /// A short name, for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            VoiceFault::Closed(_) => "closed",
            VoiceFault::NotConnected => "not_connected",
            VoiceFault::Silent => "silent",
            VoiceFault::ServerNotAllocated => "server_not_allocated",
        }
    }

    /// Whether this fault needs healing at all (a normal closure does not).
    pub fn needs_healing(self) -> bool {
        !matches!(self, VoiceFault::Closed(c) if classify_close(c) == CloseClass::Normal)
    }
}

/// One healing step, mildest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HealStep {
    /// Hand Lavalink the voice state it has again (it reconnects its voice socket).
    Resend,
    /// Ask Discord for voice again in the same channel (op 4) and give Lavalink the fresh token,
    /// endpoint and session.
    Rerequest,
    /// Leave the channel and join it again.
    Rejoin,
    /// Rebuild the player on another Lavalink node.
    MoveNode,
}

impl HealStep {
    pub const ALL: [HealStep; 4] = [
        HealStep::Resend,
        HealStep::Rerequest,
        HealStep::Rejoin,
        HealStep::MoveNode,
    ];

    /// A short name, for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            HealStep::Resend => "resend",
            HealStep::Rerequest => "rerequest",
            HealStep::Rejoin => "rejoin",
            HealStep::MoveNode => "move_node",
        }
    }
}

/// The steps tried for `fault`, in order, with the wait before each. The ladder starts where the
/// fault says the mildest useful step is (a spent session gains nothing from a resend), skips
/// moving the player when there is no other node, and ends in giving up.
pub fn heal_ladder(fault: VoiceFault, nodes: usize) -> Vec<(HealStep, Duration)> {
    let first = match fault {
        VoiceFault::Closed(code) => match classify_close(code) {
            CloseClass::Normal => return Vec::new(),
            CloseClass::ServerGone | CloseClass::ProtocolError => HealStep::Resend,
            CloseClass::Disconnected | CloseClass::SessionInvalid | CloseClass::RateLimited => {
                HealStep::Rerequest
            }
            CloseClass::Unsupported => HealStep::MoveNode,
        },
        VoiceFault::NotConnected | VoiceFault::Silent => HealStep::Resend,
        VoiceFault::ServerNotAllocated => HealStep::Rerequest,
    };
    // Discord's own voice state update decides a 4014 (a kick or a move arrives within a moment);
    // a rate limit wants a real pause.
    let first_wait = match fault {
        VoiceFault::Closed(code) => match classify_close(code) {
            CloseClass::Disconnected => Duration::from_millis(1500),
            CloseClass::RateLimited => Duration::from_secs(5),
            _ => Duration::ZERO,
        },
        _ => Duration::ZERO,
    };
    let mut steps: Vec<HealStep> = HealStep::ALL
        .into_iter()
        .filter(|s| *s >= first)
        .filter(|s| *s != HealStep::MoveNode || nodes > 1)
        .collect();
    if steps.is_empty() && first == HealStep::MoveNode {
        // One node that cannot speak the protocol: a fresh session is all that is left to try.
        steps.push(HealStep::Rejoin);
    }
    steps
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let wait = if i == 0 {
                first_wait
            } else {
                // Backoff between steps: 0.5 s, 1 s, 2 s.
                Duration::from_millis(500 << (i - 1).min(4))
            };
            (s, wait)
        })
        .collect()
}

/// A guild's voice health state: connected → suspect → healing → healed (connected) | given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoiceHealth {
    Connected,
    /// A fault was seen; healing starts after the ladder's first wait.
    Suspect {
        fault: VoiceFault,
    },
    /// Carrying out `step`.
    Healing {
        fault: VoiceFault,
        step: HealStep,
    },
    /// Every step failed; the member was told once. Nothing heals until someone acts (a
    /// command, or Discord moving the bot).
    GivenUp {
        fault: VoiceFault,
    },
}

impl VoiceHealth {
    /// Whether a new fault should start healing now (not while healing, not after giving up).
    pub fn accepts_fault(&self) -> bool {
        matches!(self, VoiceHealth::Connected)
    }

    /// Whether the guild counts as unhealthy (for the metrics gauge).
    pub fn is_unhealthy(&self) -> bool {
        !matches!(self, VoiceHealth::Connected)
    }
}

/// Watches one player's positions for "connected but silent": the position has not moved for
/// `timeout` while the player plays, is not paused and Lavalink says it is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SilenceWatch {
    /// The last position seen, and when (our clock, ms) it last changed.
    last_position: Option<u64>,
    changed_at_ms: u64,
    /// `connected: false` seen on the previous update.
    disconnected_before: bool,
}

/// What one position report says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    Fine,
    /// The fault to heal.
    Fault(VoiceFault),
}

impl SilenceWatch {
    /// Feeds a `playerUpdate`: `expect_motion` when a track plays and is not paused. A paused or
    /// idle player, or one whose position moved (either way: a seek counts), restarts the watch.
    pub fn observe(
        &mut self,
        position_ms: u64,
        connected: bool,
        expect_motion: bool,
        now_ms: u64,
        timeout_ms: u64,
    ) -> Observation {
        let was_disconnected = std::mem::replace(&mut self.disconnected_before, !connected);
        let moved = self.last_position != Some(position_ms);
        if moved || !expect_motion || !connected {
            self.last_position = Some(position_ms);
            self.changed_at_ms = now_ms;
        }
        if !connected {
            return if was_disconnected {
                Observation::Fault(VoiceFault::NotConnected)
            } else {
                Observation::Fine
            };
        }
        if expect_motion && now_ms.saturating_sub(self.changed_at_ms) >= timeout_ms {
            // Report once per stall: the next report needs another full timeout.
            self.changed_at_ms = now_ms;
            return Observation::Fault(VoiceFault::Silent);
        }
        Observation::Fine
    }

    /// Forgets what was seen (a new track, a fresh voice connection).
    pub fn reset(&mut self) {
        *self = SilenceWatch::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_discord_voice_close_code_has_a_class() {
        let table = [
            (4001, CloseClass::ProtocolError),
            (4002, CloseClass::ProtocolError),
            (4003, CloseClass::SessionInvalid),
            (4004, CloseClass::SessionInvalid),
            (4005, CloseClass::ProtocolError),
            (4006, CloseClass::SessionInvalid),
            (4009, CloseClass::SessionInvalid),
            (4011, CloseClass::ServerGone),
            (4012, CloseClass::Unsupported),
            (4014, CloseClass::Disconnected),
            (4015, CloseClass::ServerGone),
            (4016, CloseClass::Unsupported),
            (4017, CloseClass::Unsupported),
            (4020, CloseClass::ProtocolError),
            (4021, CloseClass::RateLimited),
            (4022, CloseClass::Disconnected),
            (1000, CloseClass::Normal),
            (1006, CloseClass::ServerGone),
            (4999, CloseClass::ServerGone),
        ];
        for (code, class) in table {
            assert_eq!(classify_close(code), class, "code {code}");
        }
    }

    fn steps(fault: VoiceFault, nodes: usize) -> Vec<HealStep> {
        heal_ladder(fault, nodes)
            .into_iter()
            .map(|(s, _)| s)
            .collect()
    }

    #[test]
    fn the_ladder_starts_where_the_fault_says() {
        use HealStep::*;
        assert_eq!(
            steps(VoiceFault::Closed(4015), 2),
            vec![Resend, Rerequest, Rejoin, MoveNode]
        );
        assert_eq!(
            steps(VoiceFault::Closed(4006), 2),
            vec![Rerequest, Rejoin, MoveNode]
        );
        assert_eq!(steps(VoiceFault::Closed(4014), 1), vec![Rerequest, Rejoin]);
        assert_eq!(steps(VoiceFault::Closed(4016), 2), vec![MoveNode]);
        assert_eq!(steps(VoiceFault::Closed(4016), 1), vec![Rejoin]);
        assert_eq!(
            steps(VoiceFault::Silent, 1),
            vec![Resend, Rerequest, Rejoin]
        );
        assert_eq!(
            steps(VoiceFault::ServerNotAllocated, 1),
            vec![Rerequest, Rejoin]
        );
        assert!(steps(VoiceFault::Closed(1000), 3).is_empty());
        assert!(!VoiceFault::Closed(1000).needs_healing());
    }

    #[test]
    fn waits_back_off_and_a_kick_gets_time_to_show() {
        let waits: Vec<u64> = heal_ladder(VoiceFault::Closed(4015), 2)
            .into_iter()
            .map(|(_, w)| w.as_millis() as u64)
            .collect();
        assert_eq!(waits, vec![0, 500, 1000, 2000]);
        assert_eq!(
            heal_ladder(VoiceFault::Closed(4014), 1)[0].1,
            Duration::from_millis(1500)
        );
        assert_eq!(
            heal_ladder(VoiceFault::Closed(4021), 1)[0].1,
            Duration::from_secs(5)
        );
    }

    #[test]
    fn a_frozen_position_is_silent_after_the_timeout_once() {
        let mut w = SilenceWatch::default();
        assert_eq!(w.observe(1000, true, true, 0, 10_000), Observation::Fine);
        assert_eq!(w.observe(6000, true, true, 5000, 10_000), Observation::Fine);
        assert_eq!(
            w.observe(6000, true, true, 10_000, 10_000),
            Observation::Fine
        );
        assert_eq!(
            w.observe(6000, true, true, 15_000, 10_000),
            Observation::Fault(VoiceFault::Silent)
        );
        // Reported once per stall.
        assert_eq!(
            w.observe(6000, true, true, 16_000, 10_000),
            Observation::Fine
        );
    }

    #[test]
    fn a_paused_or_moving_player_is_never_silent() {
        let mut w = SilenceWatch::default();
        for t in 0..30 {
            assert_eq!(
                w.observe(500, true, false, t * 1000, 10_000),
                Observation::Fine
            );
        }
        let mut w = SilenceWatch::default();
        for t in 0..30 {
            assert_eq!(
                w.observe(t * 1000, true, true, t * 1000, 10_000),
                Observation::Fine
            );
        }
    }

    #[test]
    fn not_connected_twice_in_a_row_is_a_fault() {
        let mut w = SilenceWatch::default();
        assert_eq!(w.observe(0, false, true, 0, 10_000), Observation::Fine);
        assert_eq!(
            w.observe(0, false, true, 1000, 10_000),
            Observation::Fault(VoiceFault::NotConnected)
        );
        let mut w = SilenceWatch::default();
        assert_eq!(w.observe(0, false, true, 0, 10_000), Observation::Fine);
        assert_eq!(w.observe(0, true, true, 1000, 10_000), Observation::Fine);
        assert_eq!(w.observe(0, false, true, 2000, 10_000), Observation::Fine);
    }

    #[test]
    fn only_a_healthy_guild_starts_healing() {
        assert!(VoiceHealth::Connected.accepts_fault());
        let suspect = VoiceHealth::Suspect {
            fault: VoiceFault::Silent,
        };
        assert!(!suspect.accepts_fault() && suspect.is_unhealthy());
        assert!(!VoiceHealth::GivenUp {
            fault: VoiceFault::Silent
        }
        .accepts_fault());
    }
}
