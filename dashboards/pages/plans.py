"""Plans page: every waste policy the twin offers (the learned planner too, once the API lists
it) on the same days, fleet and seed; routes on the map and KPIs side by side against a
baseline policy, differences highlighted."""

from __future__ import annotations

from dash import Dash, Input, Output, State, dcc, html, no_update

from dashboards.basemap import with_tiles
from dashboards.components import (
    AUTO_FLEET,
    field,
    map_with_day_slider,
    number_field,
    policy_table,
    register_form_check,
    register_run,
    run_controls,
)
from dashboards.figures import routes_figure
from dashboards.forms import read_form
from dashboards.logic import (
    DAY_MARK_STEPS,
    PLAN_KPIS,
    plan_notes,
    policies,
    section_only,
    slider_marks,
)
from dashboards.state import DashboardState
from dashboards.store import StoreError

PATH = "/plans"
TITLE = "Plans"


def layout(state: DashboardState) -> html.Div:
    draft = state.draft()
    waste = draft["waste"]
    names = list(policies())
    return html.Div(
        [
            html.Div(
                [
                    html.Div(
                        [
                            html.H3("Compare collection plans"),
                            html.P(f"Policies: {', '.join(names)}.", className="note"),
                            field(
                                "Baseline policy",
                                dcc.Dropdown(
                                    id="plans-baseline",
                                    options=names,
                                    value="schedule" if "schedule" in names else names[0],
                                    clearable=False,
                                ),
                            ),
                            number_field("Days", "plans-days", value=waste["days"]),
                            number_field(
                                "Trucks",
                                "plans-trucks",
                                value=waste["trucks"],
                                placeholder=AUTO_FLEET,
                            ),
                            field(
                                "Routes shown",
                                dcc.Checklist(
                                    id="plans-shown",
                                    options=names,
                                    value=[p for p in ("pyvrp",) if p in names] or names[:1],
                                ),
                            ),
                            run_controls("plans", "Run all policies"),
                        ],
                        className="panel",
                    ),
                    map_with_day_slider(
                        "plans",
                        routes_figure(state.basemap, {}, None, day=None, uirevision="plans"),
                    ),
                ],
                className="columns",
            ),
            html.Div(id="plans-table"),
        ]
    )


def register(app: Dash, state: DashboardState) -> None:
    def build(draft, days, trucks):
        values = {"days": days, "trucks": trucks}
        updated = read_form(draft, values, section="waste").model_dump(mode="json")
        return [
            section_only(updated, "waste", policy=policy).model_copy(
                update={"name": f"{updated['name']}-{policy}"}
            )
            for policy in policies()
        ]

    register_run(
        app,
        state,
        prefix="plans",
        store_id="plans-result",
        states=[
            State("draft", "data"),
            State("plans-days", "value"),
            State("plans-trucks", "value"),
        ],
        build=build,
        keep_going=True,  # a policy the twin cannot run here (no checkpoint) must not hide the rest
    )
    register_form_check(
        app,
        prefix="plans",
        fields=[("plans-days", "days"), ("plans-trucks", "trucks")],
        section="waste",
    )

    @app.callback(
        Output("plans-table", "children"),
        Output("plans-day", "max"),
        Output("plans-day", "marks"),
        Input("plans-result", "data"),
        Input("plans-baseline", "value"),
    )
    def show_table(result: dict | None, baseline: str):
        if not result:
            return html.P("Run all policies to compare them.", className="note"), 0, {0: "0"}
        by_policy = _by_policy(result)
        if not by_policy:
            return html.P("No policy could run.", className="error"), 0, {0: "0"}
        try:
            kpis = {p: state.store.kpi_dict(k)["waste"] for p, k in by_policy.items()}
            daily = {p: state.store.table(k, "waste/daily") for p, k in by_policy.items()}
        except StoreError as err:
            return html.Div(str(err), className="error"), no_update, no_update
        days = next(iter(daily.values()))["day"]
        table = policy_table(kpis, baseline, PLAN_KPIS, table_id="plans-kpis")
        notes = [
            html.P(f"{policy}: {note}", className="note warn")
            for policy, table_of_days in daily.items()
            if (note := plan_notes(table_of_days)) is not None
        ]
        shown = html.Div([table, *notes], id="plans-notes") if notes else table
        return shown, int(days.max()), slider_marks(days, label=str, steps=DAY_MARK_STEPS)

    @app.callback(
        Output("plans-map", "figure"),
        Input("plans-result", "data"),
        Input("plans-shown", "value"),
        Input("plans-day", "value"),
        Input("map-tiles", "value"),
    )
    def draw_map(result: dict | None, shown: list[str], day: int | None, tiles=None):
        if not result and not tiles:
            return no_update  # the layout's map is this already
        routes = {}
        if result:
            routes = {
                p: state.store.table(k, "waste/routes")
                for p, k in _by_policy(result).items()
                if p in (shown or [])
            }
        figure = routes_figure(state.basemap, routes, None, day=day, uirevision="plans")
        return with_tiles(figure, state.basemap, tiles)


def _by_policy(result: dict) -> dict[str, str]:
    """Run key of each policy, from the names the Plans run gives its scenarios."""
    return {
        name.rsplit("-", 1)[-1]: key
        for key, name in zip(result["keys"], result["names"], strict=True)
        if key is not None
    }
