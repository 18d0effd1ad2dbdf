"""The HTTP API over real HTTP on 127.0.0.1: images (PNG and JSON, batches,
img2img, the cache), validation errors as sentences, the bearer token, text
through the Mercury client against the loopback OpenAI server, and concurrent
requests sharing one engine queue."""

from __future__ import annotations

import base64
import io
import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass

import pytest
from api_harness import Reply
from openai_server import ErrorReply, OpenAIServer, TextReply
from PIL import Image

from studio.engine.image_parameters import read_parameters
from studio.engine.infotext import parse_infotext
from studio.engine.options import EngineOptions, ServiceOptions
from studio.engine.pngfile import is_marked_ai_generated
from studio.server.engine_link import HeadlessEngine
from studio.server.runner import ApiServer
from studio.server.text import TextService

TOKEN = "s3cret-token"


@dataclass
class Api:
    server: ApiServer
    engine: HeadlessEngine
    llm: OpenAIServer

    def call(self, method, path, payload=None, headers=None, raw=None, timeout=120) -> Reply:
        data = raw if raw is not None else None if payload is None else json.dumps(payload).encode()
        sent = {"Content-Type": "application/json"} if data is not None else {}
        request = urllib.request.Request(
            self.server.url + path, data=data, method=method, headers={**sent, **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return Reply(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return Reply(error.code, dict(error.headers), error.read())


def _start(sd_model, tmp_path, token=None, services=None):
    services = services or ServiceOptions(cache_dir=tmp_path / "cache")
    engine = HeadlessEngine(EngineOptions(), services)
    engine.start()
    llm = OpenAIServer().start()
    text = TextService(llm.base_url, api_key="test-key", timeout_s=10)
    server = ApiServer(engine.queue, port=0, token=token, default_model=str(sd_model), text=text)
    server.start()
    return Api(server, engine, llm)


def _stop(api: Api) -> None:
    api.server.stop()
    api.llm.stop()
    assert api.engine.stop()


@pytest.fixture
def api(sd_model, tmp_path):
    running = _start(sd_model, tmp_path)
    yield running
    _stop(running)


@pytest.fixture
def api_with_token(sd_model, tmp_path):
    running = _start(sd_model, tmp_path, token=TOKEN)
    yield running
    _stop(running)


def _png(reply: Reply) -> Image.Image:
    assert reply.status == 200, reply.body[:300]
    assert reply.headers["content-type"] == "image/png"
    return Image.open(io.BytesIO(reply.body))


def _b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


# -- images ------------------------------------------------------------------------------


def test_the_seed_readme_request_returns_a_png_with_its_parameters(api):
    reply = api.call("POST", "/generate/image", {"prompt": "A beautiful sunset", "seed": 5,
                                                 "num_inference_steps": 2})  # fmt: skip
    image = _png(reply)
    assert image.size == (64, 64)
    assert reply.headers["x-seed"] == "5" and reply.headers["x-cached"] == "false"
    params = parse_infotext(read_parameters(reply.body))
    assert params.prompt == "A beautiful sunset" and params.params["Seed"] == "5"
    assert is_marked_ai_generated(image)
    again = api.call("POST", "/generate/image", {"prompt": "A beautiful sunset", "seed": 5,
                                                 "num_inference_steps": 2})  # fmt: skip
    assert again.headers["x-cached"] == "true" and _png(again).tobytes() == image.tobytes()


def test_json_answers_carry_base64_images_and_the_parameters(api):
    body = {"prompt": "a cat", "prompts": ["a dog", "a bird"], "num_inference_steps": 1}
    body |= {"seed": 20, "guidance_scale": 4.5, "width": 72, "height": 64}
    reply = api.call("POST", "/generate/image", body)
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    data = reply.json()
    assert [im["seed"] for im in data["images"]] == [20, 21, 22]
    prompts = [parse_infotext(im["parameters"]).prompt for im in data["images"]]
    assert prompts == ["a cat", "a dog", "a bird"]
    first_png = base64.b64decode(data["images"][0]["png_base64"])
    first = Image.open(io.BytesIO(first_png))
    assert first.size == (72, 64) and read_parameters(first_png) == data["images"][0]["parameters"]
    p = data["parameters"]
    assert p["guidance_scale"] == 4.5 and p["num_inference_steps"] == 1 and p["scheduler"]
    assert data["cached"] is False and data["model"] == "tiny-sd"


def test_accept_json_for_one_image_and_a_watermark(api):
    body = {"prompt": "a cat", "num_inference_steps": 1, "seed": 1}
    body["watermark"] = {"text": "API", "position": "top-left", "opacity": 1.0}
    reply = api.call("POST", "/generate/image", body, headers={"Accept": "application/json"})
    (image,) = reply.json()["images"]
    assert 'Watermark: "API (top-left, 100%' in image["parameters"]
    assert reply.json()["parameters"]["watermark"]["text"] == "API"


def test_img2img_takes_a_base64_image(api, photo):
    body = {"prompt": "paint", "mode": "img2img", "init_image": _b64(photo), "strength": 0.5}
    body |= {"num_inference_steps": 2, "seed": 3}
    reply = api.call("POST", "/generate/image", body)
    _png(reply)
    params = parse_infotext(read_parameters(reply.body))
    assert params.params["Mode"] == "img2img" and params.params["Denoising strength"] == "0.5"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"prompt": "x", "num_inference_steps": "abc"}, 422,
         "The field 'num_inference_steps' is not valid: input should be a valid integer."),
        ({"prompt": "x", "steps": 3}, 422,
         "Unknown field 'steps'; the fields are listed at /docs."),
        ({"negative_prompt": "x"}, 422, "The field 'prompt' is required."),
        ({"prompt": "x", "num_inference_steps": 0}, 400,
         "The number of steps must be between 1 and 150; got 0."),  # the CLI's sentence
        ({"prompt": "x", "mode": "img2img"}, 400, "img2img needs an init image"),
        ({"prompt": "x", "mode": "img2img", "init_image": "%%%"}, 400,
         "The init_image is not valid base64."),
        ({"prompt": "x", "mode": "img2img", "init_image": base64.b64encode(b"hi").decode()}, 400,
         "The init_image is not an image this server can read"),
        ({"prompt": "x", "model": "sdxl"}, 404,
         "Model 'sdxl' (Stable Diffusion XL 1.0) is not on this machine."),
        ({"prompt": "x", "prompts": ["y"], "response_format": "png"}, 400,
         'This request makes 2 images and a PNG holds one; ask for "response_format": "json".'),
        ({"prompt": "x", "watermark": {"text": "w", "opacity": 3}}, 400,
         "The watermark opacity must be a number from 0 to 1; got 3."),
    ],
)  # fmt: skip
def test_bad_requests_are_4xx_sentences(api, body, status, message):
    reply = api.call("POST", "/generate/image", body)
    assert reply.status == status
    assert reply.json()["error"].startswith(message)


