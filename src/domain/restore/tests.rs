//! The restore rules, case by case.

use super::*;
use crate::domain::{PlayerState, QueueSnapshot, Track};

fn snap(position: u64, at: u64, taken: u64, paused: bool) -> PlayerSnapshot {
    let mut s = PlayerState::new(1);
    s.position_ms = position;
    s.position_at_ms = at;
    s.taken_at_ms = taken;
    s.paused = paused;
    s.voice_channel_id = Some(9);
    let track = Track {
        encoded: "x".into(),
        title: "t".into(),
        author: "a".into(),
        uri: None,
        length_ms: Some(200_000),
        is_stream: false,
        is_seekable: true,
        requester: None,
        start_ms: None,
        autoplay: false,
    };
    PlayerSnapshot::new(
        s,
        QueueSnapshot {
            current: Some(track),
            ..Default::default()
        },
    )
}

#[test]
fn the_position_follows_how_the_audio_stopped() {
    let s = snap(10_000, 1_000, 4_000, false);
    // Shut down at 6 s: 5 s after the observation.
    assert_eq!(restore_position(&s, AudioStop::At(6_000), 9_000), 15_000);
    // A handover: it kept playing until now.
    assert_eq!(restore_position(&s, AudioStop::Continued, 9_000), 18_000);
    // A crash: as of the last save.
    assert_eq!(restore_position(&s, AudioStop::Unknown, 9_000), 13_000);
    // A crash whose owner was last seen at 7.5 s: it played until then at least.
    assert_eq!(
        restore_position(&s, AudioStop::LastSeen(7_500), 9_000),
        16_500
    );
    // A sighting older than the save, or later than now, is bounded by them.
    assert_eq!(
        restore_position(&s, AudioStop::LastSeen(2_000), 9_000),
        13_000
    );
    assert_eq!(
        restore_position(&s, AudioStop::LastSeen(99_000), 9_000),
        18_000
    );
    // Never past the end of the track (nor on to the next one).
    assert_eq!(
        restore_position(&s, AudioStop::LastSeen(900_000), 900_000),
        200_000
    );
    // Never past the end of the track.
    assert_eq!(restore_position(&s, AudioStop::Continued, 900_000), 200_000);
    // A stop time before the observation never rewinds it.
    assert_eq!(restore_position(&s, AudioStop::At(0), 9_000), 10_000);
    // Paused: where it was.
    let p = snap(10_000, 1_000, 4_000, true);
    for stop in [
        AudioStop::At(6_000),
        AudioStop::Continued,
        AudioStop::LastSeen(7_500),
        AudioStop::Unknown,
    ] {
        assert_eq!(restore_position(&p, stop, 9_000), 10_000);
    }
}

#[test]
fn stale_empty_and_channel_less_players_are_not_restored() {
    let s = snap(0, 0, 1_000, false);
    assert_eq!(restorable(&s, 2_000, 3_600_000), Ok(()));
    assert_eq!(
        restorable(&s, 1_000 + 3_600_001, 3_600_000),
        Err(NotRestored::TooOld)
    );
    let mut empty = s.clone();
    empty.queue.current = None;
    assert_eq!(
        restorable(&empty, 2_000, 3_600_000),
        Err(NotRestored::NothingToPlay)
    );
    // Stopped, with tracks kept: restored (stopped).
    let mut stopped = empty.clone();
    stopped
        .queue
        .upcoming
        .push_back(s.queue.current.clone().unwrap());
    assert_eq!(restorable(&stopped, 2_000, 3_600_000), Ok(()));
    let mut nowhere = s;
    nowhere.state.voice_channel_id = None;
    assert_eq!(
        restorable(&nowhere, 2_000, 3_600_000),
        Err(NotRestored::NoVoiceChannel)
    );
}

#[test]
fn it_plays_only_if_it_played_resuming_is_on_and_someone_listens() {
    assert!(restore_plays(None, true, 2, false));
    assert!(
        !restore_plays(Some(PauseReason::Member), true, 2, false),
        "a person paused it"
    );
    assert!(!restore_plays(None, false, 2, false), "resuming is off");
    assert!(!restore_plays(None, true, 0, false), "nobody listens");
    assert!(
        restore_plays(None, true, 0, true),
        "24/7 plays to an empty room"
    );
}

