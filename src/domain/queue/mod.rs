//! The queue of one guild's player: the current track, the upcoming ones, a bounded history,
//! and the rule for what plays after a track ends (its unit tests are in `tests.rs`).

use std::collections::VecDeque;
use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{QueueSnapshot, Track};

mod diff;
pub use diff::{diff, Hunk};

/// What happens when a track ends by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoopMode {
    /// Play the queue once.
    #[default]
    Off,
    /// Repeat the current track.
    Track,
    /// When the queue runs out, start it again.
    Queue,
}

impl LoopMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LoopMode::Off => "off",
            LoopMode::Track => "track",
            LoopMode::Queue => "queue",
        }
    }

    pub fn parse(text: &str) -> Option<LoopMode> {
        match text {
            "off" => Some(LoopMode::Off),
            "track" => Some(LoopMode::Track),
            "queue" => Some(LoopMode::Queue),
            _ => None,
        }
    }
}

/// Why the current track ended, in our own terms (the audio backend maps its events to these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// It played to the end.
    Finished,
    /// It could not be played (load failure, exception, stuck).
    Failed,
    /// Something else replaced or stopped it on purpose; the queue does not move.
    Replaced,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("full ({max} tracks at most)")]
    Full { max: usize },
    #[error("no track at position {position} of {len}")]
    NoSuchPosition { position: usize, len: usize },
    #[error("no previous track")]
    NoPrevious,
    #[error("empty")]
    Empty,
}

/// The queue: the current track, what comes next, and a bounded history for `previous`.
/// Positions given to and returned by its methods are 1-based, as users see them.
///
/// The tracks live in one shared [`QueueSnapshot`]: handing the queue to the autosave
/// ([`Queue::shared`]) or cloning it costs nothing, and a change copies the tracks only while
/// someone else still holds the previous version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    parts: Arc<QueueSnapshot>,
    max_len: usize,
    max_history: usize,
}

fn remember(history: &mut VecDeque<Track>, max_history: usize, track: Track) {
    if max_history == 0 {
        return;
    }
    while history.len() >= max_history {
        history.pop_front();
    }
    history.push_back(track);
}

impl Queue {
    /// A queue holding at most `max_len` upcoming tracks and remembering `max_history` played ones.
    pub fn new(max_len: usize, max_history: usize) -> Self {
        Queue {
            parts: Arc::new(QueueSnapshot::default()),
            max_len: max_len.max(1),
            max_history,
        }
    }

    /// Rebuilds a queue from saved parts; anything over the caps is dropped (oldest history first,
    /// the end of the queue for upcoming tracks).
    pub fn from_parts(
        current: Option<Track>,
        upcoming: impl IntoIterator<Item = Track>,
        history: impl IntoIterator<Item = Track>,
        max_len: usize,
        max_history: usize,
    ) -> Self {
        let mut q = Queue::new(max_len, max_history);
        let (cap, keep) = (q.max_len, q.max_history);
        let p = q.parts_mut();
        p.current = current;
        p.upcoming = upcoming.into_iter().take(cap).collect();
        for t in history {
            remember(&mut p.history, keep, t);
        }
        q
    }

    /// Like [`Queue::from_parts`], sharing `parts` (no copy) when they fit the caps.
    pub fn from_shared(parts: Arc<QueueSnapshot>, max_len: usize, max_history: usize) -> Self {
        let q = Queue::new(max_len, max_history);
        if parts.upcoming.len() <= q.max_len && parts.history.len() <= q.max_history {
            return Queue { parts, ..q };
        }
        let p = Arc::unwrap_or_clone(parts);
        Queue::from_parts(p.current, p.upcoming, p.history, max_len, max_history)
    }

    fn parts_mut(&mut self) -> &mut QueueSnapshot {
        Arc::make_mut(&mut self.parts)
    }

