//! Write commands: sending one and checking its reply, and batching statements into as few
//! commands as possible.

use mongodb::bson::{self, doc, Bson, Document};

use super::{MongoStore, MAX_COMMAND_BYTES, MAX_STATEMENTS, PLAYERS};
use crate::store::StoreError;

impl MongoStore {
    /// Sends one write command and checks the reply for per-statement and write-concern errors,
    /// which a command reply reports with `ok: 1`.
    pub(super) async fn run_write(&self, command: Document) -> Result<(), StoreError> {
        self.run_counted_write(command, false).await.map(|_| ())
    }

    /// [`run_write`], returning how many documents the command inserted or matched (`n`). With
    /// `duplicates_ok`, statements refused only for a duplicate key (code 11000) count as not
    /// written instead of failing.
    ///
    /// [`run_write`]: MongoStore::run_write
    pub(super) async fn run_counted_write(
        &self,
        command: Document,
        duplicates_ok: bool,
    ) -> Result<i64, StoreError> {
        let reply = self
            .db
            .run_command(command)
            .await
            .map_err(|e| self.map_err(e))?;
        if let Ok(errors) = reply.get_array("writeErrors") {
            let duplicate = |e: &Bson| matches!(e, Bson::Document(d) if matches!(d.get("code"), Some(Bson::Int32(11000)) | Some(Bson::Int64(11000))));
            if duplicates_ok && errors.iter().all(duplicate) {
                return Ok(0);
            }
            if let Some(Bson::Document(first)) = errors.first() {
                return Err(StoreError::Backend(format!(
                    "{} of the writes failed, first: {}",
                    errors.len(),
                    first.get_str("errmsg").unwrap_or("unknown error")
                )));
            }
        }
        if let Ok(wce) = reply.get_document("writeConcernError") {
            return Err(StoreError::Unavailable(format!(
                "write concern not satisfied: {}",
                wce.get_str("errmsg").unwrap_or("unknown error")
            )));
        }
        Ok(match reply.get("n") {
            Some(Bson::Int32(n)) => i64::from(*n),
            Some(Bson::Int64(n)) => *n,
            _ => 0,
        })
    }
}

/// Collects write statements into as few commands as possible, in order: a statement of another
/// kind or collection first sends what is pending.
pub(super) struct Writer<'a> {
    store: &'a MongoStore,
    target: (&'static str, &'static str),
    statements: Vec<Document>,
    pending_bytes: usize,
    pub(super) bytes: u64,
}

impl<'a> Writer<'a> {
    pub(super) fn new(store: &'a MongoStore) -> Self {
        Writer {
            store,
            target: ("update", PLAYERS),
            statements: Vec::new(),
            pending_bytes: 0,
            bytes: 0,
        }
    }

    /// `kind` is `insert`, `update` or `delete`.
    pub(super) async fn push(
        &mut self,
        kind: &'static str,
        collection: &'static str,
        statement: Document,
    ) -> Result<(), StoreError> {
        let len = doc_len(&statement);
        if (kind, collection) != self.target
            || self.statements.len() >= MAX_STATEMENTS
            || self.pending_bytes + len > MAX_COMMAND_BYTES
        {
            self.send().await?;
            self.target = (kind, collection);
        }
        self.pending_bytes += len;
        self.bytes += len as u64;
        self.statements.push(statement);
        Ok(())
    }

    pub(super) async fn send(&mut self) -> Result<(), StoreError> {
        if self.statements.is_empty() {
            return Ok(());
        }
        let (kind, collection) = self.target;
        let list_key = match kind {
            "insert" => "documents",
            "update" => "updates",
            _ => "deletes",
        };
        let command = doc! {
            kind: collection,
            list_key: std::mem::take(&mut self.statements),
            "ordered": true,
        };
        self.pending_bytes = 0;
        self.store.run_write(command).await
    }
}

fn doc_len(d: &Document) -> usize {
    bson::to_vec(d).map(|v| v.len()).unwrap_or(0)
}
