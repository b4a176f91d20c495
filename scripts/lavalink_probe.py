"""Independent protocol probe: a published third-party Lavalink client (Lavalink.py,
PyPI package `lavalink`) against Encore's fake Lavalink node.

The client is not ours, so this checks the fake against someone else's reading of the
Lavalink v4 protocol: handshake and ready, track loading, a player update with a full
Lavalink 4.2 voice state (fed from fake Discord gateway payloads), play, seek, and the
TrackStartEvent / playerUpdate / TrackEndEvent the library exposes.

Run through scripts/lavalink_probe.sh, which starts the fake; or by hand:
    python scripts/lavalink_probe.py --port 2333 --password youshallnotpass
"""

import argparse
import asyncio
import json
import sys
import urllib.request

import lavalink
from lavalink.events import (
    NodeReadyEvent,
    PlayerUpdateEvent,
    TrackEndEvent,
    TrackStartEvent,
)
from lavalink.server import EndReason, LoadType

USER_ID = 170939974227541168
GUILD_ID = 817327181659111454
CHANNEL_ID = 1094752131526869033
STEP_TIMEOUT = 10.0


def fail(message):
    print(f"PROBE FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def control(base, path):
    with urllib.request.urlopen(f"{base}/control/{path}", timeout=5) as resp:
        return json.loads(resp.read().decode("utf-8"))


async def wait_for(queue, kind, predicate=lambda e: True, what=None):
    """Next event of `kind` on `queue` matching `predicate`, skipping others."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STEP_TIMEOUT
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            fail(f"timed out waiting for {what or kind.__name__}")
        try:
            event = await asyncio.wait_for(queue.get(), remaining)
        except asyncio.TimeoutError:
            fail(f"timed out waiting for {what or kind.__name__}")
        if isinstance(event, kind) and predicate(event):
            return event


async def probe(port, password, identifier):
    base = f"http://127.0.0.1:{port}"
    events = asyncio.Queue()
    client = lavalink.Client(USER_ID)

    async def record(event):
        await events.put(event)

    client.add_event_hook(record)
    client.add_node("127.0.0.1", port, password, "eu", "fake")
    try:
        ready = await wait_for(events, NodeReadyEvent)
        print(f"ready: session {ready.session_id} resumed={ready.resumed}")
        if ready.resumed:
            fail("a new connection must not be resumed")

        result = await client.get_tracks(f"https://www.youtube.com/watch?v={identifier}")
        if result.load_type != LoadType.TRACK or len(result.tracks) != 1:
            fail(f"expected one track, got {result.load_type} {result.tracks}")
        track = result.tracks[0]
        print(f"loaded: {track.title!r} by {track.author!r}, {track.duration} ms")
        if track.identifier != identifier or track.duration <= 0:
            fail(f"unexpected track {track.raw}")

        search = await client.get_tracks("ytsearch:rick astley")
        if search.load_type != LoadType.SEARCH or not search.tracks:
            fail(f"expected a search result, got {search.load_type}")
        empty = await client.get_tracks("ytsearch:nothing in the catalogue matches this")
        if empty.load_type != LoadType.EMPTY:
            fail(f"expected an empty result, got {empty.load_type}")
        decoded = await client.decode_track(track.track)
        if decoded.identifier != identifier:
            fail(f"decodetrack gave {decoded.raw}")

        player = client.player_manager.create(GUILD_ID)
        # What a Discord library would forward from the gateway.
        await client.voice_update_handler({
            "t": "VOICE_STATE_UPDATE",
            "d": {
                "guild_id": str(GUILD_ID),
                "user_id": str(USER_ID),
                "channel_id": str(CHANNEL_ID),
                "session_id": "probe-voice-session",
            },
        })
        await client.voice_update_handler({
            "t": "VOICE_SERVER_UPDATE",
            "d": {
                "guild_id": str(GUILD_ID),
                "token": "probe-voice-token",
                "endpoint": "probe.discord.media:443",
            },
        })
        players = control(base, "players")
        voice = players[0]["voice"] if players else None
        if not voice or voice.get("channelId") != str(CHANNEL_ID):
            fail(f"the fake did not get a Lavalink 4.2 voice state: {players}")
        print(f"voice state sent: {voice}")

        await player.play(track)
        start = await wait_for(events, TrackStartEvent)
        if start.track.identifier != identifier:
            fail(f"TrackStartEvent for {start.track.identifier}")
        print("TrackStartEvent")
        update = await wait_for(events, PlayerUpdateEvent)
        if not update.connected:
            fail(f"playerUpdate says not connected (position {update.position})")
        print(f"playerUpdate: position {update.position} connected {update.connected}")

        seek_to = track.duration // 2
        await player.seek(seek_to)
        update = await wait_for(
            events, PlayerUpdateEvent, lambda e: e.position >= seek_to, "playerUpdate after seek"
        )
        print(f"playerUpdate after seek: position {update.position}")

        end = await wait_for(events, TrackEndEvent)
        if end.reason != EndReason.FINISHED:
            fail(f"TrackEndEvent reason {end.reason}")
        print(f"TrackEndEvent: {end.reason.value}")

        patches = [
            r for r in control(base, "requests")
            if r["method"] == "PATCH" and "/players/" in r["path"]
        ]
        if not any((r.get("body") or {}).get("voice", {}).get("channelId") for r in patches):
            fail("no player PATCH carried voice.channelId")
    finally:
        await client.close()
    print(f"lavalink probe passed (Lavalink.py {lavalink.__version__})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--password", default="youshallnotpass")
    parser.add_argument("--track", default="shortTone3s", help="catalogue identifier to play")
    args = parser.parse_args()
    asyncio.run(probe(args.port, args.password, args.track))


if __name__ == "__main__":
    main()
