"""`gridline anonymise --older-than DAYS`: forget who reported long-finished cases (and who wrote
messages that never became one), keeping what happened. See tickets/retention.py for what stays
and what goes, and why."""
from __future__ import annotations

import json
from datetime import timedelta

import click

from config import RETENTION_MIN_DAYS as MIN_DAYS

DAILY_KEY = "gridline:retention:{day}"   # Redis: one daily run across all workers


@click.command("anonymise")
@click.option("--older-than", "days", type=click.IntRange(min=MIN_DAYS), required=True,
              help=f"days since a finished case's last event (at least {MIN_DAYS}), e.g. 1095 for three years")
@click.option("--dry-run", is_flag=True, help="count what would be forgotten, change nothing")
@click.option("--json", "as_json", is_flag=True, help="print the counts as one JSON object")
def anonymise_command(days: int, dry_run: bool, as_json: bool) -> None:
    """Replace reporters' numbers with pseudonyms and mask the numbers in their words, for finished
    cases whose last event is older than DAYS. Statistics stay the same; STOP/退订 is kept."""
    from intake import context
    counts = anonymise(context.get(), days, dry_run, progress=not as_json)
    if as_json:
        click.echo(json.dumps(counts, ensure_ascii=False))
        return
    click.echo(("试运行，未改动：将" if dry_run else "已") +
               f"匿名 {days} 天前办结的案卷 {counts['cases']} 件，消息 {counts['messages']} 条、"
               f"发件 {counts['outbox']} 条、案卷记录 {counts['events']} 条、会话 {counts['conversations']} 个、"
               f"号码查看记录 {counts['audit_rows']} 条、Telegram 会话 {counts['telegram_chats']} 个、"
               f"语音文件 {counts['voice_files']} 个")


def daily(ctx, now=None) -> dict | None:
    """The worker's run (GRIDLINE_RETENTION_DAYS): once a local day across all workers, else None."""
    from tickets import clock
    from store.db import utcnow
    if not ctx.config.retention_days:
        return None
    day = clock.to_local(now or utcnow(), ctx.config.timezone).date().isoformat()
    key = DAILY_KEY.format(day=day)
    if not ctx.redis.set(key, "1", nx=True, ex=2 * 86400):
        return None
    try:
        return anonymise(ctx, ctx.config.retention_days)
    except Exception:
        ctx.redis.delete(key)       # the database was down: the next check tries again
        raise


def anonymise(ctx, days: int, dry_run: bool = False, progress: bool = False) -> dict:
    """Forget who reported what finished `days` ago (one transaction); the counts."""
    from collections import Counter

    from sqlalchemy import select
    from tqdm import tqdm

    from gateway.models import TelegramChat
    from intake import retention
    from store.db import utcnow
    from tickets.retention import chunks, due_cases, pseudonym
    from web.models import PhoneView
    now = utcnow()
    cutoff, key = now - timedelta(days=days), ctx.config.pseudonym_key()
    counts: Counter = Counter()
    addresses: set[str] = set()
    files: list = []
    with ctx.db.session() as s:         # one transaction: all of it, or (a failure, a dry run) none
        for part in tqdm(chunks(due_cases(s, cutoff)), desc="anonymising cases", unit="×500", disable=not progress):
            counts.update(retention.forget_cases(ctx, s, part, key, addresses, files))
        counts.update(retention.forget_loose(ctx, s, cutoff, key, now, addresses, files))
        counts["audit_rows"] = 0        # who looked at a number stays; the number becomes its pseudonym
        for part in chunks(addresses):
            for view in s.scalars(select(PhoneView).where(PhoneView.at < cutoff, PhoneView.phone.in_(part))):
                view.phone = pseudonym(key, view.phone)
                counts["audit_rows"] += 1
        counts["telegram_chats"] = 0    # the shared contact; a returning citizen shares it again
        for chat in s.scalars(select(TelegramChat).where(TelegramChat.updated_at < cutoff)):
            if chat.phone in addresses or str(chat.chat_id) in addresses:
                s.delete(chat)
                counts["telegram_chats"] += 1
        counts["voice_files"] = len(files)
        if dry_run:
            s.rollback()
        else:
            s.commit()
            for path in files:          # after the commit: a failed run deletes nothing
                path.unlink(missing_ok=True)
    summary = {"older_than_days": days, "dry_run": dry_run,
               **{k: counts[k] for k in ("cases", "messages", "outbox", "events", "conversations", "audit_rows",
                                         "telegram_chats", "voice_files")}}
    return summary
