//! Helpers shared by the fakes' HTTP servers.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::request::Parts;

/// Largest request body the fakes read.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Splits a request into its parts, its body and its headers (names lower-cased, values as
/// sent), so it can be recorded and then passed on.
pub(crate) async fn read_request(req: Request) -> (Parts, Bytes, BTreeMap<String, String>) {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .unwrap_or_default();
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    (parts, bytes, headers)
}
