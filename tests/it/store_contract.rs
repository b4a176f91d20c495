//! One contract, every backend: memory, an SQLite file, and a MongoDB-protocol server.

use std::sync::Arc;

use encore::domain::{
    FilterPreset, GuildConfig, LoopMode, PauseReason, PlayerSnapshot, QueueSnapshot, Track,
};
use encore::store::{LoadFilter, SaveOp, SqliteStore, StateStore, StoreError};
use mongodb::bson::{doc, oid::ObjectId, Bson, Document};

use crate::harness::{backends, full, guild, guild_config, snapshot, sqlite_at, track, Backend};

#[tokio::test]
async fn full_save_round_trips() {
    for b in backends().await {
        let s = snapshot(guild(1), 25, 4);
        b.store.save(&[full(&s)]).await.unwrap();
        let back = b.store.load(guild(1)).await.unwrap();
        assert_eq!(back.as_ref(), Some(&s), "backend {}", b.name);
        assert_eq!(
            b.store.load(guild(2)).await.unwrap(),
            None,
            "backend {}",
            b.name
        );
    }
}

#[tokio::test]
async fn a_large_queue_with_unicode_round_trips() {
    for b in backends().await {
        let mut s = snapshot(guild(3), 500, 9);
        s.queue.upcoming[7].title = "日本語のタイトル \"quoted\" \\ back\nslash 🎵".into();
        s.queue.upcoming[8].uri = None;
        s.queue.upcoming[9].requester = None;
        s.state.voice_channel_id = None;
        s.state.filters = FilterPreset::EightD;
        b.store.save(&[full(&s)]).await.unwrap();
        assert_eq!(
            b.store.load(guild(3)).await.unwrap(),
            Some(s),
            "backend {}",
            b.name
        );
    }
}

#[tokio::test]
async fn a_player_without_a_current_track_round_trips() {
    for b in backends().await {
        let mut s = snapshot(guild(4), 0, 2);
        s.queue = QueueSnapshot::default();
        b.store.save(&[full(&s)]).await.unwrap();
        assert_eq!(
            b.store.load(guild(4)).await.unwrap(),
            Some(s),
            "backend {}",
            b.name
        );
    }
}

#[tokio::test]
async fn state_save_changes_the_small_fields_and_keeps_the_queue() {
    for b in backends().await {
        let s = snapshot(guild(5), 30, 1);
        b.store.save(&[full(&s)]).await.unwrap();
        let mut state = s.state.clone();
        state.position_ms = 123_456;
        state.position_at_ms += 5_000;
        state.set_paused(!state.paused, PauseReason::NobodyListening);
        state.volume = 175;
        state.loop_mode = LoopMode::Queue;
        state.filters = FilterPreset::Nightcore;
        state.text_channel_id = Some(4242);
        let stats = b.store.save(&[SaveOp::State(state.clone())]).await.unwrap();
        assert_eq!(stats.ops, 1);
        let back = b.store.load(guild(5)).await.unwrap().unwrap();
        assert_eq!(back.state, state, "backend {}", b.name);
        assert_eq!(back.queue, s.queue, "backend {}", b.name);
    }
}

#[tokio::test]
async fn state_save_of_an_unsaved_guild_creates_nothing() {
    for b in backends().await {
        let s = snapshot(guild(6), 3, 1);
        b.store
            .save(&[SaveOp::State(s.state.clone())])
            .await
            .unwrap();
        assert_eq!(
            b.store.load(guild(6)).await.unwrap(),
            None,
            "backend {}",
            b.name
        );
        assert_eq!(
            b.store
                .load_all(&LoadFilter::All)
                .await
                .unwrap()
                .snapshots
                .len(),
            0
        );
    }
}

#[tokio::test]
async fn delete_forgets_one_guild_only() {
    for b in backends().await {
        let a = snapshot(guild(7), 3, 1);
        let c = snapshot(guild(8), 3, 2);
        b.store.save(&[full(&a), full(&c)]).await.unwrap();
        assert!(
            b.store.delete(guild(7)).await.unwrap(),
            "backend {}",
            b.name
        );
        assert!(
            !b.store.delete(guild(7)).await.unwrap(),
            "backend {}",
            b.name
        );
        assert_eq!(b.store.load(guild(7)).await.unwrap(), None);
        assert_eq!(b.store.load(guild(8)).await.unwrap(), Some(c));
        // A delete in a batch works too, and a later full save in the same batch wins.
        let again = snapshot(guild(8), 4, 5);
        b.store
            .save(&[SaveOp::Delete(guild(8)), full(&again)])
            .await
            .unwrap();
        assert_eq!(
            b.store.load(guild(8)).await.unwrap(),
            Some(again),
            "backend {}",
            b.name
        );
        b.store.save(&[SaveOp::Delete(guild(8))]).await.unwrap();
        assert_eq!(
            b.store.load(guild(8)).await.unwrap(),
            None,
            "backend {}",
            b.name
        );
    }
}

#[tokio::test]
async fn a_batch_saves_many_guilds_and_load_all_returns_them_sorted() {
    for b in backends().await {
        let batch: Vec<SaveOp> = (0..120)
            .rev()
            .map(|i| full(&snapshot(guild(100 + i), 5, i)))
            .collect();
        let stats = b.store.save(&batch).await.unwrap();
        assert_eq!(stats.ops, 120);
        let report = b.store.load_all(&LoadFilter::All).await.unwrap();
        assert!(report.skipped.is_empty());
        let ids: Vec<u64> = report.snapshots.iter().map(|s| s.guild_id()).collect();
        let expected: Vec<u64> = (0..120).map(|i| guild(100 + i)).collect();
        assert_eq!(ids, expected, "backend {}", b.name);
        for s in &report.snapshots {
            let i = (0..120).find(|i| guild(100 + i) == s.guild_id()).unwrap();
            assert_eq!(s, &snapshot(guild(100 + i), 5, i));
        }
    }
}

