"""Waste page: run the draft's waste collection in the background, then bins by fill and the
trucks' routes day by day, waste per day, KPI cards, and every policy against the baseline the
planner chose, as a table and as one picture of the km / hours / euros / CO2 trade-off.

The trucks drive the draft's streets (its closures and street changes) and, given trips over
the shift, among that traffic: every compared policy in the same traffic, and the planned one
once more planned on the other travel times, so that the page can say what a plan made without
the traffic's times loses there (:func:`other_timing`).

The baseline is what the city does today: its own rounds (``current``, from a rounds file
uploaded here and checked by the twin against the city's bins), rounds drawn by hand
(``hand-drawn``, for a city without its own) or the same rounds optimized (``schedule``).
The objective (km, hours or euros) is what PyVRP minimises; it is the draft's, and ignored by
the planners and policies that do not plan with PyVRP. Routes the learned planner made are
labelled as a model's proposal: in the menu, above the cards, on the map and in the chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, ctx, dcc, html, no_update

from dashboards.basemap import with_tiles
from dashboards.components import (
    AUTO_FLEET,
    KEPT_FOR_SESSION,
    baseline_table,
    card_row,
    field,
    map_with_day_slider,
    number_field,
    register_draft_follows_run,
    register_form_check,
    register_run,
    rounds_check,
    rounds_file,
    run_controls,
    shared_fleet,
    upload_button,
)
from dashboards.figures import daily_figure, empty_figure, routes_figure, tradeoff_figure
from dashboards.forms import read_form
from dashboards.logic import (
    DAY_MARK_STEPS,
    GIVEN_ROUTES,
    WASTE_CARDS,
    UploadError,
    against_baseline,
    baselines,
    bins_on_day,
    check_rounds_name,
    decode_upload,
    default_baseline,
    objective_note,
    objectives,
    page_draft,
    plan_notes,
    policies,
    policies_to_compare,
    run_warnings,
    scenario_from_draft,
    section_only,
    slider_marks,
    strategy_of,
    streets_and_traffic,
    timing_contrast,
    with_strategy,
)
from dashboards.state import DashboardState
from dashboards.store import StoreError
from dashboards.trust import LEARNED_PLANNER, policy_label, run_by_model
from twin import MODEL_LABEL, USER_ERRORS, Scenario, WasteSpec, model_label

PATH = "/waste"
TITLE = "Waste"

FORM = (
    ("waste-days", "days"),
    ("waste-trucks", "trucks"),
    ("waste-seed", "seed"),
    ("waste-policy", "policy"),
    ("waste-polish", "polish_iterations"),
    ("waste-hour-eur", "truck_hour_eur"),
    ("waste-km-eur", "truck_km_eur"),
    ("waste-shift-trips", "shift_trips"),
)
"""The run's fields: input id → :func:`dashboards.forms.read_form` key."""
FORM_KEYS = tuple(key for _, key in FORM)

OBJECTIVE_LABELS = {
    "km": "truck-km",
    "hours": "truck-hours",
    "euros": "euros (hours and km at the cost factors)",
}
"""How the objective's choices read (:func:`dashboards.logic.objectives`)."""

BASELINE_LABELS = {
    "current": "current: the city's own rounds (upload them below)",
    "hand-drawn": "hand-drawn: the schedule's rounds drawn street by street",
    "schedule": "schedule: the same rounds optimized by PyVRP",
}
"""How the baseline's choices read (:func:`dashboards.logic.baselines`)."""

COMPARE_ALL = "all"
"""The value of the checkbox that runs every policy with the baseline."""


