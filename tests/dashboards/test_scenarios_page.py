"""The Scenarios page's editor, through the app's callbacks as the browser fires them: typed
signal plans are held to the city's junctions and limits as a run holds them
(:func:`twin.check_scenario_in_city`), beside the field while typing, and again at Save."""

from __future__ import annotations

import pytest

from dashboards.app import create_app
from dashboards.pages.scenarios import FORM, _form_values
from tests.dashboards.test_decisions import SMALL, _fire

JUNCTION = 25291537
"""A signalized junction of the bundled city: two phases, a vehicle green of at least 7 s and a
pedestrian green of at least 20 s (twin.least_greens)."""


@pytest.fixture
def app(helsinki, tmp_path):
    return create_app(helsinki, store_dir=tmp_path / "store", draft=SMALL)


def _form(app, signals: str) -> dict:
    """The editor's values for the app's draft, with ``signals`` typed."""
    values = dict(zip((cid for cid, _ in FORM), _form_values(app.twin_state.draft()), strict=True))
    return {**values, "scenario-signals": signals}


def _check(app, signals: str) -> dict:
    """What the editor's check sends back once ``signals`` is typed."""
    form = _form(app, signals)
    return _fire(
        app, [(cid, "value", form[cid]) for cid, _ in FORM], {"draft": app.twin_state.draft()}
    )


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("1: 30, 30", "traffic.signals.0: node 1 is not a signalized junction of this network"),
        (f"{JUNCTION}: 30", f"traffic.signals.0: signal at node {JUNCTION} has 2 phases"),
        (
            f"{JUNCTION}: 1, 30",
            f"traffic.signals.0: junction {JUNCTION}: phase 1 has 1 s of green, below the "
            "vehicle minimum of 7 s",
        ),
        # a cycle of 30 + 30 s of green and two intergreens of 4 s
        (f"{JUNCTION}: 30, 30 @ 500", "offset 500 s is outside its cycle (0 to 68.0 s)"),
    ],
)
def test_a_typed_signal_plan_the_city_cannot_run_is_named_beside_its_field(app, typed, said):
    sent = _check(app, typed)
    assert said in sent["scenario-signals-message"]["children"]
    assert sent["scenario-signals-field"]["className"] == "field invalid"
    assert sent["scenario-invalid"]["data"] is True


def test_every_fault_of_a_typed_junction_is_named_beside_its_field(app):
    sent = _check(app, f"{JUNCTION}: 1, 1 @ 500")
    assert sent["scenario-signals-message"]["children"].splitlines() == [
        f"traffic.signals.0: junction {JUNCTION}: phase {phase} has 1 s of green, below the "
        f"{kind} minimum of {least} s"
        for phase, kind, least in ((1, "vehicle", 7), (2, "pedestrian", 20))
    ] + [f"traffic.signals.0: junction {JUNCTION}: offset 500 s is outside its cycle (0 to 10.0 s)"]
    assert sent["scenario-form-problem"]["children"] == ""


def test_a_typed_signal_plan_within_the_limits_passes(app):
    sent = _check(app, f"{JUNCTION}: 7, 20; {JUNCTION}: 40, 24 @ 63")
    assert sent["scenario-signals-message"]["children"] == ""
    assert sent["scenario-invalid"]["data"] is False


def test_save_refuses_a_signal_plan_the_city_cannot_run(app, tmp_path):
    """Save pressed before the field's check came back: refused there too, nothing saved."""
    form = _form(app, "1: 30, 30")
    states = {"draft": app.twin_state.draft(), "scenario-replace": None, "scenario-known": {}}
    sent = _fire(app, [("scenario-save", "n_clicks", 1)], {**states, **form})
    assert "node 1 is not a signalized junction" in str(sent["scenario-message"])
    assert "draft" not in sent
    assert not (tmp_path / "store" / "scenarios").exists() or not any(
        (tmp_path / "store" / "scenarios").iterdir()
    )
    good = {**form, "scenario-signals": f"{JUNCTION}: 40, 24 @ 10"}
    sent = _fire(app, [("scenario-save", "n_clicks", 1)], {**states, **good})
    assert "Saved" in str(sent["scenario-message"])
    (timing,) = sent["draft"]["data"]["traffic"]["signals"]
    assert timing == {"node": JUNCTION, "greens_s": [40.0, 24.0], "offset_s": 10.0}