#[tokio::test]
async fn load_all_filters_by_shard() {
    for b in backends().await {
        let ids: Vec<u64> = (0..40).map(guild).collect();
        let batch: Vec<SaveOp> = ids.iter().map(|g| full(&snapshot(*g, 1, 1))).collect();
        b.store.save(&batch).await.unwrap();
        let filter = LoadFilter::Shards {
            shard_ids: vec![0, 2],
            shard_count: 4,
        };
        let got: Vec<u64> = b
            .store
            .load_all(&filter)
            .await
            .unwrap()
            .snapshots
            .iter()
            .map(|s| s.guild_id())
            .collect();
        let mut expected: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|g| [0, 2].contains(&((g >> 22) % 4)))
            .collect();
        expected.sort();
        assert!(!expected.is_empty() && expected.len() < ids.len());
        assert_eq!(got, expected, "backend {}", b.name);
        let none = LoadFilter::Shards {
            shard_ids: vec![],
            shard_count: 4,
        };
        assert!(b.store.load_all(&none).await.unwrap().snapshots.is_empty());
    }
}

#[tokio::test]
async fn health_reports_reachability_count_and_last_write() {
    for b in backends().await {
        let before = b.store.health().await;
        assert!(before.reachable, "backend {}: {:?}", b.name, before.error);
        assert_eq!(before.saved_players, Some(0));
        assert_eq!(before.last_write_at_ms, None);
        b.store
            .save(&[
                full(&snapshot(guild(1), 1, 1)),
                full(&snapshot(guild(2), 1, 1)),
            ])
            .await
            .unwrap();
        let after = b.store.health().await;
        assert_eq!(after.saved_players, Some(2), "backend {}", b.name);
        assert!(after.last_write_at_ms.unwrap() >= encore::domain::now_ms() - 60_000);
        assert_eq!(after.backend, b.name);
    }
}

#[tokio::test]
async fn full_saves_share_no_state_between_guilds() {
    for b in backends().await {
        let a = snapshot(guild(1), 2, 1);
        let c = snapshot(guild(2), 2, 2);
        b.store.save(&[full(&a), full(&c)]).await.unwrap();
        let mut moved = a.state.clone();
        moved.position_ms = 1;
        b.store.save(&[SaveOp::State(moved)]).await.unwrap();
        assert_eq!(
            b.store.load(guild(2)).await.unwrap(),
            Some(c),
            "backend {}",
            b.name
        );
    }
}