def layout(state: DashboardState, *, draft: dict | None = None) -> html.Div:
    """The page, its form filled from ``draft`` (the browser's; :func:`page_draft`)."""
    draft = page_draft(draft, state.draft())
    waste = draft["waste"]
    return html.Div(
        [
            html.Div(
                [
                    html.Div(
                        [
                            html.H3("Waste collection run"),
                            field(
                                "Policy",
                                dcc.Dropdown(
                                    id="waste-policy",
                                    options=policy_options(has_rounds=False),
                                    value=strategy_of(waste),
                                    clearable=False,
                                ),
                                check_id="waste-policy",
                            ),
                            field(
                                "Objective (what PyVRP minimises)",
                                dcc.RadioItems(
                                    id="waste-objective",
                                    options=objective_options(strategy_of(waste)),
                                    value=waste.get("objective", "km"),
                                ),
                            ),
                            html.P(
                                objective_note(strategy_of(waste)),
                                id="waste-objective-note",
                                className="note",
                            ),
                            polish_field(waste),
                            number_field(
                                "Days", "waste-days", value=waste["days"], **KEPT_FOR_SESSION
                            ),
                            number_field(
                                "Trucks",
                                "waste-trucks",
                                value=waste["trucks"],
                                placeholder=AUTO_FLEET,
                                **KEPT_FOR_SESSION,
                            ),
                            number_field(
                                "Seed", "waste-seed", value=draft["seed"], **KEPT_FOR_SESSION
                            ),
                            traffic_field(draft),
                            *cost_fields(waste),
                            baseline_panel(state),
                            run_controls("waste"),
                            dcc.Store(id="waste-mounted", data=True),
                        ],
                        className="panel",
                    ),
                    map_with_day_slider("waste", routes_figure(state.basemap, {}, None, day=None)),
                ],
                className="columns",
            ),
            html.Div(id="waste-kpis"),
            html.Div(
                [
                    dcc.Graph(id="waste-daily", figure=empty_figure("Run to see waste per day")),
                    dcc.Graph(
                        id="waste-tradeoff",
                        figure=empty_figure("Run to see the policies against the baseline"),
                    ),
                ],
                className="charts",
            ),
            html.Div(id="waste-compare"),
        ]
    )


COST_FIELDS = (
    ("waste-hour-eur", "truck_hour_eur", "€ per truck-hour (crew and truck)"),
    ("waste-km-eur", "truck_km_eur", "€ per truck-km (fuel, tyres, upkeep)"),
)
"""What the city pays, as the page asks it: input id, cost factor, label."""


def cost_fields(waste: dict[str, Any]) -> list[html.Label]:
    """The city's own cost factors, which the euros, the euros objective and the trade-off
    picture use; blank: the twin's documented defaults (``agents.waste.costs``)."""
    costs, defaults = waste.get("costs") or {}, WasteSpec().costs
    return [
        number_field(
            label,
            component_id,
            value=costs.get(name),
            placeholder=f"{getattr(defaults, name):g} (default)",
            **KEPT_FOR_SESSION,
        )
        for component_id, name, label in COST_FIELDS
    ]


TRAFFIC_LABEL = "Traffic the trucks drive in (trips over the shift)"
TRAFFIC_HINT = "blank: none, free-flow times"
"""The traffic box: the trucks' days are planned on the times of the hours they drive in that
traffic and driven in it (``waste.traffic_coupling``, the draft's signals timing it)."""


def traffic_field(draft: dict[str, Any]) -> html.Label:
    """Trips over the shift the trucks drive among (the form key ``shift_trips``); a draft
    whose trucks drive in traffic already (a scenario file's) opens with its trips."""
    waste, traffic = draft.get("waste") or {}, draft.get("traffic") or {}
    trips = traffic.get("trips") if waste.get("traffic_coupling") else None
    return number_field(
        TRAFFIC_LABEL,
        "waste-shift-trips",
        value=trips,
        placeholder=TRAFFIC_HINT,
        **KEPT_FOR_SESSION,
    )


