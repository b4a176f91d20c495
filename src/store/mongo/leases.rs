//! Leases: one `leases` document per name, compared and swapped on its version.

use mongodb::bson::{doc, Bson, Document};

use super::{MongoStore, LEASES};
use crate::store::{LeaseRecord, StoreError};

impl MongoStore {
    pub(super) async fn read_lease(&self, name: &str) -> Result<Option<LeaseRecord>, StoreError> {
        let found = self
            .db
            .collection::<Document>(LEASES)
            .find_one(doc! { "_id": name })
            .await
            .map_err(|e| self.map_err(e))?;
        let Some(d) = found else { return Ok(None) };
        let version = match d.get("version") {
            Some(Bson::Int64(v)) => *v as u64,
            Some(Bson::Int32(v)) => *v as u64,
            _ => return Err(StoreError::Backend(format!("lease {name} has no version"))),
        };
        let body = d
            .get_str("body")
            .map_err(|_| StoreError::Backend(format!("lease {name} has no body")))?
            .to_string();
        Ok(Some(LeaseRecord { version, body }))
    }

    pub(super) async fn compare_and_swap_lease(
        &self,
        name: &str,
        expected: Option<u64>,
        body: &str,
    ) -> Result<bool, StoreError> {
        let command = match expected {
            None => doc! {
                "insert": LEASES,
                "documents": [{ "_id": name, "version": 1_i64, "body": body }],
                "ordered": true,
            },
            Some(v) => doc! {
                "update": LEASES,
                "updates": [{
                    "q": { "_id": name, "version": v as i64 },
                    "u": { "$set": { "version": v as i64 + 1, "body": body } },
                    "upsert": false,
                }],
                "ordered": true,
            },
        };
        // Creating it: a duplicate key means another instance created it first.
        let n = self.run_counted_write(command, expected.is_none()).await?;
        Ok(n == 1)
    }
}
