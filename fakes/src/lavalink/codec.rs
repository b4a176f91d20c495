//! Lavaplayer's track message format, as Lavalink puts it in `encoded`.
//!
//! A message is a big-endian `u32` header, `size | flags << 30` (flag 1 = "versioned"),
//! followed by `size` bytes: the version byte (when versioned; version 1 otherwise), then
//! Java `DataOutput` fields: `writeUTF` title, author; `i64` length; `writeUTF`
//! identifier; `bool` isStream; from version 2 a nullable uri (`bool` present + UTF);
//! from version 3 nullable artworkUrl and isrc; `writeUTF` sourceName; the source
//! manager's own bytes (none for youtube/soundcloud, container info for http...); and
//! an `i64` position as the last 8 bytes. The whole thing is standard base64.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::types::TrackInfo;

/// Version written by [`encode`]: lavaplayer 2.x writes version 3.
pub const TRACK_INFO_VERSION: u8 = 3;
const FLAG_VERSIONED: u32 = 1;

/// Why a string is not a decodable track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

/// A decoded track message: the info and the version it was written with.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub version: u8,
    pub info: TrackInfo,
    /// Source-specific bytes between sourceName and position (kept, not interpreted).
    pub source_bytes: Vec<u8>,
}

/// Encodes `info` (with `info.position`) as a version-3 message.
pub fn encode(info: &TrackInfo) -> String {
    encode_with_source_bytes(info, &[])
}

/// [`encode`], with a source manager's own bytes after sourceName (as decoded).
pub fn encode_with_source_bytes(info: &TrackInfo, source_bytes: &[u8]) -> String {
    let mut body = Vec::with_capacity(128);
    body.push(TRACK_INFO_VERSION);
    write_utf(&mut body, &info.title);
    write_utf(&mut body, &info.author);
    body.extend_from_slice(&(info.length as i64).to_be_bytes());
    write_utf(&mut body, &info.identifier);
    body.push(u8::from(info.is_stream));
    write_nullable(&mut body, info.uri.as_deref());
    write_nullable(&mut body, info.artwork_url.as_deref());
    write_nullable(&mut body, info.isrc.as_deref());
    write_utf(&mut body, &info.source_name);
    body.extend_from_slice(source_bytes);
    body.extend_from_slice(&(info.position as i64).to_be_bytes());

    let header = (body.len() as u32) | (FLAG_VERSIONED << 30);
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&header.to_be_bytes());
    out.extend_from_slice(&body);
    STANDARD.encode(out)
}

/// Decodes any message of version 1, 2 or 3.
pub fn decode(encoded: &str) -> Result<Decoded, DecodeError> {
    let bytes = STANDARD
        .decode(encoded.trim())
        .map_err(|e| DecodeError(format!("Invalid base64: {e}")))?;
    if bytes.len() < 4 {
        return Err(DecodeError("Message too short".into()));
    }
    let header = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let size = (header & 0x3FFF_FFFF) as usize;
    let flags = header >> 30;
    let body = bytes
        .get(4..4 + size)
        .ok_or_else(|| DecodeError("Message shorter than its header says".into()))?;
    if body.len() < 8 {
        return Err(DecodeError("Message too short".into()));
    }
    // The position is always the last 8 bytes; everything source-specific sits before it.
    let (fields, position) = body.split_at(body.len() - 8);
    let mut r = Reader {
        buf: fields,
        pos: 0,
    };

    let version = if flags & FLAG_VERSIONED != 0 {
        r.u8()?
    } else {
        1
    };
    if !(1..=3).contains(&version) {
        return Err(DecodeError(format!(
            "Unsupported track info version {version}"
        )));
    }
    let title = r.utf()?;
    let author = r.utf()?;
    let length = r.i64()?;
    let identifier = r.utf()?;
    let is_stream = r.bool()?;
    let uri = if version >= 2 { r.nullable()? } else { None };
    let (artwork_url, isrc) = if version >= 3 {
        (r.nullable()?, r.nullable()?)
    } else {
        (None, None)
    };
    let source_name = r.utf()?;
    let source_bytes = fields[r.pos..].to_vec();
    let mut pos_bytes = [0u8; 8];
    pos_bytes.copy_from_slice(position);
    let position = i64::from_be_bytes(pos_bytes);

    Ok(Decoded {
        version,
        info: TrackInfo {
            identifier,
            is_seekable: !is_stream,
            author,
            length: length.max(0) as u64,
            is_stream,
            position: position.max(0) as u64,
            title,
            uri,
            artwork_url,
            isrc,
            source_name,
        },
        source_bytes,
    })
}