def test_malformed_bodies_and_unknown_routes(api):
    not_json = api.call("POST", "/generate/image", raw=b"{prompt")
    assert not_json.status == 400 and not_json.json() == {
        "error": "The request body is not valid JSON."
    }
    form = api.call("POST", "/generate/image", raw=b"prompt=x",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert form.status == 415 and "Content-Type: application/json" in form.json()["error"]
    missing = api.call("GET", "/nowhere")
    assert missing.status == 404 and missing.json()["error"].endswith("see /docs.")
    wrong = api.call("GET", "/generate/image")
    assert wrong.status == 405 and "does not take GET" in wrong.json()["error"]


def test_requests_for_another_host_name_are_refused(api):
    reply = api.call("GET", "/health", headers={"Host": "attacker.example:8080"})
    assert reply.status == 400 and "addressed to this machine" in reply.json()["error"]
    assert api.call("GET", "/health", headers={"Host": "localhost:1"}).status == 200


def test_strict_safety_refuses_with_the_reason(api):
    api.engine.queue.set_services(ServiceOptions(cache=False, safety_mode="strict"))
    reply = api.call("POST", "/generate/image", {"prompt": "a gory scene"})
    assert (
        reply.status == 400
        and "refused this prompt because it contains “gory”" in (reply.json()["error"])
    )


def test_health_models_and_the_openapi_page(api):
    health = api.call("GET", "/health").json()
    assert health["status"] == "ok" and health["waiting_jobs"] == 0
    models = api.call("GET", "/models").json()
    names = {m["name"]: m for m in models["image"]}
    assert names["tiny-random"]["status"] == "builds locally"
    assert names["demo"]["status"] == "bundled"
    assert names["sd15"]["status"] == "not downloaded" and models["text"]["default"]
    schema = api.call("GET", "/openapi.json").json()
    assert {"/generate/image", "/generate/text", "/health", "/models"} <= set(schema["paths"])
    assert api.call("GET", "/docs").status == 200


@pytest.mark.slow
def test_concurrent_requests_all_complete_through_one_queue(api):
    replies: dict[int, Reply] = {}

    def ask(seed: int) -> None:
        body = {"prompt": f"boat {seed}", "seed": seed, "num_inference_steps": 1}
        replies[seed] = api.call("POST", "/generate/image", body, timeout=180)

    threads = [threading.Thread(target=ask, args=(seed,)) for seed in range(100, 105)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(240)
    assert sorted(replies) == list(range(100, 105))
    for seed, reply in replies.items():
        assert _png(reply) and reply.headers["x-seed"] == str(seed)
    assert api.engine.queue.store.loads == 1  # one engine, one model load


# -- the token ---------------------------------------------------------------------------


def test_a_token_is_required_when_set(api_with_token):
    api = api_with_token
    body = {"prompt": "a cat", "num_inference_steps": 1}
    none = api.call("POST", "/generate/image", body)
    assert none.status == 401 and none.headers["www-authenticate"] == "Bearer"
    assert none.json()["error"].startswith("This server needs a token")
    wrong = api.call("POST", "/generate/image", body, headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401 and wrong.json()["error"].startswith("The token is wrong")
    assert api.call("GET", "/models").status == 401
    assert api.call("POST", "/generate/text", {"prompt": "hi"}).status == 401
    right = api.call("POST", "/generate/image", body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert _png(right)
    assert api.call("GET", "/health").status == 200  # liveness stays open


def test_a_non_loopback_address_needs_a_token(api):
    from studio.engine.errors import EngineError

    with pytest.raises(EngineError, match="without a token would let anyone on the network"):
        ApiServer(api.engine.queue, host="0.0.0.0", port=0)


def test_a_port_in_use_is_a_sentence(api):
    from studio.engine.errors import EngineError

    other = ApiServer(api.engine.queue, port=api.server.port)
    with pytest.raises(EngineError, match=r"Cannot listen on 127\.0\.0\.1"):
        other.start()


# -- text through Mercury ----------------------------------------------------------------


def test_text_is_answered_through_the_mercury_client(api):
    api.llm.reply(TextReply("Quantum computers use qubits."))
    body = {"prompt": "Explain quantum computing", "model": "mercury", "max_tokens": 100}
    body["temperature"] = 0.7
    reply = api.call("POST", "/generate/text", body)
    assert reply.status == 200, reply.body
    data = reply.json()
    assert data["text"] == "Quantum computers use qubits." and data["model"] == "mercury"
    assert data["finish_reason"] == "stop"
    sent = api.llm.chat_requests()[-1]
    assert {k.lower(): v for k, v in sent.headers.items()}["authorization"] == "Bearer test-key"
    assert sent.body["messages"] == [{"role": "user", "content": "Explain quantum computing"}]
    assert (sent.body["max_tokens"], sent.body["temperature"]) == (100, 0.7)


def test_text_errors_say_whose_fault(api):
    api.llm.reply(ErrorReply(429, "Slow down", "rate_limit_error", headers={"retry-after": "7"}))
    limited = api.call("POST", "/generate/text", {"prompt": "hi"})
    assert limited.status == 429 and limited.headers["retry-after"] == "7"
    api.llm.reply(ErrorReply(401, "Invalid API key", "authentication_error"))
    upstream = api.call("POST", "/generate/text", {"prompt": "hi"})
    assert upstream.status == 502 and upstream.json()["error"]
    empty = api.call("POST", "/generate/text", {"prompt": "  "})
    assert (
        empty.status == 400 and empty.json()["error"] == "The prompt is empty; write what to ask."
    )
    hot = api.call("POST", "/generate/text", {"prompt": "hi", "temperature": 5})
    assert hot.status == 400 and "temperature must be between 0 and 2" in hot.json()["error"]


# -- inside the app ----------------------------------------------------------------------


def test_the_in_app_server_uses_the_windows_engine_queue(qtbot, sd_model, tmp_path):
    from studio.engine.worker import EngineWorker

    worker = EngineWorker()
    worker.queue.set_services(ServiceOptions(cache_dir=tmp_path / "cache"))
    worker.start()
    llm = OpenAIServer().start()
    server = ApiServer(worker.queue, port=0, default_model=str(sd_model),
                       text=TextService(llm.base_url, api_key="k"))  # fmt: skip
    server.start()
    api = Api(server, None, llm)
    try:
        finished = []
        worker.job_finished.connect(lambda job_id, result: finished.append(result))
        body = {"prompt": "a kite", "seed": 9, "num_inference_steps": 1}
        reply = api.call("POST", "/generate/image", body)
        assert _png(reply) and reply.headers["x-seed"] == "9"
        qtbot.waitUntil(lambda: len(finished) == 1, timeout=10_000)
        assert finished[0].request.prompt == "a kite"  # the window sees the API's job
    finally:
        server.stop()
        llm.stop()
        assert worker.shutdown()