/// Writes bad records straight into the backend's storage (as a bug, a manual edit or a newer
/// Encore would leave them): each must be skipped with the reason while the others load.
async fn corrupt(b: &Backend) {
    if let Some(path) = &b.sqlite_path {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch(&format!(
            "UPDATE queue_chunks SET tracks = '[{{\"encoded\": 12' WHERE guild_id = {g1};
             UPDATE players SET loop_mode = 'sideways' WHERE guild_id = {g2};
             UPDATE players SET schema_version = 99 WHERE guild_id = {g3};
             DELETE FROM queues WHERE guild_id = {g4};",
            g1 = guild(11) as i64,
            g2 = guild(12) as i64,
            g3 = guild(13) as i64,
            g4 = guild(14) as i64,
        ))
        .unwrap();
    }
    if let Some(db) = &b.mongo_db {
        let uri = crate::harness::mongo_uri().unwrap();
        let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
        let coll = client
            .database(db)
            .collection::<mongodb::bson::Document>("players");
        let chunks = client
            .database(db)
            .collection::<mongodb::bson::Document>("queue_chunks");
        chunks
            .update_many(
                doc! {"guild_id": guild(11) as i64},
                doc! {"$set": {"tracks": "not a list"}},
            )
            .await
            .unwrap();
        coll.update_one(
            doc! {"_id": guild(12) as i64},
            doc! {"$set": {"loop_mode": "sideways"}},
        )
        .await
        .unwrap();
        coll.update_one(doc! {"_id": guild(13) as i64}, doc! {"$set": {"v": 99}})
            .await
            .unwrap();
        coll.update_one(
            doc! {"_id": guild(14) as i64},
            doc! {"$set": {"volume": "loud"}},
        )
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn unreadable_records_are_skipped_and_the_rest_load() {
    for b in backends().await {
        if b.name == "memory" {
            continue; // Holds typed values only: nothing in it can be corrupt.
        }
        let batch: Vec<SaveOp> = (10..=15).map(|i| full(&snapshot(guild(i), 3, i))).collect();
        b.store.save(&batch).await.unwrap();
        corrupt(&b).await;
        let report = b.store.load_all(&LoadFilter::All).await.unwrap();
        let good: Vec<u64> = report.snapshots.iter().map(|s| s.guild_id()).collect();
        assert_eq!(good, vec![guild(10), guild(15)], "backend {}", b.name);
        let mut skipped: Vec<u64> = report.skipped.iter().map(|s| s.guild_id.unwrap()).collect();
        skipped.sort();
        assert_eq!(
            skipped,
            vec![guild(11), guild(12), guild(13), guild(14)],
            "backend {}",
            b.name
        );
        let version = report
            .skipped
            .iter()
            .find(|s| s.guild_id == Some(guild(13)))
            .unwrap();
        assert!(
            version.reason.contains("schema version 99"),
            "{}",
            version.reason
        );
        let mode = report
            .skipped
            .iter()
            .find(|s| s.guild_id == Some(guild(12)))
            .unwrap();
        assert!(mode.reason.contains("sideways"), "{}", mode.reason);
        // Loading one unreadable guild is "nothing saved", not an error.
        assert_eq!(b.store.load(guild(11)).await.unwrap(), None);
        // A fresh full save repairs a guild.
        let fixed = snapshot(guild(12), 2, 77);
        b.store.save(&[full(&fixed)]).await.unwrap();
        assert_eq!(
            b.store.load(guild(12)).await.unwrap(),
            Some(fixed),
            "backend {}",
            b.name
        );
    }
}

#[tokio::test]
async fn full_save_carries_arc_queues_without_copying_semantics() {
    // The same queue shared by two guilds' saves is stored independently for each.
    for b in backends().await {
        let s = snapshot(guild(20), 4, 3);
        let q = Arc::new(s.queue.clone());
        let mut other = s.state.clone();
        other.guild_id = guild(21);
        b.store
            .save(&[
                SaveOp::Full {
                    state: s.state.clone(),
                    queue: q.clone(),
                },
                SaveOp::Full {
                    state: other,
                    queue: q,
                },
            ])
            .await
            .unwrap();
        b.store.delete(guild(20)).await.unwrap();
        assert_eq!(
            b.store.load(guild(21)).await.unwrap().unwrap().queue,
            s.queue,
            "backend {}",
            b.name
        );
    }
}

#[tokio::test]
async fn guild_configs_round_trip_defaults_and_every_field() {
    for b in backends().await {
        let defaults = GuildConfig::new(guild(30));
        b.store.save_guild_config(&defaults).await.unwrap();
        assert_eq!(
            b.store.load_guild_config(guild(30)).await.unwrap(),
            Some(defaults),
            "backend {}",
            b.name
        );
        let mut set = guild_config(guild(31), 7);
        set.default_volume = 200;
        set.auto_resume = Some(false);
        b.store.save_guild_config(&set).await.unwrap();
        assert_eq!(
            b.store.load_guild_config(guild(31)).await.unwrap(),
            Some(set.clone()),
            "backend {}",
            b.name
        );
        // The extremes of every id survive the signed storage of SQLite and MongoDB.
        let mut big = guild_config(u64::MAX, 8);
        big.dj_role_id = Some(u64::MAX - 1);
        big.default_volume = 0;
        big.auto_resume = Some(true);
        b.store.save_guild_config(&big).await.unwrap();
        assert_eq!(
            b.store.load_guild_config(u64::MAX).await.unwrap(),
            Some(big),
            "backend {}",
            b.name
        );
        assert_eq!(
            b.store.load_guild_config(guild(32)).await.unwrap(),
            None,
            "backend {}",
            b.name
        );
        // Settings are not players.
        assert_eq!(b.store.load(guild(31)).await.unwrap(), None);
        assert_eq!(b.store.health().await.saved_players, Some(0));
    }
}

#[tokio::test]
async fn saving_a_guild_config_again_replaces_it() {
    for b in backends().await {
        let first = guild_config(guild(33), 1);
        b.store.save_guild_config(&first).await.unwrap();
        let mut second = GuildConfig::new(guild(33));
        second.updated_at_ms = first.updated_at_ms + 1;
        b.store.save_guild_config(&second).await.unwrap();
        assert_eq!(
            b.store.load_guild_config(guild(33)).await.unwrap(),
            Some(second.clone()),
            "backend {}",
            b.name
        );
        assert_eq!(
            b.store.load_guild_configs().await.unwrap(),
            vec![second],
            "backend {}",
            b.name
        );
    }
}

#[tokio::test]
async fn an_invalid_guild_config_is_refused() {
    for b in backends().await {
        let mut loud = GuildConfig::new(guild(34));
        loud.default_volume = 201;
        assert!(
            matches!(
                b.store.save_guild_config(&loud).await,
                Err(StoreError::Invalid(_))
            ),
            "backend {}",
            b.name
        );
        assert!(matches!(
            b.store.save_guild_config(&GuildConfig::new(0)).await,
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(b.store.load_guild_config(guild(34)).await.unwrap(), None);
        assert!(b.store.load_guild_configs().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn load_guild_configs_returns_all_sorted_by_guild() {
    for b in backends().await {
        assert!(b.store.load_guild_configs().await.unwrap().is_empty());
        for i in (0..25).rev() {
            b.store
                .save_guild_config(&guild_config(guild(40 + i), i))
                .await
                .unwrap();
        }
        let expected: Vec<GuildConfig> = (0..25).map(|i| guild_config(guild(40 + i), i)).collect();
        assert_eq!(
            b.store.load_guild_configs().await.unwrap(),
            expected,
            "backend {}",
            b.name
        );
    }
}

#[tokio::test]
async fn deleting_a_player_keeps_its_guild_config() {
    for b in backends().await {
        let config = guild_config(guild(70), 3);
        b.store.save_guild_config(&config).await.unwrap();
        b.store
            .save(&[
                full(&snapshot(guild(70), 3, 1)),
                full(&snapshot(guild(71), 3, 2)),
            ])
            .await
            .unwrap();
        assert!(b.store.delete(guild(70)).await.unwrap());
        b.store.save(&[SaveOp::Delete(guild(71))]).await.unwrap();
        assert_eq!(b.store.load(guild(70)).await.unwrap(), None);
        assert_eq!(
            b.store.load_guild_config(guild(70)).await.unwrap(),
            Some(config.clone()),
            "backend {}",
            b.name
        );
        assert_eq!(b.store.load_guild_configs().await.unwrap(), vec![config]);
        // And saving settings leaves the saved players alone.
        let s = snapshot(guild(72), 2, 4);
        b.store.save(&[full(&s)]).await.unwrap();
        b.store
            .save_guild_config(&GuildConfig::new(guild(72)))
            .await
            .unwrap();
        assert_eq!(b.store.load(guild(72)).await.unwrap(), Some(s));
    }
}

#[tokio::test]
async fn what_a_guild_played_is_kept_newest_first_up_to_its_limit_and_outlives_the_player() {
    for b in backends().await {
        let played = |i: u32| encore::domain::Played {
            played_at_ms: 1_700_000_000_000 + u64::from(i) * 1000,
            track: track(i, 7),
        };
        for i in 0..6 {
            b.store
                .record_played(guild(90), &played(i), 4)
                .await
                .unwrap();
        }
        b.store
            .record_played(guild(91), &played(100), 4)
            .await
            .unwrap();
        let kept = b.store.load_played(guild(90), 10).await.unwrap();
        assert_eq!(
            kept,
            vec![played(5), played(4), played(3), played(2)],
            "backend {}: the newest 4, newest first",
            b.name
        );
        assert_eq!(
            b.store.load_played(guild(90), 2).await.unwrap(),
            vec![played(5), played(4)],
            "backend {}",
            b.name
        );
        assert_eq!(
            b.store.load_played(guild(91), 10).await.unwrap(),
            vec![played(100)],
            "backend {}",
            b.name
        );
        // A stopped player (forgotten) keeps its guild's history.
        b.store
            .save(&[full(&snapshot(guild(90), 2, 1))])
            .await
            .unwrap();
        b.store.save(&[SaveOp::Delete(guild(90))]).await.unwrap();
        assert_eq!(b.store.load_played(guild(90), 10).await.unwrap().len(), 4);
        assert!(b.store.load_played(guild(92), 10).await.unwrap().is_empty());
    }
}

/// Writes bad guild configs straight into the backend's storage: guild(81), guild(82) and
/// guild(83) become unreadable; guild(84) is stored with integer booleans, which must still load.
async fn corrupt_guild_configs(b: &Backend) {
    if let Some(path) = &b.sqlite_path {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch(&format!(
            "UPDATE guild_configs SET default_volume = 'loud' WHERE guild_id = {g1};
             UPDATE guild_configs SET always_on = 7 WHERE guild_id = {g2};
             UPDATE guild_configs SET default_volume = 999 WHERE guild_id = {g3};",
            g1 = guild(81) as i64,
            g2 = guild(82) as i64,
            g3 = guild(83) as i64,
        ))
        .unwrap();
    }
    if let Some(db) = &b.mongo_db {
        let uri = crate::harness::mongo_uri().unwrap();
        let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
        let coll = client
            .database(db)
            .collection::<mongodb::bson::Document>("guild_configs");
        coll.update_one(
            doc! {"_id": guild(81) as i64},
            doc! {"$set": {"default_volume": "loud"}},
        )
        .await
        .unwrap();
        coll.update_one(
            doc! {"_id": guild(82) as i64},
            doc! {"$set": {"always_on": "yes"}},
        )
        .await
        .unwrap();
        coll.update_one(
            doc! {"_id": guild(83) as i64},
            doc! {"$unset": {"announce_now_playing": ""}},
        )
        .await
        .unwrap();
        coll.update_one(
            doc! {"_id": guild(84) as i64},
            doc! {"$set": {"always_on": 0, "announce_now_playing": 1, "auto_resume": 1}},
        )
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn unreadable_guild_configs_are_skipped_and_the_rest_load() {
    for b in backends().await {
        if b.name == "memory" {
            continue; // Holds typed values only: nothing in it can be corrupt.
        }
        for i in 80..=85 {
            b.store
                .save_guild_config(&guild_config(guild(i), i))
                .await
                .unwrap();
        }
        corrupt_guild_configs(&b).await;
        let loaded = b.store.load_guild_configs().await.unwrap();
        let ids: Vec<u64> = loaded.iter().map(|c| c.guild_id).collect();
        assert_eq!(
            ids,
            vec![guild(80), guild(84), guild(85)],
            "backend {}",
            b.name
        );
        if b.name == "mongodb" {
            // Stored with 0/1 integers for its booleans: still readable.
            let tolerant = &loaded[1];
            assert!(!tolerant.always_on && tolerant.announce_now_playing);
            assert_eq!(tolerant.auto_resume, Some(true));
        }
        assert_eq!(loaded[0], guild_config(guild(80), 80));
        // Loading one unreadable config is "nothing saved", not an error.
        for i in 81..=83 {
            assert_eq!(
                b.store.load_guild_config(guild(i)).await.unwrap(),
                None,
                "backend {} guild {i}",
                b.name
            );
        }
        // Saving again repairs it.
        let fixed = GuildConfig::new(guild(81));
        b.store.save_guild_config(&fixed).await.unwrap();
        assert_eq!(
            b.store.load_guild_config(guild(81)).await.unwrap(),
            Some(fixed),
            "backend {}",
            b.name
        );
    }
}

/// Migration 1 exactly as the first released schema created it.
const SCHEMA_1: &str = "CREATE TABLE players (
        guild_id          INTEGER PRIMARY KEY,
        schema_version    INTEGER NOT NULL,
        voice_channel_id  INTEGER,
        text_channel_id   INTEGER,
        position_ms       INTEGER NOT NULL,
        position_at_ms    INTEGER NOT NULL,
        paused            INTEGER NOT NULL,
        volume            INTEGER NOT NULL,
        loop_mode         TEXT NOT NULL,
        filters           TEXT NOT NULL,
        taken_at_ms       INTEGER NOT NULL
    );
    CREATE TABLE queues (
        guild_id  INTEGER PRIMARY KEY REFERENCES players(guild_id) ON DELETE CASCADE,
        current   TEXT,
        upcoming  TEXT NOT NULL,
        history   TEXT NOT NULL
    );";

#[tokio::test]
async fn a_schema_1_sqlite_database_migrates_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("encore.db");
    let s = before_autoplay(snapshot(guild(90), 12, 5));
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; BEGIN; {SCHEMA_1}; PRAGMA user_version = 1; COMMIT;"
        ))
        .unwrap();
        let st = &s.state;
        conn.execute(
            "INSERT INTO players VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            rusqlite::params![
                st.guild_id as i64,
                st.voice_channel_id.map(|v| v as i64),
                st.text_channel_id.map(|v| v as i64),
                st.position_ms as i64,
                st.position_at_ms as i64,
                i64::from(st.paused),
                i64::from(st.volume),
                st.loop_mode.as_str(),
                st.filters.as_str(),
                st.taken_at_ms as i64,
            ],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO queues VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![
                st.guild_id as i64,
                serde_json::to_string(&s.queue.current).unwrap(),
                serde_json::to_string(&s.queue.upcoming).unwrap(),
                serde_json::to_string(&s.queue.history).unwrap(),
            ],
        )
        .unwrap();
    }
    let store = sqlite_at(&path);
    // Schema 1 saved only `paused`: a paused player was paused by a member.
    assert!(s.state.paused);
    let mut s = s;
    s.state.pause_reason = Some(PauseReason::Member);
    s.state.stalled = false;
    assert_eq!(store.load(guild(90)).await.unwrap(), Some(s.clone()));
    assert!(store.load_guild_configs().await.unwrap().is_empty());
    let config = guild_config(guild(90), 2);
    store.save_guild_config(&config).await.unwrap();
    assert_eq!(
        store.load_guild_config(guild(90)).await.unwrap(),
        Some(config.clone())
    );
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 6);
    drop(store);
    // Reopening applies nothing twice; a backup of the migrated file opens too.
    let store = sqlite_at(&path);
    assert_eq!(store.load(guild(90)).await.unwrap(), Some(s.clone()));
    assert_eq!(
        store.load_guild_configs().await.unwrap(),
        vec![config.clone()]
    );
    let backup = store.backup_now().await.unwrap();
    drop(store);
    let restored = dir.path().join("restored.db");
    std::fs::copy(&backup, &restored).unwrap();
    let store: SqliteStore = sqlite_at(&restored);
    assert_eq!(store.load(guild(90)).await.unwrap(), Some(s));
    assert_eq!(
        store.load_guild_config(guild(90)).await.unwrap(),
        Some(config)
    );
}

#[tokio::test]
async fn a_lease_is_compared_and_swapped_on_its_version() {
    for b in backends().await {
        let s = &b.store;
        assert_eq!(s.load_lease("main").await.unwrap(), None, "{}", b.name);
        assert!(
            s.swap_lease("main", None, "first").await.unwrap(),
            "{}",
            b.name
        );
        // Creating it again, or swapping from a version that is gone, changes nothing.
        assert!(
            !s.swap_lease("main", None, "again").await.unwrap(),
            "{}",
            b.name
        );
        assert!(
            !s.swap_lease("main", Some(7), "stale").await.unwrap(),
            "{}",
            b.name
        );
        let got = s.load_lease("main").await.unwrap().unwrap();
        assert_eq!((got.version, got.body.as_str()), (1, "first"), "{}", b.name);
        assert!(
            s.swap_lease("main", Some(1), "second").await.unwrap(),
            "{}",
            b.name
        );
        assert!(
            !s.swap_lease("main", Some(1), "lost").await.unwrap(),
            "{}",
            b.name
        );
        let got = s.load_lease("main").await.unwrap().unwrap();
        assert_eq!(
            (got.version, got.body.as_str()),
            (2, "second"),
            "{}",
            b.name
        );
        // Leases are independent of each other.
        assert_eq!(s.load_lease("other").await.unwrap(), None, "{}", b.name);
    }
}

#[tokio::test]
async fn of_many_concurrent_swaps_from_one_version_exactly_one_wins() {
    for b in backends().await {
        let s = b.store.clone();
        assert!(s.swap_lease("race", None, "0").await.unwrap());
        for round in 1..=5u64 {
            let tasks: Vec<_> = (0..8)
                .map(|i| {
                    let s = s.clone();
                    tokio::spawn(async move {
                        s.swap_lease("race", Some(round), &format!("{round}-{i}"))
                            .await
                            .unwrap()
                    })
                })
                .collect();
            let mut wins = 0;
            for t in tasks {
                wins += usize::from(t.await.unwrap());
            }
            assert_eq!(wins, 1, "backend {} round {round}", b.name);
        }
        let got = s.load_lease("race").await.unwrap().unwrap();
        assert_eq!(got.version, 6, "backend {}", b.name);
    }
}

/// Schema 3 (before pause reasons): players and queues as above, guild configs, leases.
const SCHEMA_3_EXTRA: &str = "CREATE TABLE guild_configs (
        guild_id INTEGER PRIMARY KEY, dj_role_id INTEGER, always_on INTEGER NOT NULL,
        default_volume INTEGER NOT NULL, announce_now_playing INTEGER NOT NULL,
        auto_resume INTEGER, updated_at_ms INTEGER NOT NULL);
    CREATE TABLE leases (name TEXT PRIMARY KEY, version INTEGER NOT NULL, body TEXT NOT NULL);";

#[tokio::test]
async fn records_of_the_schema_before_pause_reasons_read_as_a_members_pause() {
    // SQLite: a database of schema 3, one paused and one playing player.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("encore.db");
    let paused = snapshot(guild(91), 2, 5);
    let playing = snapshot(guild(92), 2, 4);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA_1}; {SCHEMA_3_EXTRA}; PRAGMA user_version = 3; COMMIT;"
        ))
        .unwrap();
        for s in [&paused, &playing] {
            let st = &s.state;
            conn.execute(
                "INSERT INTO players VALUES (?1, 1, 900, 800, 5000, 1, ?2, 100, 'off', 'off', 1)",
                rusqlite::params![st.guild_id as i64, i64::from(st.paused)],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO queues VALUES (?1, ?2, '[]', '[]')",
                rusqlite::params![
                    st.guild_id as i64,
                    serde_json::to_string(&s.queue.current).unwrap()
                ],
            )
            .unwrap();
        }
    }
    let store = sqlite_at(&path);
    let back = store.load(guild(91)).await.unwrap().unwrap().state;
    assert!(back.paused);
    assert_eq!(back.pause_reason, Some(PauseReason::Member));
    assert_eq!(back.why_paused(), Some(PauseReason::Member));
    let back = store.load(guild(92)).await.unwrap().unwrap().state;
    assert_eq!((back.paused, back.why_paused()), (false, None));
    // The reason is kept from now on.
    let mut state = back;
    state.pause(PauseReason::NobodyListening);
    store.save(&[SaveOp::State(state)]).await.unwrap();
    let back = store.load(guild(92)).await.unwrap().unwrap().state;
    assert_eq!(back.why_paused(), Some(PauseReason::NobodyListening));

    // MongoDB: a document of today's shape (no `pause_reason`), written before the new build
    // connects, is migrated at connect; one written after (an old build still running during an
    // overlapping deploy) reads the same way.
    let Some(uri) = crate::harness::mongo_uri() else {
        return;
    };
    let db = crate::harness::unique_db();
    let first = crate::harness::mongo_store(&uri, &db).await;
    let mut old = snapshot(guild(93), 2, 5);
    old.state.pause_reason = None;
    first.save(&[full(&old)]).await.unwrap();
    let mut late = snapshot(guild(94), 2, 7);
    late.state.pause_reason = None;
    first.save(&[full(&late)]).await.unwrap();
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let players = client
        .database(&db)
        .collection::<mongodb::bson::Document>("players");
    players
        .update_many(doc! {}, doc! {"$unset": {"pause_reason": ""}})
        .await
        .unwrap();
    let store = crate::harness::mongo_store(&uri, &db).await;
    let migrated = players
        .find_one(doc! {"_id": guild(93) as i64})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(migrated.get_str("pause_reason"), Ok("member"));
    players
        .update_one(
            doc! {"_id": guild(94) as i64},
            doc! {"$unset": {"pause_reason": ""}},
        )
        .await
        .unwrap();
    for g in [guild(93), guild(94)] {
        let back = store.load(g).await.unwrap().unwrap().state;
        assert_eq!(back.why_paused(), Some(PauseReason::Member), "guild {g}");
    }
}

