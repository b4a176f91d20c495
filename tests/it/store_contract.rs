//! One contract, every backend: memory, an SQLite file, and a MongoDB-protocol server.

use std::sync::Arc;

use encore::domain::{FilterPreset, LoopMode, QueueSnapshot};
use encore::store::{LoadFilter, SaveOp};
use mongodb::bson::doc;

use crate::support::{backends, full, guild, snapshot, Backend};

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
        state.paused = !state.paused;
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
            "UPDATE queues SET upcoming = '[{{\"encoded\": 12' WHERE guild_id = {g1};
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
        let uri = crate::support::mongo_uri().unwrap();
        let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
        let coll = client
            .database(db)
            .collection::<mongodb::bson::Document>("players");
        let queues = client
            .database(db)
            .collection::<mongodb::bson::Document>("queues");
        queues
            .update_one(
                doc! {"guild_id": guild(11) as i64},
                doc! {"$set": {"upcoming": "not a list"}},
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
