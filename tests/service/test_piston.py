"""The Piston v2 API at /piston: raw HTTP (fake sandbox) and the npm ``piston-client``,
unchanged, against the real sandbox."""

from __future__ import annotations

import base64
import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from execbox.errors import SandboxError
from execbox.sandbox.base import StepOutcome, StepSpec, Workspace
from tests.service.conftest import EchoBackend, Server, StartServer, create_user, set_plan

P = "/piston/api/v2"
CLIENTS = Path(__file__).resolve().parents[2] / "build" / "test-clients"


def execute(server: Server, body: object, **kwargs: object) -> tuple[int, dict[str, object]]:
    response = server.client.post(f"{P}/execute", content=json.dumps(body), **kwargs)  # type: ignore[arg-type]
    return response.status_code, response.json()


def hello(**extra: object) -> dict[str, object]:
    return {
        "language": "python",
        "version": "*",
        "files": [{"content": "print(1)"}],
        "stdin": "in\n",
        **extra,
    }


def usage(server: Server) -> int:
    return int(server.client.get("/api/usage").json()["runsToday"])


def test_runtimes_lists_what_this_host_runs(server: Server) -> None:
    runtimes = server.client.get(f"{P}/runtimes").json()
    by_language = {r["language"]: r for r in runtimes}
    assert {"python", "c", "java", "javascript"} <= set(by_language)
    assert "py" in by_language["python"]["aliases"]
    assert by_language["python"]["version"].startswith("3.")


@pytest.mark.parametrize("content_type", [None, "text/plain;charset=UTF-8", "application/json"])
def test_any_content_type_is_read_as_json(server: Server, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    status, body = execute(server, hello(), headers=headers)
    assert status == 200, body
    run = body["run"]
    assert isinstance(run, dict)
    assert run["stdout"] == "in\n" and run["output"] == "in\n" and run["code"] == 0
    assert run["signal"] is None and run["status"] is None
    assert body["language"] == "python" and str(body["version"]).startswith("3.")
    assert "compile" not in body
    assert {"cpu_time", "wall_time", "memory"} <= set(run)


def test_compiled_languages_have_a_compile_stage(server: Server) -> None:
    status, body = execute(server, hello(language="c"))
    assert status == 200 and isinstance(body["compile"], dict) and body["compile"]["code"] == 0
    status, body = execute(server, hello(language="c", files=[{"content": "FAKE:FAIL"}]))
    assert status == 200
    assert body["compile"]["status"] == "RE" and "run" not in body  # type: ignore[index]


@pytest.mark.parametrize(
    ("source", "status", "signal"),
    [("FAKE:TIMEOUT", "TO", "SIGKILL"), ("FAKE:FAIL", "RE", None), ("FAKE:OOM", "SG", "SIGKILL")],
)
def test_run_statuses(server: Server, source: str, status: str, signal: str | None) -> None:
    code, body = execute(server, hello(files=[{"content": source}]))
    assert code == 200
    run = body["run"]
    assert isinstance(run, dict) and run["status"] == status and run["signal"] == signal
    assert run["message"]


class Flooding(EchoBackend):
    """Programs that fill stdout (``FLOOD:OUT``) or stderr (``FLOOD:ERR``) to the output
    cap, as the real backends report them (cut at the cap, ``output_limited``), or whose
    sandbox fails (``FLOOD:BROKEN``)."""

    def run_step(self, workspace: Workspace, step: StepSpec) -> StepOutcome:
        outcome = super().run_step(workspace, step)
        source = b"".join(workspace.handle.values()) if isinstance(workspace.handle, dict) else b""
        cap = self.output_cap
        if b"FLOOD:BROKEN" in source:
            raise SandboxError("bwrap vanished")
        if b"FLOOD:OUT" in source:
            return replace(outcome, stdout=b"o" * cap, output_limited=True)
        if b"FLOOD:ERR" in source:
            return replace(outcome, stdout=b"", stderr=b"e" * cap, output_limited=True)
        return outcome

    output_cap = 0


@pytest.mark.parametrize(
    ("source", "status", "stream"),
    [("FLOOD:OUT", "OL", "stdout"), ("FLOOD:ERR", "EL", "stderr"), ("FLOOD:BROKEN", "XX", None)],
)
def test_output_and_sandbox_failures_are_piston_s_statuses(
    start_server: StartServer, source: str, status: str, stream: str | None
) -> None:
    backend = Flooding()
    server = start_server(backend=backend)
    backend.output_cap = server.settings.output_limit_bytes  # type: ignore[attr-defined]
    code, body = execute(server, hello(files=[{"content": source}], stdin=""))
    assert code == 200, body
    run = body["run"]
    assert isinstance(run, dict) and run["status"] == status, run
    assert run["message"], run
    if stream is not None:
        assert len(run[stream]) == backend.output_cap and run["signal"] is None
    else:
        assert "bwrap vanished" in run["message"] and run["stdout"] == ""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (hello(language="cobolt"), "cobolt-* runtime is unknown"),
        (hello(version="2.7.0"), "python-2.7.0 runtime is unknown"),
        (hello(run_timeout=60_000), "run_timeout cannot exceed"),
        (hello(run_memory_limit=1 << 40), "run_memory_limit cannot exceed"),
        (hello(compile_timeout=10**9), "compile_timeout cannot exceed"),
        (hello(run_timeout="3"), "run_timeout must be a number"),
        ({"version": "*", "files": []}, "language is required"),
        (hello(files="x"), "files is required"),
        (hello(files=[{"name": "a.py"}]), "content is required"),
        (hello(files=[{"content": "@@", "encoding": "base64"}]), "files[0].content"),
        (hello(args="a b"), "args must be"),
        ([1, 2], "JSON object"),
    ],
)
def test_refusals_are_400_with_a_message(server: Server, body: object, message: str) -> None:
    status, answer = execute(server, body)
    assert status == 400, answer
    assert message in str(answer["message"])
    assert usage(server) == 0