/// A queue change written as a change from `base` (what the store holds).
fn edit(base: &QueueSnapshot, s: &PlayerSnapshot) -> SaveOp {
    SaveOp::Edit {
        state: s.state.clone(),
        base: Arc::new(base.clone()),
        queue: Arc::new(s.queue.clone()),
    }
}

#[tokio::test]
async fn queue_edits_save_the_new_queue_and_an_append_writes_only_what_changed() {
    type Change = fn(&mut QueueSnapshot);
    let changes: [(&str, Change); 11] = [
        ("append one", |q| q.upcoming.push_back(track(9001, 2))),
        ("append a playlist", |q| {
            q.upcoming.extend((0..50).map(|i| track(9100 + i, 2)))
        }),
        ("insert next", |q| {
            q.upcoming.push_front(track(9200, 2));
            q.upcoming.push_front(track(9201, 2));
        }),
        ("remove one", |q| {
            q.upcoming.remove(2500);
        }),
        ("move to the front", |q| {
            let t = q.upcoming.remove(4000).unwrap();
            q.upcoming.insert(2, t);
        }),
        ("skip in a looping queue", |q| {
            let next = q.upcoming.pop_front().unwrap();
            let done = q.current.replace(next).unwrap();
            q.upcoming.push_back(done.clone());
            q.history.pop_front();
            q.history.push_back(done);
        }),
        ("previous", |q| {
            let prev = q.history.pop_back().unwrap();
            let cur = q.current.replace(prev).unwrap();
            q.upcoming.push_front(cur);
        }),
        ("shuffle", |q| {
            let v = q.upcoming.make_contiguous();
            v.reverse();
            v.swap(0, 77);
        }),
        ("clear", |q| q.upcoming.clear()),
        ("append to an empty queue", |q| {
            q.upcoming.push_back(track(9300, 2))
        }),
        ("end of the queue", |q| {
            q.current = None;
            q.upcoming.clear();
        }),
    ];
    for b in backends().await {
        let mut s = snapshot(guild(50), 5000, 1);
        let whole = b.store.save(&[full(&s)]).await.unwrap().bytes;
        for (what, change) in changes {
            let base = s.queue.clone();
            change(&mut s.queue);
            s.state.volume += 1;
            let stats = b.store.save(&[edit(&base, &s)]).await.unwrap();
            assert_eq!(
                b.store.load(guild(50)).await.unwrap().as_ref(),
                Some(&s),
                "backend {} after {what}",
                b.name
            );
            if what == "append one" && b.name != "memory" {
                // One chunk of at most 32 tracks (~15 KiB) and the player, not 5,000 tracks.
                assert!(
                    stats.bytes < 40_000 && stats.bytes * 50 < whole,
                    "backend {}: an append wrote {} bytes, the whole queue {whole}",
                    b.name,
                    stats.bytes
                );
            }
        }
        // What the store keeps is exactly what it lists: nothing else is left of the old queue.
        if let Some(path) = &b.sqlite_path {
            let conn = rusqlite::Connection::open(path).unwrap();
            let chunks: i64 = conn
                .query_row("SELECT COUNT(*) FROM queue_chunks", [], |r| r.get(0))
                .unwrap();
            assert!(chunks <= 2, "{chunks} chunks left for a 1-track history");
        }
        b.store.delete(guild(50)).await.unwrap();
        assert_eq!(b.store.load(guild(50)).await.unwrap(), None);
    }
}

