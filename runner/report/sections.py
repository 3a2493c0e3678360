"""The report's HTML blocks around the pictures: the header, the summary cards, the
slowest executions, the failures and the cost estimate."""

from __future__ import annotations

from datetime import datetime, timezone

from runner.report.figures import CostEstimate, Figures
from runner.report.model import Result, RunData
from runner.report.svg import RESULT_COLOURS, RESULT_LABELS, esc, fmt_seconds, plural


def utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_money(value: float, currency: str) -> str:
    """`$0.042`, `$12.50`, `3.10 EUR`: more decimals for small amounts."""
    digits = 2 if value >= 1 else 3 if value >= 0.1 else 4
    amount = f"{value:,.{digits}f}"
    return f"${amount}" if currency == "USD" else f"{amount} {currency}"


def results_sentence(figures: Figures) -> str:
    """`14 tasks: 12 succeeded, 1 failed, 1 blocked`."""
    counts = [
        f"{figures.tasks_by_result[r]} {RESULT_LABELS[r]}"
        for r in Result
        if figures.tasks_by_result.get(r)
    ]
    return plural(figures.tasks, "task") + (": " + ", ".join(counts) if counts else "")


def header(run: RunData, figures: Figures) -> str:
    bad = any(
        figures.tasks_by_result.get(r) for r in (Result.FAILURE, Result.BLOCKED, Result.PREEMPTED)
    )
    return (
        f'<header><h1>{esc(run.workflow)}<span class="run">run {esc(run.run_id)}</span></h1>'
        f'<p class="meta">pool <span class="mono">{esc(run.pool_id)}</span> \u00b7 {esc(run.vm_size)} '
        f"\u00b7 {plural(run.slots_per_node, 'task slot')} per node \u00b7 "
        f"{utc(run.started)} to {utc(run.ended)}</p>"
        f'<p class="verdict {"bad" if bad else "ok"}">{esc(results_sentence(figures))}</p></header>'
    )


def cards(figures: Figures) -> str:
    """The summary: one card per figure."""
    extra = [
        plural(figures.retries, "retry", "retries"),
        plural(figures.requeues, "requeue"),
        plural(figures.executions, "execution"),
    ]
    utilisation = "n/a" if figures.utilisation is None else f"{figures.utilisation:.0%}"
    median = "n/a" if figures.queue_wait_median is None else fmt_seconds(figures.queue_wait_median)
    longest = (
        "" if figures.queue_wait_max is None else f"longest {fmt_seconds(figures.queue_wait_max)}"
    )
    items = [
        ("Wall time", fmt_seconds(figures.wall_seconds), "from the run's start to its end"),
        ("Tasks", str(figures.tasks), " \u00b7 ".join(extra)),
        (
            "Node-hours",
            f"{figures.node_hours:.2f}",
            f"{figures.node_hours_dedicated:.2f} dedicated \u00b7 {figures.node_hours_spot:.2f} spot",
        ),
        (
            "Slot utilisation",
            utilisation,
            f"{figures.busy_slot_hours:.2f} of {figures.available_slot_hours:.2f} slot-hours busy",
        ),
        ("Queue wait (median)", median, longest),
    ]
    parts = ['<section class="cards">']
    parts += [
        f'<div class="card"><div class="k">{k}</div><div class="v">{esc(v)}</div><div class="s">{esc(s)}</div></div>'
        for k, v, s in items
    ]
    parts.append(_cost_card(figures.cost, figures.cost_note))
    parts.append("</section>")
    return "".join(parts)


def _cost_card(cost: CostEstimate | None, note: str) -> str:
    value = "n/a" if cost is None else "\u2248 " + fmt_money(cost.total, cost.quote.currency)
    sub = "see the cost estimate below" if cost is not None else note
    return (
        '<div class="card"><div class="k">Cost<span class="estimate">estimate</span></div>'
        f'<div class="v">{esc(value)}</div><div class="s">{esc(sub)}</div></div>'
    )


def chip(result: Result) -> str:
    return f'<span class="chip" style="background:{RESULT_COLOURS[result]}">{RESULT_LABELS[result]}</span>'


def slowest_table(run: RunData, figures: Figures) -> str:
    if not figures.slowest:
        return '<p class="empty">No execution both started and ended.</p>'
    longest = max(e.duration or 0.0 for e in figures.slowest) or 1.0
    head = (
        ["#", "task"]
        + (["step"] if run.has_steps else [])
        + ["node", "duration", "", "exit", "result"]
    )
    rows = []
    for rank, e in enumerate(figures.slowest, start=1):
        duration = e.duration or 0.0
        attempt = f" (attempt {e.retry + 1})" if e.retry else ""
        cells = [
            f'<td class="num">{rank}</td>',
            f'<td class="mono id">{esc(e.task_id)}{attempt}</td>',
        ]
        if run.has_steps:
            cells.append(f"<td>{esc(e.step or '')}</td>")
        cells += [
            f'<td class="mono id">{esc(e.node_id or "")}</td>',
            f'<td class="num">{fmt_seconds(duration)}</td>',
            f'<td style="width:18%"><div class="durbar" style="width:{duration / longest:.1%}"></div></td>',
            f'<td class="num">{"" if e.exit_code is None else e.exit_code}</td>',
            f"<td>{chip(e.result)}</td>",
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return _table(head, rows)


def failures_table(figures: Figures) -> str:
    if not figures.failures:
        return '<p class="empty">No execution failed.</p>'
    rows = [
        "<tr>"
        f'<td class="mono id">{esc(f.task_id)}</td><td class="num">{f.retry + 1}</td>'
        f'<td class="mono id">{esc(f.node_id or "")}</td>'
        f'<td class="num">{"" if f.exit_code is None else f.exit_code}</td>'
        f'<td class="mono">{esc(f.reason)}</td><td>{"retried" if f.retried else "final"}</td>'
        "</tr>"
        for f in figures.failures
    ]
    return _table(["task", "attempt", "node", "exit", "reason", ""], rows)


def cost_section(figures: Figures) -> str:
    cost = figures.cost
    if cost is None:
        return f'<p class="empty">No estimate: {esc(figures.cost_note)}.</p>'
    quote = cost.quote
    money = fmt_money
    lines = [
        f"<tr><td>dedicated</td><td class='num'>{figures.node_hours_dedicated:.3f} node-hours</td>"
        f"<td class='num'>\u00d7 {money(quote.dedicated, quote.currency)}</td>"
        f"<td class='num'>{money(cost.dedicated, quote.currency)}</td></tr>",
        f"<tr><td>spot</td><td class='num'>{figures.node_hours_spot:.3f} node-hours</td>"
        f"<td class='num'>\u00d7 {money(quote.spot, quote.currency)}</td>"
        f"<td class='num'>{money(cost.spot, quote.currency)}</td></tr>",
        f"<tr><th>total</th><td></td><td></td><th class='num'>\u2248 {money(cost.total, quote.currency)}</th></tr>",
    ]
    return (
        _table(["", "used", "price per node-hour", "cost"], lines)
        + f'<p class="note">Prices: {esc(quote.source)}. This is an estimate from node-hours and list '
        "prices, not a bill: discounts, reservations, disks, network and storage are not counted.</p>"
    )


def _table(head: list[str], rows: list[str]) -> str:
    heading = "".join(
        f'<th class="num">{esc(h)}</th>'
        if h in ("#", "duration", "exit", "attempt")
        else f"<th>{esc(h)}</th>"
        for h in head
    )
    return f'<div class="scroll"><table><thead><tr>{heading}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
