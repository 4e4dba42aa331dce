"""Time fit_clip squeezing a heavy 12 s 1080p clip with audio under Discord's 10 MiB upload limit."""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import av
from av.audio.stream import AudioStream
from PIL import Image, ImageChops

from bot.media.fit import fit_clip
from bot.media.probe import probe_clip
from bot.media.render import render_clip

LIMIT = 10 * 1024 * 1024
WIDTH, HEIGHT, SECONDS = 1920, 1080, 12
PROMPT = "A hummingbird hovering over a field of wet poppies, macro lens, shallow depth of field"
# Film-grain strength: heavy enough that x264 cannot predict it away, as with detailed Sora footage.
_GRAIN_SIGMA = 8
# A few grain plates, oversized and cropped at random offsets, stand in for fresh noise every frame
# at a fraction of the cost; the offsets are far beyond x264's motion search, so nothing carries over.
_PLATES = 6
_PLATE_MARGIN = 256
_SOURCE_CRF = "26"


def _grainy_source(folder: Path) -> Path:
    """A 12 s 1080p clip with audio, re-encoded with film grain so it weighs ~45 MiB instead of ~0.7 MB."""
    heavy = folder / f"heavy-{WIDTH}x{HEIGHT}-{SECONDS}s-crf{_SOURCE_CRF}-grain{_GRAIN_SIGMA}.mp4"
    if heavy.exists():
        return heavy
    clean = folder / "clean.mp4"
    if not clean.exists():
        render_clip(clean, prompt=PROMPT, width=WIDTH, height=HEIGHT, duration=SECONDS, audio=True, seed=7)
    rng = random.Random(7)
    size = (WIDTH + _PLATE_MARGIN, HEIGHT + _PLATE_MARGIN)
    plates = [Image.effect_noise(size, _GRAIN_SIGMA).convert("RGB") for _ in range(_PLATES)]
    part = heavy.with_name(heavy.name + ".part")
    with (
        av.open(str(clean)) as inp,
        av.open(str(part), mode="w", format="mp4", container_options={"movflags": "+faststart"}) as out,
    ):
        vin = inp.streams.video[0]
        ain = inp.streams.audio[0]
        rate = vin.average_rate or 24
        vout = out.add_stream(
            "libx264", rate=rate, options={"preset": "ultrafast", "crf": _SOURCE_CRF, "g": "48"}
        )
        vout.width, vout.height, vout.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        if vin.time_base is not None:
            vout.codec_context.time_base = vin.time_base
        aout: AudioStream = out.add_stream_from_template(ain)
        for packet in inp.demux(vin, ain):
            # Not packet.stream_index: PyAV's end-of-stream flush packets all report index 0.
            if packet.stream.index == ain.index:
                # The audio is copied as it is: only the picture needs to be heavy.
                if packet.dts is not None:
                    packet.stream = aout
                    out.mux(packet)
                continue
            for frame in vin.decode(packet):
                x, y = rng.randrange(_PLATE_MARGIN), rng.randrange(_PLATE_MARGIN)
                grain = rng.choice(plates).crop((x, y, x + WIDTH, y + HEIGHT))
                # The plates centre on 128, so the offset turns this into picture + zero-mean grain.
                image = ImageChops.add(frame.to_image(), grain, 1.0, -128)  # type: ignore[no-untyped-call]
                noisy: av.VideoFrame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]
                noisy.pts, noisy.time_base = frame.pts, frame.time_base
                out.mux(vout.encode(noisy))
        out.mux(vout.encode(None))
    part.replace(heavy)
    return heavy


def main() -> None:
    """Build (or reuse) the heavy source, fit it under 10 MiB and print the numbers as a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "sora-bot-bench",
        help="folder that keeps the heavy source between runs",
    )
    args = parser.parse_args()
    folder: Path = args.cache
    folder.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    source = _grainy_source(folder)
    prepared = time.perf_counter() - started
    before = probe_clip(source)

    with tempfile.TemporaryDirectory() as scratch:
        dest = Path(scratch) / "fitted.mp4"
        started = time.perf_counter()
        result = fit_clip(source, dest, max_bytes=LIMIT)
        wall = time.perf_counter() - started
        after = probe_clip(dest) if result is not None else None

    mib = 1024 * 1024
    print(f"source prepared in {prepared:.1f} s: {source}")
    print(f"limit: {LIMIT} B ({LIMIT / mib:.0f} MiB)\n")
    print("| source | output size | resolution | duration | codecs | video bitrate | attempts | wall time |")
    print("|---|---|---|---|---|---|---|---|")
    source_cell = f"{before.width}x{before.height}, {before.size_bytes / mib:.1f} MiB"
    if result is None or after is None:
        print(f"| {source_cell} | did not fit | - | - | - | - | - | {wall:.1f} s |")
        return
    print(
        f"| {source_cell} | {result.size_bytes / mib:.2f} MiB | {result.width}x{result.height}"
        f" | {before.duration:.2f} s → {after.duration:.2f} s | {after.video_codec}/{after.audio_codec}"
        f" | {result.video_bitrate / 1000:.0f} kb/s | {result.attempts} | {wall:.1f} s |"
    )


if __name__ == "__main__":
    main()
