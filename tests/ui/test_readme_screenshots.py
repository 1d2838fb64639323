"""The README's pictures, taken by the test suite's browser over a realistic demo project, and what a
newcomer must be able to see in them without reading any docs: the runs (best first), the curves with
a legend and an x-axis title, the best config.

The images go to ``$UI_ARTIFACTS/readme`` (``build/ui-artifacts/readme`` by default). To refresh the
README's copies::

    README_SCREENSHOTS=docs/screenshots python -m pytest tests/ui/test_readme_screenshots.py -p no:cacheprovider
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from ui_support import ARTIFACTS, UiServer, wait_charts

LRS = [0.003, 0.01, 0.03, 0.1, 0.3, 1.0]
BATCHES = [16, 64]
STEPS = 400
SPIKE_RUN = "lr0.3-bs16"  # one loss spike at step 250: the min/max band must show it
VIEWPORT = {"width": 1280, "height": 800}
ROOT = Path(__file__).resolve().parents[2]  # README_SCREENSHOTS is relative to the repository (the tests run elsewhere)


def _log_demo(root: Path) -> dict[str, str]:
    """The quickstart's grid, longer: 12 runs of lr x batch size, 400 steps of train/val loss and
    accuracy each (seeded noise, so the pictures do not change), and a small second project."""
    import trackkit

    ids: dict[str, str] = {}
    for lr in LRS:
        for batch in BATCHES:
            name = f"lr{lr}-bs{batch}"
            rng = random.Random(name)
            rate = math.log10(lr / 0.0005) * (1.2 if batch == 16 else 1.0) / 120  # larger lr learns faster ...
            floor = 0.08 + 0.25 * max(0.0, math.log10(lr / 0.1))  # ... until it is too large
            config = {"optim": {"lr": lr, "weight_decay": 1e-4}, "batch_size": batch, "epochs": 8, "seed": 0}
            with trackkit.init(project="quickstart", dir=root, name=name, config=config, tags=["grid"]) as run:
                run.define_metric("val/loss", summary="min")
                for step in range(STEPS):
                    clean = floor + (0.7 - floor) * math.exp(-rate * step)
                    loss = clean * (1 + rng.gauss(0, 0.08)) + (2.5 if name == SPIKE_RUN and step == 250 else 0.0)
                    row: dict[str, float] = {"epoch": step * 8 // STEPS, "train/loss": loss,
                                             "train/acc": min(1.0, 1.02 - clean + rng.gauss(0, 0.02))}
                    if step % 10 == 9:
                        row |= {"val/loss": clean * 1.05 + rng.gauss(0, 0.01),
                                "val/acc": min(1.0, 1.0 - clean + rng.gauss(0, 0.01))}
                    run.log(row)
            ids[name] = run.id
    for seed in range(2):
        with trackkit.init(project="baseline", dir=root, config={"model": "logreg", "seed": seed}) as run:
            for step in range(50):
                run.log({"loss": 0.7 * math.exp(-step / 20)})
    return ids


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[UiServer, dict[str, str]]]:
    root = tmp_path_factory.mktemp("readme-store")
    ids = _log_demo(root)
    ui = UiServer(root)
    yield ui, ids
    ui.stop()


@pytest.fixture
def shot(browser: Any, demo: tuple[UiServer, dict[str, str]]) -> Iterator[Any]:
    """A page over the demo project and ``shot(page, name, locator=None)`` that saves one picture."""
    context = browser.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    pg.errors = []
    pg.on("pageerror", lambda error: pg.errors.append(str(error)))
    folder = ROOT / os.environ["README_SCREENSHOTS"] if os.environ.get("README_SCREENSHOTS") else ARTIFACTS / "readme"
    folder.mkdir(parents=True, exist_ok=True)

    def take(name: str, locator: Any = None, **options: Any) -> Path:
        path = folder / f"{name}.png"
        (locator or pg).screenshot(path=str(path), **options)
        assert path.stat().st_size < 250_000, f"{path} is too big for the README"
        return path

    pg.take = take
    yield pg
    assert pg.errors == []
    context.close()


def go(pg: Any, demo: tuple[UiServer, dict[str, str]], hash_: str) -> None:
    pg.goto(demo[0].url + hash_)
    pg.wait_for_selector("body[data-ready='1']")


def selection(demo: tuple[UiServer, dict[str, str]], *names: str) -> str:
    return ",".join(demo[1][n] for n in names)


def test_projects_list(shot: Any, demo: Any) -> None:
    """The start page lists both projects with their run counts."""
    go(shot, demo, "#/")
    assert shot.locator("#projects-table tbody tr").count() == 2
    shot.take("projects", clip={"x": 0, "y": 0, "width": 1280, "height": 240})


def test_an_empty_store_says_how_to_get_runs(browser: Any, tmp_path: Path) -> None:
    """Over a store with no runs, the start page says what to run and how to serve another folder."""
    ui = UiServer(tmp_path)
    context = browser.new_context(viewport=VIEWPORT)
    try:
        pg = context.new_page()
        pg.goto(ui.url)
        pg.wait_for_selector("body[data-ready='1']")
        text = pg.locator("#no-runs").inner_text()
        assert "examples/quickstart.py" in text and "trackkit ui --store PATH" in text
    finally:
        context.close()
        ui.stop()


def test_runs_table_sorted_best_first_with_the_differing_keys(shot: Any, demo: Any) -> None:
    """Sorted by val/acc, the best config is the first row; the default columns are the keys that
    differ (lr, batch size), not those every run shares (epochs, seed); the toolbar's boxes are labelled."""
    shot.set_viewport_size({"width": 1480, "height": 800})  # a wide screen: more of the default columns fit
    go(shot, demo, "#/projects/quickstart?order=" + quote("-summary.val/acc"))
    heads = shot.locator("#runs-table thead th").all_inner_texts()
    assert any("config.optim.lr" in t for t in heads) and any("config.batch_size" in t for t in heads)
    assert not any("config.seed" in t or "config.epochs" in t for t in heads)
    first = shot.locator("#runs-table tbody tr").first.inner_text()
    assert "lr0.1-bs64" in first  # seeded noise: the same best run every time
    assert shot.locator("form.toolbar label").all_inner_texts()[:3] == ["filter", "columns", "group by"]
    wait_charts(shot, "val/acc")
    card = shot.locator(".chart-card[data-metric='val/acc']")
    assert card.locator("canvas").bounding_box()["width"] <= card.bounding_box()["width"]  # the chart fits its card
    shot.take("runs-table", clip={"x": 0, "y": 0, "width": 1480, "height": 610})


