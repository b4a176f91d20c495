//! The BSON documents: encoding players, queue chunks, tracks and guild configs, and reading them back
//! (leniently about integer types and 0/1 booleans).

use std::collections::{HashMap, VecDeque};

use mongodb::bson::{doc, oid::ObjectId, Bson, Document};

use crate::domain::{
    Autoplay, GuildConfig, GuildId, PlayerSnapshot, PlayerState, QueueSnapshot, Track,
};
use crate::store::chunks::{Chunk, QueueChunks};
use crate::store::{Skipped, StoredGuildConfig, StoredState};

fn id_bson(v: Option<u64>) -> Bson {
    v.map(|x| Bson::Int64(x as i64)).unwrap_or(Bson::Null)
}

pub(super) fn state_fields(s: &PlayerState) -> Document {
    doc! {
        "voice_channel_id": id_bson(s.voice_channel_id),
        "text_channel_id": id_bson(s.text_channel_id),
        "position_ms": s.position_ms as i64,
        "position_at_ms": s.position_at_ms as i64,
        "paused": s.paused,
        "pause_reason": s.pause_reason.map(|r| r.as_str()),
        "stalled": s.stalled,
        "volume": i32::from(s.volume),
        "loop_mode": s.loop_mode.as_str(),
        "filters": s.filters.as_str(),
        "autoplay": autoplay_bson(&s.autoplay),
        "taken_at_ms": s.taken_at_ms as i64,
    }
}

/// `null` while off without a seed (what documents saved before autoplay read as), else
/// `{on, seed: {title, author, uri}}`.
fn autoplay_bson(a: &Autoplay) -> Bson {
    if *a == Autoplay::default() {
        return Bson::Null;
    }
    mongodb::bson::to_bson(a).unwrap_or(Bson::Null)
}

/// A player's saved autoplay; an unreadable one (a newer build's) reads as off, logged.
fn read_autoplay(guild: u64, d: &Document) -> Autoplay {
    match d.get("autoplay") {
        None | Some(Bson::Null) => Autoplay::default(),
        Some(b) => mongodb::bson::from_bson(b.clone()).unwrap_or_else(|e| {
            tracing::warn!(backend = "mongodb", guild, error = %e, "unreadable autoplay state; reading it as off");
            Autoplay::default()
        }),
    }
}

pub(super) fn track_doc(t: &Track) -> Document {
    let mut d = doc! {
        "encoded": &t.encoded,
        "title": &t.title,
        "author": &t.author,
        // 0 for an unknown length, as records saved before it was optional hold it.
        "length_ms": t.length_ms.unwrap_or(0) as i64,
        "is_stream": t.is_stream,
        "is_seekable": t.is_seekable,
    };
    if let Some(uri) = &t.uri {
        d.insert("uri", uri);
    }
    if let Some(r) = t.requester {
        d.insert("requester", r as i64);
    }
    if let Some(s) = t.start_ms {
        d.insert("start_ms", s as i64);
    }
    if t.autoplay {
        d.insert("autoplay", true);
    }
    d
}

/// A saved queue's layout, as the player document holds it under `queue`: the current track, and
/// the chunks of its upcoming tracks and history in order.
pub(super) struct Layout<'a> {
    pub current: Option<&'a Track>,
    pub upcoming: Vec<Chunk<ObjectId>>,
    pub history: Vec<Chunk<ObjectId>>,
}

fn chunk_refs(chunks: &[Chunk<ObjectId>]) -> Vec<Bson> {
    chunks
        .iter()
        .map(|c| Bson::Document(doc! { "c": c.id, "n": c.len as i64 }))
        .collect()
}

/// The player document's `queue`: `{current, upcoming: [{c: chunk id, n: tracks}], history}`.
pub(super) fn queue_field(layout: &Layout<'_>) -> Document {
    doc! {
        "current": layout.current.map(|t| Bson::Document(track_doc(t))).unwrap_or(Bson::Null),
        "upcoming": chunk_refs(&layout.upcoming),
        "history": chunk_refs(&layout.history),
    }
}

pub(super) fn player_document(state: &PlayerState, layout: &Layout<'_>) -> Document {
    let mut d = doc! {
        "_id": state.guild_id as i64,
        "v": crate::domain::SNAPSHOT_SCHEMA_VERSION as i32,
        "shard_key": (state.guild_id >> 22) as i64,
    };
    d.extend(state_fields(state));
    d.insert("queue", queue_field(layout));
    d
}

/// A chunk of a queue: `{_id, guild_id, tracks: [...]}`, never changed once written.
pub(super) fn chunk_document<'a>(
    guild_id: GuildId,
    id: ObjectId,
    tracks: impl Iterator<Item = &'a Track>,
) -> Document {
    let tracks: Vec<Bson> = tracks.map(|t| Bson::Document(track_doc(t))).collect();
    doc! { "_id": id, "guild_id": guild_id as i64, "tracks": tracks }
}