POLISH_LABEL = "Polish of the learned plans (PyVRP iterations a day)"
POLISH_HINT = "blank: the learned plans as they are; 100 brings them nearer PyVRP's"
"""The polish box's label and placeholder: in 28-day runs on cities the model never trained on,
with 100 iterations a day the learned policy drove 0.0–0.5 % more than the PyVRP policy (alone
0.2–3.5 %) and, on Andorra, let fewer bins overflow (BENCHMARKS.md, "Learned planner: any
city")."""


def polish_field(waste: dict[str, Any]) -> html.Label:
    """The learned planner's polish (``waste.polish_iterations``), greyed out for any other
    policy, whose runs drop it."""
    return number_field(
        POLISH_LABEL,
        "waste-polish",
        value=waste.get("polish_iterations") or None,
        placeholder=POLISH_HINT,
        disabled=strategy_of(waste) != LEARNED_PLANNER,
        **KEPT_FOR_SESSION,
    )


def baseline_panel(state: DashboardState) -> html.Div:
    """The baseline's choice, the upload of the city's own rounds and whether to run every
    policy against it."""
    return html.Div(
        [
            html.H4("Baseline: what the city does today"),
            dcc.RadioItems(
                id="waste-baseline",
                options=baseline_options(has_rounds=False),
                value=default_baseline(False),
                **KEPT_FOR_SESSION,
            ),
            upload_button(
                "Upload the city's rounds (CSV, GeoJSON, GPX)",
                "waste-rounds-upload",
                max_bytes=state.limits.rounds_bytes,
            ),
            html.Div(id="waste-rounds-checking", className="note", role="status"),
            html.Div(id="waste-rounds-message", role="status"),
            # what a rounds file names its stops by: the bins as the last run placed them
            html.Button(
                "Download the run's bins (CSV)", id="waste-bins-button", className="button"
            ),
            dcc.Download(id="waste-bins-download"),
            html.Div(id="waste-bins-message", role="status"),
            dcc.Store(id="waste-rounds-checked"),
            dcc.Checklist(
                id="waste-compare-all",
                options=[{"label": "run every policy against it", "value": COMPARE_ALL}],
                value=[COMPARE_ALL],
                **KEPT_FOR_SESSION,
            ),
        ],
        id="waste-baseline-panel",
    )


def bins_csv(path: Path) -> str:
    """A run's bins (its ``bins.parquet``) as the CSV a planner starts a rounds file from:
    ``bin`` (the number a rounds file names), ``lon``, ``lat`` and what each holds."""
    import geopandas as gpd

    bins = gpd.read_parquet(path)
    table = pd.DataFrame({
        "bin": bins["bin"] if "bin" in bins else np.arange(len(bins)),
        "lon": bins.geometry.x.round(7), "lat": bins.geometry.y.round(7),
        "containers": bins["containers"], "capacity_kg": bins["capacity_kg"].round(1),
        "daily_kg": bins["daily_kg"].round(2), "osm_node": bins["osm_node"],
    })  # fmt: skip
    return table.to_csv(index=False)


def policy_options(*, has_rounds: bool) -> list[dict[str, Any]]:
    """The policy menu: a model's labelled so, ``current`` only with the city's rounds."""
    return [
        {
            "label": policy_label(p) + ("" if has_rounds or p != "current" else " (upload rounds)"),
            "value": p,
            "disabled": p == "current" and not has_rounds,
        }
        for p in policies()
    ]


def baseline_options(*, has_rounds: bool) -> list[dict[str, Any]]:
    """The baselines to choose from; ``current`` only with the city's rounds."""
    return [
        {
            "label": BASELINE_LABELS.get(name, name),
            "value": name,
            "disabled": name == "current" and not has_rounds,
        }
        for name in baselines()
    ]


def objective_options(policy: str | None) -> list[dict[str, Any]]:
    """The objectives, disabled for a policy that PyVRP does not plan."""
    ignored = bool(objective_note(policy or ""))
    return [
        {"label": OBJECTIVE_LABELS.get(o, o), "value": o, "disabled": ignored} for o in objectives()
    ]


