"""The viewer's web API through Starlette's test client: every endpoint, runs of every sampler on
the shipped models streamed pass by pass, bad input, limits, the queue and cancelling."""

from __future__ import annotations

import base64
import io
import json
import shlex
import time

import numpy as np
import pytest

pytest.importorskip(
    "starlette", reason="the viewer's web layer needs pip install 'patchforcing[view]'"
)
pytest.importorskip("httpx", reason="Starlette's test client needs httpx")

from PIL import Image  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from patchforcing.cli.main import main  # noqa: E402
from patchforcing.sampling import SAMPLERS  # noqa: E402
from patchforcing.sampling.options import sampler_options  # noqa: E402
from patchforcing.viewer import Limits, Viewer  # noqa: E402
from patchforcing.viewer.app import create_app  # noqa: E402
from viewer_helpers import parse_events, run_body, shipped_catalog  # noqa: E402

RUNS = [("fmnist-pf", name) for name in SAMPLERS] + [("fmnist-global", "euler")]
LONG = {
    "samplers": ["dual-loop"],
    "nfe": 200,
}  # about a second on this machine: long enough to cancel


def takes_p(sampler: str) -> bool:
    """Whether the sampler makes a fraction p of the patches certain at each outer step."""
    return any(info.name == "p" for info in sampler_options(SAMPLERS[sampler]))


def client_for(limits: Limits = Limits()) -> TestClient:
    return TestClient(create_app(Viewer(shipped_catalog(), limits), allowed_hosts=["testserver"]))


@pytest.fixture
def client():
    with client_for() as c:
        yield c


