"""benchmarks/first_call.py (issue 26 goal 4): its instances, and one tiny run end to end.

No timing is asserted: the figures are the benchmark's; these check that it measures what it
says it measures (the requested size, a new instance per seed) and that it runs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backprop_cli import evaluate
from benchmarks.engine_families import ENGINE_FAMILIES
from benchmarks.first_call import FAMILIES, FIGURES, instance

ROOT = Path(__file__).resolve().parents[1]
SEEDS = range(4)
HAVE_TORCH = importlib.util.find_spec("torch") is not None


def shape(text: str, point: dict[str, float]) -> tuple[int, int]:
    """(graph nodes, inputs) of the expression as the engine builds it (no check)."""
    return len(evaluate(text, at=point, check=()).graph.nodes), len(point)


@pytest.mark.parametrize("n", [200, 1000])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_seed_has_the_size_of_issue_12s_instance(family: str, n: int) -> None:
    # issue 12's instance at n (engine_families, no seed) fixes what "n nodes" means for
    # the family (the tree's n counts each leaf where it is used: n/2 leaves over 8 inputs).
    want = shape(*ENGINE_FAMILIES[family](n))
    assert [shape(*instance(family, n, seed)) for seed in SEEDS] == [want] * len(SEEDS)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_an_instance_is_the_same_for_the_same_seed(family: str) -> None:
    assert instance(family, 200, 7) == instance(family, 200, 7)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_seeds_draw_different_leaves_or_values(family: str) -> None:
    drawn = [instance(family, 200, seed) for seed in SEEDS]
    assert len({json.dumps(case) for case in drawn}) == len(SEEDS)


@pytest.mark.parametrize("family", ["sum", "chain", "tree"])
def test_seeds_draw_different_leaves(family: str) -> None:
    # Not only new values: the expression's text itself differs (MLP's differs by the order
    # each unit reads its inputs in, the same computation: its values are what the seed draws).
    texts = {instance(family, 200, seed)[0] for seed in SEEDS}
    assert len(texts) == len(SEEDS)


def run(tmp_path: Path, *args: str) -> dict[str, object]:
    out = tmp_path / "out.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "first_call.py"),
                           "--sizes", "20", "--instances", "1", "--reps", "1",
                           "--whole-sizes", "20", "--json", str(out), "--markdown", *args],
                          capture_output=True, text=True, check=False, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data: dict[str, object] = json.loads(out.read_text(encoding="utf-8"))
    data["stdout"] = done.stdout
    return data


def test_our_side_runs_end_to_end_without_torch(tmp_path: Path) -> None:
    data = run(tmp_path, "--ours-only")
    cases = data["cases"]
    assert isinstance(cases, list)
    assert [c["family"] for c in cases] == list(FAMILIES)
    for case in cases:
        for key in FIGURES:
            (row,) = case["rows"][key]
            assert row["ours"] > 0 and "theirs" not in row
            assert sum(row["counts"].values()) == case["inputs"]  # every input accounted for


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed (the `bench` extra)")
def test_both_sides_run_end_to_end_and_the_table_reads_back(tmp_path: Path) -> None:
    data = run(tmp_path, "--families", "chain")
    (case,) = data["cases"]  # type: ignore[misc]
    for key in FIGURES:
        (row,) = case["rows"][key]
        assert row["ok"] is True and row["theirs"] > 0  # gradcheck passed, and was timed
    again = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "first_call.py"),
                            "--load", str(tmp_path / "out.json"), "--markdown"],
                           capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert again.stdout.strip() == str(data["stdout"]).strip()
    assert "| chain | 20 | 1 |" in again.stdout
