"""Intake benchmark: POST transcripts to a running web app + worker, measure POST latency and the
rate from POST to processed message (a dispatched case, or triage). Not a test: it prints figures.

It starts what `gridline run` starts (gunicorn with one process of 8 threads, one worker.py), on a
fresh database, then: (1) POSTs at --rate requests/s for --seconds and reports the POST latency
percentiles; (2) POSTs -n messages as fast as 64 connections go and reports messages/s from the
first POST until the last message is processed. It prints the load average before and after:
on a shared machine the figures are only as good as the machine was idle.

    python bench/intake.py                                   # embedded defaults (SQLite + embedded Redis)
    python bench/intake.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench \
                           --redis-url redis://127.0.0.1:6379/14
The PostgreSQL database's public schema is dropped and made again: give it one of its own.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import requests
from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PLACES = ["东四北大街{n}号", "王府井大街{n}号", "交道口南大街{n}号", "朝阳门内大街{n}号", "雍和宫附近", "地坛公园门口"]
PROBLEMS = ["井盖丢了", "有暴露垃圾没人清理", "路灯不亮", "有人占道经营", "机动车乱停放堵路", "有小广告贴满墙",
            "烧烤油烟太大", "垃圾桶满了没人收", "道路破损有个大坑", "共享单车乱放"]


def message(i: int) -> dict:
    place = random.choice(PLACES).format(n=random.randint(1, 150))
    return {"caller": f"+86139{i:08d}", "text": f"{place}{random.choice(PROBLEMS)}", "call_id": f"bench-{i}"}


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:  # not up yet, or still preloading: try again
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def post_paced(base: str, token: str, start: int, n: int, rate: float, concurrency: int = 64) -> list[float]:
    """POST n messages at `rate` per second (0: as fast as possible); each request's latency in ms.

    One asyncio client with keep-alive connections: a thread per request would spend the CPU that
    the web app and the worker need on this 2-core machine.
    """
    async def run() -> list[float]:
        latencies: list[float] = []
        sem = asyncio.Semaphore(concurrency)
        headers = {"Authorization": f"Bearer {token}"}
        conn = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=conn) as session:
            t0 = time.perf_counter()

            async def one(k: int) -> None:
                if rate:
                    delay = t0 + k / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                async with sem:
                    t1 = time.perf_counter()
                    async with session.post(f"{base}/hotline/transcripts", json=message(start + k),
                                            headers=headers) as r:
                        await r.read()
                        assert r.status == 202, r.status
                    latencies.append((time.perf_counter() - t1) * 1000)

            await asyncio.gather(*(one(k) for k in range(n)))
        return latencies
    return asyncio.run(run())


def wait_processed(db, n_total: int, timeout: float = 600) -> float:
    from intake.models import InboundMessage
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session() as s:
            left = s.scalar(select(func.count(InboundMessage.id)).where(InboundMessage.status == "received"))
            total = s.scalar(select(func.count(InboundMessage.id)))
        if total >= n_total and left == 0:
            return time.perf_counter()
        time.sleep(0.05)
    raise RuntimeError("messages were not processed in time")


def cpu_seconds(procs: dict) -> dict[str, float]:
    """CPU seconds used so far by each named group of processes (with their children): where the
    time of a run went. Empty without psutil."""
    try:
        import psutil
    except ImportError:
        return {}
    used = {"bench client": time.process_time()}
    for name, popens in procs.items():
        total = 0.0
        for popen in popens:
            try:
                p = psutil.Process(popen.pid)
                for q in [p, *p.children(recursive=True)]:
                    t = q.cpu_times()
                    total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        used[name] = total
    return used


def cpu_note(before: dict, after: dict, n: int) -> str:
    return ", ".join(f"{k} {(after[k] - before[k]) / n * 1000:.2f} ms" for k in after if k in before)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url")
    ap.add_argument("--redis-url")
    ap.add_argument("-n", type=int, default=3000, help="messages for the throughput run")
    ap.add_argument("--rate", type=float, default=200, help="requests/s for the latency run")
    ap.add_argument("--seconds", type=float, default=10, help="length of the latency run")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--server", choices=["gunicorn", "flask"], default="gunicorn")
    ap.add_argument("--web-workers", type=int, default=1, help="gunicorn processes (gridline run: 1)")
    ap.add_argument("--threads", type=int, default=8, help="threads per gunicorn process (gridline run: 8)")
    args = ap.parse_args()

    from bench.pgdb import ensure_database
    from store.db import Database
    from store.migrate import upgrade
    from store.redis_server import EmbeddedRedis, free_port

    var = Path(tempfile.mkdtemp(prefix="gridline-bench-"))
    redis_server = None
    redis_url = args.redis_url
    if not redis_url:
        redis_server = EmbeddedRedis(var / "redis")
        redis_url = redis_server.start()
    db_url = args.database_url or f"sqlite:///{var / 'bench.db'}"
    env = dict(os.environ, DATABASE_URL=db_url, REDIS_URL=redis_url, GRIDLINE_VAR_DIR=str(var),
               GRIDLINE_API_TOKEN="bench-token")
    os.environ.update(env)
    db = Database(db_url)                        # connects on first use
    if db_url.startswith("postgresql"):
        ensure_database(db_url)
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(db_url)
    subprocess.run([sys.executable, "-m", "cli", "load-demo"], cwd=ROOT, env=env, check=True, capture_output=True)
    import redis as redis_lib
    redis_lib.Redis.from_url(redis_url).flushdb()

    port = args.port or free_port()
    base = f"http://127.0.0.1:{port}"
    if args.server == "gunicorn":  # what `gridline run` starts
        cmd = [sys.executable, "-m", "gunicorn", "-w", str(args.web_workers), "-k", "gthread", "--threads",
               str(args.threads), "-b", f"127.0.0.1:{port}", "app:create_app()"]
        web_label = f"gunicorn {args.web_workers} process(es) x {args.threads} threads"
    else:  # Flask's own threaded server, for comparison
        cmd = [sys.executable, "-c", f"from app import create_app; create_app().run(port={port}, threaded=True)"]
        web_label = "Flask's own server"
    web = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = [subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
               for _ in range(args.workers)]
    try:
        wait_http(f"{base}/healthz")
        time.sleep(3)  # the workers preload jieba and the grid index
        label = "PostgreSQL + Redis" if db_url.startswith("postgresql") else "SQLite + embedded Redis"
        print(f"backend: {label}; web: {web_label}; {args.workers} worker process(es); "
              f"{os.cpu_count()} cores, load average {load()} at the start")

        procs = {"web": [web], "worker": workers}
        warm = int(args.rate)  # a second of traffic first: first requests compile statements, fill caches
        post_paced(base, "bench-token", 0, warm, args.rate)
        n_lat = int(args.rate * args.seconds)
        cpu0 = cpu_seconds(procs)
        lat = post_paced(base, "bench-token", warm, n_lat, args.rate)
        wait_processed(db, warm + n_lat)
        cpu1 = cpu_seconds(procs)
        print(f"POST latency at {args.rate:.0f} req/s over {n_lat} requests (after {warm} to warm up): "
              f"p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms, max {max(lat):.1f} ms")
        if cpu1:
            print(f"  CPU per message: {cpu_note(cpu0, cpu1, n_lat)}")

        cpu0 = cpu_seconds(procs)
        t0 = time.perf_counter()
        post_paced(base, "bench-token", warm + n_lat, args.n, 0)
        posted = time.perf_counter()
        done = wait_processed(db, warm + n_lat + args.n)
        cpu1 = cpu_seconds(procs)
        print(f"throughput: {args.n} messages POST→processed in {done - t0:.2f} s = "
              f"{args.n / (done - t0):.0f} msg/s (POSTs alone took {posted - t0:.2f} s = {args.n / (posted - t0):.0f}/s)")
        if cpu1:
            print(f"  CPU per message: {cpu_note(cpu0, cpu1, args.n)}")
        from intake.models import InboundMessage
        with db.session() as s:
            by_status = dict(s.execute(select(InboundMessage.status, func.count()).group_by(InboundMessage.status)).all())
        print(f"message outcomes: {by_status} (done: case dispatched); load average {load()} at the end")
    finally:
        for proc in (web, *workers):
            proc.terminate()
        for proc in (web, *workers):  # before Redis stops: a worker left behind would retry it forever
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        db.dispose()
        if redis_server:
            redis_server.stop()


if __name__ == "__main__":
    main()