    /// The tracks as they are now, shared (no copy).
    pub fn shared(&self) -> Arc<QueueSnapshot> {
        self.parts.clone()
    }

    pub fn current(&self) -> Option<&Track> {
        self.parts.current.as_ref()
    }

    pub fn upcoming(&self) -> impl ExactSizeIterator<Item = &Track> {
        self.parts.upcoming.iter()
    }

    pub fn history(&self) -> impl ExactSizeIterator<Item = &Track> {
        self.parts.history.iter()
    }

    /// Number of upcoming tracks (the current one is not counted).
    pub fn len(&self) -> usize {
        self.parts.upcoming.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.upcoming.is_empty()
    }

    /// Room left for more tracks.
    pub fn room(&self) -> usize {
        self.max_len.saturating_sub(self.len())
    }

    fn take_room(&self, wanted: usize) -> Result<usize, QueueError> {
        if wanted > 0 && self.room() == 0 {
            return Err(QueueError::Full { max: self.max_len });
        }
        Ok(wanted.min(self.room()))
    }

    /// Adds tracks at the end. Returns how many were added: when the queue cannot hold them all,
    /// the first ones that fit are added; when it is already full, nothing is and this is an error.
    pub fn append(&mut self, tracks: Vec<Track>) -> Result<usize, QueueError> {
        let n = self.take_room(tracks.len())?;
        self.parts_mut().upcoming.extend(tracks.into_iter().take(n));
        Ok(n)
    }

    /// Adds tracks right after the current one, keeping their order. Same limits as `append`.
    pub fn insert_next(&mut self, tracks: Vec<Track>) -> Result<usize, QueueError> {
        let n = self.take_room(tracks.len())?;
        let p = self.parts_mut();
        for t in tracks.into_iter().take(n).rev() {
            p.upcoming.push_front(t);
        }
        Ok(n)
    }

    fn check_position(&self, position: usize) -> Result<usize, QueueError> {
        if position == 0 || position > self.len() {
            return Err(QueueError::NoSuchPosition {
                position,
                len: self.len(),
            });
        }
        Ok(position - 1)
    }

    /// Removes the upcoming track at `position` (1-based).
    pub fn remove(&mut self, position: usize) -> Result<Track, QueueError> {
        let i = self.check_position(position)?;
        let len = self.len();
        self.parts_mut()
            .upcoming
            .remove(i)
            .ok_or(QueueError::NoSuchPosition { position, len })
    }

    /// Moves the upcoming track at `from` so that it ends up at `to` (both 1-based).
    pub fn move_track(&mut self, from: usize, to: usize) -> Result<(), QueueError> {
        let i = self.check_position(from)?;
        let j = self.check_position(to)?;
        let p = self.parts_mut();
        if let Some(t) = p.upcoming.remove(i) {
            p.upcoming.insert(j, t);
        }
        Ok(())
    }