/// Reads Java `DataInput` fields from a byte slice (a source manager's own bytes too).
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| DecodeError("Unexpected end of track message".into()))?;
        let slice = &self.buf[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.u8()? != 0)
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    fn utf(&mut self) -> Result<String, DecodeError> {
        let len = self.take(2)?;
        let len = u16::from_be_bytes([len[0], len[1]]) as usize;
        let bytes = self.take(len)?;
        from_modified_utf8(bytes)
    }

    /// lavaplayer's `DataFormatTools.readNullableText`.
    pub(crate) fn nullable(&mut self) -> Result<Option<String>, DecodeError> {
        if self.bool()? {
            Ok(Some(self.utf()?))
        } else {
            Ok(None)
        }
    }
}

fn write_utf(out: &mut Vec<u8>, s: &str) {
    let bytes = to_modified_utf8(s);
    // Java's writeUTF refuses strings over 65535 bytes; truncate on a char boundary.
    let bytes = if bytes.len() > u16::MAX as usize {
        let mut cut = u16::MAX as usize;
        while cut > 0 && (bytes[cut] & 0xC0) == 0x80 {
            cut -= 1;
        }
        bytes[..cut].to_vec()
    } else {
        bytes
    };
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(&bytes);
}

/// lavaplayer's `DataFormatTools.writeNullableText`: a presence boolean, then `writeUTF`.
pub(crate) fn write_nullable(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.push(1);
            write_utf(out, s);
        }
        None => out.push(0),
    }
}

/// Java's "modified UTF-8": U+0000 as two bytes, supplementary characters as two
/// three-byte surrogates.
fn to_modified_utf8(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for unit in s.encode_utf16() {
        let c = u32::from(unit);
        match c {
            0x0001..=0x007F => out.push(c as u8),
            0x0000 | 0x0080..=0x07FF => {
                out.push(0xC0 | ((c >> 6) & 0x1F) as u8);
                out.push(0x80 | (c & 0x3F) as u8);
            }
            _ => {
                out.push(0xE0 | ((c >> 12) & 0x0F) as u8);
                out.push(0x80 | ((c >> 6) & 0x3F) as u8);
                out.push(0x80 | (c & 0x3F) as u8);
            }
        }
    }
    out
}