#[tokio::test]
async fn an_edit_the_store_cannot_follow_is_written_whole() {
    for b in backends().await {
        // Nothing saved yet: the whole player.
        let first = snapshot(guild(51), 40, 1);
        let s = snapshot(guild(51), 45, 2);
        b.store.save(&[edit(&first.queue, &s)]).await.unwrap();
        assert_eq!(b.store.load(guild(51)).await.unwrap().as_ref(), Some(&s));
        // A base of another length than what the store holds (the writer lost track).
        let wrong = snapshot(guild(51), 10, 1);
        let next = snapshot(guild(51), 30, 3);
        b.store.save(&[edit(&wrong.queue, &next)]).await.unwrap();
        assert_eq!(
            b.store.load(guild(51)).await.unwrap().as_ref(),
            Some(&next),
            "backend {}",
            b.name
        );
        // Several writes of one guild in one batch: the last wins, whatever came before.
        let a = snapshot(guild(51), 20, 4);
        let c = snapshot(guild(51), 21, 5);
        b.store.save(&[full(&a), edit(&a.queue, &c)]).await.unwrap();
        assert_eq!(b.store.load(guild(51)).await.unwrap().as_ref(), Some(&c));
        let d = snapshot(guild(51), 3, 6);
        b.store
            .save(&[SaveOp::Delete(guild(51)), edit(&c.queue, &d)])
            .await
            .unwrap();
        assert_eq!(
            b.store.load(guild(51)).await.unwrap().as_ref(),
            Some(&d),
            "backend {}",
            b.name
        );
        // A state-only save keeps a queue saved as a change.
        let mut state = d.state.clone();
        state.volume = 7;
        b.store.save(&[SaveOp::State(state.clone())]).await.unwrap();
        let back = b.store.load(guild(51)).await.unwrap().unwrap();
        assert_eq!((back.state, back.queue), (state, d.queue));
    }
}

