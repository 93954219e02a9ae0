"""A corpus of training days from many places: the plan follows its ranges and seed, files are
drawn in parallel processes, an interrupted build draws only what is missing, and a draw that
cannot be made is named while the others stay."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest

from generative.corpus import MANIFEST, CorpusError, build_corpus, draw_days, plan_corpus
from generative.data import InstanceFileError, read_days, read_instances
from generative.instances import sample_instances
from generative.train import TrainingError, instance_files
from tests.conftest import run_twin


def test_the_plan_follows_its_ranges_and_its_seed(liechtenstein):
    cities = ["helsinki", str(liechtenstein.source.path)]
    plan = plan_corpus(cities, draws=60, days_per_draw=5, seed=3, bins=(50, 500))
    assert plan == plan_corpus(cities, draws=60, days_per_draw=5, seed=3, bins=(50, 500))
    assert plan != plan_corpus(cities, draws=60, days_per_draw=5, seed=4, bins=(50, 500))
    assert len({d.name for d in plan}) == 60
    assert {d.kind for d in plan} == {"city", "window", "synthetic"}
    for draw in plan:
        assert 50 <= draw.n_bins <= 500 and 1 <= draw.n_trucks <= 8
        assert 6_000 <= draw.capacity_kg <= 14_000 and 6 * 3600 <= draw.shift_s <= 10 * 3600
        if draw.kind == "window":
            # only a city larger than a window is cut into windows
            assert draw.city == str(liechtenstein.source.path) and 2000 <= draw.size_m <= 8000
    # about one truck per 65 bins (most draws)
    bins = np.array([d.n_bins for d in plan])
    trucks = np.array([d.n_trucks for d in plan])
    assert np.corrcoef(bins, trucks)[0, 1] > 0.5


def test_impossible_plans_are_refused_by_name():
    with pytest.raises(CorpusError, match=r"bins range \(500, 50\)"):
        plan_corpus(["helsinki"], draws=2, days_per_draw=2, bins=(500, 50))
    with pytest.raises(CorpusError, match="no city given"):
        plan_corpus([], draws=2, days_per_draw=2)
    with pytest.raises(CorpusError, match="draws and days per draw must be ≥ 1"):
        plan_corpus(["helsinki"], draws=0, days_per_draw=2)


def test_a_draw_gives_days_of_its_place_size_and_fleet(helsinki):
    plan = plan_corpus(["helsinki"], draws=4, days_per_draw=3, seed=1, bins=(20, 40))
    for draw in plan[:2]:
        days = draw_days(draw)
        assert len(days) == 3 and days.n_bins <= draw.n_bins
        assert set(days.n_trucks) == {draw.n_trucks}
        assert set(days.capacity_kg) == {np.float32(draw.capacity_kg)}
        assert set(days.shift_s) == {np.float32(draw.shift_s)}
        assert days.meta["draw"]["name"] == draw.name
        if draw.kind == "city":
            assert days.meta["city_sha256"] == helsinki.source.sha256


def test_a_draw_of_the_citys_own_bins_gives_the_days_its_twin_plans(helsinki):
    """With ``city_bins`` a whole-city draw's days are the ones the twin's own sampler draws for
    its seed (the city's bins for its estimated residents, its depot and disposal site): the
    days a fine-tuned model is then judged on, and plans in the twin."""
    plan = plan_corpus(
        ["helsinki"], draws=6, days_per_draw=2, seed=4, bins=(20, 40), kinds={"city": 1.0},
        random_sites=0.0, city_bins=True,
    )  # fmt: skip
    assert all(d.city_bins and d.kind == "city" and not d.random_sites for d in plan)
    draw = plan[0]
    days = draw_days(draw)
    twin_days = sample_instances(
        helsinki, n_bins=draw.n_bins, n_instances=2, seed=draw.seed, n_trucks=draw.n_trucks,
        truck_capacity_kg=draw.capacity_kg, shift_s=draw.shift_s, unload_s=draw.unload_s,
    )  # fmt: skip
    np.testing.assert_array_equal(days.nodes, twin_days.nodes)
    np.testing.assert_array_equal(days.load_kg, twin_days.load_kg)
    # without it, the same draw's bins are placed for the day's size alone
    placed = draw_days(dataclasses.replace(draw, city_bins=False))
    assert not np.array_equal(placed.nodes, twin_days.nodes)
    # only a city whole has its own bins: windows and towns are drawn as before
    mixed = plan_corpus(["helsinki"], draws=30, days_per_draw=1, seed=4, city_bins=True)
    assert {d.kind for d in mixed if d.city_bins} == {"city"}
    assert {d.kind for d in mixed if not d.city_bins} == {"synthetic"}


def test_an_interrupted_build_draws_only_what_is_missing(tmp_path):
    plan = plan_corpus(["helsinki"], draws=4, days_per_draw=2, seed=2, bins=(10, 20))
    seen = []
    files = build_corpus(plan, tmp_path, workers=2, on_progress=lambda *a: seen.append(a))
    assert [f.name for f in files] == [f"{d.name}.npz" for d in plan]
    assert seen[0] == (0, 4, "") and seen[-1][:2] == (4, 4)
    assert json.loads((tmp_path / MANIFEST).read_text())["draws"][0]["name"] == plan[0].name
    # the manifest is an ordinary file like the corpus's files (others may read and finish it)
    umask = os.umask(0)
    os.umask(umask)
    assert {f.stat().st_mode & 0o777 for f in [*files, tmp_path / MANIFEST]} == {0o666 & ~umask}
    # as if killed: one file missing, one half-written staging file left behind
    before = {f: f.stat().st_mtime_ns for f in files}
    files[2].unlink()
    (tmp_path / f".{files[1].name}.x1y2.npz").write_bytes(b"half")
    seen.clear()
    again = build_corpus(plan, tmp_path, workers=2, on_progress=lambda *a: seen.append(a))
    assert again == files and seen[0] == (3, 4, "") and len(seen) == 2
    for f in files:
        if f != files[2]:
            assert f.stat().st_mtime_ns == before[f]  # kept, not drawn again
    assert not list(tmp_path.glob(".*"))
    assert len(read_days(files[2])) == 2
    # a plan written before a draw had a field reads with the field's default
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    for draw in manifest["draws"]:
        del draw["city_bins"]
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    assert build_corpus(plan, tmp_path) == files
    # the folder belongs to this plan: another is refused
    other = plan_corpus(["helsinki"], draws=4, days_per_draw=2, seed=5, bins=(10, 20))
    with pytest.raises(CorpusError, match="holds another corpus"):
        build_corpus(other, tmp_path)


def test_a_draw_that_cannot_be_made_is_named_and_the_others_kept(tmp_path):
    plan = plan_corpus(["helsinki"], draws=2, days_per_draw=2, seed=2, bins=(10, 20))
    broken = dataclasses.replace(
        plan[1], name="99999-nowhere", kind="window", city="helsinki",
        centre_xy=(0.0, 0.0), size_m=1000.0,
    )  # fmt: skip
    with pytest.raises(CorpusError, match=r"1 of 2 draws failed \(99999-nowhere: .*connected"):
        build_corpus([plan[0], broken], tmp_path, workers=1)
    assert (tmp_path / f"{plan[0].name}.npz").is_file()


def test_twin_corpus_writes_a_folder_and_resumes(tmp_path):
    out = tmp_path / "corpus"
    args = ["corpus", str(out), "--city", "helsinki", "--draws", "3", "--days", "2",
            "--bins", "10-20", "--seed", "1", "--workers", "1"]  # fmt: skip
    made = run_twin(*args)
    assert made.returncode == 0, made.stderr
    assert len(list(out.glob("*.npz"))) == 3 and "3 files of 2 days" in made.stderr
    first, second = sorted(out.glob("*.npz"))[:2]
    whole = second.read_bytes()
    os.unlink(first)
    # training on the folder now would leave a third of it out: refused, naming the file
    with pytest.raises(TrainingError, match=rf"1 of the files .* missing \({first.name}\)"):
        instance_files([out])
    # a file cut short is no file of the corpus: training says how to mend it...
    second.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InstanceFileError, match="delete it and run the `twin corpus` command"):
        read_instances(second)
    # ...and the build, run again, draws it again with the missing one
    again = run_twin(*args)
    assert again.returncode == 0 and len(list(out.glob("*.npz"))) == 3
    assert second.read_bytes() == whole and instance_files([out])
    refused = run_twin(*args[:-4], "--seed", "2")
    assert refused.returncode == 1 and "holds another corpus" in refused.stderr
    bad = run_twin("corpus", str(tmp_path / "b"), "--bins", "many")
    assert bad.returncode == 2 and "LOW-HIGH" in bad.stderr
    for option, value in (("--random-sites", "2"), ("--windows", "-0.5")):
        refused = run_twin("corpus", str(tmp_path / "b"), option, value)
        assert refused.returncode == 2 and not (tmp_path / "b").exists(), refused.stderr


def test_twin_corpus_draws_the_cities_own_days(tmp_path):
    out = tmp_path / "own"
    made = run_twin(
        "corpus", str(out), "--city", "helsinki", "--draws", "2", "--days", "1", "--bins",
        "10-20", "--synthetic", "0", "--windows", "0", "--random-sites", "0", "--city-bins",
        "--workers", "1",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    draws = json.loads((out / MANIFEST).read_text())["draws"]
    assert [(d["kind"], d["city_bins"], d["random_sites"]) for d in draws] == [
        ("city", True, False)
    ] * 2


def test_workers_end_when_the_build_alone_is_killed(tmp_path):
    """A signal to the build's own process (not its group): it stops in a moment, and its
    workers end with it rather than live on as orphans holding their memory."""
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import twin_command

    if not sys.platform.startswith("linux"):
        pytest.skip("the kernel's parent-death signal is Linux's")
    out = tmp_path / "corpus"
    build = subprocess.Popen(
        [*twin_command(), "corpus", str(out), "--city", "helsinki", "--draws", "8", "--days",
         "2", "--bins", "10-20", "--seed", "3", "--workers", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def children() -> set[int]:
        found = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == build.pid:
                found.add(int(stat.parent.name))
        return found

    deadline = time.monotonic() + 120
    while not list(out.glob("*.npz")) and time.monotonic() < deadline:
        time.sleep(0.2)
    workers = children()
    assert len(workers) >= 2 and list(out.glob("*.npz")), "the build drew nothing in two minutes"
    build.send_signal(signal.SIGTERM)
    # stopped as Ctrl-C stops it, at once: not after the draws queued and running
    assert build.wait(timeout=15) == 128 + signal.SIGTERM
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    for pid in left:  # not to leave them to the machine when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not left, f"workers {left} outlived the build"