fn from_modified_utf8(bytes: &[u8]) -> Result<String, DecodeError> {
    let bad = || DecodeError("Malformed modified UTF-8 in track message".into());
    let mut units = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b & 0x80 == 0 {
            units.push(u16::from(b));
            i += 1;
        } else if b & 0xE0 == 0xC0 {
            let b2 = *bytes.get(i + 1).ok_or_else(bad)?;
            if b2 & 0xC0 != 0x80 {
                return Err(bad());
            }
            units.push((u16::from(b & 0x1F) << 6) | u16::from(b2 & 0x3F));
            i += 2;
        } else if b & 0xF0 == 0xE0 {
            let b2 = *bytes.get(i + 1).ok_or_else(bad)?;
            let b3 = *bytes.get(i + 2).ok_or_else(bad)?;
            if b2 & 0xC0 != 0x80 || b3 & 0xC0 != 0x80 {
                return Err(bad());
            }
            units.push(
                (u16::from(b & 0x0F) << 12) | (u16::from(b2 & 0x3F) << 6) | u16::from(b3 & 0x3F),
            );
            i += 3;
        } else {
            return Err(bad());
        }
    }
    String::from_utf16(&units).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// The example track of Lavalink's REST and websocket documentation.
    const RICK: &str = "QAAAjQIAJVJpY2sgQXN0bGV5IC0gTmV2ZXIgR29ubmEgR2l2ZSBZb3UgVXAADlJpY2tBc3RsZXlWRVZPAAAAAAADPCAAC2RRdzR3OVdnWGNRAAEAK2h0dHBzOi8vd3d3LnlvdXR1YmUuY29tL3dhdGNoP3Y9ZFF3NHc5V2dYY1EAB3lvdXR1YmUAAAAAAAAAAA==";

    fn info() -> TrackInfo {
        TrackInfo {
            identifier: "abc".into(),
            is_seekable: true,
            author: "Author ü 𝄞".into(),
            length: 3000,
            is_stream: false,
            position: 1234,
            title: "Title\0with nul".into(),
            uri: Some("https://example.com/a".into()),
            artwork_url: None,
            isrc: Some("USRC17607839".into()),
            source_name: "youtube".into(),
        }
    }

    #[test]
    fn decodes_the_documented_example() {
        let d = decode(RICK).unwrap();
        assert_eq!(d.version, 2);
        assert_eq!(d.info.title, "Rick Astley - Never Gonna Give You Up");
        assert_eq!(d.info.author, "RickAstleyVEVO");
        assert_eq!(d.info.length, 212_000);
        assert_eq!(d.info.identifier, "dQw4w9WgXcQ");
        assert!(!d.info.is_stream);
        assert!(d.info.is_seekable);
        assert_eq!(
            d.info.uri.as_deref(),
            Some("https://www.youtube.com/watch?v=dQw4w9WgXcQ")
        );
        assert_eq!(d.info.source_name, "youtube");
        assert_eq!(d.info.position, 0);
        assert_eq!(d.info.isrc, None);
        assert!(d.source_bytes.is_empty());
    }

    #[test]
    fn round_trips_version_3() {
        let i = info();
        let e = encode(&i);
        let d = decode(&e).unwrap();
        assert_eq!(d.version, 3);
        assert_eq!(d.info, i);
        assert_eq!(encode(&d.info), e);
    }

    #[test]
    fn decodes_version_1_without_uri() {
        // Hand-built: unversioned header, no uri/artwork/isrc.
        let mut body = Vec::new();
        write_utf(&mut body, "T");
        write_utf(&mut body, "A");
        body.extend_from_slice(&5000i64.to_be_bytes());
        write_utf(&mut body, "id1");
        body.push(0);
        write_utf(&mut body, "soundcloud");
        body.extend_from_slice(&7i64.to_be_bytes());
        let mut msg = (body.len() as u32).to_be_bytes().to_vec();
        msg.extend_from_slice(&body);
        let d = decode(&STANDARD.encode(msg)).unwrap();
        assert_eq!(d.version, 1);
        assert_eq!(d.info.title, "T");
        assert_eq!(d.info.uri, None);
        assert_eq!(d.info.position, 7);
        assert_eq!(d.info.source_name, "soundcloud");
    }

    #[test]
    fn keeps_source_specific_bytes() {
        // An http track: lavaplayer writes the container probe name after sourceName.
        let i = TrackInfo {
            source_name: "http".into(),
            ..info()
        };
        let raw = STANDARD.decode(encode(&i)).unwrap();
        let (head, pos) = raw.split_at(raw.len() - 8);
        let mut body = head[4..].to_vec();
        write_utf(&mut body, "mp3");
        body.push(0);
        body.extend_from_slice(pos);
        let mut msg = ((body.len() as u32) | (1 << 30)).to_be_bytes().to_vec();
        msg.extend_from_slice(&body);
        let d = decode(&STANDARD.encode(msg)).unwrap();
        assert_eq!(d.info, i);
        assert_eq!(d.source_bytes, [0, 3, b'm', b'p', b'3', 0]);
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode("not base64!").is_err());
        assert!(decode("QAAA").is_err());
        assert!(decode(&STANDARD.encode([0x40, 0, 0, 50, 3, 0, 9])).is_err());
        assert!(decode("").is_err());
    }
}
