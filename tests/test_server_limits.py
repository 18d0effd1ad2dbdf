"""The server says no: prompt length (the engine's limit, so the CLI says it
too), images per request, the body's size before it is parsed, and waiting
jobs (503 with Retry-After under concurrent load). And every failure is a JSON
sentence with the status that says whose it is, never a 500."""

from __future__ import annotations

import base64
import http.client
import io
import shutil
import struct
import threading
import zlib

import numpy as np
import pytest
from api_harness import WAIT_S, Client, Reply, ServedApi
from openai_server import MalformedReply, OpenAIServer
from PIL import Image, ImageFile

from studio.app import main
from studio.engine.errors import RequestTooLargeError
from studio.engine.jobs import JobStarted
from studio.engine.request import MAX_PROMPT_CHARS, MAX_SIDE, GenerationRequest
from studio.server.bodies import decode_image
from studio.server.errors import ApiError
from studio.server.limits import (
    MAX_IMAGES_PER_REQUEST,
    MAX_INPUT_PIXELS,
    MAX_TEXT_BODY,
    QUEUE_RETRY_AFTER_S,
    too_large_sentence,
)
from studio.server.text import TextService

TOO_LARGE = too_large_sentence("/generate/image")


class Served(ServedApi):
    def __init__(self, sd_model, max_queue: int = 16, hold_first_job: bool = False) -> None:
        self.llm = OpenAIServer().start()
        text = TextService(self.llm.base_url, api_key="k", timeout_s=10)
        super().__init__(sd_model, text=text, max_queue=max_queue, hold_first_job=hold_first_job)
        self.client = Client(self.server.url)

    def post(self, payload=None, path="/generate/image", **kwargs) -> Reply:
        return self.client.call("POST", path, payload, **kwargs)

    def stop(self) -> None:
        super().stop()
        self.llm.stop()


@pytest.fixture
def api(sd_model):
    served = Served(sd_model)
    yield served
    served.stop()


def _png_b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _blank_png_b64(width: int, height: int) -> str:
    """A valid black 1-bit PNG of width×height: a few KB, however large it says it is."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    row = b"\0" * (1 + (width + 7) // 8)  # filter byte, then 8 pixels a byte
    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
    return base64.b64encode(png + chunk(b"IEND", b"")).decode()


@pytest.fixture
def loaded_sizes(monkeypatch) -> list[tuple[int, int]]:
    """The size of every image whose pixels Pillow decodes (here or on the server's threads)."""
    sizes: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def spy(image):
        sizes.append(image.size)
        return load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return sizes


# -- prompt length: declared once, in the engine's validation ----------------------------


def test_the_prompt_limit_is_the_engines_validation():
    GenerationRequest("x" * MAX_PROMPT_CHARS).validated()
    for request in (
        GenerationRequest("x" * (MAX_PROMPT_CHARS + 1)),
        GenerationRequest("x", negative_prompt="y" * (MAX_PROMPT_CHARS + 1)),
        GenerationRequest("x", extra_prompts=("y", "z" * (MAX_PROMPT_CHARS + 1))),
    ):
        with pytest.raises(RequestTooLargeError, match=r"at most 4,800 are accepted"):
            request.validated()


def test_the_cli_says_the_prompt_limit_in_one_line(capsys, tmp_path):
    code = main(["generate", "-p", "x" * 10**6, "-o", str(tmp_path / "x.png"), "--no-cache"])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert "The prompt is 1,000,000 characters long; at most 4,800 are accepted" in err
    assert not (tmp_path / "x.png").exists()


def test_a_long_prompt_is_413_with_the_engines_sentence(api, photo):
    # An image field raises the body allowance, so this body is parsed and validated.
    body = {"prompt": "x" * (MAX_PROMPT_CHARS + 1), "init_image": _png_b64(photo)}
    reply = api.post(body)
    assert reply.status == 413
    assert reply.json()["error"].startswith("The prompt is 4,801 characters long")


def test_prompts_times_batch_past_one_request_is_413(api):
    body = {"prompt": "a", "prompts": ["b"] * 99, "num_inference_steps": 1}
    reply = api.post(body)
    assert reply.status == 413 and reply.json()["error"].startswith(
        f"100 prompts × batch_count 1 make 100 images; one request makes at most "
        f"{MAX_IMAGES_PER_REQUEST}."
    )
    assert api.log.snapshot() == []  # nothing was queued
    assert api.post({"prompt": "a", "batch_count": 9, "prompts": ["b"]}).status == 413


# -- input images: their size is read from the header, before their pixels ------------


def test_an_image_past_the_largest_a_request_makes_is_refused_unread(loaded_sizes):
    assert MAX_INPUT_PIXELS == MAX_SIDE * MAX_SIDE
    accepted = decode_image(_blank_png_b64(MAX_SIDE, MAX_SIDE), "init_image")
    assert accepted is not None and accepted.size == (MAX_SIDE, MAX_SIDE)
    for width, height in [(MAX_SIDE + 1, MAX_SIDE), (MAX_INPUT_PIXELS + 1, 1), (8_000, 8_000)]:
        with pytest.raises(ApiError) as refused:
            decode_image(_blank_png_b64(width, height), "mask_image")
        assert refused.value.status == 413
        assert refused.value.message == (
            f"The mask_image is {width}×{height}; this server takes images of at most "
            f"{MAX_INPUT_PIXELS:,} pixels ({MAX_SIDE}×{MAX_SIDE}, the largest it makes). "
            "Scale it down and send it again."
        )
    assert set(loaded_sizes) == {(MAX_SIDE, MAX_SIDE)}  # the refused ones were never decoded


def test_a_small_file_declaring_a_huge_image_is_413_before_it_is_decoded(api, loaded_sizes):
    for width, height in [(8_000, 8_000), (20_000, 20_000)]:  # below and past Pillow's own limit
        init = _blank_png_b64(width, height)
        assert len(init) < 100_000
        reply = api.post({"prompt": "a", "mode": "img2img", "init_image": init})
        assert reply.status == 413, reply.body
        error = reply.json()["error"]
        assert error.startswith("The init_image ") and (
            f"this server takes images of at most {MAX_INPUT_PIXELS:,} pixels" in error
        )
    assert loaded_sizes == [] and api.log.snapshot() == []


# -- the body, before it is parsed -------------------------------------------------------


def _chunks(data: bytes, size: int = 2**16):
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_10_mb_body_is_refused_before_it_is_parsed(api, framing):
    raw = b'{"prompt": "' + b"x" * (10 * 2**20) + b'"}'
    host, port = api.server.url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=WAIT_S)
    headers = {"Content-Type": "application/json"}
    if framing == "chunked":
        connection.request("POST", "/generate/image", _chunks(raw), headers, encode_chunked=True)
    else:
        connection.request("POST", "/generate/image", raw, headers)
    reply = connection.getresponse()
    # The body allowance's sentence, not the prompt check's: the prompt was never parsed.
    assert reply.status == 413 and reply.read() == f'{{"error":"{TOO_LARGE}"}}'.encode()
    connection.close()
    assert api.log.snapshot() == []