def test_charts_with_smoothing_band_and_legend(shot: Any, demo: Any) -> None:
    """Charts of four selected runs, smoothed: each chart names its runs in a legend without hovering,
    titles its x axis, and the spike of one run stays in its min/max band."""
    sel = selection(demo, "lr0.1-bs16", "lr0.3-bs16", "lr0.01-bs64", "lr1.0-bs64")
    go(shot, demo, f"#/projects/quickstart?order={quote('-summary.val/acc')}&sel={sel}&smooth=0.8&metric={quote('*/*')}")
    chart = wait_charts(shot, "train/loss")
    assert len(chart["runs"]) == 4
    assert max(v for v in chart["data"][1 + 4 * chart["runs"].index(f"quickstart/{demo[1][SPIKE_RUN]}") + 3] if v is not None) > 2.5
    card = shot.locator(".chart-card[data-metric='train/loss']")
    assert card.locator(".legend-run").all_inner_texts() == ["lr0.1-bs16", "lr0.3-bs16", "lr0.01-bs64", "lr1.0-bs64"]
    assert chart["xTitle"] == "step (_step)"  # uPlot draws the axis title on the canvas
    shot.locator("#charts").scroll_into_view_if_needed()
    shot.take("charts", shot.locator("#charts"))


def test_group_by_batch_size(shot: Any, demo: Any) -> None:
    """Grouped by batch size: two groups of six runs, each drawn as a mean line with its band."""
    go(shot, demo, f"#/projects/quickstart?group=config.batch_size&metric={quote('val/*')}")
    counts = [row.locator("td").nth(1).inner_text() for row in shot.locator("#groups-table tbody tr").all()]
    assert counts == ["6", "6"]
    chart = wait_charts(shot, "val/acc")
    assert len(chart["runs"]) == 2
    shot.take("groups")


def test_compare_two_runs(shot: Any, demo: Any) -> None:
    """Compare lists the keys that differ between two runs, and overlays their curves."""
    go(shot, demo, "#/projects/quickstart/compare?runs=" + selection(demo, "lr0.1-bs16", "lr1.0-bs64"))
    wait_charts(shot, "val/acc")
    keys = shot.locator("table.grid tbody tr.differs th").all_inner_texts()
    assert "config.optim.lr" in keys and "config.batch_size" in keys and "config.seed" not in keys
    shot.take("compare")


def test_run_page(shot: Any, demo: Any) -> None:
    """The run page: config tree with provenance, summary, metadata."""
    go(shot, demo, "#/projects/quickstart/runs/" + demo[1]["lr0.1-bs16"])
    wait_charts(shot, "val/acc")
    assert "lr0.1-bs16" in shot.locator("h1").inner_text()
    shot.take("run")


def test_understand(shot: Any, demo: Any) -> None:
    """Understand: the learning rate ranks first for val/acc, and parallel coordinates are drawn."""
    go(shot, demo, "#/projects/quickstart/understand?metric=" + quote("summary.val/acc"))
    shot.wait_for_selector(".parcoords canvas")
    first = shot.locator("table.grid tbody tr").first.inner_text()
    assert "config.optim.lr" in first
    shot.take("understand")


def test_dark_theme(shot: Any, demo: Any) -> None:
    """The theme button switches to the dark theme."""
    sel = selection(demo, "lr0.1-bs16", "lr0.3-bs16", "lr0.01-bs64")
    go(shot, demo, f"#/projects/quickstart?order={quote('-summary.val/acc')}&sel={sel}&smooth=0.8&metric=val")
    wait_charts(shot, "val/loss")
    shot.click("#theme")
    assert shot.evaluate("document.documentElement.dataset.theme") == "dark"
    wait_charts(shot, "val/loss")
    shot.wait_for_timeout(500)
    shot.take("dark")
