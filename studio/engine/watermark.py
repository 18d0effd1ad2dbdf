"""A visible text watermark, drawn on each image after generation.

The text is rendered with Pillow's bundled font (the same glyphs on every
machine, so a watermark is part of what the result cache can reproduce) into
an antialiased coverage mask, scaled by the opacity and blended in the chosen
colour: a pixel fully inside a glyph becomes `(1 - opacity) * pixel + opacity *
colour`, and no pixel outside the text's box changes. No torch, no Qt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from PIL import Image, ImageColor, ImageDraw, ImageFont

from ..option_spec import labelled, option
from .errors import RequestError

POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right", "center")
MAX_TEXT = 200
MIN_FONT, MAX_FONT = 6, 512
MAX_MARGIN = 1024
AUTO_FONT_FRACTION = 24  # auto size: the shorter side / 24, at least 10 px


def parse_color(value: object) -> tuple[int, int, int]:
    """'#rrggbb', '#rgb', a colour name or an (r, g, b) sequence, as an RGB tuple."""
    if isinstance(value, str):
        try:
            rgb = ImageColor.getrgb(value.strip())
        except ValueError:
            raise RequestError(
                f"{value!r} is not a colour; use a name like 'white' or a code like '#ffcc00'."
            ) from None
        return rgb[0], rgb[1], rgb[2]
    if (
        isinstance(value, Sequence)
        and len(value) == 3
        and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value)
    ):
        return value[0], value[1], value[2]
    raise RequestError(f"{value!r} is not a colour; give three numbers from 0 to 255.")


def color_code(value: object) -> str:
    """'#rrggbb' for any colour parse_color takes."""
    return "#{:02x}{:02x}{:02x}".format(*parse_color(value))


@dataclass(frozen=True)
class Watermark:
    """A line of text drawn on each image after generation."""

    text: str = option(
        label="Text",
        help="the text to draw",
        flag="--watermark",
        flag_help="draw TEXT on every image",
        metavar="TEXT",
        max_length=MAX_TEXT,
    )
    position: str = option(
        "bottom-right",
        label="Position",
        help="where the text goes",
        choices=labelled(POSITIONS, lambda p: p.replace("-", " ").capitalize()),
    )
    opacity: float = option(
        0.7,
        label="Opacity",
        help="0 (invisible) to 1 (solid)",
        low=0.0,
        high=1.0,
        kind="percent",
        metavar="FRACTION",
    )
    font_size: int | None = option(
        None,
        label="Font size",
        help="font size in pixels (default: from the image size)",
        low=MIN_FONT,
        high=MAX_FONT,
        unit=" px",
        auto="Automatic",
        flag="size",
        metavar="PIXELS",
    )
    color: tuple[int, int, int] = option(
        (255, 255, 255),
        label="Colour",
        help="a name, '#rrggbb', or [r, g, b]",
        flag_help="a name or #rrggbb",
        metavar="COLOUR",
        kind="colour",
        parse=parse_color,
        show=color_code,
    )
    margin: int = option(
        10,
        label="Margin",
        help="pixels between the text and the edges",
        low=0,
        high=MAX_MARGIN,
        unit=" px",
        metavar="PIXELS",
    )

    def validated(self) -> Watermark:
        """The same watermark with its colour as an RGB tuple; raises RequestError."""
        text = self.text.strip() if isinstance(self.text, str) else None
        if not text:
            raise RequestError("The watermark text is empty; type the text to draw.")
        if len(text) > MAX_TEXT or any(ord(c) < 32 for c in text):
            raise RequestError(
                f"The watermark text must be one line of at most {MAX_TEXT} characters."
            )
        if self.position not in POSITIONS:
            raise RequestError(
                f"Unknown watermark position {self.position!r}; choose one of: "
                f"{', '.join(POSITIONS)}."
            )
        _number(self.opacity, 0.0, 1.0, "watermark opacity")
        if self.font_size is not None:
            _whole(self.font_size, MIN_FONT, MAX_FONT, "watermark font size")
        _whole(self.margin, 0, MAX_MARGIN, "watermark margin")
        return replace(self, text=text, color=parse_color(self.color))

    def describe(self) -> str:
        """What the metadata records: text, position, opacity, size, colour, margin."""
        size = f"{self.font_size} px" if self.font_size else "auto size"
        r, g, b = parse_color(self.color)
        return (
            f"{self.text} ({self.position}, {round(self.opacity * 100)}%, {size}, "
            f"#{r:02x}{g:02x}{b:02x}, margin {self.margin})"
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["color"] = color_code(self.color)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Watermark:
        """From JSON-like data (the API, settings); unknown keys are refused."""
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise RequestError(f"Unknown watermark setting(s): {', '.join(sorted(unknown))}.")
        if "text" not in data:
            raise RequestError("The watermark needs a text.")
        defaults = cls("x")
        return cls(
            text=data["text"],
            position=data.get("position", defaults.position),
            opacity=data.get("opacity", defaults.opacity),
            font_size=data.get("font_size"),
            color=parse_color(data.get("color", defaults.color)),
            margin=data.get("margin", defaults.margin),
        ).validated()


def _number(value: object, low: float, high: float, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise RequestError(f"The {what} must be a number from {low:g} to {high:g}; got {value!r}.")


def _whole(value: object, low: int, high: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RequestError(
            f"The {what} must be a whole number from {low} to {high}; got {value!r}."
        )


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled font when FreeType is there (any size); its bitmap font otherwise.
    return ImageFont.load_default(size=size)


def _layout(
    image_size: tuple[int, int], mark: Watermark
) -> tuple[Any, tuple[int, int], tuple[int, int, int, int]]:
    """The font, the text origin, and the text's ink box in image coordinates."""
    width, height = image_size
    auto = mark.font_size is None
    size = mark.font_size or max(10, min(width, height) // AUTO_FONT_FRACTION)
    while True:
        font = _font(size)
        x0, y0, x1, y1 = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox(
            (0, 0), mark.text, font=font
        )
        text_w, text_h = x1 - x0, y1 - y0
        fits = text_w + 2 * mark.margin <= width and text_h + 2 * mark.margin <= height
        if fits or not auto or size <= MIN_FONT:
            break
        size -= 1  # an auto-sized mark shrinks until it fits inside the margins
    vertical, _, horizontal = mark.position.partition("-")
    if mark.position == "center":
        left, top = (width - text_w) // 2, (height - text_h) // 2
    else:
        left = mark.margin if horizontal == "left" else width - mark.margin - text_w
        top = mark.margin if vertical == "top" else height - mark.margin - text_h
    return font, (left - x0, top - y0), (left, top, left + text_w, top + text_h)


def watermark_box(image_size: tuple[int, int], mark: Watermark) -> tuple[int, int, int, int]:
    """Where the text lands (left, top, right, bottom), clipped to the image."""
    left, top, right, bottom = _layout(image_size, mark.validated())[2]
    width, height = image_size
    return max(left, 0), max(top, 0), min(right, width), min(bottom, height)


def apply_watermark(image: Image.Image, mark: Watermark) -> Image.Image:
    """A copy of `image` (RGB) with the text blended in."""
    mark = mark.validated()
    base = image.convert("RGB")
    font, origin, _box = _layout(base.size, mark)
    coverage = Image.new("L", base.size, 0)
    ImageDraw.Draw(coverage).text(origin, mark.text, fill=255, font=font)
    alpha = coverage.point(lambda v: round(v * mark.opacity))
    ink = Image.new("RGB", base.size, mark.color)
    return Image.composite(ink, base, alpha)
