//! Unit tests of the Lavalink backend's wire format, backoff and URL encoding.

use std::time::Duration;

use super::rest::urlencode;
use super::*;
use crate::audio::{Loaded, PlayerPatch, VoiceConnection};

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
            message: "This video is unavailable".into()
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

#[test]
fn identifiers_are_url_encoded() {
    assert_eq!(urlencode("ytsearch:a b&c"), "ytsearch%3Aa%20b%26c");
}
