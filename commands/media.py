"""`gridline fetch-media`: fetch the photos and voice messages the worker could not (the provider
was down, Redis was down, or the messages came before Gridline kept them), so the pages need no
provider when staff open them."""
from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import click


@click.command("fetch-media")
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True,
              help="messages received in the last N days")
@click.option("--json", "as_json", is_flag=True, help="print the summary as one JSON object")
def fetch_media_command(days: int, as_json: bool) -> None:
    """Fetch and keep every photo and voice message not kept yet. Stops at the first provider
    failure that may pass (down, slow): run it again later. Exit status 1 when something failed."""
    from sqlalchemy import select
    from tqdm import tqdm

    from intake import context, media
    from intake.models import InboundMessage
    from store.db import utcnow
    ctx = context.get()
    since = utcnow() - timedelta(days=days)
    with ctx.db.session() as s:      # the message ids and their media; the files are fetched after
        todo = [(mid, field, ref) for mid, meta in s.execute(
                    select(InboundMessage.id, InboundMessage.meta).where(InboundMessage.received_at >= since)
                    .order_by(InboundMessage.id)).yield_per(1000)
                for field, ref in media.fetchable_refs(ctx.config, meta)]
    counts, reasons = Counter(), Counter()
    for mid, field, ref in tqdm(todo, desc="fetching", unit="file", disable=as_json):
        if media.kept(ctx, ref, field):
            counts["already_kept"] += 1
            continue
        try:
            media.fetch(ctx, ref, field)
            counts["fetched"] += 1
        except media.Unavailable as exc:
            counts["failed"] += 1
            reasons[str(exc)] += 1
            if exc.transient:
                counts["stopped_early"] = 1
                break
    summary = {"files": len(todo), "fetched": counts["fetched"], "already_kept": counts["already_kept"],
               "failed": counts["failed"], "stopped_early": bool(counts["stopped_early"]), "reasons": dict(reasons)}
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))
    else:
        click.echo(f"{len(todo)} 个文件：取回 {summary['fetched']}，已有 {summary['already_kept']}，失败 {summary['failed']}"
                   + ("（服务暂不可用，已停止，请稍后再运行）" if summary["stopped_early"] else ""))
        for reason, n in reasons.most_common():
            click.echo(f"  {n} × {reason}")
    if counts["failed"]:
        raise SystemExit(1)
