"""The Prometheus textfile of usage: hand-computed samples, promtool's checks, the
example alerting rules run by ``promtool test rules`` on the textfile's own series."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from humgen_storage.config import DatabaseConfig
from humgen_storage.db import open_database
from humgen_storage.feeds import rows
from humgen_storage.feeds.prometheus import usage_textfile, write_prometheus
from humgen_storage.feeds.rows import GroupUsage
from tests.feeds.data import DAY, LONG_GROUP, database_url, fill
from tests.helpers import REPO

RULES = REPO / "fixtures" / "prometheus" / "usage-alerts.yml"


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: tests/services/install.sh installs Debian's prometheus"
    return path


def textfile_of(tmp_path: Path) -> tuple[str, int]:
    url = database_url(tmp_path)
    fill(url)
    with open_database(DatabaseConfig(url=url)) as db:
        text = usage_textfile(DAY, rows.group_usage(db, DAY), rows.forecasts(db, DAY))
        ((used,),) = db.query(
            "SELECT SUM(`Used (bytes)`) FROM `lustre_usage` WHERE `date` = %s", (DAY.isoformat(),)
        )
    return text, int(used)


def samples(text: str) -> dict[str, float]:
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_the_samples_are_the_hand_computed_figures(tmp_path: Path) -> None:
    text, _ = textfile_of(tmp_path)
    s = samples(text)
    hgi118 = 'volume="scratch118",group="hgi",pi="Smith"'
    hgi115 = 'volume="scratch115",group="hgi",pi="Smith"'
    carol = 'volume="scratch118",group="carol",pi="Carol"'
    assert s["humgen_storage_usage_date_timestamp_seconds"] == 1_795_132_800
    assert s[f"humgen_storage_group_used_bytes{{{hgi118}}}"] == 10_000_000
    assert s[f"humgen_storage_group_quota_bytes{{{hgi118}}}"] == 20_000_000
    assert s[f"humgen_storage_group_used_files{{{hgi118}}}"] == 30
    assert s[f"humgen_storage_group_quota_files{{{hgi118}}}"] == 1000
    # 20.5 days, 3 days, full.
    assert s[f'humgen_storage_group_full_in_seconds{{{hgi118},measure="bytes"}}'] == 1_771_200
    assert s[f'humgen_storage_group_full_in_seconds{{{carol},measure="bytes"}}'] == 259_200
    assert s[f'humgen_storage_group_full_in_seconds{{{hgi115},measure="bytes"}}'] == 0
    assert s[f'humgen_storage_group_forecast_status{{{hgi118},measure="inodes",status="ok"}}'] == 1
    # No limit (0) and a failed look-up (NULL) have no quota series; no number, no days.
    assert not [k for k in s if "quota_" in k and ("carol" in k or LONG_GROUP in k)]
    assert f'humgen_storage_group_full_in_seconds{{{hgi118},measure="inodes"}}' not in s
    assert len([k for k in s if k.startswith("humgen_storage_group_forecast_status")]) == 5


def test_the_used_bytes_are_the_databases_total(tmp_path: Path) -> None:
    text, used = textfile_of(tmp_path)
    total = sum(
        v for k, v in samples(text).items() if k.startswith("humgen_storage_group_used_bytes")
    )
    assert total == used == 11_007_049


def test_promtool_check_metrics_passes(tmp_path: Path) -> None:
    text, _ = textfile_of(tmp_path)
    path = tmp_path / "prom" / "usage.prom"
    write_prometheus(path, text)
    assert path.read_text(encoding="utf-8") == text
    result = subprocess.run(
        [promtool(), "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == ""  # not even a naming-convention lint


def test_label_values_are_escaped() -> None:
    group = GroupUsage('we"ird\\na\nme', "g", None, 1, None, None, None, None)
    text = usage_textfile(DAY, [group], [])
    assert 'volume="we\\"ird\\\\na\\nme"' in text
    result = subprocess.run(
        [promtool(), "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


_SAMPLE = re.compile(r"^(?P<series>\S+) (?P<value>\S+)$")


def test_the_example_alerting_rules_fire_on_the_textfiles_series(tmp_path: Path) -> None:
    text, _ = textfile_of(tmp_path)
    series = [
        {"series": m["series"], "values": f"{m['value']}x20"}
        for line in text.splitlines()
        if (m := _SAMPLE.match(line))
        and not line.startswith("#")
        and not m["series"].startswith("humgen_storage_usage_date")
    ]
    full = {"severity": "critical", "volume": "scratch115", "group": "hgi", "pi": "Smith"}
    full |= {"measure": "bytes", "status": "full"}
    soon = {"severity": "warning", "volume": "scratch118", "group": "carol", "pi": "Carol"}
    soon |= {"measure": "bytes"}
    stale_date = {"series": "humgen_storage_usage_date_timestamp_seconds", "values": "0x80"}
    tests = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {
                        "eval_time": "5m",
                        "alertname": "HumgenStorageGroupQuotaFull",
                        "exp_alerts": [
                            {
                                "exp_labels": full,
                                "exp_annotations": {
                                    "summary": "hgi on scratch115: bytes quota full"
                                },
                            }
                        ],
                    },
                    {
                        # carol's 3 days; hgi's 20.5 days and the full group are not "soon".
                        "eval_time": "5m",
                        "alertname": "HumgenStorageGroupQuotaFillingSoon",
                        "exp_alerts": [
                            {
                                "exp_labels": soon,
                                "exp_annotations": {
                                    "summary": "carol on scratch118: bytes quota full in 3d 0h 0m 0s"
                                },
                            }
                        ],
                    },
                ],
            },
            {
                "interval": "1h",
                "input_series": [stale_date],
                "alert_rule_test": [
                    {"eval_time": "47h", "alertname": "HumgenStorageUsageStale", "exp_alerts": []},
                    {
                        "eval_time": "49h",
                        "alertname": "HumgenStorageUsageStale",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning"},
                                "exp_annotations": {
                                    "summary": "the storage usage figures are 2d 1h 0m 0s old"
                                },
                            }
                        ],
                    },
                ],
            },
        ],
    }
    test_file = tmp_path / "usage-alerts.test.yml"
    test_file.write_text(json.dumps(tests, indent=1), encoding="utf-8")  # JSON is YAML
    result = subprocess.run(
        [promtool(), "test", "rules", str(test_file)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    check = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
