"""Text drawn into the local renderer's frames: the prompt card, the caption strip and outlined labels."""

from __future__ import annotations

from typing import TypeAlias

from PIL import Image, ImageDraw, ImageFont

Font: TypeAlias = ImageFont.FreeTypeFont | ImageFont.ImageFont


def load_font(size: int) -> Font:
    # Not cached: a FreeType face must not be shared by renders running in parallel threads.
    return ImageFont.load_default(size=size)


def _stroke(font: Font) -> int:
    return max(1, round(font.size / 14)) if isinstance(font, ImageFont.FreeTypeFont) else 0


def outlined(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, font: Font) -> None:
    """`text` in white with a dark outline, readable over any picture."""
    draw.text(xy, text, font=font, fill="white", stroke_width=_stroke(font), stroke_fill="black")


def label(text: str, font: Font) -> Image.Image:
    """`text` in white with a dark outline on a transparent RGBA tile."""
    left, top, right, bottom = font.getbbox(text, stroke_width=_stroke(font))
    tile = Image.new("RGBA", (int(right - left) + 2, int(bottom - top) + 2), (0, 0, 0, 0))
    outlined(ImageDraw.Draw(tile), (1 - left, 1 - top), text, font)
    return tile


def _layout(
    prompt: str, max_width: int, max_height: int, size: int, min_size: int
) -> tuple[Font, int, list[str]]:
    """The font size from `size` down to `min_size` that fits the wrapped prompt, else the smallest, cut."""
    text = prompt.strip() or "(no prompt)"
    while True:
        font = load_font(size)
        lines = _wrap(text, font, max_width)
        fits = len(lines) * _line_height(size) <= max_height
        if fits or size <= min_size:
            break
        size = max(min_size, round(size * 0.85))
    limit = max(1, max_height // _line_height(size))
    if len(lines) > limit:
        lines = lines[:limit]
        lines[-1] = _ellipsize(lines[-1], font, max_width)
    return font, size, lines


def _line_height(size: int) -> int:
    return round(size * 1.3)


def _wrap(text: str, font: Font, max_width: int) -> list[str]:
    """Greedy word wrap by rendered width; words wider than a line are split between characters."""
    lines: list[str] = []
    for paragraph in text.splitlines():
        current = ""
        for word in paragraph.split():
            candidate = f"{current} {word}" if current else word
            if font.getlength(candidate) <= max_width:
                current = candidate
                continue
            if current:
                lines.append(current)
            rest = word
            while font.getlength(rest) > max_width:
                cut = _fitting_prefix(rest, font, max_width)
                lines.append(rest[:cut])
                rest = rest[cut:]
            current = rest
        if current:
            lines.append(current)
    return lines


def _fitting_prefix(text: str, font: Font, max_width: int) -> int:
    """Length of the longest prefix of `text` that fits `max_width`, but at least one character."""
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if font.getlength(text[:middle]) <= max_width:
            low = middle
        else:
            high = middle - 1
    return low


def _ellipsize(line: str, font: Font, max_width: int) -> str:
    while line and font.getlength(line + "…") > max_width:
        line = line[:-1]
    return line.rstrip() + "…"


def prompt_card(prompt: str, width: int, height: int) -> Image.Image:
    """The prompt, centred line by line, on a translucent rounded card sized to the text."""
    unit = min(width, height)
    size = max(12, unit // 20)
    pad = size
    font, size, lines = _layout(
        prompt, int(width * 0.8) - 2 * pad, int(height * 0.55) - 2 * pad, size, max(12, unit // 45)
    )
    line_height = _line_height(size)
    text_width = max(int(font.getlength(line)) for line in lines)
    card = Image.new("RGBA", (text_width + 2 * pad, len(lines) * line_height + 2 * pad), (0, 0, 0, 0))
    draw = ImageDraw.Draw(card)
    draw.rounded_rectangle((0, 0, card.width - 1, card.height - 1), radius=pad, fill=(0, 0, 0, 120))
    for row, line in enumerate(lines):
        outlined(draw, ((card.width - font.getlength(line)) / 2, pad + row * line_height), line, font)
    return card


def caption_strip(prompt: str, width: int, height: int) -> Image.Image:
    """At most three lines of prompt over a shade that fades in from transparent, for the bottom edge."""
    unit = min(width, height)
    size = max(12, unit // 24)
    pad = max(8, unit // 30)
    line_height = _line_height(size)
    font, _, lines = _layout(prompt, width - 2 * pad, 3 * line_height, size, size)
    fade = 2 * pad
    strip_height = fade + len(lines) * line_height + 2 * pad
    shade = Image.linear_gradient("L").resize((width, strip_height), Image.Resampling.BILINEAR)
    strip = Image.new("RGBA", (width, strip_height), (0, 0, 0, 0))
    strip.putalpha(shade.point([value * 190 // 255 for value in range(256)]))
    draw = ImageDraw.Draw(strip)
    for row, line in enumerate(lines):
        outlined(draw, ((width - font.getlength(line)) / 2, fade + pad + row * line_height), line, font)
    return strip
