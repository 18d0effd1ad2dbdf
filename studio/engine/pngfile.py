"""PNG files that carry their recipe: the A1111 `parameters` text chunk, our
AI-generated marker and XMP (shared with JPEG and WebP: image_files.py), written
atomically. Reading the parameters back, from any image: image_parameters.py.

No torch and no Qt here.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, PngImagePlugin

from ..atomicfile import atomic_file
from .infotext import VERSION

# Every image says it was made by a model, in two places: a plain tEXt chunk any
# viewer shows, and XMP with the IPTC digital source type that photo tools,
# search engines and provenance checkers read ("trainedAlgorithmicMedia").
AI_MARKER_KEY = "AI-generated"
AI_MARKER_VALUE = "yes: made with a diffusion model in Diffusion Studio"
XMP_KEY = "XML:com.adobe.xmp"
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
_XMP = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" '
    'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
    'xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
    f'Iptc4xmpExt:DigitalSourceType="{DIGITAL_SOURCE_TYPE}" '
    'xmp:CreatorTool="Diffusion Studio {version}"/>'
    "</rdf:RDF></x:xmpmeta>"
    '<?xpacket end="r"?>'
)


def png_info(infotext: str) -> PngImagePlugin.PngInfo:
    """The text chunks of every PNG we write: parameters, software, AI marker."""
    info = PngImagePlugin.PngInfo()
    # Pillow writes tEXt (latin-1: what A1111 writes and every reader knows) when it
    # can, and iTXt (UTF-8) when the text holds other characters, e.g. Japanese or
    # emoji: iTXt is PNG's only correct place for them, and A1111 reads both.
    info.add_text("parameters", infotext, zip=False)
    info.add_text("Software", f"Diffusion Studio {VERSION}", zip=False)
    info.add_text(AI_MARKER_KEY, AI_MARKER_VALUE, zip=False)
    info.add_itxt(XMP_KEY, xmp_packet(), zip=False)
    return info


def xmp_packet() -> str:
    """The XMP that marks every image we write (PNG, JPEG, WebP) as AI-generated."""
    return _XMP.replace("{version}", VERSION)


def png_bytes(image: Image.Image, infotext: str) -> bytes:
    """The image as PNG file bytes, with the same chunks as save_png."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=png_info(infotext))
    return buffer.getvalue()


def is_marked_ai_generated(image: Image.Image) -> bool:
    """True when a PNG carries our AI-generated marker and the IPTC source type, or
    a JPEG or WebP the IPTC source type in its XMP (they have no text chunks)."""
    if image.format in ("JPEG", "WEBP"):
        xmp = image.info.get("xmp", b"")
        return DIGITAL_SOURCE_TYPE.encode() in (xmp if isinstance(xmp, bytes) else xmp.encode())
    text = getattr(image, "text", None) or image.info
    return str(text.get(AI_MARKER_KEY, "")).startswith("yes") and DIGITAL_SOURCE_TYPE in str(
        text.get(XMP_KEY, "")
    )


def save_png(image: Image.Image, path: str | Path, infotext: str) -> Path:
    """Writes `image` with its parameters, atomically (studio/atomicfile.py): a
    failure leaves any older file intact and no temporary file behind."""
    with atomic_file(path) as file:
        image.save(file, format="PNG", pnginfo=png_info(infotext))
    return Path(path)