#[test]
fn a_hand_over_keeps_playing_or_paused_as_it_was() {
    let playing = snap(10_000, 1_000, 4_000, false);
    let nobody_and_off = RestoreFacts {
        stop: AudioStop::Continued,
        listeners: 0,
        auto_resume: false,
        ..facts(&playing)
    };
    assert!(plan(&nobody_and_off).unwrap().plays(), "the music went on");
    let mut paused = snap(10_000, 1_000, 4_000, false);
    paused.state.pause(PauseReason::NobodyListening);
    let there = RestoreFacts {
        stop: AudioStop::Continued,
        ..facts(&paused)
    };
    assert_eq!(
        plan(&there).unwrap().paused_because,
        Some(PauseReason::NobodyListening)
    );
}

#[test]
fn a_pause_encore_made_ends_with_its_cause() {
    for reason in [
        PauseReason::NobodyListening,
        PauseReason::AutoResumeOff,
        PauseReason::VoiceLost,
    ] {
        assert!(restore_plays(Some(reason), true, 1, false), "{reason:?}");
        assert_eq!(
            restore_pause_reason(Some(reason), true, 0, false),
            Some(PauseReason::NobodyListening),
            "{reason:?} with nobody there"
        );
        assert_eq!(
            restore_pause_reason(Some(reason), false, 1, false),
            Some(PauseReason::AutoResumeOff),
            "{reason:?} with resuming off"
        );
    }
    // A member's pause outlives everything, and stays a member's.
    assert_eq!(
        restore_pause_reason(Some(PauseReason::Member), true, 3, true),
        Some(PauseReason::Member)
    );
}

#[test]
fn a_restore_paused_for_nobody_then_restored_with_a_listener_plays() {
    // The case: restored paused because nobody listened (saved so), then a member
    // rejoins and the process is killed again.
    let mut s = snap(10_000, 1_000, 4_000, false);
    s.state.pause(PauseReason::NobodyListening);
    let p = plan(&facts(&s)).unwrap();
    assert!(p.plays(), "nobody paused it and a listener is present");
    // A record of the old schema (paused, no reason) reads as a member's pause.
    s.state.pause_reason = None;
    assert_eq!(
        plan(&facts(&s)).unwrap().paused_because,
        Some(PauseReason::Member)
    );
}

fn facts(snapshot: &PlayerSnapshot) -> RestoreFacts<'_> {
    RestoreFacts {
        snapshot,
        live: None,
        stop: AudioStop::Unknown,
        access: ChannelAccess::Open,
        auto_resume: true,
        always_on: false,
        listeners: 1,
        max_age_ms: 3_600_000,
        now_ms: 9_000,
    }
}

#[test]
fn a_playing_player_with_listeners_plays_from_its_saved_position() {
    let s = snap(10_000, 1_000, 4_000, false);
    let p = plan(&facts(&s)).unwrap();
    assert!(p.plays());
    assert_eq!(p.voice_channel_id, 9);
    assert_eq!(p.keep_live, None);
    assert_eq!(p.start, StartFrom::Saved(AudioStop::Unknown));
    // A crash: as of the last save (taken at 4 s, observed at 1 s).
    assert_eq!(p.position_ms(&s, 9_000), 13_000);
}

#[test]
fn the_reason_it_comes_back_paused() {
    let paused = snap(10_000, 1_000, 4_000, true);
    let p = plan(&facts(&paused)).unwrap();
    assert_eq!(p.paused_because, Some(PauseReason::Member));
    assert_eq!(p.position_ms(&paused, 9_000), 10_000);

    let s = snap(10_000, 1_000, 4_000, false);
    let empty = RestoreFacts {
        listeners: 0,
        ..facts(&s)
    };
    assert_eq!(
        plan(&empty).unwrap().paused_because,
        Some(PauseReason::NobodyListening)
    );
    let always_on = RestoreFacts {
        always_on: true,
        ..empty
    };
    assert!(
        plan(&always_on).unwrap().plays(),
        "24/7 plays to an empty room"
    );
    let off = RestoreFacts {
        auto_resume: false,
        ..facts(&s)
    };
    assert_eq!(
        plan(&off).unwrap().paused_because,
        Some(PauseReason::AutoResumeOff)
    );
    // Auto-resume off and nobody there: the setting is the reason given.
    let both = RestoreFacts {
        listeners: 0,
        ..off
    };
    assert_eq!(
        plan(&both).unwrap().paused_because,
        Some(PauseReason::AutoResumeOff)
    );
}

