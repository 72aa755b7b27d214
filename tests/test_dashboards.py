"""Grafana's provisioning and dashboards (infra/grafana), checked without Grafana: after a
real pipeline run, every panel's query parses and returns data, in a real Prometheus
(fed through a real Pushgateway, with infra/prometheus's recording rules) for the
Prometheus panels and in the pipeline's PostgreSQL for the SQL ones."""

from __future__ import annotations

import json
import multiprocessing
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from logpipe import cron, db, metrics
from logpipe.ingest import Context
from logpipe.metrics import push
from logpipe.queue import ingest_queue

import prom
from conftest import ROOT, Api, settings_env
from test_metrics import _all_done, _upload_files

GRAFANA = ROOT / "infra" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
RULES = ROOT / "infra" / "prometheus" / "rules.yml"
# Grafana's macros that the SQL panels use, as Grafana expands them for the range shown.
TIME_FILTER = re.compile(r"\$__timeFilter\(([^)]+)\)")
RANGE = ("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z")


def panels() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            yield path.name, panel


def expand_sql(sql: str) -> str:
    out = TIME_FILTER.sub(lambda m: f"{m.group(1)} BETWEEN '{RANGE[0]}' AND '{RANGE[1]}'", sql)
    assert "$" not in out, f"a Grafana macro or variable the test does not know: {out}"
    return out


def test_provisioning_names_every_data_source_the_panels_use() -> None:
    sources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "logpipe.yml").read_text())["datasources"]
    by_uid = {s["uid"]: s["type"] for s in sources}
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "logpipe.yml").read_text())["providers"]
    assert [p["options"]["path"] for p in providers] == ["/var/lib/grafana/dashboards"]  # compose mounts it there
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids)) == 5
    for name, panel in panels():
        for target in panel["targets"]:
            ds = target["datasource"]
            assert by_uid.get(ds["uid"]) == ds["type"] == panel["datasource"]["type"], (name, panel["title"])
            assert ("expr" in target) == (ds["type"] == "prometheus"), (name, panel["title"])


def _workers(env: dict[str, str], n: int) -> list[multiprocessing.process.BaseProcess]:
    from logpipe_local.consumer import run_worker

    spawn = multiprocessing.get_context("spawn")
    procs = [spawn.Process(target=run_worker, args=("parse-worker", env), daemon=True) for _ in range(n)]
    for p in procs:
        p.start()
    return procs


def _push(settings: Any, gateway: str, prometheus: str) -> None:
    """A rollup-cron run, then until Prometheus has scraped what it pushed."""
    ctx = Context(settings)
    try:
        assert cron.run(ctx, budget_s=60).pushed_groups == 2
    finally:
        ctx.close()
    pushed_at = min(t for labels, t in push.groups(gateway) if labels.get("stack") == settings.stack)
    prom.wait_for(prometheus, f'min(push_time_seconds{{stack="{settings.stack}"}})', pushed_at)


def test_every_panel_returns_data_after_a_pipeline_run(make_api: Callable[..., Api], tmp_path: Path) -> None:
    api = make_api(chunk_bytes=16384, batch_rows=200)
    _upload_files(api, 3, 1500)
    api.upload("binary.bin", b"\x00\x01\x02 not a log\n" * 50)  # a file that fails
    ingest_queue(api.settings).send(['{"kind": "mystery"}'])  # a message that is dead-lettered
    env = {**settings_env(api.settings), "LOGPIPE_LOG_LEVEL": "WARNING"}
    workers = _workers(env, 2)
    try:
        _all_done(api.settings, 3)
        # What the github-webhook function counts, through the same module.
        metrics.webhook_delivery("push", "accepted")
        metrics.webhook_delivery("workflow_run", "accepted")
        metrics.webhook_delivery("push", "bad_signature")
        conn = db.connect(api.settings)
        try:
            metrics.report(conn)
        finally:
            conn.close()

        with prom.pushgateway(tmp_path) as gateway:
            config = prom.scrape_config("pushgateway", gateway.removeprefix("http://"))
            config += f"rule_files:\n  - {RULES}\n"
            with prom.prometheus(tmp_path, config) as prometheus:
                settings = replace(api.settings, pushgateway_url=gateway, stack="dashboards")
                _push(settings, gateway, prometheus)
                _upload_files(api, 1, 1500)  # more work between two pushes: rates that are not 0
                _all_done(api.settings, 4)
                metrics.webhook_delivery("push", "accepted")
                _push(settings, gateway, prometheus)
                prom.wait_for(prometheus, 'logpipe:parsed_lines:rate5m{stack="dashboards"}', 0.001)
                prom.wait_for(prometheus, 'count(logpipe:invocation_duration_seconds:p95_5m{stack="dashboards"})', 1)

                checked = []
                for name, panel in panels():
                    found = 0
                    for target in panel["targets"]:
                        if "expr" in target:
                            found += len(prom.query(prometheus, target["expr"]))
                        else:
                            found += _sql_rows(api, target)
                    assert found, f"{name}: the panel {panel['title']!r} returned no data"
                    checked.append(panel["title"])
                assert len(checked) == sum(1 for _ in panels()) >= 20
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.join(60)


def _sql_rows(api: Api, target: dict[str, Any]) -> int:
    conn = db.connect(api.settings)
    try:
        rows = conn.run(expand_sql(target["rawSql"]))
        columns = [c["name"] for c in conn.columns]
    finally:
        conn.close()
    if target["format"] == "time_series":
        assert columns[0] == "time" and "value" in columns, columns
    return len(rows)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_sql_panels_read_only_the_rollups(path: Path) -> None:
    for panel in json.loads(path.read_text())["panels"]:
        for target in panel["targets"]:
            sql = target.get("rawSql", "")
            assert not re.search(r"\bFROM\s+events\b", sql, re.IGNORECASE), "panels read rollups, not events"