def waste_choice(
    draft: dict, policy: str, objective: str | None, rounds: str | None
) -> dict[str, Any]:
    """The draft with the page's policy, objective and (for ``current``) rounds in its waste
    section, validated (:func:`dashboards.logic.with_strategy`)."""
    data = dict(draft)
    data["waste"] = with_strategy(
        draft.get("waste") or {}, policy, objective=objective, rounds=rounds
    )
    return scenario_from_draft(data).model_dump(mode="json")


def run_list(
    draft: dict,
    values: dict[str, Any],
    *,
    objective: str | None,
    baseline: str | None,
    compare_all: bool,
    rounds: str | None,
) -> list[Scenario]:
    """What Run runs: the planned policy first (the map, cards and daily chart show it), then
    the baseline, then, with ``compare_all``, every other policy that can run here, each with
    the form's days, fleet and seed (the page fills a blank fleet with the city's rounds' own
    where they run: :func:`~dashboards.components.shared_fleet`), and, where the trucks drive
    in traffic, the planned policy once more planned on the other travel times
    (:func:`other_timing`). Runs already in the store are not run again.

    Parameters
    ----------
    draft : dict
        The draft scenario.
    values : dict
        The form's values by :data:`FORM_KEYS`.
    objective : str or None
        What PyVRP minimises, for every policy it plans.
    baseline : str or None
        The baseline policy.
    compare_all : bool
        Whether every policy runs too.
    rounds : str or None
        The city's rounds file (``current`` runs only with one).

    Returns
    -------
    list of twin.Scenario
        Named ``<draft name>-<policy>``.

    Raises
    ------
    dashboards.forms.FormError
        A field the twin refuses.
    twin.ScenarioError
        The baseline ``current`` without a rounds file.
    """
    policy = values.get("policy")
    chosen = with_strategy(
        draft.get("waste") or {}, policy or "", objective=objective, rounds=rounds
    )
    planned = read_form({**draft, "waste": chosen}, values, section="waste")
    settings = planned.model_dump(mode="json")
    names = [policy, baseline or default_baseline(rounds is not None)]
    if compare_all:
        names += list(policies_to_compare(rounds is not None))
    runs = []
    for name in dict.fromkeys(names):
        scenario = (
            planned
            if name == policy
            else section_only(settings, "waste", policy=name, objective=objective, rounds=rounds)
        )
        runs.append(scenario.model_copy(update={"name": f"{draft['name']}-{name}"}))
    contrast = other_timing(settings)
    if contrast is not None:
        runs.append(
            contrast.model_copy(update={"name": f"{runs[0].name}-{contrast_times(settings)}"})
        )
    return runs


def contrast_times(settings: dict[str, Any]) -> str:
    """The travel times the planned policy's contrast run is planned on: the other of
    time-of-day and free-flow."""
    return "free-flow" if settings["waste"]["plan_times"] == "time-of-day" else "time-of-day"


def other_timing(settings: dict[str, Any]) -> Scenario | None:
    """The planned scenario with its days planned on the other travel times
    (:func:`contrast_times`), driven in the same traffic: what a plan made without the traffic's
    times (or with them) loses there. ``None`` unless its trucks drive in traffic on routes a
    planner makes (given rounds are driven as they are)."""
    waste = settings.get("waste") or {}
    if not waste.get("traffic_coupling") or waste.get("policy") in GIVEN_ROUTES:
        return None
    times = contrast_times(settings)
    # a forecast is of the traffic's times: free-flow plans use none
    forecast = waste.get("forecast_days", 0) if times == "time-of-day" else 0
    changed = {**waste, "plan_times": times, "forecast_days": forecast}
    return scenario_from_draft({**settings, "waste": changed})


def _check_form(draft: dict, values: dict) -> Scenario:
    # current's rounds are checked at upload and at the run: the form's own fields here
    if values.get("policy") == "current":
        values = {k: v for k, v in values.items() if k != "policy"}
    return read_form(draft, values, section="waste")


