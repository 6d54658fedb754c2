"""Intake benchmark: POST transcripts to a running web app + worker, measure POST latency and the
rate from POST to dispatched case. Not a test: it prints figures.

    python bench/intake.py                                   # embedded defaults (SQLite + embedded Redis)
    python bench/intake.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test \
                           --redis-url redis://127.0.0.1:6379/14
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def post_paced(base: str, token: str, start: int, n: int, rate: float) -> list[float]:
    """POST n messages at `rate` per second; returns each request's latency in ms."""
    latencies: list[float] = []
    lock = threading.Lock()
    local = threading.local()

    def one(i: int, due: float) -> None:
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        session = getattr(local, "s", None) or requests.Session()
        local.s = session
        t0 = time.perf_counter()
        r = session.post(f"{base}/hotline/transcripts", json=message(i), headers={"Authorization": f"Bearer {token}"})
        ms = (time.perf_counter() - t0) * 1000
        assert r.status_code == 202, r.text
        with lock:
            latencies.append(ms)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=32) as pool:
        for k in range(n):
            pool.submit(one, start + k, t0 + k / rate if rate else t0)
    return latencies


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
    args = ap.parse_args()

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
    db = Database(db_url)
    if db_url.startswith("postgresql"):
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(db_url)
    subprocess.run([sys.executable, "-m", "cli", "load-demo"], cwd=ROOT, env=env, check=True, capture_output=True)
    import redis as redis_lib
    redis_lib.Redis.from_url(redis_url).flushdb()

    port = args.port or free_port()
    base = f"http://127.0.0.1:{port}"
    web = subprocess.Popen([sys.executable, "-c", f"from app import create_app; create_app().run(port={port}, "
                            "threaded=True)"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = [subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
               for _ in range(args.workers)]
    try:
        wait_http(f"{base}/healthz")
        time.sleep(3)  # the workers preload jieba and the grid index
        label = "PostgreSQL + Redis" if db_url.startswith("postgresql") else "SQLite + embedded Redis"
        print(f"backend: {label}; {args.workers} worker process(es)")

        n_lat = int(args.rate * args.seconds)
        lat = post_paced(base, "bench-token", 0, n_lat, args.rate)
        wait_processed(db, n_lat)
        print(f"POST latency at {args.rate:.0f} req/s over {n_lat} requests: p50 {pct(lat, 50):.1f} ms, "
              f"p99 {pct(lat, 99):.1f} ms, max {max(lat):.1f} ms")

        t0 = time.perf_counter()
        post_paced(base, "bench-token", n_lat, args.n, 0)
        posted = time.perf_counter()
        done = wait_processed(db, n_lat + args.n)
        print(f"throughput: {args.n} messages POST→dispatched case in {done - t0:.2f} s = "
              f"{args.n / (done - t0):.0f} msg/s (POSTs alone took {posted - t0:.2f} s = {args.n / (posted - t0):.0f}/s)")
        from intake.models import InboundMessage
        with db.session() as s:
            by_status = dict(s.execute(select(InboundMessage.status, func.count()).group_by(InboundMessage.status)).all())
        print(f"message outcomes: {by_status}")
    finally:
        web.terminate()
        for w in workers:
            w.terminate()
        db.dispose()
        if redis_server:
            redis_server.stop()


if __name__ == "__main__":
    main()