/// Schema 4: schema 3 with the pause reason and `stalled` columns.
const SCHEMA_4_EXTRA: &str = "ALTER TABLE players ADD COLUMN pause_reason TEXT;
    ALTER TABLE players ADD COLUMN stalled INTEGER NOT NULL DEFAULT 0;";

#[tokio::test]
async fn a_schema_4_sqlite_database_moves_its_queues_into_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("encore.db");
    let long = before_autoplay(snapshot(guild(95), 300, 2));
    let mut empty = before_autoplay(snapshot(guild(96), 0, 4));
    empty.queue.history.clear();
    let broken = snapshot(guild(97), 3, 2);
    let not_a_list = snapshot(guild(98), 3, 2);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA_1}; {SCHEMA_3_EXTRA}; {SCHEMA_4_EXTRA}; PRAGMA user_version = 4; COMMIT;"
        ))
        .unwrap();
        for (s, upcoming) in [
            (&long, serde_json::to_string(&long.queue.upcoming).unwrap()),
            (&empty, "[]".to_string()),
            (&broken, "[{\"encoded\": 12".to_string()),
            (&not_a_list, "{}".to_string()),
        ] {
            let st = &s.state;
            conn.execute(
                "INSERT INTO players VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                rusqlite::params![
                    st.guild_id as i64,
                    st.voice_channel_id.map(|v| v as i64),
                    st.text_channel_id.map(|v| v as i64),
                    st.position_ms as i64,
                    st.position_at_ms as i64,
                    i64::from(st.paused),
                    i64::from(st.volume),
                    st.loop_mode.as_str(),
                    st.filters.as_str(),
                    st.taken_at_ms as i64,
                    st.pause_reason.map(|r| r.as_str()),
                    i64::from(st.stalled),
                ],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO queues VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![
                    st.guild_id as i64,
                    serde_json::to_string(&s.queue.current).unwrap(),
                    upcoming,
                    serde_json::to_string(&s.queue.history).unwrap(),
                ],
            )
            .unwrap();
        }
    }
    let store = sqlite_at(&path);
    let report = store.load_all(&LoadFilter::All).await.unwrap();
    assert_eq!(report.snapshots, vec![long.clone(), empty]);
    let skipped: Vec<u64> = report.skipped.iter().map(|s| s.guild_id.unwrap()).collect();
    assert_eq!(skipped, vec![guild(97), guild(98)], "still unreadable");
    assert!(
        report.skipped[0].reason.contains("queue"),
        "{:?}",
        report.skipped
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 6);
    // Each list became one chunk; the first change after it writes only what changed.
    let mut next = long.clone();
    next.queue.upcoming.push_back(track(7000, 2));
    let stats = store.save(&[edit(&long.queue, &next)]).await.unwrap();
    assert!(stats.bytes < 5_000, "an append wrote {} bytes", stats.bytes);
    assert_eq!(store.load(guild(95)).await.unwrap(), Some(next));
    let chunks: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM queue_chunks WHERE guild_id = ?1",
            [guild(95) as i64],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(chunks, 3, "upcoming, the appended track, history");
}

