"""Concurrent SSE answer streams against the ASGI server, one and two web processes.

    .venv/bin/python bench/streams.py [--levels 25,50,100,200] [--workers 1,2]
        [--modes extractive,model] [--tokens-per-second 30]

What runs, as production runs it (Dockerfile): `uvicorn config.asgi:application --workers W`
on one port, DEBUG off, the Celery broker on Redis (CELERY_BROKER_URL, default
redis://127.0.0.1:6379/15 with the key prefix bench-streams:), and PostgreSQL. The benchmark
starts its own local PostgreSQL server under .data/bench-streams (DOCENT_DATA_DIR), because
every open stream holds a database connection (see the README) and 200 streams would take every
connection of a server shared with other work; it raises that server's max_connections.

Modes: `extractive` (no model configured: the best passages, cited) and `model` (manual
retrieval through the fake OpenAI server of tests/fakes, pacing its stream at
--tokens-per-second, one SSE event per word or punctuation mark).

For each level N, N clients POST /api/corpora/<slug>/ask with `stream: true` at once (httpx,
one connection each), each with its own question, and read the events to the end. Reported:
time to the first `delta` p50/p95, errors (a non-200, an `error` event, a stream without
`done`), and, while every stream of the level is open, the web processes' memory and the
database's connections beyond the idle baseline, per open stream. With two workers, a sample
of answers is also followed (GET .../messages/<id>/events) on new connections, which the
kernel spreads over both processes: each must replay the whole answer, whichever process
wrote it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time

from _setup import ROOT, median, percentile

SLUG = "bench-streams"
DOCS = {
    "travel.md": "# Travel\n\nMeal expenses are reimbursed up to 45 euros per day abroad.\n"
    "Receipts must be uploaded within thirty days of the end of the trip. Train travel is "
    "second class unless the journey takes more than four hours.\n",
    "cars.md": "# Cars\n\nCompany cars are leased for four years. Private use is taxed as a "
    "benefit in kind at one percent of the list price per month.\n",
    "leave.md": "# Leave\n\nFull-time staff get 28 days of paid leave a year; part-timers get "
    "the same number of weeks, pro rata. Unused days lapse at the end of March.\n",
}
QUESTIONS = [
    "How much is the meal allowance abroad?",
    "When must receipts be uploaded?",
    "How long are company cars leased?",
    "How is private use of a company car taxed?",
    "How many days of leave do full-time staff get?",
    "What happens to unused leave days?",
    "Which class is train travel?",
    "Do part-timers get leave?",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_database(data_dir: str, max_connections: int) -> None:
    """The benchmark's own local server, with room for a connection per stream."""
    from pathlib import Path

    import psycopg

    from config import localdb

    pgdata = Path(data_dir) / "postgres"
    server = localdb.ensure_server(data_dir=pgdata, database=os.environ["LOCAL_DATABASE_NAME"])
    with psycopg.connect(host=server.host, port=server.port, user="postgres", dbname="postgres",
                         autocommit=True) as conn:  # fmt: skip
        current = int(conn.execute("SHOW max_connections").fetchone()[0])
        if current < max_connections:
            conn.execute(f"ALTER SYSTEM SET max_connections = {int(max_connections)}")
    if current < max_connections:
        localdb.stop(data_dir=pgdata)
        localdb._server(pgdata).ensure_postgres_running()


def set_up_corpus() -> str:
    """The corpus, ingested once, and a fresh query token for it; returns the token."""
    import io

    from django.contrib.auth.models import User

    from api.scopes import scopes_parse
    from api.services import token_create
    from documents import services
    from documents.models import Corpus

    corpus = Corpus.objects.filter(slug=SLUG).first()
    if corpus is None:
        corpus = services.corpus_create(name="Streams benchmark", slug=SLUG)
        for name, text in DOCS.items():
            outcome = services.document_upload(
                corpus=corpus, file=io.BytesIO(text.encode()), filename=name
            )
            services.document_ingest(document_id=outcome.document.pk)
    user, _ = User.objects.get_or_create(username="bench-streams", defaults={"is_superuser": True})
    _, plaintext = token_create(user=user, name="streams benchmark",
                                scopes=scopes_parse([f"{SLUG}:query"]))  # fmt: skip
    return plaintext