def test_a_body_announced_past_the_cap_is_refused_without_reading_it(api):
    host, port = api.server.url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=WAIT_S)
    connection.putrequest("POST", "/generate/text")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(500 * 2**20))
    connection.endheaders()  # no body follows: an answer proves none was read
    reply = connection.getresponse()
    assert reply.status == 413
    assert reply.read() == f'{{"error":"{too_large_sentence("/generate/text")}"}}'.encode()
    connection.close()


def test_image_fields_may_be_larger_than_the_text_allowance(api):
    noise = np.random.default_rng(0).integers(0, 256, (768, 768, 3), dtype=np.uint8)
    init = _png_b64(Image.fromarray(noise))
    assert len(init) > MAX_TEXT_BODY
    body = {"prompt": "a", "init_image": init, "num_inference_steps": 1, "seed": 1}
    reply = api.post(body | {"width": 64, "height": 64})
    assert reply.status == 200, reply.body[:300]


# -- a full queue ------------------------------------------------------------------------


@pytest.mark.slow
def test_past_the_queue_cap_concurrent_requests_get_503_with_retry_after(sd_model):
    served = Served(sd_model, max_queue=3, hold_first_job=True)
    try:
        replies: list[Reply] = []
        lock = threading.Lock()

        def ask(seed: int) -> None:
            reply = served.post({"prompt": "a", "seed": seed, "num_inference_steps": 1})
            with lock:
                replies.append(reply)

        first = threading.Thread(target=ask, args=(0,))
        first.start()
        served.log.wait_for(lambda events: any(isinstance(e, JobStarted) for e in events),
                            "the first job to hold the engine")  # fmt: skip
        crowd = [threading.Thread(target=ask, args=(seed,)) for seed in range(1, 9)]
        for thread in crowd:
            thread.start()
        served.log.wait_for(lambda _: len(replies) == 5, "five refusals")
        refused = list(replies)
        assert len(served.engine.queue.pending()) == 3
        served.log.release.set()
        for thread in [first, *crowd]:
            thread.join(WAIT_S)
    finally:
        served.stop()
    for reply in refused:
        assert reply.status == 503 and reply.headers["retry-after"] == str(QUEUE_RETRY_AFTER_S)
        assert reply.json()["error"].startswith("The server is busy: 3 jobs are waiting")
    assert sorted(r.status for r in replies) == [200] * 4 + [503] * 5


