#!/usr/bin/env python3
"""One meeting participant on LiveKit's Python SDK (`livekit`, the Rust core), for Confab's e2e tests.

tests/e2e/sdk.test.mjs starts it beside peer.mjs (the same program on @livekit/rtc-node) and a
browser, and asks it over stdin what it received. Both programs behave identically:

    LIVEKIT_TOKEN=<jwt> peer.py --url ws://127.0.0.1:7880 --label py --tone 440 --size 960x540

- publishes a camera track of frames that change every frame, so the encoder keeps emitting
  (simulcast: at 960x540 the SDK sends the layers q=320x180, h=640x360 and f=960x540; at
  640x360 its two layers q and h are both 640x360), and a microphone track playing a continuous
  sine tone of --tone Hz (48 kHz mono, 10 ms frames, paced in real time);
- receives every remote track: per remote identity, decoded video frames and the last frame's
  size; for audio the last 32768 samples (0.68 s), from which a report gives the dominant frequency
  (FFT) and RMS level;
- records data packets, active speaker changes, remote mutes and unmutes, and departures, each
  with `at` in Unix ms so the test can relate them to its own clock;
- reads JSON commands, one per line, on stdin:
    {"cmd":"send","text":T,"topic":P}           reliable data to everyone
    {"cmd":"mute","muted":true|false}            its microphone
    {"cmd":"quality","identity":I,"quality":"low"|"high"}  that simulcast layer of I's camera
    {"cmd":"report"}                             prints {"report":{...}}
    {"cmd":"leave"}                              disconnects and exits 0
- prints {"ready":true,"identity":...} once connected and publishing; errors go to stderr.
"""

import argparse
import asyncio
import json
import math
import os
import sys
import time

import numpy as np
from livekit import rtc

RATE = 48_000
FRAME = RATE // 100  # 10 ms of audio
KEEP = 1 << 15  # samples analysed for the tone: 0.68 s (as peer.mjs, which needs a power of two)
FPS = 15
VIDEO_QUALITY = {"low": rtc.VideoQuality.VIDEO_QUALITY_LOW, "high": rtc.VideoQuality.VIDEO_QUALITY_HIGH}


def now_ms():
    return int(time.time() * 1000)


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def emit(obj):
    print(json.dumps(obj), flush=True)


def source_name(source):
    # SOURCE_MICROPHONE -> "microphone", as peer.mjs names it
    return rtc.TrackSource.Name(source).removeprefix("SOURCE_").lower()


def tone_of(samples):
    """Dominant frequency (Hz) and RMS level (full scale = 1) of int16 samples."""
    if len(samples) < KEEP:
        return None, 0.0
    x = samples.astype(np.float64) / 32768
    rms = float(np.sqrt(np.mean(x * x)))
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    spectrum[:2] = 0  # DC
    return round(float(np.argmax(spectrum)) * RATE / len(x), 1), round(rms, 4)