/// The chunks a player document lists for its upcoming tracks and history; `None` for a document
/// without a readable layout (saved before queues were chunked, or damaged).
pub(super) fn saved_layout(d: &Document) -> Option<QueueChunks<ObjectId>> {
    let q = d.get_document("queue").ok()?;
    Some((
        read_refs(q, "upcoming").ok()?,
        read_refs(q, "history").ok()?,
    ))
}

fn read_refs(q: &Document, key: &str) -> Result<Vec<Chunk<ObjectId>>, String> {
    let Some(Bson::Array(items)) = q.get(key) else {
        return Err(format!("`{key}` is not a list of chunks"));
    };
    items
        .iter()
        .map(|b| {
            let c = b
                .as_document()
                .ok_or("a chunk reference is not a document")?;
            Ok(Chunk {
                id: c
                    .get_object_id("c")
                    .map_err(|_| "a chunk reference without its id")?,
                len: int(c, "n")?.max(0) as usize,
            })
        })
        .collect()
}

fn int(d: &Document, key: &str) -> Result<i64, String> {
    match d.get(key) {
        Some(Bson::Int64(v)) => Ok(*v),
        Some(Bson::Int32(v)) => Ok(i64::from(*v)),
        Some(Bson::Double(v)) if v.fract() == 0.0 => Ok(*v as i64),
        Some(other) => Err(format!("`{key}` has type {:?}", other.element_type())),
        None => Err(format!("`{key}` is missing")),
    }
}

fn opt_int(d: &Document, key: &str) -> Result<Option<u64>, String> {
    match d.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(_) => int(d, key).map(|v| Some(v as u64)),
    }
}

/// A boolean; 0/1 integers are accepted too, as some MongoDB-compatible servers and hand edits
/// store them that way.
fn boolean(d: &Document, key: &str) -> Result<bool, String> {
    match d.get(key) {
        Some(Bson::Boolean(b)) => Ok(*b),
        Some(Bson::Int32(0)) | Some(Bson::Int64(0)) => Ok(false),
        Some(Bson::Int32(1)) | Some(Bson::Int64(1)) => Ok(true),
        Some(_) => Err(format!("`{key}` is not a boolean")),
        None => Err(format!("`{key}` is missing")),
    }
}

fn string<'a>(d: &'a Document, key: &str) -> Result<&'a str, String> {
    d.get_str(key)
        .map_err(|_| format!("`{key}` is not a string"))
}

pub(super) fn decode_track(b: &Bson) -> Result<Track, String> {
    let d = b.as_document().ok_or("a track is not a document")?;
    Ok(Track {
        encoded: string(d, "encoded")?.to_string(),
        title: string(d, "title")?.to_string(),
        author: string(d, "author")?.to_string(),
        uri: match d.get("uri") {
            None | Some(Bson::Null) => None,
            Some(_) => Some(string(d, "uri")?.to_string()),
        },
        length_ms: Some(int(d, "length_ms")?)
            .filter(|ms| *ms > 0)
            .map(|ms| ms as u64),
        is_stream: match d.get("is_stream") {
            None | Some(Bson::Null) => false,
            Some(_) => boolean(d, "is_stream")?,
        },
        // Records saved before it was kept: seekable.
        is_seekable: match d.get("is_seekable") {
            None | Some(Bson::Null) => true,
            Some(_) => boolean(d, "is_seekable")?,
        },
        requester: opt_int(d, "requester")?,
        // Absent in documents saved before starts existed.
        start_ms: opt_int(d, "start_ms")?,
        // Absent in documents saved before autoplay existed, and for a member's track.
        autoplay: match d.get("autoplay") {
            None | Some(Bson::Null) => false,
            Some(_) => boolean(d, "autoplay")?,
        },
    })
}

fn decode_tracks(d: &Document, key: &str) -> Result<VecDeque<Track>, String> {
    match d.get(key) {
        None | Some(Bson::Null) => Ok(VecDeque::new()),
        Some(Bson::Array(items)) => items.iter().map(decode_track).collect(),
        Some(_) => Err(format!("`{key}` is not a list")),
    }
}

