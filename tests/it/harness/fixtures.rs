//! Sample players and guild configs, and the store backends every contract test runs against.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use encore::domain::{LoopMode, PauseReason, PlayerSnapshot, PlayerState, QueueSnapshot, Track};
use encore::store::{MemoryStore, MongoStore, SqliteOptions, SqliteStore, StateStore};
use secrecy::SecretString;

/// A guild id that looks like a real snowflake (shard bits in place).
pub fn guild(n: u64) -> u64 {
    (1_000_000 + n) << 22 | (n & 0x3f_ffff)
}

pub fn track(i: u32, generation: u64) -> Track {
    Track {
        encoded: format!("QAAAjQIAJVJpY2sgQXN0bGV5IC0gTmV2ZXIgR29ubmEgR2l2ZSBZb3UgVXAADlJpY2tBc3RsZXlWRVZPAAAAAAADPCAAC2RRdzR3OVdnWGNRAAEAK2h0dHBzOi8vd3d3LnlvdXR1YmUuY29tL3dhdGNoP3Y9ZFF3NHc5V2dYY1EAB3lvdXR1YmUAAAAAAAAAAA=={i}g{generation}"),
        title: format!("Track {i} — gen {generation} ✓"),
        author: format!("Artist {}", i % 17),
        uri: Some(format!("https://example.com/watch?v={i}")),
        length_ms: Some(180_000 + u64::from(i) * 1000),
        is_stream: i % 50 == 49,
        is_seekable: i % 50 != 49,
        requester: Some(100_000_000_000_000_000 + u64::from(i)),
        // Some tracks queued with a start time (a link's `t=`), which every store keeps.
        start_ms: (i % 4 == 1).then(|| u64::from(i) * 1000),
        // Some queued by autoplay, which every store keeps.
        autoplay: i % 5 == 3,
    }
}

/// A player whose every field is derived from `generation`, so a test can tell a complete
/// snapshot from a mix of two.
pub fn snapshot(guild_id: u64, tracks: u32, generation: u64) -> PlayerSnapshot {
    let mut state = PlayerState::new(guild_id);
    state.voice_channel_id = Some(900 + generation);
    state.text_channel_id = Some(800 + generation);
    state.position_ms = generation * 1000;
    state.position_at_ms = 1_700_000_000_000 + generation;
    let reasons = [
        PauseReason::Member,
        PauseReason::AutoResumeOff,
        PauseReason::NobodyListening,
        PauseReason::VoiceLost,
    ];
    state.set_paused(generation % 2 == 1, reasons[(generation / 2 % 4) as usize]);
    state.stalled = generation % 3 == 2;
    state.volume = (generation % 200) as u16;
    state.loop_mode = [LoopMode::Off, LoopMode::Track, LoopMode::Queue][(generation % 3) as usize];
    // Autoplay off, on without a seed, or on with one.
    state.autoplay = encore::domain::Autoplay {
        on: !generation.is_multiple_of(3),
        seed: (generation % 3 == 2).then(|| encore::domain::autoplay::Seed {
            title: format!("Seed ✓ {generation}"),
            author: format!("Seed artist {generation}"),
            uri: Some(format!("https://www.youtube.com/watch?v=seed{generation}")),
        }),
    };
    state.taken_at_ms = 1_700_000_000_000 + generation;
    let queue = QueueSnapshot {
        current: Some(track(0, generation)),
        upcoming: (1..=tracks).map(|i| track(i, generation)).collect(),
        history: (0..3).map(|i| track(1000 + i, generation)).collect(),
    };
    PlayerSnapshot::new(state, queue)
}

pub fn full(s: &PlayerSnapshot) -> encore::store::SaveOp {
    encore::store::SaveOp::Full {
        state: s.state.clone(),
        queue: Arc::new(s.queue.clone()),
    }
}

pub fn sqlite_at(path: &Path) -> SqliteStore {
    SqliteStore::open(SqliteOptions::new(path)).expect("open sqlite")
}

static DB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// The MongoDB URI to test against, if any. Under `scripts/test.sh` (and CI) it must be set.
pub fn mongo_uri() -> Option<String> {
    match std::env::var("MONGODB_URI") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("ENCORE_REQUIRE_MONGODB").is_err(),
                "ENCORE_REQUIRE_MONGODB is set but MONGODB_URI is not: the MongoDB tests must run"
            );
            eprintln!("MONGODB_URI is not set: skipping the MongoDB backend (run scripts/test.sh)");
            None
        }
    }
}

/// A fresh database name, so tests never see each other's data.
pub fn unique_db() -> String {
    format!(
        "encore_test_{}_{}",
        std::process::id(),
        DB_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub async fn mongo_store(uri: &str, db: &str) -> MongoStore {
    MongoStore::connect(&SecretString::from(uri.to_string()), db)
        .await
        .expect("connect to MongoDB")
}

/// One backend under test; `dir` keeps the SQLite file alive.
pub struct Backend {
    pub name: &'static str,
    pub store: Arc<dyn StateStore>,
    pub _dir: Option<tempfile::TempDir>,
    pub mongo_db: Option<String>,
    pub sqlite_path: Option<std::path::PathBuf>,
}

pub async fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("encore.db");
    let mut out = vec![
        Backend {
            name: "memory",
            store: Arc::new(MemoryStore::new()),
            _dir: None,
            mongo_db: None,
            sqlite_path: None,
        },
        Backend {
            name: "sqlite",
            store: Arc::new(sqlite_at(&path)),
            _dir: Some(dir),
            mongo_db: None,
            sqlite_path: Some(path),
        },
    ];
    if let Some(uri) = mongo_uri() {
        let db = unique_db();
        out.push(Backend {
            name: "mongodb",
            store: Arc::new(mongo_store(&uri, &db).await),
            _dir: None,
            mongo_db: Some(db),
            sqlite_path: None,
        });
    }
    out
}

/// A guild config with every field away from its default, derived from `n`.
pub fn guild_config(guild_id: u64, n: u64) -> encore::domain::GuildConfig {
    encore::domain::GuildConfig {
        guild_id,
        dj_role_id: Some(700_000_000_000_000_000 + n),
        always_on: true,
        default_volume: (n % 201) as u16,
        announce_now_playing: false,
        auto_resume: Some(n.is_multiple_of(2)),
        autoplay: true,
        vote_skip_percent: (n % 50) as u8,
        updated_at_ms: 1_700_000_000_000 + n,
    }
}