def check_rounds(
    state: DashboardState, path: str, name: str, draft: dict, values: dict[str, Any]
) -> str | None:
    """Drive an uploaded rounds file for a day with the form's fleet and seed
    (:func:`~dashboards.components.rounds_check`): the twin reads it (``RoundsFileError``) and
    matches its stops to the city's bins (``RoundsError``, or too few trucks), each problem
    naming the row and the fix.

    Parameters
    ----------
    state : DashboardState
        The app's state.
    path : str
        The file, kept in the store.
    name : str
        The name the planner knows it by (in the message, for the store's path).
    draft : dict
        The draft scenario.
    values : dict
        ``trucks`` and ``seed`` of the form (the draft's where they are not valid).

    Returns
    -------
    str or None
        The twin's message, ``None`` for a file it drives.
    """
    problem, _ = rounds_check(state, path, draft, values)
    return None if problem is None else problem.replace(path, name)


def runs_by_policy(state: DashboardState, keys: list[str | None]) -> dict[str, str]:
    """Run key of each policy among a run's keys (a policy refused by the twin has none)."""
    found: dict[str, str] = {}
    for key in keys:
        if key is None:
            continue
        waste = state.store.run_scenario(key).waste
        if waste is not None:
            found.setdefault(strategy_of(waste.model_dump(mode="json")), key)
    return found


def comparison(state: DashboardState, result: dict, baseline: str) -> tuple[Any, go.Figure]:
    """The table and the trade-off picture of a run's policies against ``baseline``.

    Parameters
    ----------
    state : DashboardState
        The app's state.
    result : dict
        The page's result store: ``keys`` of the runs.
    baseline : str
        The baseline chosen.

    Returns
    -------
    tuple
        The table (or a line saying what is missing) and the figure.
    """
    runs = runs_by_policy(state, result.get("keys") or [])
    # the baseline first: the table's first row is what the others are read against
    order = sorted(policies(), key=lambda p: p != baseline)
    kpis = {p: state.store.kpi_dict(runs[p])["waste"] for p in order if p in runs}
    if baseline not in kpis:
        line = (
            f"The baseline {baseline} has not run with these settings: press Run to compare "
            "the policies against it."
        )
        return html.P(line, className="note warn", id="waste-compare-missing"), empty_figure(line)
    table = against_baseline(kpis, baseline)
    labels = {p: policy_label(p) for p in kpis}
    # a baseline whose rounds the fleet cannot drive, or that leaves bins out, makes every
    # comparison with it say less: said beside the table
    told = [
        html.P(f"The baseline: {warning}", className="note warn", id=f"waste-baseline-warning-{n}")
        for n, warning in enumerate(run_warnings(state.store.waste_info(runs[baseline])))
    ]
    view = html.Div(
        [
            html.H4(f"Policies against the baseline: {baseline}", id="waste-compare-title"),
            *told,
            baseline_table(table, baseline, table_id="waste-compare-table", labels=labels),
        ]
    )
    return view, tradeoff_figure(table, baseline, labels=labels)


def model_line(provenance: dict | None) -> html.P:
    """Says that the routes shown were proposed by a model: the run's own label, naming the
    checkpoint with its hash and the version of its card (:func:`twin.model_label` of the
    provenance the run records), or, for a run that recorded none, the learned planner."""
    label = (
        model_label(provenance)
        if provenance
        else f"{MODEL_LABEL} (the learned planner): collection routes for a person to check "
        "and decide on."
    )
    return html.P(
        [label, " Any day outside its training range is planned by PyVRP and named below."],
        id="waste-model-label",
        className="note warn",
    )