    /// Shuffles the upcoming tracks (the current one keeps playing).
    pub fn shuffle<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        self.parts_mut().upcoming.make_contiguous().shuffle(rng);
    }

    /// Empties the upcoming tracks; returns how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.len();
        if n > 0 {
            self.parts_mut().upcoming.clear();
        }
        n
    }

    /// Stops everything: no current track and nothing upcoming (history is kept).
    pub fn stop(&mut self) {
        let keep = self.max_history;
        let p = self.parts_mut();
        if let Some(t) = p.current.take() {
            remember(&mut p.history, keep, t);
        }
        p.upcoming.clear();
    }

    /// Sets the current track aside (into the history): nothing is current, and the upcoming
    /// tracks stay for a later [`Queue::start`] or [`Queue::skip`]. Returns how many are upcoming.
    pub fn halt(&mut self) -> usize {
        if self.parts.current.is_some() {
            let keep = self.max_history;
            let p = self.parts_mut();
            if let Some(t) = p.current.take() {
                remember(&mut p.history, keep, t);
            }
        }
        self.len()
    }

    /// Whether there is nothing to play: no current track and none upcoming.
    pub fn is_done(&self) -> bool {
        self.parts.current.is_none() && self.parts.upcoming.is_empty()
    }

    /// Starts the next track when nothing is current. Returns the current track.
    pub fn start(&mut self) -> Option<&Track> {
        if self.parts.current.is_none() && !self.parts.upcoming.is_empty() {
            let p = self.parts_mut();
            p.current = p.upcoming.pop_front();
        }
        self.current()
    }

    /// Takes the current track's start (ms; see [`Track::start_ms`]) for its first play: the
    /// track keeps no start afterwards, so a repeat (loop, `/previous`) plays it from the
    /// beginning. A start at or past the end of a track of known length is dropped (`None`).
    pub fn take_start(&mut self) -> Option<u64> {
        self.parts.current.as_ref()?.start_ms?;
        let t = self.parts_mut().current.as_mut()?;
        let start = t.start_ms.take()?;
        t.known_length_ms()
            .is_none_or(|len| start < len)
            .then_some(start)
    }

    /// A user skip: the next track plays even when the current one is on repeat. When the queue
    /// loops, the skipped track goes to the back. Returns the new current track, `None` when the
    /// queue ran out.
    pub fn skip(&mut self, mode: LoopMode) -> Option<&Track> {
        let keep = self.max_history;
        let p = self.parts_mut();
        let next = p.upcoming.pop_front();
        if let Some(t) = p.current.take() {
            if mode == LoopMode::Queue {
                // One track was just taken off, so this never exceeds the cap.
                p.upcoming.push_back(t.clone());
            }
            remember(&mut p.history, keep, t);
        }
        p.current = match next {
            Some(t) => Some(t),
            None if mode == LoopMode::Queue => p.upcoming.pop_front(),
            None => None,
        };
        self.current()
    }

    /// Skips straight to the upcoming track at `position` (1-based); the ones before it are
    /// treated as skipped.
    pub fn skip_to(&mut self, position: usize, mode: LoopMode) -> Result<&Track, QueueError> {
        self.check_position(position)?;
        for _ in 1..position {
            self.skip(mode);
        }
        self.skip(mode).ok_or(QueueError::Empty)
    }

    /// Goes back to the previously played track; the current one becomes the next. When the
    /// queue loops, the previous track is also the last one queued, and is taken from there.
    pub fn previous(&mut self, mode: LoopMode) -> Result<&Track, QueueError> {
        if self.parts.history.is_empty() {
            return Err(QueueError::NoPrevious);
        }
        let cap = self.max_len;
        let p = self.parts_mut();
        let prev = p.history.pop_back().ok_or(QueueError::NoPrevious)?;
        if mode == LoopMode::Queue && p.upcoming.back() == Some(&prev) {
            p.upcoming.pop_back();
        }
        if let Some(cur) = p.current.take() {
            p.upcoming.push_front(cur);
            if p.upcoming.len() > cap {
                p.upcoming.pop_back();
            }
        }
        Ok(p.current.insert(prev))
    }

    /// The rule for what plays after a track ends. Returns the track to play now, if any:
    /// - finished: the loop mode decides (track: the same again; queue: the next, the finished
    ///   one going to the back; off: the next);
    /// - failed: always the next one (repeating a broken track would loop forever);
    /// - replaced: nothing moves, the current track stays current.
    pub fn on_track_end(&mut self, mode: LoopMode, reason: EndReason) -> Option<&Track> {
        match (reason, mode) {
            (EndReason::Replaced, _) => self.current(),
            (EndReason::Finished, LoopMode::Track) if self.current().is_some() => self.current(),
            // A broken track is neither repeated nor put back in the loop.
            (EndReason::Failed, _) => self.skip(LoopMode::Off),
            _ => self.skip(mode),
        }
    }
}

#[cfg(test)]
mod tests;
