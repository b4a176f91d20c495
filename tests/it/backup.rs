//! SQLite backups: online backups with pruning, and recovery from an unreadable database.

use encore::store::{list_backups, LoadFilter, Recovery, SqliteOptions, SqliteStore, StateStore};

use crate::harness::{full, guild, snapshot};

fn options(dir: &std::path::Path, max: usize) -> SqliteOptions {
    let mut o = SqliteOptions::new(dir.join("encore.db"));
    o.max_backups = max;
    o
}

#[tokio::test]
async fn online_backups_hold_the_data_and_old_ones_are_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path(), 3);
    let store = SqliteStore::open(opts.clone()).unwrap();
    let s = snapshot(guild(1), 20, 2);
    store.save(&[full(&s)]).await.unwrap();
    let mut made = vec![];
    for _ in 0..5 {
        made.push(store.backup_now().await.unwrap());
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let kept = list_backups(&opts.backup_dir);
    assert_eq!(kept.len(), 3);
    assert_eq!(kept[0], made[4], "the newest is kept");
    assert!(!made[0].exists(), "the oldest is pruned");
    // A backup is a complete database of its own.
    let copy = SqliteStore::open(SqliteOptions::new(&kept[0])).unwrap();
    assert_eq!(copy.load(guild(1)).await.unwrap(), Some(s));
    // Writes go on while backing up (a separate connection reads).
    store
        .save(&[full(&snapshot(guild(2), 1, 1))])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_corrupt_database_is_moved_aside_and_the_newest_good_backup_restored() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path(), 5);
    let old = snapshot(guild(1), 5, 2);
    {
        let store = SqliteStore::open(opts.clone()).unwrap();
        store.save(&[full(&old)]).await.unwrap();
        store.backup_now().await.unwrap();
        store
            .save(&[full(&snapshot(guild(2), 5, 3))])
            .await
            .unwrap();
    }
    // A newer backup that is itself damaged must be passed over.
    std::thread::sleep(std::time::Duration::from_millis(5));
    std::fs::write(
        opts.backup_dir.join("encore-29991231T000000000Z.db"),
        b"not a database at all",
    )
    .unwrap();
    // Damage the live file (a torn disk write, a bad copy).
    let _ = std::fs::remove_file(dir.path().join("encore.db-wal"));
    let _ = std::fs::remove_file(dir.path().join("encore.db-shm"));
    std::fs::write(&opts.path, vec![0x5au8; 8192]).unwrap();

    let store = SqliteStore::open(opts.clone()).unwrap();
    match store.recovery() {
        Recovery::Restored {
            moved_to,
            restored_from,
        } => {
            assert!(moved_to.exists(), "the damaged file is kept for inspection");
            assert!(
                !restored_from.to_string_lossy().contains("2999"),
                "a bad backup was restored"
            );
        }
        other => panic!("expected a restore, got {other:?}"),
    }
    let report = store.load_all(&LoadFilter::All).await.unwrap();
    assert_eq!(
        report.snapshots,
        vec![old],
        "the players of the backup are back"
    );
    store
        .save(&[full(&snapshot(guild(3), 1, 1))])
        .await
        .unwrap();
}

#[tokio::test]
async fn without_a_good_backup_it_starts_empty_and_keeps_the_damaged_file() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path(), 5);
    std::fs::write(&opts.path, b"SQLite format 3\0 but then garbage ....................................................................................................").unwrap();
    let store = SqliteStore::open(opts.clone()).unwrap();
    let Recovery::StartedEmpty { moved_to } = store.recovery().clone() else {
        panic!("expected StartedEmpty, got {:?}", store.recovery());
    };
    assert!(moved_to.exists());
    assert!(store
        .load_all(&LoadFilter::All)
        .await
        .unwrap()
        .snapshots
        .is_empty());
    store
        .save(&[full(&snapshot(guild(1), 1, 1))])
        .await
        .unwrap();
    assert!(store.health().await.reachable);
}

#[tokio::test]
async fn a_database_from_a_newer_encore_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path(), 5);
    {
        let c = rusqlite::Connection::open(&opts.path).unwrap();
        c.execute_batch("PRAGMA user_version = 999;").unwrap();
    }
    let err = SqliteStore::open(opts.clone())
        .err()
        .expect("must refuse")
        .to_string();
    assert!(err.contains("newer Encore (schema 999"), "{err}");
    let c = rusqlite::Connection::open(&opts.path).unwrap();
    let v: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 999, "the file was changed");
}