class Remote:
    """What we receive from one remote participant."""

    def __init__(self):
        self.video = {"frames": 0, "width": 0, "height": 0, "firstFrameAt": None}
        self.audio_frames = 0
        self.first_audio_at = None
        self.samples = np.zeros(0, dtype=np.int16)

    def report(self):
        freq, rms = tone_of(self.samples)
        audio = {"frames": self.audio_frames, "freq": freq, "rms": rms, "firstAudioAt": self.first_audio_at}
        return {"video": self.video, "audio": audio}


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--label", default="py")
    ap.add_argument("--tone", type=float, default=440)
    ap.add_argument("--size", default="960x540")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    token = os.environ["LIVEKIT_TOKEN"]

    room = rtc.Room()
    remotes = {}
    events = {"data": [], "speakers": [], "speakerUpdates": 0, "mutes": [], "left": []}
    tasks = set()  # keeps the receive tasks alive

    def remote(identity):
        return remotes.setdefault(identity, Remote())

    async def read_video(track, identity):
        r = remote(identity)
        async for ev in rtc.VideoStream(track):
            if r.video["firstFrameAt"] is None:
                r.video["firstFrameAt"] = now_ms()
            r.video.update(frames=r.video["frames"] + 1, width=ev.frame.width, height=ev.frame.height)

    async def read_audio(track, identity):
        r = remote(identity)
        async for ev in rtc.AudioStream(track, sample_rate=RATE, num_channels=1):
            if r.first_audio_at is None:
                r.first_audio_at = now_ms()
            r.audio_frames += 1
            data = np.frombuffer(ev.frame.data, dtype=np.int16)
            r.samples = np.concatenate((r.samples, data))[-KEEP:]

    def spawn(coro):
        task = asyncio.ensure_future(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    @room.on("track_subscribed")
    def _(track, publication, participant):
        if track.kind == rtc.TrackKind.KIND_VIDEO:
            spawn(read_video(track, participant.identity))
        elif track.kind == rtc.TrackKind.KIND_AUDIO:
            spawn(read_audio(track, participant.identity))

    @room.on("data_received")
    def _(packet):
        sender = packet.participant.identity if packet.participant else None
        text = packet.data.decode()
        events["data"].append({"from": sender, "topic": packet.topic, "text": text, "at": now_ms()})

    @room.on("active_speakers_changed")
    def _(speakers):
        # Only changes of the set are kept: the SDK may pass on the same list again and again.
        identities = sorted(p.identity for p in speakers)
        if not events["speakers"] or events["speakers"][-1]["identities"] != identities:
            events["speakers"].append({"identities": identities, "at": now_ms()})
        events["speakerUpdates"] += 1

    def on_mute(participant, publication, muted):
        events["mutes"].append({
            "identity": participant.identity,
            "source": source_name(publication.source),
            "kind": "audio" if publication.kind == rtc.TrackKind.KIND_AUDIO else "video",
            "muted": muted,
            "at": now_ms(),
        })

    room.on("track_muted", lambda p, pub: on_mute(p, pub, True))
    room.on("track_unmuted", lambda p, pub: on_mute(p, pub, False))
    room.on(
        "participant_disconnected", lambda p: events["left"].append({"identity": p.identity, "at": now_ms()})
    )
    room.on("disconnected", lambda reason: log(f"{args.label}: disconnected: {reason}"))

    started = now_ms()
    await room.connect(args.url, token)

    # Camera: a moving pattern, so that every frame differs from the one before.
    video = rtc.VideoSource(width, height)
    camera = rtc.LocalVideoTrack.create_video_track("camera", video)
    await room.local_participant.publish_track(
        camera, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA, simulcast=True)
    )
    # Microphone: the tone. A short queue so that capture_frame paces us in real time.
    audio = rtc.AudioSource(RATE, 1, queue_size_ms=200)
    mic = rtc.LocalAudioTrack.create_audio_track("microphone", audio)
    await room.local_participant.publish_track(
        mic, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    )

    async def send_video():
        # One tall picture of height + 256 rows, repeating every 256 rows; frame i shows the
        # rows from 4i (mod 256) on, so the pattern moves without being drawn again.
        r = np.arange(height + 256)[:, None]
        x = np.arange(width)[None, :]
        tall = np.empty((height + 256, width, 4), dtype=np.uint8)
        tall[..., 0] = (x + r) % 256
        tall[..., 1] = (x - r) % 256
        tall[..., 2] = r % 256
        tall[..., 3] = 255
        i = 0
        t0 = time.monotonic()
        while True:
            top = (i * 4) % 256
            picture = tall[top : top + height].tobytes()
            video.capture_frame(rtc.VideoFrame(width, height, rtc.VideoBufferType.RGBA, picture))
            i += 1
            await asyncio.sleep(max(0, t0 + i / FPS - time.monotonic()))

    async def send_audio():
        n = 0
        step = 2 * math.pi * args.tone / RATE
        while True:
            frame = rtc.AudioFrame.create(RATE, 1, FRAME)
            t = np.arange(n, n + FRAME)
            samples = np.frombuffer(frame.data, dtype=np.int16)
            np.copyto(samples, (8000 * np.sin(step * t)).astype(np.int16))
            n += FRAME
            await audio.capture_frame(frame)

    spawn(send_video())
    spawn(send_audio())
    log(f"{args.label}: connected in {now_ms() - started} ms")
    emit({"ready": True, "identity": room.local_participant.identity})

    # Commands on stdin; end of input (the test went away) counts as "leave".
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        try:
            cmd = json.loads(line)
            match cmd["cmd"]:
                case "send":
                    await room.local_participant.publish_data(cmd["text"], reliable=True, topic=cmd.get("topic", ""))
                case "mute":
                    if cmd["muted"]:
                        mic.mute()
                    else:
                        mic.unmute()
                case "quality":
                    p = room.remote_participants.get(cmd["identity"])
                    pubs = p.track_publications.values() if p else []
                    camera_pub = next((x for x in pubs if x.source == rtc.TrackSource.SOURCE_CAMERA), None)
                    if not camera_pub:
                        raise ValueError(f"no camera publication of {cmd['identity']}")
                    camera_pub.set_video_quality(VIDEO_QUALITY[cmd["quality"]])
                case "report":
                    emit({"report": {
                        "identity": room.local_participant.identity,
                        "participants": sorted(p.identity for p in room.remote_participants.values()),
                        "remotes": {identity: r.report() for identity, r in remotes.items()},
                        **events,
                    }})
                case "leave":
                    break
                case other:
                    raise ValueError(f"unknown command {other}")
        except Exception as e:  # a bad command must not end the meeting for this peer
            log(f"{args.label}: command {line.strip()!r} failed: {e!r}")
    # Stop feeding the sources first: a capture still pending when the SDK shuts down aborts the
    # process (a panic in its audio source callback).
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await room.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