@pytest.mark.slow
def test_a_full_queue_is_503_before_images_are_decoded_or_the_model_looked_for(
    sd_model, loaded_sizes
):
    served = Served(sd_model, max_queue=1, hold_first_job=True)
    body = {"prompt": "a", "num_inference_steps": 1}
    replies: list[Reply] = []
    try:
        running = threading.Thread(target=lambda: replies.append(served.post(body | {"seed": 1})))
        running.start()
        served.log.wait_for(lambda events: any(isinstance(e, JobStarted) for e in events),
                            "the first job to hold the engine")  # fmt: skip
        waiting = threading.Thread(target=lambda: replies.append(served.post(body | {"seed": 2})))
        waiting.start()
        served.log.wait_for(lambda _: len(served.engine.queue.pending()) == 1, "a waiting job")
        # Each would be a 400, 413 or 404 from a server with room.
        refused = [
            served.post(body | {"mode": "img2img", "init_image": "not base64!"}),
            served.post(body | {"mode": "img2img", "init_image": _blank_png_b64(9_000, 9_000)}),
            served.post(body | {"model": "no-such-model-here"}),
        ]
        served.log.release.set()
        for thread in (running, waiting):
            thread.join(WAIT_S)
    finally:
        served.stop()
    for reply in refused:
        assert reply.status == 503 and reply.headers["retry-after"] == str(QUEUE_RETRY_AFTER_S)
        assert reply.json()["error"].startswith("The server is busy: 1 jobs are waiting")
    assert [reply.status for reply in replies] == [200, 200]
    assert (9_000, 9_000) not in loaded_sizes


# -- every failure a sentence with its status ----------------------------------------------


def test_an_empty_body_says_so(api):
    reply = api.post(raw=b"")
    assert reply.status == 422 and reply.json()["error"].startswith("The request body is empty")


def test_an_undecodable_image_names_no_python_object(api):
    body = {"prompt": "x", "mode": "img2img", "init_image": base64.b64encode(b"hi").decode()}
    reply = api.post(body)
    assert reply.status == 400
    assert reply.json()["error"] == (
        "The init_image is not an image this server can read. "
        "Send a PNG, JPEG or WebP file, base64-encoded."
    )


def _broken_weights(sd_model, tmp_path) -> str:
    model = shutil.copytree(sd_model, tmp_path / "broken")
    for weights in (model / "unet").glob("*.safetensors"):
        weights.write_bytes(b"\0" * 64)
    return str(model)


@pytest.mark.parametrize(
    ("case", "status", "start"),
    [
        ("a LoRA file that is not a LoRA", 400, "LoRA 'bad' could not be applied"),
        ("no canny ControlNet on this machine", 404, "Model 'controlnet-canny-sd15'"),
        ("a ControlNet that is not one", 422, "'tiny-sd' is not a ControlNet model."),
        ("a model whose weights are damaged", 422, "Model 'broken' could not be loaded"),
    ],
)
@pytest.mark.slow
def test_engine_failures_get_their_status_not_500(api, sd_model, photo, tmp_path, case, status,
                                                  start):  # fmt: skip
    body = {"prompt": "x", "num_inference_steps": 1, "seed": 1}
    if case.startswith("a LoRA"):
        lora = tmp_path / "bad.safetensors"
        lora.write_bytes(b"not a safetensors file")
        body["loras"] = [{"path": str(lora)}]
    elif case.startswith("no canny"):
        body |= {"mode": "controlnet-canny", "init_image": _png_b64(photo)}
    elif case.startswith("a ControlNet"):
        body |= {"mode": "controlnet-canny", "init_image": _png_b64(photo)}
        body["controlnet"] = str(sd_model)
    else:
        body["model"] = _broken_weights(sd_model, tmp_path)
    reply = api.post(body)
    assert reply.status == status and reply.json()["error"].startswith(start), reply.body


def test_a_malformed_upstream_stream_is_a_json_502(api):
    api.llm.reply(MalformedReply("Half an ans"))
    reply = api.post({"prompt": "hi"}, path="/generate/text")
    assert reply.status == 502 and reply.headers["content-type"] == "application/json"
    assert "not valid JSON" in reply.json()["error"]