def events_of(client: TestClient, run_id: str, **headers: str):
    with client.stream("GET", f"/api/runs/{run_id}/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return parse_events(response.iter_lines())


def test_page_and_its_assets_only(client):
    page = client.get("/")
    assert page.status_code == 200 and "Patch Forcing" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/assets/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/assets/style.css").headers["content-type"].startswith("text/css")
    for path in (
        "/assets/index.html",
        "/assets/..%2F..%2Fpyproject.toml",
        "/assets/../viewer/app.py",
        "/pyproject.toml",
        "/api/nothing",
    ):
        assert client.get(path).status_code == 404, path


def test_models_lists_checkpoints_samplers_options_and_limits(client):
    models = client.get("/api/models").json()
    by_name = {c["name"]: c for c in models["checkpoints"]}
    assert set(by_name) == {"fmnist-pf", "fmnist-global", "emoji-t2i"}
    assert [by_name[n]["prompt"] for n in ("fmnist-pf", "fmnist-global", "emoji-t2i")] == [
        False,
        False,
        True,
    ]
    assert by_name["emoji-t2i"]["class_names"] == [] and by_name["emoji-t2i"]["channels"] == 3
    assert by_name["fmnist-global"]["samplers"] == ["euler"]
    assert set(by_name["fmnist-pf"]["samplers"]) == set(SAMPLERS)
    assert (
        by_name["fmnist-pf"]["class_names"][0] == "T-shirt/top"
        and by_name["fmnist-pf"]["grid"] == 7
    )
    options = {o["name"]: o for o in models["options"]}
    assert {"dual-loop", "look-ahead", "random"} <= set(options["p"]["samplers"])
    assert options["n_inner"]["type"] == "int"
    assert models["limits"]["max_nfe"] == Limits().max_nfe


@pytest.mark.parametrize(("checkpoint", "sampler"), RUNS)
def test_every_sampler_streams_its_passes_and_spends_its_nfe(client, checkpoint, sampler):
    started = client.post("/api/runs", json=run_body([sampler], checkpoint))
    assert started.status_code == 200, started.text
    run = started.json()
    expected = SAMPLERS[sampler]().budget(8)
    assert run["lanes"][0]["nfe"] == expected.nfe and run["lanes"][0]["steps"] == expected.steps
    events = events_of(client, run["id"])
    frames = [e.data for e in events if e.kind == "frame"]
    assert [e.id for e in events] == list(range(len(events)))
    assert [e.kind for e in events[-2:]] == ["lane", "end"] and events[-1].data["status"] == "done"
    assert events[-2].data["nfe"] == expected.nfe == len(frames)
    assert [f["nfe"] for f in frames] == list(range(1, expected.nfe + 1))
    assert frames[-1]["t"] == [1.0] * 49 and frames[-1]["outer"] == expected.steps - 1
    assert len(base64.b64decode(frames[-1]["image"])) == 28 * 28
    assert (frames[-1]["difficulty"] is None) == (checkpoint == "fmnist-global")
    certain = {len(f["certain"]) for f in frames}
    if takes_p(sampler):  # a certain fraction p = 0.4 of the 49 patches
        assert max(certain) <= 20 and (
            sampler != "dual-loop" or max(certain) == 19
        )  # docs/samplers.md's table
        assert max(certain) > 0
    else:
        assert certain == {0}
    summary = client.get(f"/api/runs/{run['id']}").json()
    assert summary["status"] == "done" and summary["results"][0]["nfe"] == expected.nfe


def test_comparison_uses_one_noise_and_reproducing_commands(client, tmp_path):
    body = run_body(
        ["euler-pf", "dual-loop", "look-ahead"],
        options={"p": 0.3, "ratio": 2.0},
        cfg=2.0,
        cfg_interval=[0.1, 0.9],
    )
    run = client.post("/api/runs", json=body).json()
    events = events_of(client, run["id"])
    firsts = [
        next(e.data for e in events if e.kind == "frame" and e.data["lane"] == lane)
        for lane in range(3)
    ]
    assert (
        len({f["image"] for f in firsts}) == 3
    )  # one pass in: different updates of the same noise
    command = run["lanes"][1]["command"]
    assert command.startswith(
        "patchforcing sample --checkpoint fmnist-pf --sampler dual-loop --nfe 8 --seed 1"
    )
    assert (
        "--p 0.3" in command
        and "--ratio" not in command
        and "--cfg 2.0 --cfg-interval 0.1 0.9" in command
    )
    assert main(shlex.split(command)[1:] + ["--out", str(tmp_path)]) == 0
    written = np.array(Image.open(tmp_path / "images" / "seed000001_class3.png"))
    last = [e.data for e in events if e.kind == "frame" and e.data["lane"] == 1][-1]
    shown = np.frombuffer(base64.b64decode(last["image"]), dtype=np.uint8).reshape(28, 28)
    assert (
        np.abs(written.astype(int) - shown.astype(int)).max() <= 1
    )  # the same image, to float rounding


def test_a_text_model_runs_a_prompt_and_its_command_reproduces_the_image(client, tmp_path):
    body = run_body(["dual-loop"], "emoji-t2i", label=None, prompt="  heavy black heart ", cfg=3.0)
    run = client.post("/api/runs", json=body).json()
    assert run["prompt"] == "heavy black heart" and run["class_name"] is None
    events = events_of(client, run["id"])
    assert events[-1].data["status"] == "done"
    command = run["lanes"][0]["command"]
    assert (
        "--prompt 'heavy black heart'" in command
        and "--classes" not in command
        and "--cfg 3.0" in command
    )
    assert main(shlex.split(command)[1:] + ["--out", str(tmp_path)]) == 0
    (png,) = (tmp_path / "images").glob("seed000001_*.png")
    written = np.array(Image.open(png))
    last = [e.data for e in events if e.kind == "frame"][-1]
    shown = np.frombuffer(base64.b64decode(last["image"]), dtype=np.uint8).reshape(written.shape)
    assert (
        written.shape == (32, 32, 3) and np.abs(written.astype(int) - shown.astype(int)).max() <= 1
    )


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"prompt": "a flag"}, 400, "takes a class label, not a prompt"),
        ({"checkpoint": "emoji-t2i"}, 400, "takes a prompt, not a class label"),
        ({"checkpoint": "emoji-t2i", "label": None}, 400, "prompt must be a text"),
        ({"checkpoint": "emoji-t2i", "label": None, "prompt": "  "}, 400, "prompt must be a text"),
        ({"checkpoint": "emoji-t2i", "label": None, "prompt": 3}, 400, "prompt must be a text"),
        (
            {"checkpoint": "emoji-t2i", "label": None, "prompt": "x" * 201},
            400,
            "prompt must be a text",
        ),
        ({"checkpoint": "fmnist-nope"}, 400, "unknown checkpoint"),
        ({"checkpoint": "../../etc/passwd"}, 400, "unknown checkpoint"),
        ({"checkpoint": "/tmp"}, 400, "unknown checkpoint"),
        ({"checkpoint": "src/patchforcing/model/checkpoints/fmnist-pf"}, 400, "unknown checkpoint"),
        ({"checkpoint": 3}, 400, "unknown checkpoint"),
        ({"samplers": []}, 400, "samplers must be"),
        (
            {"samplers": ["euler", "euler-pf", "dual-loop", "look-ahead", "random"]},
            400,
            "samplers must be",
        ),
        ({"samplers": ["heun"]}, 400, "unknown sampler"),
        (
            {"checkpoint": "fmnist-global", "samplers": ["dual-loop"]},
            400,
            "does not run on fmnist-global",
        ),
        ({"options": {"p": 1.5}}, 400, "option p"),
        ({"options": {"p": "0.4"}}, 400, "option p must be a number"),
        ({"options": {"n_inner": 0}}, 400, "n_inner"),
        ({"options": {"n_inner": 2.5}}, 400, "must be an integer"),
        ({"options": {"n_inner": 300}}, 400, "would spend NFE 300"),
        ({"options": {"ratio": 0.5}}, 400, "context ratio"),
        ({"options": {"strict_quantile": 1}}, 400, "true or false"),
        ({"options": {"temperature": 1}}, 400, "unknown sampler option"),
        ({"nfe": 0}, 400, "nfe must be"),
        ({"nfe": 100000}, 400, "nfe must be"),
        ({"nfe": 8.5}, 400, "nfe must be"),
        ({"nfe": True}, 400, "nfe must be"),
        ({"seed": -1}, 400, "seed must be"),
        ({"seed": 2**40}, 400, "seed must be"),
        ({"label": 10}, 400, "label must be"),
        ({"label": -1}, 400, "label must be"),
        ({"cfg": -1}, 400, "cfg must"),
        ({"cfg": 1000}, 400, "cfg must"),
        ({"cfg": float("nan")}, 400, "cfg must be a number"),
        ({"cfg_interval": [0.9, 0.1]}, 400, "interval"),
        ({"cfg_interval": [0.1]}, 400, "cfg_interval must"),
        ({"path": "/etc/passwd"}, 400, "unknown field"),
        ({"client": "a b"}, 400, "client must be"),
        ({"client": "x" * 65}, 400, "client must be"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(client, change, status, message):
    body = run_body(["dual-loop"]) | change
    response = client.post(
        "/api/runs", content=_json(body), headers={"content-type": "application/json"}
    )
    assert response.status_code == status and message in response.json()["error"], response.text


def _json(body: dict) -> bytes:
    return json.dumps(
        body
    ).encode()  # NaN is written as the token NaN, which Python's parser accepts


def test_malformed_oversized_and_untyped_bodies_leave_the_server_running(client):
    json_header = {"content-type": "application/json"}
    assert client.post("/api/runs", content=b"{not json", headers=json_header).status_code == 400
    assert (
        "JSON object"
        in client.post("/api/runs", content=b"[1, 2]", headers=json_header).json()["error"]
    )
    huge = client.post(
        "/api/runs", content=b'{"client": "' + b"x" * 10000 + b'"}', headers=json_header
    )
    assert huge.status_code == 413 and "larger than" in huge.json()["error"]
    plain = client.post(
        "/api/runs", content=_json(run_body(["euler-pf"])), headers={"content-type": "text/plain"}
    )
    assert plain.status_code == 415
    assert client.get("/api/runs").status_code == 405
    run = client.post("/api/runs", json=run_body(["euler-pf"])).json()
    assert events_of(client, run["id"])[-1].data["status"] == "done"


def test_deep_nesting_lone_surrogates_and_huge_event_ids_are_refused(client):
    """Requests that once crashed the handler (a 500 and a server traceback) get a 400 with the
    reason, and the server goes on."""
    json_header = {"content-type": "application/json"}
    nested = client.post("/api/runs", content=b"[" * 2000 + b"]" * 2000, headers=json_header)
    assert nested.status_code == 400 and "nested too deeply" in nested.json()["error"]
    body = _json(run_body(["euler-pf"]) | {"checkpoint": "emoji-t2i", "label": None})
    lone = body.replace(b'"client"', b'"prompt": "a \\ud800 flag", "client"')
    surrogate = client.post("/api/runs", content=lone, headers=json_header)
    assert surrogate.status_code == 400 and "lone surrogate" in surrogate.json()["error"]
    run = client.post("/api/runs", json=run_body(["euler-pf"])).json()
    for header in ("9" * 5000, "9" * 10, "-1", "x", b"\xb2"):  # ² (latin-1): a digit to isdigit
        response = client.get(f"/api/runs/{run['id']}/events", headers={"last-event-id": header})
        assert response.status_code == 400 and "Last-Event-ID" in response.json()["error"]
    assert events_of(client, run["id"])[-1].data["status"] == "done"


def test_unknown_run_and_lane(client):
    for path in ("/api/runs/nope", "/api/runs/nope/events", "/api/runs/nope/lanes/0.gif"):
        response = client.get(path)
        assert response.status_code == 404 and "no such run" in response.json()["error"]
    assert client.post("/api/runs/nope/cancel").status_code == 404
    run = client.post("/api/runs", json=run_body(["euler-pf"])).json()
    events_of(client, run["id"])
    assert client.get(f"/api/runs/{run['id']}/lanes/1.gif").status_code == 404


def test_gif_of_a_finished_sampler(client):
    run = client.post("/api/runs", json=run_body(["look-ahead"])).json()
    events_of(client, run["id"])
    gif = client.get(f"/api/runs/{run['id']}/lanes/0.gif")
    assert gif.status_code == 200 and gif.headers["content-type"] == "image/gif"
    assert "look-ahead-seed1.gif" in gif.headers["content-disposition"]
    assert Image.open(io.BytesIO(gif.content)).n_frames == SAMPLERS["look-ahead"]().budget(8).nfe


def test_events_resume_after_last_event_id(client):
    run = client.post("/api/runs", json=run_body(["euler-pf"])).json()
    everything = events_of(client, run["id"])
    resumed = events_of(client, run["id"], **{"last-event-id": "5"})
    assert resumed == everything[6:]


def test_passes_arrive_while_the_run_is_computed(client):
    run = client.post("/api/runs", json=run_body(**LONG)).json()
    seen_running = False
    with client.stream("GET", f"/api/runs/{run['id']}/events") as response:
        for line in response.iter_lines():
            if line == "event: frame":
                seen_running = client.get(f"/api/runs/{run['id']}").json()["status"] == "running"
                break
    assert seen_running
    client.post(f"/api/runs/{run['id']}/cancel")


def test_a_new_run_of_the_same_page_cancels_its_previous_run(client):
    first = client.post("/api/runs", json=run_body(**LONG)).json()
    other_page = client.post("/api/runs", json=run_body(["euler-pf"], client="other")).json()
    second = client.post("/api/runs", json=run_body(["euler-pf"])).json()
    first_events = events_of(client, first["id"])
    assert first_events[-1].data["status"] == "cancelled"
    assert sum(e.kind == "frame" for e in first_events) < 200
    assert events_of(client, second["id"])[-1].data["status"] == "done"
    assert (
        events_of(client, other_page["id"])[-1].data["status"] == "done"
    )  # other pages' runs are kept


def test_cancel_endpoint_stops_a_run(client):
    run = client.post("/api/runs", json=run_body(**LONG)).json()
    assert client.post(f"/api/runs/{run['id']}/cancel").status_code == 200
    events = events_of(client, run["id"])
    assert events[-1].data["status"] == "cancelled" and sum(e.kind == "frame" for e in events) < 200
    assert client.get(f"/api/runs/{run['id']}").json()["status"] == "cancelled"


def test_runs_kept_in_memory_are_bounded():
    with client_for(Limits(max_runs=3)) as client:
        ids = [
            client.post("/api/runs", json=run_body(["euler-pf"], client=f"page{i}", nfe=2)).json()[
                "id"
            ]
            for i in range(5)
        ]
        for run_id in ids[2:]:
            events_of(client, run_id)
        assert [client.get(f"/api/runs/{i}").status_code for i in ids] == [404, 404, 200, 200, 200]


def test_a_full_queue_is_refused_and_the_server_keeps_going():
    with client_for(Limits(max_queue=1)) as client:
        answers = [
            client.post("/api/runs", json=run_body(client=f"page{i}", **LONG)) for i in range(3)
        ]
        busy = [a for a in answers if a.status_code == 429]
        assert busy and "runs waiting" in busy[0].json()["error"]
        for answer in answers:
            if answer.status_code == 200:
                client.post(f"/api/runs/{answer.json()['id']}/cancel")
        deadline = time.monotonic() + 10
        while (
            later := client.post("/api/runs", json=run_body(["euler-pf"], client="later"))
        ).status_code == 429:
            assert time.monotonic() < deadline, "the cancelled runs never left the queue"
            time.sleep(0.05)
        assert events_of(client, later.json()["id"])[-1].data["status"] == "done"


def test_only_loopback_host_names_are_answered():
    app = create_app(Viewer(shipped_catalog()))
    with TestClient(app, base_url="http://evil.example") as foreign:
        assert foreign.get("/").status_code == 400
    with TestClient(app, base_url="http://127.0.0.1:8000") as local:
        assert local.get("/").status_code == 200


def test_runs_start_from_the_models_recommended_settings(client, tmp_path):
    from patchforcing.model import load_model
    from patchforcing.model.pretrained import recommended_sampling

    models = {c["name"]: c for c in client.get("/api/models").json()["checkpoints"]}
    record = recommended_sampling(load_model("fmnist-pf"))
    assert record is not None and models["fmnist-pf"]["recommended"] == record.to_dict()
    body = run_body(["euler-pf"])
    del body["nfe"]  # left out: the model's recommended NFE and guidance
    run = client.post("/api/runs", json=body).json()
    events_of(client, run["id"])
    command = run["lanes"][0]["command"]
    lo, hi = record.guidance_interval
    assert f"--nfe {record.nfe} " in command
    assert f"--cfg {record.guidance_scale!r} --cfg-interval {lo!r} {hi!r}" in command
    unguided = client.post("/api/runs", json=run_body(["euler-pf"], cfg=1.0)).json()
    events_of(client, unguided["id"])
    assert "--cfg 1.0 --cfg-interval" in unguided["lanes"][0]["command"]  # sample fills nothing