#[test]
fn refusals_say_why_and_which_forget_the_saved_state() {
    let s = snap(10_000, 1_000, 4_000, false);
    let gone = RestoreFacts {
        access: ChannelAccess::Gone,
        ..facts(&s)
    };
    assert_eq!(plan(&gone), Err(Refusal::ChannelGone));
    for p in [VoicePermission::Connect, VoicePermission::Speak] {
        let locked = RestoreFacts {
            access: ChannelAccess::Missing(p),
            ..facts(&s)
        };
        assert_eq!(plan(&locked), Err(Refusal::MissingPermission(p)));
        assert!(Refusal::MissingPermission(p).forgets_saved_state());
    }
    assert!(Refusal::ChannelGone.forgets_saved_state());

    let stale = RestoreFacts {
        now_ms: 4_000 + 3_600_001,
        // Staleness is decided before the channel is looked at.
        access: ChannelAccess::Gone,
        ..facts(&s)
    };
    let refusal = plan(&stale).unwrap_err();
    assert_eq!(refusal, Refusal::NotRestorable(NotRestored::TooOld));
    assert!(refusal.forgets_saved_state());

    let mut nowhere = s.clone();
    nowhere.state.voice_channel_id = None;
    let refusal = plan(&facts(&nowhere)).unwrap_err();
    assert_eq!(refusal, Refusal::NotRestorable(NotRestored::NoVoiceChannel));
    assert!(!refusal.forgets_saved_state(), "kept for a later start");
    let mut empty = s;
    empty.queue.current = None;
    assert_eq!(
        plan(&facts(&empty)),
        Err(Refusal::NotRestorable(NotRestored::NothingToPlay))
    );
}

#[test]
fn live_or_saved_position_after_each_kind_of_exit() {
    let s = snap(10_000, 1_000, 4_000, false);
    let live = LivePosition {
        position_ms: 16_000,
        time_ms: 8_000,
        paused: false,
    };
    // Graceful shutdown at 6 s: voice stopped then, so the saved position wins and the live
    // player is moved back to it.
    let shutdown = RestoreFacts {
        live: Some(live),
        stop: AudioStop::At(6_000),
        ..facts(&s)
    };
    let p = plan(&shutdown).unwrap();
    assert_eq!(p.keep_live, Some(true));
    assert_eq!(p.position_ms(&s, 9_500), 15_000);
    // Crash with Lavalink alive: Lavalink's clock, read when the update is sent.
    let crash = RestoreFacts {
        live: Some(live),
        stop: AudioStop::Unknown,
        ..facts(&s)
    };
    let p = plan(&crash).unwrap();
    assert_eq!(p.keep_live, Some(false));
    assert_eq!(p.position_ms(&s, 9_000), 17_000);
    assert_eq!(p.position_ms(&s, 9_500), 17_500);
    // A hand-over with Lavalink alive: likewise Lavalink's own position.
    let handover = RestoreFacts {
        stop: AudioStop::Continued,
        ..crash
    };
    assert_eq!(plan(&handover).unwrap().position_ms(&s, 9_000), 17_000);
    // A live player paused by Lavalink stays where it is.
    let paused_live = RestoreFacts {
        live: Some(LivePosition {
            paused: true,
            ..live
        }),
        ..crash
    };
    assert_eq!(plan(&paused_live).unwrap().position_ms(&s, 9_500), 16_000);
    // Crash with Lavalink restarted: the last save.
    let p = plan(&facts(&s)).unwrap();
    assert_eq!(p.keep_live, None);
    assert_eq!(p.position_ms(&s, 9_500), 13_000);
    // A hand-over without a live player: it kept playing until now.
    let gone_live = RestoreFacts {
        stop: AudioStop::Continued,
        ..facts(&s)
    };
    assert_eq!(plan(&gone_live).unwrap().position_ms(&s, 9_500), 18_500);
}