/// Where a player's queue is: chunks listed in its `queue` field, or (a document saved before
/// queues were chunked, or by such a build during an overlapping deploy) one queue document.
pub(super) enum QueueSource<'a> {
    Chunks(&'a HashMap<ObjectId, Document>),
    Legacy(Option<&'a Document>),
}

fn read_chunked(
    key: &str,
    q: &Document,
    chunks: &HashMap<ObjectId, Document>,
) -> Result<VecDeque<Track>, String> {
    let mut list = VecDeque::new();
    for c in read_refs(q, key)? {
        let chunk = chunks
            .get(&c.id)
            .ok_or_else(|| format!("`{key}`: chunk {} is missing", c.id))?;
        let tracks = decode_tracks(chunk, "tracks").map_err(|e| format!("`{key}`: {e}"))?;
        if tracks.len() != c.len {
            return Err(format!(
                "`{key}`: chunk {} holds {} tracks, not {}",
                c.id,
                tracks.len(),
                c.len
            ));
        }
        list.extend(tracks);
    }
    Ok(list)
}

fn decode_current(q: &Document) -> Result<Option<Track>, String> {
    match q.get("current") {
        None | Some(Bson::Null) => Ok(None),
        Some(b) => Some(decode_track(b)).transpose(),
    }
}

/// Decodes a player document and its queue (see [`QueueSource`]).
pub(super) fn decode_document(
    d: &Document,
    source: QueueSource<'_>,
) -> Result<PlayerSnapshot, Skipped> {
    let guild_id = int(d, "_id").ok().map(|g| g as u64);
    let skip = |reason: String| Skipped { guild_id, reason };
    let inner = || -> Result<PlayerSnapshot, String> {
        let guild_id = guild_id.ok_or("`_id` is not a guild id")?;
        let state = StoredState {
            guild_id,
            voice_channel_id: opt_int(d, "voice_channel_id")?.map(|v| v as i64),
            text_channel_id: opt_int(d, "text_channel_id")?.map(|v| v as i64),
            position_ms: int(d, "position_ms")?,
            position_at_ms: int(d, "position_at_ms")?,
            paused: boolean(d, "paused")?,
            pause_reason: d.get_str("pause_reason").ok(),
            stalled: d.get("stalled").is_some() && boolean(d, "stalled")?,
            volume: int(d, "volume")?,
            loop_mode: string(d, "loop_mode")?,
            filters: string(d, "filters")?,
            autoplay: read_autoplay(guild_id, d),
            taken_at_ms: int(d, "taken_at_ms")?,
        }
        .into_state()?;
        let schema_version = u32::try_from(int(d, "v")?).unwrap_or(u32::MAX);
        if schema_version != crate::domain::SNAPSHOT_SCHEMA_VERSION {
            // Reported by `validate` with the version; the queue may have another shape.
            return Ok(PlayerSnapshot {
                schema_version,
                state,
                queue: QueueSnapshot::default(),
            });
        }
        let queue = match source {
            QueueSource::Chunks(chunks) => {
                let q = d
                    .get_document("queue")
                    .map_err(|_| "its queue is missing")?;
                QueueSnapshot {
                    current: decode_current(q)?,
                    upcoming: read_chunked("upcoming", q, chunks)?,
                    history: read_chunked("history", q, chunks)?,
                }
            }
            QueueSource::Legacy(q) => {
                let q = q.ok_or("its queue is missing")?;
                QueueSnapshot {
                    current: decode_current(q)?,
                    upcoming: decode_tracks(q, "upcoming")?,
                    history: decode_tracks(q, "history")?,
                }
            }
        };
        Ok(PlayerSnapshot {
            schema_version,
            state,
            queue,
        })
    };
    let snapshot = inner().map_err(skip)?;
    snapshot.validate().map_err(|e| skip(e.to_string()))?;
    Ok(snapshot)
}

pub(super) fn guild_config_document(c: &GuildConfig) -> Document {
    let c = StoredGuildConfig::from_config(c);
    doc! {
        "_id": c.guild_id,
        "dj_role_id": c.dj_role_id.map(Bson::Int64).unwrap_or(Bson::Null),
        "always_on": c.always_on,
        "default_volume": c.default_volume as i32,
        "announce_now_playing": c.announce_now_playing,
        "auto_resume": c.auto_resume.map(Bson::Boolean).unwrap_or(Bson::Null),
        "autoplay": c.autoplay,
        "vote_skip_percent": c.vote_skip_percent as i32,
        "updated_at_ms": c.updated_at_ms,
    }
}

/// Decodes a guild config document; booleans may be stored as 0/1 integers, numbers as any
/// integer type.
pub(super) fn decode_guild_config(d: &Document) -> Result<GuildConfig, Skipped> {
    let guild_id = int(d, "_id").ok();
    let skip = |reason: String| Skipped {
        guild_id: guild_id.map(|g| g as u64),
        reason,
    };
    let inner = || -> Result<GuildConfig, String> {
        StoredGuildConfig {
            guild_id: guild_id.ok_or("`_id` is not a guild id")?,
            dj_role_id: opt_int(d, "dj_role_id")?.map(|r| r as i64),
            always_on: boolean(d, "always_on")?,
            default_volume: int(d, "default_volume")?,
            announce_now_playing: boolean(d, "announce_now_playing")?,
            auto_resume: match d.get("auto_resume") {
                None | Some(Bson::Null) => None,
                Some(_) => Some(boolean(d, "auto_resume")?),
            },
            // Absent in documents saved before they existed: the defaults.
            autoplay: d.get("autoplay").is_some() && boolean(d, "autoplay")?,
            vote_skip_percent: match d.get("vote_skip_percent") {
                None | Some(Bson::Null) => {
                    i64::from(crate::domain::vote::DEFAULT_VOTE_SKIP_PERCENT)
                }
                Some(_) => int(d, "vote_skip_percent")?,
            },
            updated_at_ms: int(d, "updated_at_ms")?,
        }
        .into_config()
    };
    inner().map_err(skip)
}
