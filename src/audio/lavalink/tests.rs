//! Unit tests of the Lavalink backend's wire format, backoff and URL encoding.

use std::time::Duration;

use super::rest::urlencode;
use super::wire::parse_player_probe;
use super::*;
use crate::audio::{EndKind, Loaded, PlayerPatch, TrackRef, VoiceConnection};

#[test]
fn backoff_grows_to_the_cap_with_jitter() {
    let min = Duration::from_millis(500);
    let max = Duration::from_secs(30);
    for failures in 0..20 {
        let d = backoff_delay(failures, min, max);
        let base = min.saturating_mul(1 << failures.min(16)).min(max);
        assert!(d <= max);
        assert!(d >= base.mul_f64(0.74), "{failures}: {d:?} vs {base:?}");
    }
    assert!(backoff_delay(10, min, max) >= Duration::from_secs(22));
}

#[test]
fn empty_and_error_results_are_read_by_load_type() {
    assert_eq!(
        parse_load_result(r#"{"loadType":"empty","data":{}}"#).unwrap(),
        Loaded::Empty
    );
    let failed = parse_load_result(
        r#"{"loadType":"error","data":{"message":"This video is unavailable","severity":"common","cause":"x"}}"#,
    )
    .unwrap();
    assert_eq!(
        failed,
        Loaded::Failed {
            message: Some("This video is unavailable".into())
        }
    );
    assert!(parse_load_result(r#"{"loadType":"weird","data":{}}"#).is_err());
}

#[test]
fn a_patch_carries_the_four_voice_fields_and_a_stop_is_a_null_track() {
    let patch = PlayerPatch {
        track: Some(None),
        voice: Some(VoiceConnection {
            token: "t".into(),
            endpoint: "e".into(),
            session_id: "s".into(),
            channel_id: 42,
        }),
        volume: Some(150),
        ..PlayerPatch::default()
    };
    let body = patch_body(&patch);
    assert_eq!(body["track"], serde_json::json!({"encoded": null}));
    let play = patch_body(&PlayerPatch {
        track: Some(Some("QAAA".into())),
        play_id: Some(7),
        ..PlayerPatch::default()
    });
    assert_eq!(
        play["track"],
        serde_json::json!({"encoded": "QAAA", "userData": {"encorePlayId": 7}})
    );
    assert_eq!(body["voice"]["channelId"], "42");
    assert_eq!(body["voice"]["sessionId"], "s");
    assert_eq!(body["volume"], 150);
    assert!(body.get("position").is_none());
}

#[test]
fn messages_are_read_and_malformed_ones_are_errors_not_panics() {
    let ready = decode_message(r#"{"op":"ready","resumed":false,"sessionId":"abc"}"#).unwrap();
    assert_eq!(
        ready,
        Inbound::Ready {
            session_id: "abc".into(),
            resumed: false
        }
    );
    let update = decode_message(
        r#"{"op":"playerUpdate","guildId":"123","state":{"time":1500,"position":6000,"connected":true,"ping":12}}"#,
    )
    .unwrap();
    assert_eq!(
        update,
        Inbound::Event(BackendEvent::PlayerUpdate {
            guild: 123,
            time_ms: 1500,
            position_ms: 6000,
            connected: true
        })
    );
    for bad in [
        "",
        "not json",
        "[]",
        r#"{"op":"playerUpdate","guildId":"x"}"#,
        r#"{"op":"event","type":"TrackEndEvent","guildId":"1"}"#,
        r#"{"op":"ready"}"#,
    ] {
        assert!(decode_message(bad).is_err(), "{bad}");
    }
    assert!(matches!(
        decode_message(r#"{"op":"somethingNew"}"#),
        Ok(Inbound::Ignored(_))
    ));
    assert!(matches!(
        decode_message(r#"{"op":"event","type":"FutureEvent","guildId":"1"}"#),
        Ok(Inbound::Ignored(_))
    ));
}

/// A track as some Lavalink-compatible servers send it: `length` -1, not seekable though not a
/// stream, no `pluginInfo`, `userData`, `artworkUrl` or `isrc`, and a field of their own.
const COMPAT_TRACK: &str = r#"{"encoded":"QAAAjQIAJVJp","info":{"identifier":"abc","isSeekable":false,
    "author":"Someone","length":-1,"isStream":false,"position":0,"title":"A Song","uri":null,
    "sourceName":"http","chapters":[]},"serverOwnField":1}"#;

#[test]
fn a_track_of_unknown_length_that_cannot_seek_is_read() {
    let loaded =
        parse_load_result(&format!(r#"{{"loadType":"track","data":{COMPAT_TRACK}}}"#)).unwrap();
    let Loaded::Track(t) = loaded else {
        panic!("{loaded:?}")
    };
    assert_eq!(t.encoded, "QAAAjQIAJVJp");
    assert_eq!((t.title.as_str(), t.author.as_str()), ("A Song", "Someone"));
    assert_eq!(t.length_ms, None, "-1 is an unknown length");
    assert!(!t.is_stream && !t.is_seekable);
    assert_eq!(t.uri, None);
}

#[test]
fn lengths_and_missing_track_fields_read_by_the_rules() {
    let track = |info: &str| {
        let text = format!(r#"{{"loadType":"track","data":{{"encoded":"Q","info":{info}}}}}"#);
        match parse_load_result(&text).unwrap() {
            Loaded::Track(t) => t,
            other => panic!("{other:?}"),
        }
    };
    let stream = track(r#"{"length":9223372036854775807,"isStream":true,"title":"radio"}"#);
    assert_eq!(
        (stream.length_ms, stream.is_stream, stream.is_seekable),
        (None, true, false)
    );
    let bare = track("{}");
    assert_eq!((bare.length_ms, bare.is_seekable), (None, true));
    assert_eq!((bare.title.as_str(), bare.author.as_str()), ("", ""));
    assert_eq!(track(r#"{"length":0}"#).length_ms, None);
    assert_eq!(track(r#"{"length":212000.0}"#).length_ms, Some(212_000));
    assert_eq!(
        track(r#"{"length":212000,"title":null}"#).length_ms,
        Some(212_000)
    );
    let no_info = parse_load_result(r#"{"loadType":"track","data":{"encoded":"Q","info":null}}"#);
    assert!(matches!(no_info, Ok(Loaded::Track(_))), "{no_info:?}");
}

#[test]
fn every_load_type_is_read_in_its_lenient_shape() {
    let playlist = parse_load_result(&format!(
        r#"{{"loadType":"playlist","data":{{"info":{{"name":"Mix"}},"tracks":[{COMPAT_TRACK},{COMPAT_TRACK}]}}}}"#
    ))
    .unwrap();
    assert!(
        matches!(&playlist, Loaded::Playlist { name, tracks } if name == "Mix" && tracks.len() == 2),
        "{playlist:?}"
    );
    let search = parse_load_result(&format!(
        r#"{{"loadType":"search","data":[{COMPAT_TRACK}]}}"#
    ))
    .unwrap();
    assert!(
        matches!(&search, Loaded::Search(list) if list.len() == 1 && list[0].length_ms.is_none())
    );
    for empty in [
        r#"{"loadType":"search","data":[]}"#,
        r#"{"loadType":"search","data":null}"#,
        r#"{"loadType":"empty"}"#,
        r#"{"loadType":"empty","data":null,"extra":true}"#,
    ] {
        assert_eq!(parse_load_result(empty).unwrap(), Loaded::Empty, "{empty}");
    }
    // Lavalink's exception `message` is nullable.
    for (text, message) in [
        (
            r#"{"loadType":"error","data":{"message":null,"severity":"fault","cause":"x"}}"#,
            None,
        ),
        (r#"{"loadType":"error","data":{}}"#, None),
        (
            r#"{"loadType":"error","data":{"message":"Gone","severity":"common"}}"#,
            Some("Gone"),
        ),
    ] {
        assert_eq!(
            parse_load_result(text).unwrap(),
            Loaded::Failed {
                message: message.map(str::to_string)
            },
            "{text}"
        );
    }
}

#[test]
fn an_unreadable_answer_says_which_field_is_wrong() {
    let missing = parse_load_result(r#"{"loadType":"track","data":{"info":{}}}"#).unwrap_err();
    assert_eq!(
        missing.to_string(),
        "sent an answer that could not be read: loadtracks: data: missing field `encoded`"
    );
    let wrong =
        parse_load_result(r#"{"loadType":"track","data":{"encoded":"Q","info":{"title":5}}}"#)
            .unwrap_err();
    let text = wrong.to_string();
    assert!(
        text.starts_with("sent an answer that could not be read: loadtracks: data.info.title: invalid type: integer `5`"),
        "{text}"
    );
    let in_list = parse_load_result(
        r#"{"loadType":"playlist","data":{"info":{"name":"x"},"tracks":[{"encoded":"Q"},{"encoded":7}]}}"#,
    )
    .unwrap_err();
    assert!(
        in_list
            .to_string()
            .contains("data.tracks[1].encoded: invalid type"),
        "{in_list}"
    );
    let kind = parse_load_result(r#"{"loadType":"TRACK_LOADED","tracks":[]}"#).unwrap_err();
    assert!(
        kind.to_string()
            .contains(r#"unknown loadType Some("TRACK_LOADED")"#),
        "{kind}"
    );
    let probe = parse_player_probe(r#"{"state":{"position":"soon"}}"#).unwrap_err();
    assert!(
        probe.to_string().contains("player: state.position"),
        "{probe}"
    );
}

/// The log of `f`, as the fmt layer writes it.
fn logged(f: impl FnOnce()) -> String {
    #[derive(Clone, Default)]
    struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let out = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || buffer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = out.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn an_unreadable_answer_is_logged_with_its_cause() {
    let node = Node {
        index: 0,
        name: "main".into(),
        http_base: String::new(),
        ws_url: String::new(),
        password: secrecy::SecretString::from(String::new()),
        state: std::sync::Mutex::new(NodeState::default()),
    };
    let log = logged(|| {
        let read = super::rest::read_answer(
            &node,
            "GET loadtracks",
            parse_load_result(
                r#"{"loadType":"track","data":{"encoded":"Q","info":{"length":"long"}}}"#,
            ),
        );
        assert!(read.is_err());
    });
    assert!(
        log.contains("Lavalink sent an answer Encore could not read")
            && log.contains("node=main")
            && log.contains("request=\"GET loadtracks\"")
            && log.contains("loadtracks: data.info.length: invalid type: string \"long\""),
        "{log}"
    );
}

#[test]
fn player_answers_read_missing_fields_as_neutral_ones() {
    let probe = parse_player_probe(
        r#"{"guildId":"1","track":{"encoded":"Q","info":{"length":-1}},"state":{"time":5,"position":1200}}"#,
    )
    .unwrap();
    assert!(probe.connected, "a missing `connected` is no voice fault");
    assert_eq!(
        (probe.position_ms, probe.has_track, probe.paused),
        (1200, true, false)
    );
    let players = parse_live_players(
        r#"[{"guildId":"42","track":{"encoded":"Q"},"state":{"time":9,"position":-3}},
            {"track":null},{"guildId":43,"track":null,"volume":null,"paused":true,"futureField":{}}]"#,
        0,
    )
    .unwrap();
    assert_eq!(players.len(), 2, "{players:?}");
    assert_eq!(players[0].guild, 42);
    assert_eq!(
        players[0].track,
        Some(TrackRef {
            encoded: "Q".into(),
            play_id: None
        })
    );
    assert_eq!((players[0].position_ms, players[0].time_ms), (0, 9));
    assert_eq!((players[0].volume, players[1].volume), (100, 100));
    assert_eq!((players[1].guild, players[1].paused), (43, true));
}

#[test]
fn websocket_messages_are_read_leniently_and_unknown_ones_are_ignored() {
    let read = |text: &str| decode_message(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(
        read(r#"{"op":"ready","sessionId":"s"}"#),
        Inbound::Ready {
            session_id: "s".into(),
            resumed: false
        }
    );
    assert_eq!(
        read(r#"{"op":"playerUpdate","guildId":7,"state":{"time":10,"position":20}}"#),
        Inbound::Event(BackendEvent::PlayerUpdate {
            guild: 7,
            time_ms: 10,
            position_ms: 20,
            connected: true
        })
    );
    assert!(matches!(
        read(r#"{"op":"playerUpdate","guildId":"7","state":{"time":10,"connected":false}}"#),
        Inbound::Ignored(_)
    ));
    assert_eq!(
        read(r#"{"op":"stats","players":2,"playingPlayers":1,"frameStats":null}"#),
        Inbound::Stats(NodeLoad {
            players: 2,
            playing_players: 1,
            ..NodeLoad::default()
        })
    );
    let track = r#"{"encoded":"QAAA","info":{"length":-1,"isSeekable":false}}"#;
    let event = |kind: &str, rest: &str| {
        read(&format!(
            r#"{{"op":"event","type":"{kind}","guildId":"9","track":{track}{rest}}}"#
        ))
    };
    let no_id = TrackRef {
        encoded: "QAAA".into(),
        play_id: None,
    };
    assert_eq!(
        event("TrackStartEvent", ""),
        Inbound::Event(BackendEvent::TrackStarted {
            guild: 9,
            track: no_id.clone()
        })
    );
    for (reason, kind) in [
        ("finished", EndKind::Finished),
        ("loadFailed", EndKind::LoadFailed),
        ("stopped", EndKind::Stopped),
        ("replaced", EndKind::Replaced),
        ("cleanup", EndKind::Cleanup),
    ] {
        assert_eq!(
            event("TrackEndEvent", &format!(r#","reason":"{reason}""#)),
            Inbound::Event(BackendEvent::TrackEnded {
                guild: 9,
                track: no_id.clone(),
                reason: kind
            })
        );
    }
    assert!(matches!(
        event("TrackEndEvent", r#","reason":"somethingNew""#),
        Inbound::Ignored(_)
    ));
    assert_eq!(
        event(
            "TrackExceptionEvent",
            r#","exception":{"message":null,"severity":"fault","cause":"java.lang.Error"}"#
        ),
        Inbound::Event(BackendEvent::TrackException {
            guild: 9,
            track: no_id.clone(),
            message: String::new()
        })
    );
    assert_eq!(
        event("TrackStuckEvent", r#","thresholdMs":10000"#),
        Inbound::Event(BackendEvent::TrackStuck {
            guild: 9,
            track: no_id.clone(),
            threshold_ms: 10_000
        })
    );
    assert_eq!(
        read(r#"{"op":"event","type":"WebSocketClosedEvent","guildId":"9","code":4006}"#),
        Inbound::Event(BackendEvent::VoiceClosed {
            guild: 9,
            code: 4006,
            reason: String::new()
        })
    );
    let bad = decode_message(
        r#"{"op":"event","type":"TrackStartEvent","guildId":"9","track":{"info":{}}}"#,
    )
    .unwrap_err();
    assert!(
        bad.contains("TrackStartEvent.track: missing field `encoded`"),
        "{bad}"
    );
}

#[test]
fn identifiers_are_url_encoded() {
    assert_eq!(urlencode("ytsearch:a b&c"), "ytsearch%3Aa%20b%26c");
}
