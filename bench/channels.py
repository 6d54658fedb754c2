"""Channel benchmark: Telegram webhook intake, Telegram sends through one reused Bot (and, for
comparison, a new Bot per message), Open311 POSTs, and `import-calls` on a large CSV.
In-process (Flask test client), on a scratch SQLite database and a Redis. Not a test: it prints figures.

    python bench/channels.py                     # SQLite + an embedded Redis
    python bench/channels.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench \
                             --redis-url redis://127.0.0.1:6379/14
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN = "123456:BENCH"
PROBLEMS = ["东四北大街{n}号井盖丢了", "王府井大街{n}号有人占道经营", "交道口南大街{n}号路灯不亮"]


def fake_bot_api() -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            params = dict(urllib.parse.parse_qsl(raw.decode()))
            if self.path.endswith("/getMe"):
                result = {"id": 1, "is_bot": True, "first_name": "bench", "username": "bench_bot"}
            else:
                result = {"message_id": 1, "date": 0, "chat": {"id": int(params.get("chat_id", 1)), "type": "private"},
                          "text": params.get("text", "")}
            body = json.dumps({"ok": True, "result": result}).encode()
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)  # one write: no Nagle stall

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def pct(values: list[float], p: float) -> float:
    return sorted(values)[min(len(values) - 1, int(p * len(values)))]


def timed(label: str, n: int, fn) -> list[float]:
    lat = []
    t0 = time.perf_counter()
    for i in range(n):
        t1 = time.perf_counter()
        fn(i)
        lat.append((time.perf_counter() - t1) * 1000)
    wall = time.perf_counter() - t0
    print(f"{label:<44} {n:>6}  {n / wall:8.0f}/s   p50 {statistics.median(lat):6.2f} ms   p95 {pct(lat, .95):6.2f} ms")
    return lat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url")
    ap.add_argument("--redis-url")
    ap.add_argument("--updates", type=int, default=1000)
    ap.add_argument("--sends", type=int, default=300)
    ap.add_argument("--rows", type=int, default=5000)
    args = ap.parse_args()

    from app import create_app
    from config import Config
    from intake.context import Context, set_current
    from store.migrate import upgrade
    from store.redis_server import EmbeddedRedis

    tmp = Path(tempfile.mkdtemp(prefix="gridline-bench-"))
    embedded = None
    redis_url = args.redis_url
    if not redis_url:
        embedded = EmbeddedRedis(tmp / "redis")
        redis_url = embedded.start()
    db_url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    upgrade(db_url)
    server, bot_url = fake_bot_api()
    cfg = Config(var_dir=tmp, database_url=db_url, redis_url=redis_url, api_token="bench",
                 telegram_webhook_secret="s", telegram_bot_token=TOKEN, telegram_base_url=bot_url)
    ctx = Context(cfg).preload()
    set_current(ctx)
    from cli import load_demo_city
    load_demo_city(ctx)
    client = create_app(ctx).test_client()
    base = int(time.time())
    print(f"database: {db_url.split(':')[0]}   redis: {redis_url.split(':')[0]}")

    def update(i: int) -> None:
        body = {"update_id": base + i, "message": {"message_id": i, "date": 0,
                "from": {"id": 7000 + i % 50, "is_bot": False, "first_name": "市民"},
                "chat": {"id": 7000 + i % 50, "type": "private"}, "text": PROBLEMS[i % 3].format(n=i % 150 + 1)}}
        r = client.post("/telegram/webhook", json=body, headers={"X-Telegram-Bot-Api-Secret-Token": "s"})
        assert r.status_code == 200, r.get_data(as_text=True)
    timed("telegram webhook: store + 200", args.updates, update)

    def open311(i: int) -> None:
        form = {"api_key": "bench", "service_code": "01023", "lat": 39.93 + i % 10 / 1000, "long": 116.415,
                "description": f"井盖丢了 {i}"}
        r = client.post("/open311/v2/requests.json", data=urllib.parse.urlencode(form),
                        content_type="application/x-www-form-urlencoded")
        assert r.status_code == 200, r.get_data(as_text=True)
    timed("open311 POST requests.json", args.updates // 2, open311)

    from notify.telegram import TelegramBackend, backend_for
    msg = SimpleNamespace(to="7001", text="【网格通】您反映的问题已受理。", kind="ack")
    backend = backend_for(cfg)
    t0 = time.perf_counter()
    backend.send(msg)
    first_ms = (time.perf_counter() - t0) * 1000
    print(f"{'telegram send: first (Bot() + getMe + send)':<44} {1:>6}  {'':>10}   {first_ms:6.1f} ms")
    timed("telegram send: one reused Bot", args.sends, lambda i: backend.send(msg))

    def fresh(i: int) -> None:
        b = TelegramBackend(TOKEN, bot_url)
        b.send(msg)
        b.close()
    timed("telegram send: a new Bot per message", 30, fresh)
    server.shutdown()

    csv_path = tmp / "calls.csv"
    with open(csv_path, "w", encoding="utf-8") as f:
        f.write("caller,text,call_id,time\n")
        for i in range(args.rows):
            text = "" if i % 20 == 7 else PROBLEMS[i % 3].format(n=i % 150 + 1)
            f.write(f"+86139{i:08d},{text},bench-call-{i},2026-11-22 09:{i % 60:02d}\n")
    from gateway.hotline_import import import_calls_file
    for label in ("import-calls CSV (first run)", "import-calls CSV (same file again)"):
        t0 = time.perf_counter()
        s = import_calls_file(ctx, csv_path, show_progress=False)
        wall = time.perf_counter() - t0
        print(f"{label:<44} {s.records:>6}  {s.records / wall:8.0f}/s   accepted {s.accepted}, "
              f"duplicates {s.duplicates}, rejected {len(s.rejected)}, {wall:.1f} s")
    ctx.db.dispose()
    if embedded:
        embedded.stop()


if __name__ == "__main__":
    main()
