"""`studio generate --server URL` against a real `studio serve` (ApiServer on
127.0.0.1 over a tiny model) through the real CLI main(): the PNG is the bytes
a local run writes, an init image is uploaded, progress lines show, Ctrl+C
cancels the server's job, and a wrong token, nothing listening or a full
queue is one sentence."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import httpx2
import pytest
from api_harness import WAIT_S, ServedApi
from PIL import Image

from studio import cli
from studio.app import main
from studio.engine.jobs import JobCancelled, JobStarted, JobStep
from studio.remote import client

TOKEN = "remote-token"


@pytest.fixture
def served(sd_model):
    running = ServedApi(sd_model, token=TOKEN)
    yield running
    running.stop()


def _args(sd_model, out: Path, *more: str) -> list[str]:
    return [
        "generate", "--model", str(sd_model), "-p", "a red boat", "--seed", "5", "--steps", "2",
        "--width", "64", "--height", "64", "-o", str(out), *more,
    ]  # fmt: skip


def _remote(served: ServedApi, sd_model, out: Path, *more: str) -> int:
    return main([*_args(sd_model, out, *more), "--server", served.url, "--token", TOKEN])


@pytest.mark.slow
def test_a_remote_png_is_the_bytes_of_a_local_run(served, sd_model, tmp_path, capsys):
    assert main([*_args(sd_model, tmp_path / "local.png"), "--no-cache"]) == 0
    local_err = capsys.readouterr().err
    assert _remote(served, sd_model, tmp_path / "remote.png") == 0
    out, err = capsys.readouterr()
    assert (tmp_path / "remote.png").read_bytes() == (tmp_path / "local.png").read_bytes()
    assert out == f"{tmp_path / 'remote.png'}  (seed 5)\n"
    assert "step 2/2\n" in err and "step 2/2\n" in local_err  # a pipe: the job's last step
    assert "1 image(s), 64×64, 2 steps, model tiny-sd, " in err
    assert err.rstrip().endswith(f"s on cpu at {served.url}")


@pytest.mark.slow
def test_img2img_uploads_the_init_image_and_a_jpeg_is_written_from_the_servers_png(
    served, sd_model, tmp_path, capsys
):
    init = tmp_path / "init.png"
    Image.new("RGB", (64, 64), (200, 40, 40)).save(init)
    more = ["--mode", "img2img", "--init", str(init), "--strength", "0.5"]
    assert main([*_args(sd_model, tmp_path / "local.png", *more), "--no-cache"]) == 0
    assert _remote(served, sd_model, tmp_path / "remote.png", *more) == 0
    assert _remote(served, sd_model, tmp_path / "remote.jpg", *more) == 0
    started = next(e for e in served.log.snapshot() if isinstance(e, JobStarted))
    assert started.request.mode == "img2img"
    assert started.request.init_image.getpixel((0, 0)) == (200, 40, 40)
    assert (tmp_path / "remote.png").read_bytes() == (tmp_path / "local.png").read_bytes()
    with Image.open(tmp_path / "remote.jpg") as jpeg:
        assert jpeg.format == "JPEG"
    assert cli.cmd_params(type("Args", (), {"image": str(tmp_path / "remote.jpg")})) == 0
    assert "Denoising strength: 0.5" in capsys.readouterr().out


@pytest.mark.slow
def test_ctrl_c_cancels_the_job_on_the_server(sd_model, tmp_path, capsys, monkeypatch):
    served = ServedApi(sd_model, step_delay_s=0.05)
    try:

        def interrupted(quiet):
            def show(step, total):
                raise KeyboardInterrupt  # as Ctrl+C lands while the steps come

            return show

        monkeypatch.setattr(cli, "step_printer", interrupted)
        code = main([*_args(sd_model, tmp_path / "out.png")[:-2], "--steps", "150",
                     "-o", str(tmp_path / "out.png"), "--server", served.url])  # fmt: skip
        served.log.wait_for(
            lambda events: any(isinstance(e, JobCancelled) for e in events),
            "the server's job to be cancelled",
        )
    finally:
        served.stop()
    assert code == 130
    err = capsys.readouterr().err
    assert f"Cancelled; the job on the server at {served.url} was cancelled too." in err
    steps = sum(isinstance(e, JobStep) for e in served.log.snapshot())
    assert steps < 150
    assert not (tmp_path / "out.png").exists()


def test_a_wrong_or_missing_token_is_a_sentence(served, sd_model, tmp_path, capsys):
    args = [*_args(sd_model, tmp_path / "out.png"), "--server", served.url]
    assert main([*args, "--token", "wrong"]) == 1
    assert capsys.readouterr().err == (
        f"error: The server at {served.url} did not accept the token; give the one it was "
        "started with (--token or STUDIO_API_TOKEN).\n"
    )
    assert main(args) == 1
    assert f"{served.url} needs a token: give it with --token or set STUDIO_API_TOKEN" in (
        capsys.readouterr().err
    )


def test_the_server_and_token_come_from_the_environment(served, sd_model, tmp_path,
                                                        capsys, monkeypatch):  # fmt: skip
    monkeypatch.setenv("STUDIO_SERVER", served.url)
    monkeypatch.setenv("STUDIO_API_TOKEN", "wrong")
    assert main(_args(sd_model, tmp_path / "out.png")) == 1
    assert f"The server at {served.url} did not accept the token" in capsys.readouterr().err


def test_nothing_listening_is_a_sentence(sd_model, tmp_path, capsys):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    assert main([*_args(sd_model, tmp_path / "out.png"), "--server", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: Could not reach the server at {url}: ")
    assert err.endswith("is `studio serve` running there?\n")
    assert client.CONNECT_TIMEOUT_S <= 10


def test_options_of_this_machines_engine_are_refused_with_a_server(sd_model, tmp_path, capsys):
    args = [*_args(sd_model, tmp_path / "out.png"), "--server", "http://127.0.0.1:9"]
    assert main([*args, "--no-cache", "--device", "cpu", "--watermark", "x"]) == 1
    assert capsys.readouterr().err == (
        "error: --device, --no-cache, --watermark set up this machine's engine; with --server "
        "the server's own settings apply (give them to `studio serve` there). Leave them out, "
        "or drop --server.\n"
    )


@pytest.mark.slow
def test_a_full_server_is_a_busy_sentence(sd_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(client, "BUSY_WAIT_MAX_S", 0.0)  # no wait for its Retry-After
    served = ServedApi(sd_model, hold_first_job=True, max_queue=1)
    try:
        with httpx2.Client(base_url=served.url, timeout=WAIT_S) as http:
            body = {"prompt": "x", "num_inference_steps": 1, "width": 64, "height": 64}
            assert http.post("/jobs", json=body).status_code == 202
            served.log.wait_for(lambda e: any(isinstance(x, JobStarted) for x in e), "a start")
            assert http.post("/jobs", json=body).status_code == 202
            code = main([*_args(sd_model, tmp_path / "out.png"), "--server", served.url])
            served.log.release.set()
    finally:
        served.stop()
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: The server at {served.url} is busy: The server is busy: ")
    assert err.endswith("; try again in 5 s.\n")


@pytest.mark.parametrize(
    "more",
    [
        ["--lora", "/nowhere/style.safetensors"],  # a LoRA is the server's file: its check
        ["--model", "/nowhere/model"],
        ["--width", "5000"],  # refused here, before anything is sent
    ],
)
def test_a_refused_request_is_the_sentence_a_local_run_says(served, sd_model, tmp_path,
                                                           capsys, more):  # fmt: skip
    assert main([*_args(sd_model, tmp_path / "local.png", *more), "--no-cache"]) == 1
    local = capsys.readouterr().err
    assert _remote(served, sd_model, tmp_path / "remote.png", *more) == 1
    assert capsys.readouterr().err == local
    assert local.startswith("error: ") and local.count("\n") == 1


@pytest.mark.slow
def test_a_prompts_file_makes_the_local_runs_files(served, sd_model, tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red boat\n# a comment\na blue car\na green tree\n", encoding="utf-8")
    more = ["--prompts-file", str(prompts)]
    assert main([*_args(sd_model, tmp_path / "local" / "set.png", *more), "--no-cache"]) == 0
    local = capsys.readouterr().out
    assert _remote(served, sd_model, tmp_path / "remote" / "set.png", *more) == 0
    remote = capsys.readouterr().out
    assert remote == local.replace(str(tmp_path / "local"), str(tmp_path / "remote"))
    assert len(remote.splitlines()) == 3
    for n in (1, 2, 3):
        name = f"set-{n}.png"
        assert (tmp_path / "remote" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()


def test_lora_files_are_left_for_the_server_to_check():
    from studio.cli_remote import _checked
    from studio.engine.request import GenerationRequest, LoraSpec

    loras = (LoraSpec("/only/on/the/server/style.safetensors", 0.8),)
    request = GenerationRequest(prompt="a red boat", model="tiny", width=60, loras=loras)
    checked, notices = _checked(request)  # no "LoRA file ... does not exist" here
    assert checked.loras == loras and checked.width == 64 and notices


@pytest.mark.slow
def test_the_client_on_a_real_server_sees_previews_and_survives_a_dropped_stream(
    sd_model, monkeypatch
):
    from studio.engine.request import GenerationRequest
    from studio.remote import client as remote_client
    from studio.remote.client import RemoteEngine
    from studio.remote.events import Finished, Started, Step

    monkeypatch.setattr(remote_client, "RECONNECT_PAUSES_S", (0.0,))
    real_parse = remote_client.parse_events
    streams = []

    def dropping(lines):  # the first stream breaks after its first step, as a network might
        streams.append(1)
        for event in real_parse(lines):
            yield event
            if len(streams) == 1 and event.name == "step":
                raise httpx2.ReadError("connection reset by peer")

    monkeypatch.setattr(remote_client, "parse_events", dropping)
    served = ServedApi(sd_model, token=TOKEN, step_delay_s=0.05)
    try:
        with RemoteEngine(served.url, TOKEN) as engine:
            assert engine.health()["device"] == "cpu"
            assert "image" in engine.models()
            seen = []
            request = GenerationRequest(prompt="a red boat", model=str(sd_model), seed=5,
                                        steps=4, width=64, height=64)  # fmt: skip
            result = engine.run(request, seen.append)
    finally:
        served.stop()
    assert len(streams) == 2  # opened again, and the job went on to its end
    assert not any(isinstance(e, JobCancelled) for e in served.log.snapshot())
    assert isinstance(seen[-1], Finished) and any(isinstance(e, Started) for e in seen)
    steps = [e for e in seen if isinstance(e, Step)]
    assert steps[-1].step == 4 and steps[-1].total == 4
    with Image.open(io.BytesIO(steps[-1].preview_png)) as preview:
        assert preview.format == "PNG"
    with Image.open(io.BytesIO(result.pngs[0])) as image:
        assert image.size == (64, 64) and "Seed: 5" in image.info["parameters"]


@pytest.mark.slow
def test_ctrl_c_while_queued_drops_the_job_from_the_servers_queue(sd_model, tmp_path,
                                                                 capsys, monkeypatch):  # fmt: skip
    from studio.remote.client import RemoteEngine
    from studio.remote.events import Queued

    real_event = RemoteEngine._event

    def interrupted(self, raw):
        event = real_event(self, raw)
        if isinstance(event, Queued) and event.position > 0:
            raise KeyboardInterrupt  # Ctrl+C while the job waits behind another
        return event

    monkeypatch.setattr(RemoteEngine, "_event", interrupted)
    served = ServedApi(sd_model, hold_first_job=True)
    try:
        with httpx2.Client(base_url=served.url, timeout=WAIT_S) as http:
            body = {"prompt": "x", "num_inference_steps": 1, "width": 64, "height": 64}
            assert http.post("/jobs", json=body).status_code == 202
            served.log.wait_for(lambda e: any(isinstance(x, JobStarted) for x in e), "a start")
            code = main([*_args(sd_model, tmp_path / "out.png"), "--server", served.url])
            served.log.wait_for(
                lambda e: any(isinstance(x, JobCancelled) for x in e), "the queued job to go"
            )
            served.log.release.set()
    finally:
        served.stop()
    assert code == 130
    assert "was cancelled too." in capsys.readouterr().err
    started = [e for e in served.log.snapshot() if isinstance(e, JobStarted)]
    assert len(started) == 1  # the CLI's job never ran
