//! Unit tests of the MongoDB store's documents and redaction.

use std::collections::{HashMap, VecDeque};

use mongodb::bson::{oid::ObjectId, Document};

use super::documents::{
    chunk_document, decode_document, decode_guild_config, guild_config_document, player_document,
    saved_layout, Layout, QueueSource,
};
use super::*;
use crate::domain::{GuildConfig, LoopMode, PlayerSnapshot, PlayerState, QueueSnapshot, Track};
use crate::store::chunks::Chunk;

#[test]
fn redaction_removes_uri_and_password() {
    let uri = "mongodb://admin:s3cr3tpw@db.example.com:27017/?tls=true";
    let secrets = uri_secrets(uri);
    let text = format!("failed to reach {uri} with password s3cr3tpw");
    let out = redact(text, &secrets);
    assert!(!out.contains("s3cr3tpw"), "{out}");
    assert!(!out.contains(uri));
}

#[test]
fn documents_round_trip() {
    let mut state = PlayerState::new(123 << 22);
    state.voice_channel_id = Some(9);
    state.volume = 150;
    state.loop_mode = LoopMode::Queue;
    let t = Track {
        encoded: "QAAA".into(),
        title: "t".into(),
        author: "a".into(),
        uri: Some("https://x".into()),
        length_ms: Some(5),
        is_stream: false,
        is_seekable: true,
        requester: Some(77),
        start_ms: Some(103_000),
        autoplay: false,
    };
    let unknown_length = Track {
        length_ms: None,
        is_seekable: false,
        ..t.clone()
    };
    let queue = QueueSnapshot {
        current: Some(t.clone()),
        upcoming: VecDeque::from([t, unknown_length]),
        history: VecDeque::new(),
    };
    // The upcoming tracks in two chunks, the history in none.
    let (a, b) = (ObjectId::new(), ObjectId::new());
    let layout = Layout {
        current: queue.current.as_ref(),
        upcoming: vec![Chunk { id: a, len: 1 }, Chunk { id: b, len: 1 }],
        history: vec![],
    };
    let p = player_document(&state, &layout);
    let g = state.guild_id;
    let mut chunks: HashMap<ObjectId, Document> = [
        (a, chunk_document(g, a, queue.upcoming.range(0..1))),
        (b, chunk_document(g, b, queue.upcoming.range(1..2))),
    ]
    .into();
    let back = decode_document(&p, QueueSource::Chunks(&chunks)).unwrap();
    assert_eq!(back, PlayerSnapshot::new(state.clone(), queue.clone()));
    let (upcoming, history) = saved_layout(&p).unwrap();
    assert_eq!((upcoming, history), (layout.upcoming.clone(), vec![]));
    // A track saved before tracks had a start reads with none.
    let mut old = p.clone();
    old.get_document_mut("queue")
        .unwrap()
        .get_document_mut("current")
        .unwrap()
        .remove("start_ms");
    let old = decode_document(&old, QueueSource::Chunks(&chunks)).unwrap();
    assert_eq!(old.queue.current.unwrap().start_ms, None);
    assert_eq!(old.queue.upcoming[0].start_ms, Some(103_000));
    // A chunk that went missing, or holds another number of tracks, makes it unreadable.
    let one = chunks.remove(&b).unwrap();
    let missing = decode_document(&p, QueueSource::Chunks(&chunks)).unwrap_err();
    assert!(missing.reason.contains("is missing"), "{}", missing.reason);
    chunks.insert(b, chunk_document(g, b, queue.upcoming.range(0..2)));
    let wrong = decode_document(&p, QueueSource::Chunks(&chunks)).unwrap_err();
    assert!(
        wrong.reason.contains("holds 2 tracks, not 1"),
        "{}",
        wrong.reason
    );
    chunks.insert(b, one);
    // A document of the layout before chunks reads from its queue document.
    let mut legacy = p.clone();
    legacy.remove("queue");
    legacy.insert("queue_id", ObjectId::new());
    let q = mongodb::bson::doc! {
        "current": chunk_document(g, a, queue.current.iter()).get_array("tracks").unwrap()[0].clone(),
        "upcoming": chunk_document(g, a, queue.upcoming.iter()).get_array("tracks").unwrap().clone(),
        "history": [],
    };
    let back = decode_document(&legacy, QueueSource::Legacy(Some(&q))).unwrap();
    assert_eq!(back, PlayerSnapshot::new(state, queue));
    let missing = decode_document(&legacy, QueueSource::Legacy(None)).unwrap_err();
    assert!(
        missing.reason.contains("queue is missing"),
        "{}",
        missing.reason
    );
}

#[test]
fn a_track_document_saved_before_lengths_were_optional_reads_the_same() {
    let state = PlayerState::new(123 << 22);
    let layout = Layout {
        current: None,
        upcoming: vec![],
        history: vec![],
    };
    let mut p = player_document(&state, &layout);
    p.remove("queue");
    let id = ObjectId::new();
    p.insert("queue_id", id);
    let old = |length_ms: i64| {
        mongodb::bson::doc! {
            "encoded": "QAAA", "title": "t", "author": "a",
            "length_ms": length_ms, "is_stream": false,
        }
    };
    let q = mongodb::bson::doc! {
        "_id": id, "guild_id": state.guild_id as i64,
        "current": old(212_000), "upcoming": [old(0)], "history": [],
    };
    let back = decode_document(&p, QueueSource::Legacy(Some(&q))).unwrap();
    let current = back.queue.current.unwrap();
    assert_eq!(current.length_ms, Some(212_000));
    assert!(current.is_seekable, "older records read as seekable");
    assert_eq!(back.queue.upcoming[0].length_ms, None);
}

#[test]
fn guild_config_documents_round_trip_and_accept_integer_booleans() {
    let mut c = GuildConfig::new(u64::MAX - 5);
    c.dj_role_id = Some(u64::MAX - 1);
    c.auto_resume = Some(false);
    c.always_on = true;
    c.updated_at_ms = 1_700_000_000_000;
    let d = guild_config_document(&c);
    assert_eq!(decode_guild_config(&d).unwrap(), c);
    assert_eq!(
        decode_guild_config(&guild_config_document(&GuildConfig::new(3))).unwrap(),
        GuildConfig::new(3)
    );
    let mut ints = d.clone();
    ints.insert("always_on", 0i32);
    ints.insert("announce_now_playing", 1i64);
    ints.insert("auto_resume", 1i32);
    ints.insert("default_volume", 150i64);
    ints.remove("dj_role_id");
    let back = decode_guild_config(&ints).unwrap();
    assert!(!back.always_on && back.announce_now_playing);
    assert_eq!(back.auto_resume, Some(true));
    assert_eq!((back.default_volume, back.dj_role_id), (150, None));
    let mut bad = d;
    bad.insert("default_volume", "loud");
    let skipped = decode_guild_config(&bad).unwrap_err();
    assert_eq!(skipped.guild_id, Some(c.guild_id));
    assert!(
        skipped.reason.contains("default_volume"),
        "{}",
        skipped.reason
    );
    let mut loud = guild_config_document(&c);
    loud.insert("default_volume", 201i32);
    assert!(decode_guild_config(&loud).is_err());
    let mut missing = guild_config_document(&c);
    missing.remove("always_on");
    let skipped = decode_guild_config(&missing).unwrap_err();
    assert!(skipped.reason.contains("always_on"), "{}", skipped.reason);
}