class Server:
    """uvicorn as the Dockerfile runs it, with this benchmark's environment."""

    def __init__(self, *, workers: int, env: dict[str, str]) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(workers), "--log-level", "warning",
             "--no-access-log", "--timeout-graceful-shutdown", "5"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"

    def wait(self) -> None:
        import httpx

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise SystemExit("the web server did not start")

    def memory_mb(self) -> float:
        """Unique memory of the web processes (the uvicorn supervisor and its workers)."""
        import psutil

        parent = psutil.Process(self.process.pid)
        total = 0
        for proc in [parent, *parent.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_full_info().uss
        return total / 2**20

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def database_load() -> tuple[int, float]:
    """Connections to the benchmark database and the unique memory of their server processes."""
    import psutil
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        pids = [row[0] for row in cursor.fetchall()]
    total = 0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            total += psutil.Process(pid).memory_full_info().uss
    return len(pids), total / 2**20


async def one_stream(client, url: str, token: str, question: str, result: dict) -> None:
    started = time.perf_counter()
    try:
        async with client.stream(
            "POST", f"{url}/api/corpora/{SLUG}/ask",
            json={"question": question, "stream": True},
            headers={"Authorization": f"Bearer {token}"},
        ) as response:  # fmt: skip
            if response.status_code != 200:
                result["error"] = f"HTTP {response.status_code}"
                return
            event = None
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                    if event == "start":
                        result["message_id"] = data.get("message_id")
                        result["conversation_id"] = data.get("conversation_id")
                        result["started"].set()
                    elif event == "delta" and "first" not in result:
                        result["first"] = time.perf_counter() - started
                        result["open"].set()
                    elif event == "done":
                        result["done"] = time.perf_counter() - started
                        result["answer"] = data.get("answer")
                    elif event == "error":
                        result["error"] = data.get("message") or "error event"
        if "done" not in result and "error" not in result:
            result["error"] = "stream ended without done"
    except Exception as error:  # every failure is counted
        result["error"] = f"{error.__class__.__name__}: {error}"
    finally:
        result["open"].set()
        result["started"].set()
        result["closed"] = True


async def follow(client, url: str, token: str, result: dict) -> str | None:
    """The answer as another connection (maybe another process) replays it, while it is written."""
    await result["started"].wait()
    if not result.get("message_id"):
        return None
    answer = None
    async with client.stream(
        "GET",
        f"{url}/api/conversations/{result['conversation_id']}/messages/{result['message_id']}"
        "/stream",
        headers={"Authorization": f"Bearer {token}"},
    ) as response:  # fmt: skip
        event = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "done":
                answer = json.loads(line[6:]).get("answer")
    return answer


async def run_level(server: Server, token: str, n: int, *, check_follow: int = 0) -> dict:
    import httpx

    limits = httpx.Limits(max_connections=n + 50, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(120)) as client:
        base_memory = server.memory_mb()
        base_connections, base_db_memory = await asyncio.to_thread(database_load)
        results = [{"open": asyncio.Event(), "started": asyncio.Event()} for _ in range(n)]
        tasks = [
            asyncio.create_task(one_stream(client, server.url, token,
                                           f"{QUESTIONS[i % len(QUESTIONS)]} ({i})", results[i]))
            for i in range(n)
        ]  # fmt: skip
        follows = [asyncio.create_task(follow(client, server.url, token, results[i]))
                   for i in range(min(check_follow, n))]  # fmt: skip
        peak = {"open": 0, "memory": base_memory, "connections": base_connections,
                "db_memory": base_db_memory}  # fmt: skip

        async def sample() -> None:
            # The moment most streams are open at once (their answer started, not ended).
            while not all(r.get("closed") for r in results):
                still_open = sum(1 for r in results
                                 if r["started"].is_set() and not r.get("closed"))  # fmt: skip
                if still_open > peak["open"]:
                    connections, db_memory = await asyncio.to_thread(database_load)
                    peak.update(open=still_open, memory=server.memory_mb(),
                                connections=connections, db_memory=db_memory)  # fmt: skip
                await asyncio.sleep(0.25)

        sampler = asyncio.create_task(sample())
        await asyncio.gather(*tasks)
        await sampler
        replays = await asyncio.gather(*follows, return_exceptions=True)
        followed = len(replays)
        mismatched = sum(replay != results[i].get("answer") for i, replay in enumerate(replays))
    firsts = [r["first"] * 1000 for r in results if "first" in r]
    errors = [r["error"] for r in results if "error" in r]
    return {
        "n": n,
        "p50": median(firsts),
        "p95": percentile(firsts, 95),
        "total_p50": median([r["done"] * 1000 for r in results if "done" in r]),
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
        "open": peak["open"],
        "web_mb_per_stream": (peak["memory"] - base_memory) / peak["open"]
        if peak["open"]
        else None,
        "db_connections": peak["connections"] - base_connections,
        "db_mb_per_stream": (peak["db_memory"] - base_db_memory) / peak["open"]
        if peak["open"]
        else None,
        "followed": followed,
        "follow_mismatched": mismatched,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="25,50,100,200")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--modes", default="extractive,model")
    parser.add_argument("--tokens-per-second", type=float, default=30)
    parser.add_argument("--max-connections", type=int, default=600)
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]

    os.environ.setdefault("DOCENT_DATA_DIR", str(ROOT / ".data" / "bench-streams"))
    os.environ.setdefault("LOCAL_DATABASE_NAME", "docent_bench_streams")
    os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
    os.environ.setdefault("CELERY_BROKER_KEY_PREFIX", "bench-streams:")
    os.environ["API_RATE_LIMIT_PER_MINUTE"] = "0"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    prepare_database(os.environ["DOCENT_DATA_DIR"], args.max_connections)
    from _setup import django_setup

    django_setup()
    token = set_up_corpus()
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai_server", "--port", "0",
         "--tokens-per-second", str(args.tokens_per_second)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    fake_url = fake.stdout.readline().strip()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    rows = []
    try:
        for mode in args.modes.split(","):
            for workers in [int(x) for x in args.workers.split(",")]:
                env = dict(os.environ)
                for name in ("DATABASE_URL", "LOCAL_DATABASE_HOST", "LOCAL_DATABASE_PORT"):
                    env.pop(name, None)
                if mode == "model":
                    env.update(CHAT_COMPLETIONS_BASE_URL=fake_url, CHAT_COMPLETIONS_API_KEY="test",
                               CHAT_COMPLETIONS_MODEL="fake-chat")  # fmt: skip
                else:
                    for name in ("CHAT_COMPLETIONS_BASE_URL", "CHAT_COMPLETIONS_MODEL"):
                        env.pop(name, None)
                server = Server(workers=workers, env=env)
                try:
                    server.wait()
                    # Each worker loads the embedding model on its first question; connections
                    # are spread over the workers unevenly, so warm up until a round is quick.
                    for _ in range(5):
                        warm = asyncio.run(run_level(server, token, 4 * workers))
                        if warm["p95"] < 3 * max(warm["p50"], 100):
                            break
                    for n in levels:
                        row = asyncio.run(
                            run_level(server, token, n, check_follow=20 if workers > 1 else 0)
                        )
                        row.update(mode=mode, workers=workers, load=os.getloadavg()[0])
                        rows.append(row)
                        print(json.dumps(row), flush=True)
                finally:
                    server.stop()
    finally:
        fake.terminate()
    print("\n| mode | web processes | streams | first token p50 | p95 | errors | answer p50 "
          "| most open at once | web MB / open stream | DB connections | DB MB / open stream "
          "| load |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        web = f"{r['web_mb_per_stream']:.2f}" if r["web_mb_per_stream"] is not None else "-"
        db = f"{r['db_mb_per_stream']:.2f}" if r["db_mb_per_stream"] is not None else "-"
        print(f"| {r['mode']} | {r['workers']} | {r['n']} | {r['p50']:.0f} ms | {r['p95']:.0f} ms "
              f"| {r['errors']} | {r['total_p50']:.0f} ms | {r['open']} | {web} "
              f"| {r['db_connections']} | {db} | {r['load']:.1f} |")  # fmt: skip
    for r in rows:
        if r["followed"]:
            print(
                f"{r['mode']}, {r['workers']} processes, {r['n']} streams: {r['followed']} "
                f"answers followed on new connections, {r['follow_mismatched']} differed"
            )
        if r["errors"]:
            print(f"{r['mode']}, {r['workers']}, {r['n']}: first error: {r['first_error']}")
    for mode in args.modes.split(","):
        for workers in [int(x) for x in args.workers.split(",")]:
            held = [r["n"] for r in rows if r["mode"] == mode and r["workers"] == workers
                    and r["p95"] <= 1000 and not r["errors"]]  # fmt: skip
            print(
                f"{mode}, {workers} web process(es): most streams with first-token p95 <= 1 s "
                f"and no errors: {max(held) if held else 'fewer than ' + str(levels[0])}"
            )


if __name__ == "__main__":
    main()
