"""Outlined text reads on any picture: white letters with a dark edge, in RGB frames and RGBA tiles."""

from __future__ import annotations

from PIL import Image, ImageDraw

from bot.media.text import label, load_font, outlined


def test_outlined_text_on_an_rgb_frame_has_white_letters_and_a_black_edge() -> None:
    picture = Image.new("RGB", (200, 60), (0, 128, 255))
    outlined(ImageDraw.Draw(picture), (5, 5), "outline", load_font(32))
    colours = {colour for _, colour in picture.getcolors(maxcolors=1 << 16) or []}
    assert (255, 255, 255) in colours
    assert (0, 0, 0) in colours


def test_a_label_is_an_opaque_outlined_tile_on_a_transparent_ground() -> None:
    tile = label("seed 42", load_font(24))
    assert tile.mode == "RGBA"
    assert tile.getpixel((0, 0)) == (0, 0, 0, 0)
    colours = {colour for _, colour in tile.getcolors(maxcolors=1 << 16) or []}
    assert (255, 255, 255, 255) in colours
    assert (0, 0, 0, 255) in colours
