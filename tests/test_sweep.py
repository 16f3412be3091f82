"""`solvent sweep`'s engine: a small grid run in a local process pool and on a Dask LocalCluster
(the same code path as a remote scheduler) gives the same results, point for point, and writes
its table, data and picture."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from solvent.report.sweep import findings
from solvent.sim.prices import preset_files
from solvent.sim.replay import SimSettings
from solvent.sim.sweep import grid, run_dask, run_local, write_sweep

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def points():
    base = SimSettings(
        files=preset_files("2020-03-12"),
        accounts=12,
        seed=5,
        start="2020-03-12T08:00:00Z",
        hours=4.0,
    )
    return grid({"2020-03-12": base}, margin_scales=(Decimal(1),), dynamic=(True, False))


def _comparable(results: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in results]


def test_sweep__local_pool_and_dask_cluster__same_results_and_report(points, tmp_path):
    from distributed import Client, LocalCluster

    local = run_local(points, workers=2)
    seen: list[dict] = []
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster,
        Client(cluster) as client,
    ):
        on_dask = run_dask(points, client, seen.append)
    assert len(local) == len(on_dask) == len(seen) == 2
    assert _comparable(local) == _comparable(on_dask)
    assert [r["dynamic"] for r in local] == [True, False]
    assert all(r["liquidations"] > 0 for r in local)  # the crash hours liquidate in both
    assert all(0 < r["opening_margin"] < 1 for r in local)
    assert all(r["max_leverage"] > 1 for r in local)

    path = write_sweep(local, tmp_path / "sweep")
    text = path.read_text()
    assert "## Findings" in text and len(findings(local)) == 1
    assert findings(local)[0] in text
    assert (tmp_path / "sweep" / "sweep.png").read_bytes()[:8] == PNG_MAGIC
    assert json.loads((tmp_path / "sweep" / "sweep.json").read_text()) == local


def test_grid__cross_product_of_every_setting():
    base = SimSettings(files=preset_files("2021-05-19"), accounts=1)
    pts = grid(
        {"a": base, "b": base},
        margin_scales=(Decimal("0.8"), Decimal(1)),
        discount_scales=(Decimal(1), Decimal("0.5")),
        dynamic=(True, False),
        target_healths=(None, Decimal("1.1")),
    )
    assert len(pts) == 2 * 2 * 2 * 2 * 2
    assert len({(p.window, p.settings.overrides) for p in pts}) == len(pts)