def test_bad_json_is_a_400(server: Server) -> None:
    response = server.client.post(f"{P}/execute", content=b"{nope")
    assert response.status_code == 400 and response.json()["message"]


def test_files_with_encodings_and_names(server: Server) -> None:
    code, body = execute(
        server,
        hello(
            files=[
                {
                    "name": "app.py",
                    "content": base64.b64encode(b"print(2)").decode(),
                    "encoding": "base64",
                },
                {"name": "lib/util.py", "content": b"X = 1".hex(), "encoding": "hex"},
                {"content": "no name"},
            ]
        ),
    )
    assert code == 200, body
    runs = server.client.get("/api/runs").json()
    detail = server.client.get(f"/api/runs/{runs[0]['runId']}").json()
    assert [f["name"] for f in detail["files"]] == ["app.py", "lib/util.py", "file2.code"]
    assert detail["files"][0]["content"] == "print(2)"


def test_memory_minus_one_means_the_plan_and_limits_are_the_plans(server: Server) -> None:
    key = create_user(server, "piston-user")
    set_plan(server, "free", time_limit_s=2.0)
    headers = {"Authorization": f"Bearer {key}"}
    status, _ = execute(server, hello(run_timeout=2000, run_memory_limit=-1), headers=headers)
    assert status == 200
    status, answer = execute(server, hello(run_timeout=2001), headers=headers)
    assert status == 400 and "2000" in str(answer["message"])
    bad = server.client.post(
        f"{P}/execute", content=json.dumps(hello()), headers={"Authorization": "Bearer wrong"}
    )
    assert bad.status_code == 401 and bad.json()["message"]


def test_quota_counts_piston_runs(server: Server) -> None:
    set_plan(server, "guest", daily_runs=2)
    assert execute(server, hello())[0] == 200
    assert execute(server, hello())[0] == 200
    response = server.client.post(f"{P}/execute", content=json.dumps(hello()))
    assert response.status_code == 429 and response.headers["Retry-After"]
    assert usage(server) == 2


# --- the npm client, unchanged, on the real sandbox ---------------------------------------------

CLIENT_SCRIPT = """
import piston from "piston-client";
const client = piston({ server: process.argv[2] });
const runtimes = await client.runtimes();
const py = await client.execute("python", "import sys\\nprint(sys.argv[1:])");
const c = await client.execute("c", '#include <stdio.h>\\nint main(){puts("from c");return 7;}');
const files = await client.execute({
  language: "java",
  files: [
    { name: "Main.java", content: "public class Main { public static void main(String[] a) "
      + "{ System.out.println(Helper.twice(21)); } }" },
    { name: "Helper.java", content: "class Helper { static int twice(int n) { return 2 * n; } }" },
  ],
  args: [],
});
console.log(JSON.stringify({ runtimes, py, c, files }));
"""


@pytest.fixture
def piston_client() -> Path:
    module = CLIENTS / "node_modules" / "piston-client"
    if not module.is_dir():  # never a skip: CI installs it (scripts/setup --test)
        pytest.fail(f"piston-client is not installed in {CLIENTS}: run scripts/setup --test")
    return CLIENTS


def test_piston_client_runs_programs_unchanged(
    start_server: StartServer, piston_client: Path
) -> None:
    server = start_server(backend="real")
    script = piston_client / "check.mjs"
    script.write_text(CLIENT_SCRIPT)
    done = subprocess.run(
        ["node", str(script), f"{server.url}/piston"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=piston_client,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert any(r["language"] == "python" for r in out["runtimes"])
    assert out["py"]["run"]["stdout"] == "['1', '2', '3']\n"  # the client's default args
    assert out["c"]["run"]["stdout"] == "from c\n" and out["c"]["run"]["code"] == 7
    assert out["c"]["run"]["status"] == "RE" and out["c"]["compile"]["code"] == 0
    assert out["files"]["run"]["stdout"] == "42\n", out["files"]
    assert server.client.get("/api/usage").json()["runsToday"] == 3