def register(app: Dash, state: DashboardState) -> None:
    def build(draft, *form):
        *fields, objective, baseline, compare, uploaded = form
        values = dict(zip(FORM_KEYS, fields, strict=True))
        rounds = rounds_file(state, draft, uploaded)
        compare_all = COMPARE_ALL in (compare or [])
        if baseline in (None, "current") or compare_all:  # the city's rounds run too
            values = shared_fleet(state, draft, values, rounds)
        return run_list(
            draft, values, objective=objective, baseline=baseline, compare_all=compare_all,
            rounds=rounds,
        )  # fmt: skip

    register_run(
        app,
        state,
        prefix="waste",
        store_id="waste-result",
        states=[
            State("draft", "data"),
            *[State(cid, "value") for cid, _ in FORM],
            State("waste-objective", "value"),
            State("waste-baseline", "value"),
            State("waste-compare-all", "value"),
            State("waste-rounds", "data"),
        ],
        build=build,
        keep_going=True,  # a policy the twin cannot run here must not hide the others
    )
    register_form_check(app, prefix="waste", fields=FORM, section="waste", read=_check_form)
    # the policy goes into the draft as it is chosen; the traffic over the shift is the Waste
    # page's own (the draft's trips are the Traffic page's)
    kept = [(cid, key) for cid, key in FORM if key not in ("policy", "shift_trips")]
    register_draft_follows_run(app, prefix="waste", fields=kept)

    @app.callback(
        Output("waste-policy", "options"),
        Output("waste-policy", "value"),
        Output("waste-objective", "value"),
        Output("waste-baseline", "options"),
        Output("waste-baseline", "value"),
        Input("waste-mounted", "data"),
        Input("waste-rounds", "data"),
        State("draft", "data"),
        State("waste-policy", "value"),
        State("waste-objective", "value"),
        State("waste-baseline", "value"),
    )
    def choices(_mounted, uploaded: dict | None, draft: dict | None, shown, objective, baseline):
        """``current`` is offered once the city's rounds are at hand, and is then the
        baseline; the page opens on the draft's policy and objective (the layout's are a
        fresh draft's: the planner may have changed them on the Scenarios page) and on the
        baseline chosen on the last visit, unless that was ``current`` and the rounds are
        gone."""
        has_rounds = rounds_file(state, draft, uploaded) is not None
        waste = (draft or {}).get("waste") or {}
        opened = ctx.triggered_id in (None, "waste-mounted") and waste
        kept = (
            ctx.triggered_id in (None, "waste-mounted")
            and baseline in baselines()
            and (has_rounds or baseline != "current")
        )

        def unless_shown(value: Any, now: Any) -> Any:
            # set only what differs: an answer that arrives after the planner's first choice
            # must not undo it
            return value if opened and value != now else no_update

        return (
            policy_options(has_rounds=has_rounds),
            unless_shown(strategy_of(waste), shown),
            unless_shown(waste.get("objective", "km"), objective),
            baseline_options(has_rounds=has_rounds),
            baseline if kept else default_baseline(has_rounds),
        )

    @app.callback(
        Output("waste-objective", "options"),
        Output("waste-objective-note", "children"),
        Input("waste-policy", "value"),
    )
    def objective_state(policy: str | None):
        return objective_options(policy), objective_note(policy or "")

    @app.callback(Output("waste-polish", "disabled"), Input("waste-policy", "value"))
    def polish_state(policy: str | None) -> bool:
        return policy != LEARNED_PLANNER

    @app.callback(
        Output("draft", "data", allow_duplicate=True),
        Input("waste-policy", "value"),
        Input("waste-objective", "value"),
        State("waste-rounds", "data"),
        State("draft", "data"),
        prevent_initial_call=True,
    )
    def write_draft(policy: str | None, objective: str | None, uploaded, draft: dict | None):
        """The policy and objective chosen go into the draft's waste section (the Scenarios
        page saves them), the objective as the twin takes it: km where PyVRP does not plan."""
        if not policy or not draft or draft.get("waste") is None:
            return no_update
        try:
            updated = waste_choice(draft, policy, objective, rounds_file(state, draft, uploaded))
        except USER_ERRORS:
            return no_update  # e.g. current without rounds: the form says so beside the field
        return updated if updated != draft else no_update

    # The check writes a store of the page, copied to the app-wide one by a plain callback:
    # Dash calls a callback whose outputs lie outside the page when the page mounts, and would
    # start a background job for nothing (see dashboards.components.register_job).
    @app.callback(
        Output("waste-rounds-checked", "data"),
        Output("waste-rounds-message", "children"),
        Input("waste-rounds-upload", "contents"),
        State("waste-rounds-upload", "filename"),
        State("draft", "data"),
        State("waste-trucks", "value"),
        State("waste-seed", "value"),
        background=True,
        running=[
            (
                Output("waste-rounds-checking", "children"),
                "Checking the rounds against the city's bins…",
                "",
            )
        ],
        prevent_initial_call=True,
    )
    def upload_rounds(contents: str | None, filename: str | None, draft, trucks, seed):
        """A rounds file is kept only once the twin drives it on this city: a bad one is
        refused with the twin's message (the file's row and the fix)."""
        if not contents:
            return no_update, no_update
        path, made = None, False
        try:
            name = check_rounds_name(filename)
            raw = decode_upload(contents, filename, limit_bytes=state.limits.rounds_bytes)
            made = not state.store.holds_upload(raw, name)
            path = state.store.save_upload(raw, name)
            problem = check_rounds(state, str(path), name, draft, {"trucks": trucks, "seed": seed})
        except (UploadError, StoreError, *USER_ERRORS) as err:
            problem = str(err)
        if problem is not None:
            if made and path is not None:
                # a refused file is not kept (up to the upload limit each); the same bytes
                # another session kept, for another fleet, stay
                state.store.discard_upload(path)
            refused = html.Div(
                f"Rounds refused: {problem}", className="error", id="waste-rounds-error"
            )
            return no_update, refused
        kept = {"digest": path.parent.name, "name": path.name}
        done = html.Div(
            f"Rounds from {name}: read and matched to the city's bins. The baseline is now "
            "current, the city's own rounds.",
            className="ok",
        )
        return kept, done

    @app.callback(
        Output("waste-rounds", "data"),
        Input("waste-rounds-checked", "data"),
        prevent_initial_call=True,
    )
    def keep_rounds(checked: dict | None):
        return checked if checked else no_update

    def _contrast(keys: list[str | None], kpis: dict[str, Any]) -> str | None:
        """The planned policy planned on the other travel times (:func:`other_timing`), where
        it ran: :func:`dashboards.logic.timing_contrast`."""
        planned = state.store.run_scenario(keys[0]).waste
        for key in keys[1:]:
            other = None if key is None else state.store.run_scenario(key).waste
            if (
                other is not None
                and other.traffic_coupling
                and other.plan_times != planned.plan_times
                and strategy_of(other.model_dump()) == strategy_of(planned.model_dump())
            ):
                others = state.store.kpi_dict(key)["waste"]
                return timing_contrast(planned.plan_times, kpis, other.plan_times, others)
        return None

    @app.callback(
        Output("waste-bins-download", "data"),
        Output("waste-bins-message", "children"),
        Input("waste-bins-button", "n_clicks"),
        State("waste-result", "data"),
        prevent_initial_call=True,
    )
    def download_bins(clicks, result: dict | None):
        keys = [key for key in (result or {}).get("keys") or [] if key is not None]
        if not clicks or not keys:
            said = "Run first: the bins are those a run places (its seed, residents and fleet)."
            return no_update, html.Div(said, className="note warn")
        try:
            text = bins_csv(state.store.run_dir(keys[0]) / "waste" / "bins.parquet")
        except (StoreError, OSError) as err:
            return no_update, html.Div(str(err), className="error")
        return dcc.send_string(text, "bins.csv"), ""

    @app.callback(
        Output("waste-kpis", "children"),
        Output("waste-daily", "figure"),
        Output("waste-day", "max"),
        Output("waste-day", "marks"),
        Output("waste-day", "value"),
        Input("waste-result", "data"),
    )
    def show_run(result: dict | None):
        if not result:
            return no_update, no_update, no_update, no_update, no_update
        key = result["keys"][0]
        if key is None:  # the planned policy was refused; the run's error line says why
            problem = next(iter(result.get("errors") or []), None) or "the policy did not run"
            return html.Div(str(problem), className="error"), *([no_update] * 4)
        try:
            kpis = state.store.kpi_dict(key)["waste"]
            daily = state.store.table(key, "waste/daily")
            streets = state.store.run_scenario(key).traffic
            driven = streets_and_traffic(
                None if streets is None else streets.model_dump(mode="json"),
                state.store.waste_info(key),
                kpis,
            )
            contrast = None if driven is None else _contrast(result["keys"], kpis)
        except (StoreError, *USER_ERRORS) as err:
            return html.Div(str(err), className="error"), *([no_update] * 4)
        days = daily["day"].tolist()
        marks = slider_marks(days, label=str, steps=DAY_MARK_STEPS)  # a year's days would overprint
        busiest = int(daily.loc[daily["truck_km"].idxmax(), "day"])
        cards = card_row(kpis, WASTE_CARDS, id_prefix="waste-kpi")
        shown = [cards]
        if run_by_model(state.store, key):
            shown.insert(0, model_line(state.store.plan_provenance(key, "waste")))
        note = plan_notes(daily)
        if note is not None:
            shown.append(html.P(note, id="waste-plan-note", className="note warn"))
        for n, warning in enumerate(run_warnings(state.store.waste_info(key))):
            shown.append(html.P(warning, id=f"waste-warning-{n}", className="note warn"))
        if driven is not None:
            text, jammed = driven
            text = text if contrast is None else f"{text} {contrast}"
            shown.append(
                html.P(text, id="waste-traffic-note", className="note warn" if jammed else "note")
            )
        return html.Div(shown), daily_figure(daily), max(days), marks, busiest

    @app.callback(
        Output("waste-compare", "children"),
        Output("waste-tradeoff", "figure"),
        Input("waste-result", "data"),
        Input("waste-baseline", "value"),
    )
    def show_comparison(result: dict | None, baseline: str | None):
        if not result or not baseline:
            return no_update, no_update
        try:
            return comparison(state, result, baseline)
        except (StoreError, *USER_ERRORS) as err:
            return html.Div(str(err), className="error"), no_update

    @app.callback(
        Output("waste-map", "figure"),
        Input("waste-result", "data"),
        Input("waste-day", "value"),
        Input("map-tiles", "value"),
    )
    def draw_map(result: dict | None, day: int | None, tiles: list[str] | None):
        if not result and not tiles:
            return no_update  # the layout's map is this already
        return with_tiles(_routes_map(result, day), state.basemap, tiles)

    def _routes_map(result: dict | None, day: int | None) -> go.Figure:
        key = (result or {}).get("keys", [None])[0]
        if key is None:
            return routes_figure(state.basemap, {}, None, day=None)
        routes = state.store.table(key, "waste/routes")
        bins = state.store.table(key, "waste/bins")
        # a model's routes say so on the map too
        title = policy_label(LEARNED_PLANNER) if run_by_model(state.store, key) else None
        try:
            fill = None if day is None else state.store.table(key, "waste/bin_fill")
        except StoreError:  # a run stored by an older version: fill at the end only
            fill = None
        if fill is None:
            return routes_figure(
                state.basemap, {"routes": routes}, bins, day=day, legend_title=title
            )
        return routes_figure(
            state.basemap, {"routes": routes}, bins_on_day(bins, fill, day), day=day,
            fill_label=f"fill at end of day {day}", legend_title=title,
        )  # fmt: skip
