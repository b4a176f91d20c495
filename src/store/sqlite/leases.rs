//! Leases: the `leases` table, compared and swapped on its version.

use rusqlite::{params, OptionalExtension};

use super::{map_sqlite, SqliteStore};
use crate::store::{LeaseRecord, StoreError};

impl SqliteStore {
    pub(super) async fn read_lease(&self, name: &str) -> Result<Option<LeaseRecord>, StoreError> {
        let name = name.to_string();
        self.blocking(move |conn| {
            conn.query_row(
                "SELECT version, body FROM leases WHERE name = ?1",
                params![name],
                |row| {
                    Ok(LeaseRecord {
                        version: row.get::<_, i64>(0)? as u64,
                        body: row.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(map_sqlite)
        })
        .await
    }

    pub(super) async fn compare_and_swap_lease(
        &self,
        name: &str,
        expected: Option<u64>,
        body: &str,
    ) -> Result<bool, StoreError> {
        let (name, body) = (name.to_string(), body.to_string());
        self.blocking(move |conn| {
            let changed = match expected {
                None => conn
                    .execute(
                        "INSERT INTO leases (name, version, body) VALUES (?1, 1, ?2)
                         ON CONFLICT(name) DO NOTHING",
                        params![name, body],
                    )
                    .map_err(map_sqlite)?,
                Some(v) => conn
                    .execute(
                        "UPDATE leases SET version = version + 1, body = ?3
                         WHERE name = ?1 AND version = ?2",
                        params![name, v as i64, body],
                    )
                    .map_err(map_sqlite)?,
            };
            Ok(changed == 1)
        })
        .await
    }
}