/// A snapshot as builds before autoplay saved it: autoplay off (the fixture varies it).
fn before_autoplay(mut s: PlayerSnapshot) -> PlayerSnapshot {
    s.state.autoplay = encore::domain::Autoplay::default();
    s
}

/// A player and its queue as builds before chunked queues saved them in MongoDB.
async fn insert_unchunked(db: &mongodb::Database, s: &PlayerSnapshot, upcoming: Bson) {
    let st = &s.state;
    let queue_id = ObjectId::new();
    let track = |t: &Track| mongodb::bson::to_bson(t).unwrap();
    db.collection::<Document>("queues")
        .insert_one(doc! {
            "_id": queue_id,
            "guild_id": st.guild_id as i64,
            "current": s.queue.current.as_ref().map(track),
            "upcoming": upcoming,
            "history": s.queue.history.iter().map(track).collect::<Vec<_>>(),
        })
        .await
        .unwrap();
    db.collection::<Document>("players")
        .insert_one(doc! {
            "_id": st.guild_id as i64,
            "v": 1,
            "shard_key": (st.guild_id >> 22) as i64,
            "voice_channel_id": st.voice_channel_id.map(|v| v as i64),
            "text_channel_id": st.text_channel_id.map(|v| v as i64),
            "position_ms": st.position_ms as i64,
            "position_at_ms": st.position_at_ms as i64,
            "paused": st.paused,
            "pause_reason": st.pause_reason.map(|r| r.as_str()),
            "stalled": st.stalled,
            "volume": i32::from(st.volume),
            "loop_mode": st.loop_mode.as_str(),
            "filters": st.filters.as_str(),
            "taken_at_ms": st.taken_at_ms as i64,
            "queue_id": queue_id,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn mongodb_queue_documents_of_the_old_shape_move_into_chunks() {
    let Some(uri) = crate::harness::mongo_uri() else {
        return;
    };
    let name = crate::harness::unique_db();
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let db = client.database(&name);
    let tracks = |s: &PlayerSnapshot| {
        Bson::Array(
            s.queue
                .upcoming
                .iter()
                .map(|t| mongodb::bson::to_bson(t).unwrap())
                .collect(),
        )
    };
    let long = before_autoplay(snapshot(guild(100), 300, 2));
    let broken = snapshot(guild(101), 3, 2);
    insert_unchunked(&db, &long, tracks(&long)).await;
    insert_unchunked(&db, &broken, Bson::String("not a list".into())).await;
    let store = crate::harness::mongo_store(&uri, &name).await;
    let players = db.collection::<Document>("players");
    let moved = players
        .find_one(doc! {"_id": guild(100) as i64})
        .await
        .unwrap()
        .unwrap();
    assert!(moved.get("queue_id").is_none() && moved.get_document("queue").is_ok());
    let queues = db.collection::<Document>("queues");
    assert_eq!(
        queues.count_documents(doc! {}).await.unwrap(),
        1,
        "the unreadable one stays"
    );
    let report = store.load_all(&LoadFilter::All).await.unwrap();
    assert_eq!(report.snapshots, vec![long.clone()]);
    assert_eq!(report.skipped[0].guild_id, Some(guild(101)));
    // A player an older build saves during an overlapping deploy still loads, and its first
    // change moves it into chunks.
    let late = before_autoplay(snapshot(guild(102), 40, 3));
    insert_unchunked(&db, &late, tracks(&late)).await;
    assert_eq!(store.load(guild(102)).await.unwrap().as_ref(), Some(&late));
    let mut next = late.clone();
    next.queue.upcoming.push_back(track(7001, 3));
    store.save(&[edit(&late.queue, &next)]).await.unwrap();
    assert_eq!(store.load(guild(102)).await.unwrap(), Some(next));
    assert_eq!(
        queues
            .count_documents(doc! {"guild_id": guild(102) as i64})
            .await
            .unwrap(),
        0
    );
    // An append to the migrated queue writes little.
    let mut grown = long.clone();
    grown.queue.upcoming.push_back(track(7002, 2));
    let stats = store.save(&[edit(&long.queue, &grown)]).await.unwrap();
    assert!(stats.bytes < 5_000, "an append wrote {} bytes", stats.bytes);
    assert_eq!(store.load(guild(100)).await.unwrap(), Some(grown));
}
