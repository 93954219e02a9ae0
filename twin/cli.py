"""The ``twin`` command line.

Errors the user can fix (unknown city, bad file, no network) print one ``error:`` line on stderr
and exit with status 1; ``--json`` output is exactly one JSON object on stdout, with progress and
messages on stderr.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from agents.waste.names import GIVEN_ROUTES
from twin import __version__
from twin.errors import USER_ERRORS, TwinError

app = typer.Typer(
    name="twin",
    help="CitiVerse Twin: a local digital twin of a city's traffic and waste collection.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # -h as well: what `twin train -h` (argparse) and most tools accept
    context_settings={"help_option_names": ["-h", "--help"]},
)
city_app = typer.Typer(help="Load, inspect and download cities.", no_args_is_help=True)
app.add_typer(city_app, name="city")
scenario_app = typer.Typer(
    help="Check scenario files and print their schema.", no_args_is_help=True
)
app.add_typer(scenario_app, name="scenario")

stderr = Console(stderr=True)
stdout = Console()

CityArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="[CITY_OR_PATH]",
        help="A city name from `twin cities`, or an .osm/.osm.bz2/.osm.gz/.osm.pbf file. "
        "Default: the bundled default city.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def _typed(metavar: str, *names: str, **options: Any) -> Any:
    """An option read as text and handed to the run's spec, which parses it (one parser, one
    message for a bad value); ``metavar`` says what it takes."""
    return typer.Option(*names, metavar=metavar, **options)


def _print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")


def _count(n: int, noun: str) -> str:
    """``n`` and the noun, plural unless one: "1 run", "3 runs"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


@contextmanager
def _progress(title: str, steps: tuple[str, ...]) -> Iterator[Callable[[str], None]]:
    """A progress bar over named steps, drawn on stderr when it is a terminal."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
        disable=not stderr.is_terminal,
    ) as progress:
        task = progress.add_task(title, total=len(steps))

        def advance(label: str) -> None:
            done = steps.index(label) if label in steps else 0
            progress.update(task, completed=done, description=f"{title}: {label}")

        yield advance
        progress.update(task, completed=len(steps))


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        stdout.print(f"citiverse-twin {__version__}")
        raise typer.Exit()


@app.command("cities")
def cities_command(as_json: JsonOption = False) -> None:
    """List the cities that load by name (bundled ones and those on $TWIN_CITIES_PATH)."""
    import cities

    default = cities.default_city_name()
    rows = [
        {
            "name": c.name,
            "title": c.title,
            "origin": c.origin,
            "default": c.name == default,
            "path": str(c.path),
            **c.details,
        }
        for c in cities.registered_cities()
    ]
    if as_json:
        _print_json(rows)
        return
    table = Table("name", "title", "origin", "path")
    for row in rows:
        name = f"{row['name']} (default)" if row["default"] else row["name"]
        table.add_row(escape(name), escape(row["title"]), row["origin"], escape(row["path"]))
    stdout.print(table)


@city_app.command("info")
def city_info(
    city: CityArgument = None,
    as_json: JsonOption = False,
    no_cache: Annotated[
        bool,
        typer.Option(
            "--no-cache", help="Build from the OSM file; neither read nor write the cache."
        ),
    ] = False,
    cache_dir: Annotated[
        Path | None,
        typer.Option(help="Cache folder (default: $TWIN_CACHE_DIR or ~/.cache/citiverse-twin)."),
    ] = None,
) -> None:
    """Load a city and print a summary of its road network."""
    from cities.city import LOAD_STEPS, load_city

    with _progress("Loading city", LOAD_STEPS) as on_step:
        loaded = load_city(city, use_cache=not no_cache, cache_dir=cache_dir, on_step=on_step)
    summary = loaded.summary()
    if as_json:
        _print_json(summary)
        return
    west, south, east, north = summary["bbox"]
    context = summary["context"]
    table = Table(show_header=False, box=None)
    for label, value in [
        ("city", summary["city"]),
        ("source", summary["source"]),
        ("nodes", f"{summary['nodes']:,}"),
        ("edges", f"{summary['edges']:,}"),
        ("road length", f"{summary['road_km']:,.1f} km (directed)"),
        ("signalized nodes", f"{summary['signalized_nodes']:,}"),
        ("bounding box", f"W {west}  S {south}  E {east}  N {north}"),
        ("CRS", summary["crs"]),
        ("speed limits from OSM", f"{summary['speed_limit_tagged_share']:.0%} of edges"),
        ("homes from", context["home_source"]),
        ("work places from", context["work_source"]),
        (
            "load time",
            f"{summary['load_seconds']:.2f} s" + (" (cache)" if loaded.from_cache else ""),
        ),
    ]:
        table.add_row(f"[bold]{label}[/bold]", escape(str(value)))
    stdout.print(table)


@city_app.command("fetch")
def city_fetch(
    place: Annotated[str, typer.Argument(help="A place name, e.g. 'Vaduz, Liechtenstein'.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The .osm file to write.")],
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each service.")] = 180.0,
) -> None:
    """Download a place's OSM data (needs network access); load it later by path."""
    from cities._online import download_place

    if not out.name.endswith(".osm"):
        raise typer.BadParameter("the output file must end in .osm", param_hint="--out")
    with stderr.status(f"Downloading {escape(place)} from OpenStreetMap…"):
        path = download_place(place, out, timeout_s=timeout)
    stderr.print(f"Saved {escape(str(path))}. Load it with: twin city info {escape(str(path))}")


TripsOption = Annotated[
    str | None,
    _typed(
        "INTEGER",
        "--trips",
        help="Generated home → work trips (default: the city's peak-hour rate, from its "
        "residents, over the departure window).",
    ),
]
DurationOption = Annotated[
    str | None, typer.Option(help="Simulated time, e.g. 2h, 90min, 5400 (default 2h).")
]
WindowOption = Annotated[
    str | None,
    typer.Option(help="Departures spread over this span (default: half the duration)."),
]
SeedOption = Annotated[str, _typed("INTEGER", help="Seed of demand and all random choices.")]
OdOption = Annotated[
    Path | None,
    typer.Option("--od", help="OD table (CSV/Parquet): origin, destination, departure."),
]
CloseOption = Annotated[
    list[str] | None,
    typer.Option(
        "--close", help="Close an edge 'u-v' (OSM node ids) or a way 'way:ID'; repeatable."
    ),
]
DemandScaleOption = Annotated[
    str | None, _typed("NUMBER", help="Multiply demand by this factor (default 1).")
]
OverwriteOption = Annotated[bool, typer.Option(help="Replace an existing --out folder.")]


@app.command("traffic")
def traffic_command(
    city: CityArgument = None,
    trips: TripsOption = None,
    duration: DurationOption = None,
    window: WindowOption = None,
    seed: SeedOption = "0",
    dt: Annotated[
        str | None, _typed("NUMBER", "--dt", help="Time step, seconds (default 2).")
    ] = None,
    reroute_share: Annotated[
        str | None,
        _typed(
            "NUMBER", help="Share of drivers re-routing en route on current travel times (0.2)."
        ),
    ] = None,
    route_cost: Annotated[
        str | None,
        typer.Option(
            help="How re-routing drivers price a link: instantaneous (mean speed on it, as "
            "UXsim; default) or experienced (the time vehicles took to leave it)."
        ),
    ] = None,
    od: OdOption = None,
    on_invalid: Annotated[
        str | None,
        typer.Option(help="OD rows with unknown nodes, unroutable trips: skip or error."),
    ] = None,
    close: CloseOption = None,
    demand_scale: DemandScaleOption = None,
    signal_plan: Annotated[
        str | None,
        typer.Option(
            "--signal-plan",
            help="Signal timings: default (two phases from OSM), webster (Webster's method on "
            "the run's own flows), learned, or a plan file (CSV) from `twin propose-signals`.",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write results (Parquet) into this folder.")
    ] = None,
    overwrite: OverwriteOption = False,
    as_json: JsonOption = False,
) -> None:
    """Simulate a city's traffic and print its KPIs (street changes and junction retimings:
    a scenario file, `twin run`)."""
    from twin.specs import traffic_spec

    # the same spec, bounds and messages as the API and scenario files, checked before loading
    # the city or the simulator (a bad value is refused in a fraction of a second)
    _refuse_window_with_od(od, window)
    spec = _from_options(
        traffic_spec, "traffic", {"dt_s": "--dt"},
        trips=trips, od=od, duration=duration, window=window, dt_s=dt,
        reroute_share=reroute_share, route_cost=route_cost, on_invalid=on_invalid,
        close=close or None, demand_scale=demand_scale, signal_plan=signal_plan,
    )  # fmt: skip
    seed = _seed(seed)
    _refuse_occupied(out, overwrite, "run.json")
    from twin.api import run_traffic

    with _fraction_progress("Simulating traffic") as advance:
        run = run_traffic(city, spec, seed=seed, on_progress=advance)
    if out is not None:
        run.write(out, overwrite=overwrite)
    extra: dict[str, object] = {}
    if "default_demand" in run.settings:
        extra["default_demand"] = run.settings["default_demand"]
        stderr.print(
            f"Demand: {escape(run.settings['default_demand'])} (--trips N or --od FILE to "
            "give your own)",
            highlight=False,
            soft_wrap=True,
        )
    if "od_table" in run.settings:
        extra["od_table"] = run.settings["od_table"]
    extra["warnings"] = _say_warnings(run.settings["warnings"]) + _traffic_warnings(run.kpis)
    _report(run.kpis, {"city": run.city.name, "seed": seed}, out, as_json, extra)


def _seed(text: str) -> int:
    """``--seed`` checked as a scenario's ``seed`` is."""
    from twin.specs import check_seed

    try:
        return check_seed(int(text))
    except ValueError:
        return check_seed(text)  # refused, with the text as given


# spec fields the command line reads as text (``_typed``) and hands over as numbers, so that the
# spec quotes a bad one as it quotes it from a file or a call
_NUMBERS = frozenset({
    "trips", "dt_s", "reroute_share", "demand_scale", "days", "trucks", "population",
    "truck_capacity_kg", "solver_time_s", "solver_iterations",
})  # fmt: skip


def _from_options(
    make: Callable[..., Any], section: str, flags: dict[str, str], **options: Any
) -> Any:
    """``make(**options given)`` (``traffic_spec``, ``waste_spec``), its refusals naming the
    command's option as typed and the spec's field a scenario file names
    (``--dt (traffic.dt_s): must be > 0``); ``flags`` maps a field to its option where the two
    names differ."""
    from twin.specs import ScenarioError

    try:
        return make(**_given(**options))
    except ScenarioError as err:
        lines = []
        for line in str(err).splitlines():
            where, sep, problem = line.partition(": ")
            parts = where.split(".")
            if sep and len(parts) >= 2 and parts[0] == section and parts[1] in options:
                flag = flags.get(parts[1], "--" + parts[1].replace("_", "-"))
                nth = f" #{int(parts[2]) + 1}" if len(parts) > 2 and parts[2].isdigit() else ""
                line = f"{flag}{nth} ({where}): {_advice_in_flags(problem, options, flags)}"
            lines.append(line)
        raise ScenarioError("\n".join(lines)) from None


# a cross-field rule's advice names the fields to change, a scenario file's words: "set planner
# pyvrp, or objective km", "set traffic_coupling (with traffic.trips)"; not a scenario file's
# own key ("or rounds: FILE in a scenario")
_ADVICE = re.compile(r"\b(set|or) ([a-z][a-z_]*)(?![a-z_:])( \(with [a-z_.]+\))?")


def _advice_in_flags(problem: str, options: dict[str, Any], flags: dict[str, str]) -> str:
    """``problem`` with the fields its advice names written as the command's options
    (``set --planner pyvrp, or --objective km``); a field the command has no option for keeps
    its name."""

    def flag(match: re.Match[str]) -> str:
        verb, field = match.group(1), match.group(2)
        if field not in options and field not in flags:
            return match.group(0)
        if field in flags:  # an option of its own, one that sets what the aside names too
            return f"{verb} {flags[field]}"  # (--traffic-trips: the coupling and its trips)
        return f"{verb} --{field.replace('_', '-')}{match.group(3) or ''}"

    return _ADVICE.sub(flag, problem)


def _given(**options: Any) -> dict[str, Any]:
    """The options the user gave (typer's ``None``: left to the spec's default)."""
    return {
        name: _as_number(value) if name in _NUMBERS else value
        for name, value in options.items()
        if value is not None
    }


def _as_number(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value


def _say_warnings(warnings: list[str]) -> list[str]:
    for warning in warnings:
        stderr.print(
            f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False, soft_wrap=True
        )
    return list(warnings)


def _traffic_warnings(kpis: dict) -> list[str]:
    """Unfinished trips and gridlock, said on stderr (and returned for the JSON output)."""
    from agents.kpis import traffic_warnings

    return _say_warnings(traffic_warnings(kpis))


def _refuse_occupied(out: Path | None, overwrite: bool, manifest: str) -> None:
    """Refuse an output folder the write would refuse, before a long run, not after it."""
    if out is None:
        return
    from twin.results_io import check_output_folder

    try:
        check_output_folder(out, overwrite=overwrite, manifest=manifest)
    except TwinError as err:
        raise typer.BadParameter(str(err), param_hint="--out") from None


def _refuse_window_with_od(od: Path | None, window: str | None) -> None:
    """Refuse a departure window given with an OD table, whose rows carry their departures."""
    if od is not None and window is not None:
        raise typer.BadParameter(
            "the window spreads the departures of generated trips; the OD table gives each "
            "trip its own departure, so --window would change nothing. Leave --window out (or "
            "shift the table's departure times).",
            param_hint="--window",
        )


def _refuse_planning_options(policy: str | None, given: dict[str, Any]) -> None:
    """Refuse options of route planning given with a policy whose routes are given (the
    city's own rounds, or rounds drawn by hand): nothing would plan with them."""
    if policy not in GIVEN_ROUTES:
        return
    for option, value in given.items():
        if value is not None:
            raise typer.BadParameter(
                f"policy {policy} drives its rounds as given: no planner routes them, so "
                f"{option} would change nothing. Leave {option} out, or choose a policy whose "
                "routes are planned (schedule, threshold or forecast).",
                param_hint=option,
            )


@contextmanager
def _fraction_progress(title: str) -> Iterator[Callable[..., None]]:
    """A progress bar fed with the completed fraction, on stderr; where stderr is not a
    terminal (a log, a pipe, a batch job), a line at every tenth instead, so that a long run
    is never silent. A work of several stages passes each one's name with its own fraction
    (``advance(fraction, stage)``): the bar names the stage and starts again from 0."""
    if not stderr.is_terminal:
        started, said = time.monotonic(), {"tenths": 0, "stage": None}

        def log(fraction: float, stage: str | None = None) -> None:
            if stage != said["stage"]:
                said.update(stage=stage, tenths=0)
            tenths = int(fraction * 10 + 1e-9)
            if tenths > said["tenths"]:
                said["tenths"] = tenths
                elapsed = time.monotonic() - started
                named = title if stage is None else f"{title}, {stage}"
                stderr.print(f"{named}: {tenths * 10}% ({elapsed:.0f} s)", highlight=False)

        yield log
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    ) as progress:
        task = progress.add_task(title, total=1.0)

        def update(fraction: float, stage: str | None = None) -> None:
            named = title if stage is None else f"{title}, {stage}"
            progress.update(task, completed=fraction, description=named)

        yield update


def _report(kpis: dict, header: dict, out: Path | None, as_json: bool, extra=None) -> None:
    """KPIs as one JSON object, or as a table."""
    if as_json:
        _print_json({**header, **kpis, **(extra or {}), **({"out": str(out)} if out else {})})
        return
    table = Table("KPI", "value")
    for key, value in kpis.items():
        if isinstance(value, dict):
            continue
        table.add_row(key, f"{value:,.3f}" if isinstance(value, float) else str(value))
    stdout.print(table)
    if out is not None:
        stderr.print(f"Results written to {escape(str(out))}")


@app.command("waste")
def waste_command(
    city: CityArgument = None,
    days: Annotated[
        str | None, _typed("INTEGER", help="Simulated days; day 0 is a Monday (default 28).")
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(
            help="Which bins are emptied when: schedule (weekly rounds, optimized), hand-drawn "
            "(the same rounds drawn street by street), current (the city's own rounds: "
            "--rounds), threshold (past a fill level) or forecast (due bins plus those worth "
            "the detour; the default)."
        ),
    ] = None,
    rounds: Annotated[
        Path | None,
        typer.Option(
            help="With --policy current: the city's rounds (CSV of stops per truck and weekday, "
            "GeoJSON or GPX of routes, or collection points with weekdays)."
        ),
    ] = None,
    objective: Annotated[
        str | None,
        typer.Option(help="What PyVRP minimises: km (default), hours or euros."),
    ] = None,
    plan_times: Annotated[
        str | None,
        typer.Option(
            help="Travel times plans are made on: time-of-day (default; the traffic's with "
            "--traffic-trips) or free-flow."
        ),
    ] = None,
    forecast_days: Annotated[
        str | None,
        _typed(
            "INTEGER",
            help="With --traffic-trips: plan on the mean times of this many other days' "
            "traffic, as a city plans on past days (default 0: on the very traffic driven in).",
        ),
    ] = None,
    planner: Annotated[
        str | None,
        typer.Option(help="Who routes the trucks: pyvrp (default), greedy or learned."),
    ] = None,
    trucks: Annotated[
        str | None, _typed("INTEGER", help="Fleet size (default: sized to the city's waste).")
    ] = None,
    seed: Annotated[str, typer.Option(help="Seed of bins, waste and planning.")] = "0",
    population: Annotated[
        str | None, _typed("NUMBER", help="Residents served (default: estimated from OSM).")
    ] = None,
    capacity: Annotated[
        str | None, _typed("NUMBER", help="Truck payload, kg (default 10000).")
    ] = None,
    shift: Annotated[str | None, typer.Option(help="Shift length, e.g. 8h (default).")] = None,
    solver_time: Annotated[
        str | None, _typed("NUMBER", help="PyVRP's time limit per day, s: a safety cap (60).")
    ] = None,
    solver_iterations: Annotated[
        str | None,
        _typed("INTEGER", help="PyVRP stops after this many iterations a day: runs repeat (1000)."),
    ] = None,
    depot: Annotated[
        str | None, typer.Option(help="Depot position 'lon,lat' (default: from OSM).")
    ] = None,
    disposal: Annotated[
        str | None, typer.Option(help="Disposal site 'lon,lat' (default: from OSM).")
    ] = None,
    traffic_trips: Annotated[
        str | None,
        _typed("INTEGER", help="Couple with traffic: background trips during the shift."),
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="With --planner learned: a trained planner (default: the shipped one); days "
            "outside its training range are planned by PyVRP."
        ),
    ] = None,
    polish_iterations: Annotated[
        str | None,
        _typed(
            "INTEGER",
            help="With --planner learned: PyVRP iterations a day that polish the model's plan, "
            "starting from it (default 0: the model's plan as it is).",
        ),
    ] = None,
    close: Annotated[
        list[str] | None,
        typer.Option(
            "--close", help="Close an edge 'u-v' (OSM node ids) or a way 'way:ID'; repeatable."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write results into this folder.")
    ] = None,
    export: Annotated[
        list[str] | None,
        typer.Option(help="Route/bin export formats with --out: geojson, gpkg; repeatable."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out folder.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Simulate a city's waste collection under one policy and planner; print its KPIs."""
    from twin.specs import traffic_spec, waste_spec

    if export and out is None:
        raise typer.BadParameter(
            "exports are written with the results: add --out DIR", param_hint="--export"
        )
    formats = tuple(export or ["geojson"])
    unknown = sorted(set(formats) - {"geojson", "gpkg"})
    if unknown:
        raise typer.BadParameter(f"{unknown}: use geojson or gpkg", param_hint="--export")
    # not --plan-times nor --forecast-days: given rounds are costed on the planning times too
    _refuse_planning_options(
        policy,
        {"--planner": planner, "--objective": objective, "--checkpoint": checkpoint,
         "--polish-iterations": polish_iterations, "--solver-time": solver_time,
         "--solver-iterations": solver_iterations},
    )  # fmt: skip
    spec = _from_options(
        waste_spec, "waste",
        {"truck_capacity_kg": "--capacity", "solver_time_s": "--solver-time",
         "traffic_coupling": "--traffic-trips"},
        days=days, policy=policy, planner=planner, trucks=trucks, population=population,
        truck_capacity_kg=capacity, shift=shift, solver_time_s=solver_time,
        solver_iterations=solver_iterations, depot=_lonlat(depot, "--depot"),
        disposal=_lonlat(disposal, "--disposal"), checkpoint=checkpoint,
        polish_iterations=polish_iterations,
        traffic_coupling=True if traffic_trips is not None else None,
        rounds=None if rounds is None else str(rounds), objective=objective,
        plan_times=plan_times, forecast_days=forecast_days,
    )  # fmt: skip
    traffic = None
    if traffic_trips is not None or close:
        traffic = _from_options(
            traffic_spec, "traffic", {"trips": "--traffic-trips"},
            trips=traffic_trips, close=close or None,
        )  # fmt: skip
    seed = _seed(seed)
    _refuse_occupied(out, overwrite, "run.json")
    from twin.api import run_waste

    with _fraction_progress(f"Simulating waste collection ({spec.policy})") as advance:
        run = run_waste(city, spec, seed=seed, traffic=traffic, on_progress=advance)
    if out is not None:
        run.write(out, formats=formats, overwrite=overwrite)
    extra = {"warnings": run.result.info["warnings"], "trucks": run.config.n_trucks}
    if run.traffic is not None:
        extra["traffic"] = run.traffic
    _say_warnings(run.result.info["warnings"])
    header = {"city": run.city.name, "policy": spec.policy, "planner": spec.planner, "seed": seed}
    if spec.policy in GIVEN_ROUTES:
        header["planner"] = "given rounds"
    else:
        header["objective"] = spec.objective
    _report(run.kpis, header, out, as_json, extra)


@app.command("waste-compare")
def waste_compare_command(
    city: CityArgument = None,
    rounds: Annotated[
        Path | None,
        typer.Option(help="The city's own rounds: the baseline (default: rounds drawn by hand)."),
    ] = None,
    days: Annotated[
        str | None, _typed("INTEGER", help="Simulated days; day 0 is a Monday (default 28).")
    ] = None,
    trucks: Annotated[
        str | None, _typed("INTEGER", help="Fleet size (default: the baseline's).")
    ] = None,
    population: Annotated[
        str | None, _typed("NUMBER", help="Residents served (default: estimated from OSM).")
    ] = None,
    solver_iterations: Annotated[
        str | None,
        _typed("INTEGER", help="PyVRP stops after this many iterations a day: runs repeat (1000)."),
    ] = None,
    seed: Annotated[str, typer.Option(help="Seed of bins, waste and planning.")] = "0",
    as_json: JsonOption = False,
) -> None:
    """Set every policy against the city's baseline (its own rounds, else rounds drawn by hand):
    truck-km, truck-hours, euros, CO2 and service level on the same bins, waste and fleet."""
    from twin.specs import waste_spec

    spec = _from_options(
        waste_spec, "waste", {},
        days=days, trucks=trucks, population=population, solver_iterations=solver_iterations,
        rounds=None if rounds is None else str(rounds),
        policy="current" if rounds is not None else None,
    )  # fmt: skip
    policies = (
        "hand-drawn", "schedule", "threshold", "forecast",
        {"label": "forecast, euros", "policy": "forecast", "objective": "euros"},
    )  # fmt: skip
    seed_number = _seed(seed)
    from twin.api import against_baseline

    with _fraction_progress("Running every policy against the baseline") as advance:
        table = against_baseline(
            city, spec, seed=seed_number, policies=policies, on_progress=advance
        )
    # a baseline that leaves most bins out makes every comparison with it meaningless: said
    for row in table.itertuples(index=False):
        _say_warnings([f"{row.label}: {warning}" for warning in row.warnings])
    if as_json:
        _print_json(json.loads(table.to_json(orient="records")))
        return
    shown = Table(
        "policy", "truck-km", "truck-hours", "€", "€ per tonne", "CO2 kg", "service level",
        "overflows €", title=f"Against the baseline ({table['label'].iloc[0]})",
    )  # fmt: skip
    for row in table.itertuples(index=False):

        def cell(kpi: str, row=row) -> str:
            value = getattr(row, kpi)
            change = getattr(row, f"{kpi}_vs_baseline")
            return f"{value:,.1f}" if row.baseline else f"{value:,.1f} ({change:+.1%})"

        shown.add_row(
            row.label, cell("truck_km"), cell("truck_hours"), cell("cost_eur"),
            cell("cost_per_tonne_eur"), cell("co2_kg"), f"{row.service_level:.4f}",
            f"{row.overflow_cost_eur:,.0f}",
        )  # fmt: skip
    stdout.print(shown)


@app.command("instances")
def instances_command(
    city: CityArgument = None,
    out: Annotated[Path, typer.Option("--out", help="Instance file to write (.npz).")] = Path(
        "instances.npz"
    ),
    bins: Annotated[int, typer.Option(help="Bins per instance.")] = 100,
    count: Annotated[int, typer.Option(help="Number of instances (working days).")] = 1000,
    trucks: Annotated[int, typer.Option(help="Fleet size.")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of bins and waste.")] = 0,
    reference_s: Annotated[
        float,
        typer.Option(
            help="Also solve each with PyVRP for this long (s): validation gaps and labels."
        ),
    ] = 0.0,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the file if it exists.")
    ] = False,
) -> None:
    """Sample a city's collection days as a training file (torch + numpy only to read)."""
    from cities.city import load_city
    from generative.instances import sample_instances, with_references, write_instances
    from twin.specs import check_seed

    if reference_s < 0:
        raise typer.BadParameter(f"{reference_s}: must be ≥ 0", param_hint="--reference-s")
    if out.is_dir() or not out.name.endswith(".npz"):
        raise typer.BadParameter(
            f"{_short(out)}: give a file name ending in .npz", param_hint="--out"
        )
    if out.exists() and not overwrite:
        # days sampled with PyVRP labels may be hours of work: never replaced unasked
        raise typer.BadParameter(
            f"{_short(out)} exists: choose a new file or pass --overwrite", param_hint="--out"
        )
    for value, option in ((bins, "--bins"), (count, "--count"), (trucks, "--trucks")):
        if value < 1:
            raise typer.BadParameter(f"{value}: must be ≥ 1", param_hint=option)
    check_seed(seed)
    loaded = load_city(city)
    with _fraction_progress(f"Sampling {count} days of {bins} bins") as advance:
        batch = sample_instances(loaded, n_bins=bins, n_instances=count, seed=seed, n_trucks=trucks)
        if reference_s > 0:
            batch = with_references(
                batch, time_s=reference_s, seed=seed, progress=lambda i, n: advance(i / n)
            )
    write_instances(batch, out)
    stderr.print(f"{len(batch)} instances of {bins} bins written to {escape(str(out))}")


def _range(value: str, option: str, kind: type = float) -> tuple:
    """'LOW-HIGH' (or one value) as a pair."""
    try:
        parts = [kind(p) for p in value.split("-")] if "-" in value[1:] else [kind(value)] * 2
    except ValueError:
        parts = []
    if len(parts) != 2 or not all(math.isfinite(p) for p in parts):
        raise typer.BadParameter(
            f"'{value}': write a range as LOW-HIGH, e.g. 50-500", param_hint=option
        )
    if parts[0] > parts[1]:
        raise typer.BadParameter(
            f"'{value}': LOW above HIGH, write it as LOW-HIGH", param_hint=option
        )
    return tuple(parts)


@app.command("corpus")
def corpus_command(
    out: Annotated[
        Path, typer.Argument(metavar="FOLDER", help="Folder of the corpus (resumable).")
    ],
    city: Annotated[
        list[str] | None,
        typer.Option(
            "--city",
            help="A real place (name or OSM file), whole and cut into windows; repeatable. "
            "Default: the bundled default city.",
        ),
    ] = None,
    draws: Annotated[int, typer.Option(help="Files (each a place, a size and a fleet).")] = 100,
    days: Annotated[int, typer.Option(help="Days per file.")] = 40,
    bins: Annotated[str, typer.Option(help="Bins per day, LOW-HIGH (log-uniform).")] = "50-500",
    trucks: Annotated[str, typer.Option(help="Fleet, LOW-HIGH (about 1 per 65 bins).")] = "1-8",
    capacity: Annotated[str, typer.Option(help="Truck payload, kg, LOW-HIGH.")] = "6000-14000",
    shift: Annotated[str, typer.Option(help="Shift, hours, LOW-HIGH.")] = "6-10",
    synthetic: Annotated[float, typer.Option(help="Share of synthetic towns.")] = 0.3,
    windows: Annotated[float, typer.Option(help="Share of windows cut from cities.")] = 0.35,
    random_sites: Annotated[
        float,
        typer.Option(help="Share of draws with depot and disposal site at random junctions."),
    ] = 0.7,
    city_bins: Annotated[
        bool,
        typer.Option(
            "--city-bins",
            help="A city whole gets its own bins, as its waste twin places them (its residents "
            "estimated from the buildings), not bins placed for the day's size.",
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the plan (places, sizes, days).")] = 0,
    reference_s: Annotated[
        float,
        typer.Option(help="Also solve each day with PyVRP for this long (s): validation sets."),
    ] = 0.0,
    workers: Annotated[int, typer.Option(help="Processes drawing files at once.")] = 2,
) -> None:
    """Draw training days from many places (cities, windows of them, synthetic towns) into a
    folder of instance files, in parallel; run again to finish an interrupted corpus."""
    from generative.corpus import build_corpus, plan_corpus

    cities = list(city or [None])
    if not (synthetic >= 0 and windows >= 0 and synthetic + windows <= 1):
        raise typer.BadParameter(
            "shares of synthetic towns and windows: each ≥ 0, at most 1 together"
        )
    if not 0 <= random_sites <= 1:
        raise typer.BadParameter(f"{random_sites}: a share, 0 to 1", param_hint="--random-sites")
    settings = {
        "cities": [c or "default" for c in cities], "bins": _range(bins, "--bins", int),
        "trucks": _range(trucks, "--trucks", int), "capacity_kg": _range(capacity, "--capacity"),
        "shift_h": _range(shift, "--shift"), "seed": seed, "reference_s": reference_s,
        "kinds": {"city": 1 - synthetic - windows, "window": windows, "synthetic": synthetic},
        "random_sites": random_sites, "city_bins": city_bins,
    }  # fmt: skip
    if reference_s < 0:
        raise typer.BadParameter(f"{reference_s}: must be ≥ 0", param_hint="--reference-s")
    names = [c if c is not None else _default_city() for c in cities]
    plan = plan_corpus(
        names, draws=draws, days_per_draw=days, seed=seed, bins=settings["bins"],
        trucks=settings["trucks"], capacity_kg=settings["capacity_kg"],
        shift_h=settings["shift_h"], kinds=settings["kinds"], reference_s=reference_s,
        random_sites=random_sites, city_bins=city_bins,
    )  # fmt: skip
    with _fraction_progress(f"Drawing {draws} files of {days} days") as advance:
        terminal = stderr.is_terminal

        def report(done: int, total: int, name: str) -> None:
            advance(done / total)
            if not terminal and name:
                stderr.print(f"{done}/{total} {escape(name)}", highlight=False)

        files = build_corpus(plan, out, workers=workers, settings=settings, on_progress=report)
    stderr.print(f"{len(files)} files of {days} days in {escape(str(out))}")


@app.command("signal-corpus")
def signal_corpus_command(
    out: Annotated[
        Path, typer.Argument(metavar="FOLDER", help="Folder of the scenarios (resumable).")
    ],
    city: Annotated[
        list[str] | None,
        typer.Option(
            "--city",
            help="A real place (name or OSM file), whole and, with 50 signals or more, cut into "
            "windows; repeatable. Default: the bundled default city.",
        ),
    ] = None,
    draws: Annotated[
        int,
        typer.Option(
            help="Scenarios (a place, demand, closures), over the places in turn: the cities, "
            "then the windows, then the towns (fewer draws than places leave the last out)."
        ),
    ] = 200,
    windows: Annotated[
        int,
        typer.Option(
            help="Windows cut around the signals of the cities with 50 or more of them and "
            "more junctions than a window needs (a count; `twin corpus`'s --windows is a share)."
        ),
    ] = 40,
    synthetic: Annotated[
        int, typer.Option(help="Synthetic towns (a count; `twin corpus`'s is a share).")
    ] = 40,
    demand: Annotated[str, typer.Option(help="Demand factor, LOW-HIGH (log-uniform).")] = (
        "0.5-2.5"
    ),
    closures: Annotated[str, typer.Option(help="Streets closed, LOW-HIGH.")] = "0-4",
    seed: Annotated[int, typer.Option(help="Seed of the plan and the scenarios.")] = 0,
    workers: Annotated[int, typer.Option(help="Processes simulating at once.")] = 2,
) -> None:
    """Simulate signal-timing scenarios of many places (cities, windows, synthetic towns) into
    a folder of instance files for the learned signal planner; run again to finish."""
    from generative.signal_instances import build_signal_corpus, plan_signal_corpus, signal_places

    places = signal_places(
        [c for c in city or [_default_city()]], windows=windows, synthetic=synthetic, seed=seed
    )
    plan = plan_signal_corpus(
        places, draws=draws, seed=seed, demand=_range(demand, "--demand"),
        closures=_range(closures, "--closures", int),
    )  # fmt: skip
    with _fraction_progress(f"Simulating {draws} signal scenarios") as advance:
        files = build_signal_corpus(
            plan, out, workers=workers, on_progress=lambda done, total: advance(done / total)
        )
    failed = len(json.loads((Path(out) / "failed.json").read_text() or "{}"))
    if failed and not files:
        raise TwinError(
            f"no scenario could be simulated ({failed} failed, each one's error in "
            f"{Path(out) / 'failed.json'}): give places with signalized junctions (--city)."
        )
    said = f"; {failed} failed, listed in failed.json" if failed else ""
    stderr.print(f"{len(files)} scenarios in {escape(str(out))}{said}")


@app.command(
    "train-signals",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def train_signals_command(ctx: typer.Context) -> None:
    """Train the learned signal planner: `twin train-signals SCENARIOS --out DIR [--val …]
    [--steps N] [--device cpu|cuda] [--bf16] [--resume]` (all options: `python -m
    generative.signal_train -h`; under torchrun for several GPUs)."""
    from generative.signal_train import main as train_main

    status = train_main(ctx.args, prog="twin train-signals")
    if status:
        raise typer.Exit(status)


def _default_city() -> str:
    from cities import default_city_name

    return default_city_name()


@app.command(
    "train",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    # --help goes to the trainer, which lists every option
    add_help_option=False,
)
def train_command(ctx: typer.Context) -> None:
    """Train the learned planner: `twin train INSTANCES --out DIR [--val FILE] [--steps N]
    [--device cpu|cuda] [--bf16] [--resume] …` (all options: `python -m generative.train -h`).
    For several processes or GPUs, run `torchrun … -m generative.train` instead."""
    from generative.train import main as train_main

    status = train_main(ctx.args, prog="twin train")
    if status:
        raise typer.Exit(status)


@app.command("model-card")
def model_card_command(
    checkpoint: Annotated[
        Path,
        typer.Argument(
            metavar="CHECKPOINT",
            help="A checkpoint (.pt) of the route or the signal planner, or the name of a "
            "shipped one: general, helsinki, signals.",
        ),
    ],
    evaluation: Annotated[
        list[Path] | None,
        typer.Option(
            "--evaluation",
            help="An evaluation document of this checkpoint (a benchmark's --evaluation-out "
            "FILE), its figures copied into the card; repeat for several.",
        ),
    ] = None,
    write: Annotated[
        bool,
        typer.Option(
            "--write",
            help="(Re)write NAME.card.json and NAME.card.md next to the checkpoint; without "
            "--evaluation the card keeps the evaluation of the card there, where it still holds.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Show a checkpoint's model card: intended use, training data, compute, evaluation and
    known limits, generated from the checkpoint and its evaluation; a card next to the
    checkpoint is checked against them (a foreign or edited card is refused)."""
    import generative
    from generative.model_card import (
        ModelCardError,
        build_model_card,
        read_model_card,
        render_markdown,
        reusable_evaluations,
        write_model_card,
    )

    shipped = Path(generative.__file__).parent / "checkpoints" / f"{checkpoint}.pt"
    # a bare name of a shipped checkpoint, where no such file lies here
    if not checkpoint.exists() and checkpoint.parent == Path(".") and shipped.is_file():
        checkpoint = shipped
    try:
        documents: list[Any] = list(evaluation or [])
        if write:
            if not documents:
                documents, dropped = reusable_evaluations(checkpoint)
                for reason in dropped:
                    stderr.print(f"[yellow]note:[/yellow] {escape(reason)}", highlight=False)
            written = write_model_card(checkpoint, evaluations=documents)
            card = read_model_card(checkpoint)
            stderr.print(f"wrote {escape(str(written[0]))}, {escape(str(written[1]))}",
                         highlight=False, soft_wrap=True)  # fmt: skip
        elif documents:
            card = build_model_card(checkpoint, evaluations=documents)
        else:
            card = read_model_card(checkpoint)
    except ModelCardError as err:
        raise TwinError(str(err)) from None
    if as_json:
        _print_json(card)
        return
    text = render_markdown(card)
    if stdout.is_terminal:
        from rich.markdown import Markdown

        stdout.print(Markdown(text))
    else:
        sys.stdout.write(text)


@app.command("finetune")
def finetune_command(
    city: CityArgument = None,
    out: Annotated[
        Path, typer.Option("--out", help="Folder of the days, the run and the report.")
    ] = Path("finetune"),
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="Checkpoint to start from (default: the shipped general planner)."),
    ] = None,
    draws: Annotated[int, typer.Option(help="Training files of the city's days.")] = 24,
    days: Annotated[int, typer.Option(help="Days per file.")] = 40,
    bins: Annotated[str, typer.Option(help="Bins per day, LOW-HIGH (capped at the city's).")] = (
        "50-500"
    ),
    steps: Annotated[int, typer.Option(help="Training steps.")] = 1000,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 2e-4,
    seed: Annotated[int, typer.Option(help="Seed of the days and the training.")] = 0,
    workers: Annotated[int, typer.Option(help="Processes drawing the days.")] = 2,
    days_like: Annotated[
        str,
        typer.Option(
            help="twin: the days its waste twin plans (the city whole, its depot, disposal "
            "site and bins); varied: also windows of it, random depots and sites."
        ),
    ] = "twin",
    twin_days: Annotated[
        int,
        typer.Option(
            help="Then check the tuned model in the city's waste twin: days a run (0: no check)."
        ),
    ] = 28,
    twin_seeds: Annotated[
        int, typer.Option(help="Runs of the check (seeds 0, 1, …) for each planner.")
    ] = 3,
    as_json: JsonOption = False,
) -> None:
    """Adapt the learned planner to one city: draw its days, fine-tune, compare before/after,
    then check the tuned model against the one it would replace in the city's waste twin."""
    from generative.checkpoint import CheckpointError
    from generative.data import InstanceFileError
    from generative.finetune import finetune
    from generative.propose import GENERAL_CHECKPOINT
    from generative.train import TrainingError

    base = checkpoint or GENERAL_CHECKPOINT
    if not Path(base).is_file():
        raise TwinError(f"{base}: no such checkpoint; pass --checkpoint.")
    if twin_days < 0 or (twin_days and twin_seeds < 1):
        raise typer.BadParameter(
            "the check in the twin needs --twin-days ≥ 0 (0: no check) and --twin-seeds ≥ 1",
            param_hint="--twin-days / --twin-seeds",
        )
    name = city or _default_city()
    with _fraction_progress(f"Fine-tuning for {name}") as advance:
        try:
            result = finetune(
                name, out, base=base, draws=draws, days=days, bins=_range(bins, "--bins", int),
                steps=steps, lr=lr, seed=seed, workers=workers, days_like=days_like,
                on_progress=lambda stage, fraction: advance(fraction, stage),
            )  # fmt: skip
        except (TrainingError, CheckpointError, InstanceFileError) as err:
            # the training modules' own errors (torch and numpy only, no TwinError there)
            raise TwinError(str(err)) from None
        if twin_days:
            result["twin_check"] = _finetune_twin_check(
                name, result["checkpoint"], base, out, days=twin_days, seeds=twin_seeds,
                on_progress=lambda fraction: advance(fraction, "checking it in the twin"),
            )  # fmt: skip
    if as_json:
        _print_json(result)
        return
    stdout.print(
        f"validation gap to PyVRP (1 s): {result['gap_before_pct']:+.2f} % before, "
        f"{result['gap_after_pct']:+.2f} % after ({result['days_better']} days better, "
        f"{result['days_worse']} worse) in {result['wall_s'] / 60:.1f} min"
    )
    check = result.get("twin_check")
    if check is None:
        stderr.print(
            f"checkpoint: {escape(result['checkpoint'])} (pass it to --checkpoint); check it in "
            f"the twin before adopting it (twin waste {escape(name)} --planner learned "
            "--checkpoint …: truck-km, service level, overflows)",
            highlight=False,
        )
        return
    km, overflow, change = check["truck_km"], check["overflow_bin_days"], check["km_change_pct"]
    spread = "" if change["se"] is None else f" ± {change['se']:.1f}"
    stdout.print(
        f"in the twin ({check['days']} days, {_count(len(check['seeds']), 'run')} each): "
        "truck-km "
        f"{km['reference']:,.0f} → {km['candidate']:,.0f} ({change['mean']:+.1f}{spread} %; "
        f"PyVRP policy {km['pyvrp']:,.0f}), overflowing bin-days a run "
        f"{overflow['reference']:.1f} → {overflow['candidate']:.1f} (PyVRP {overflow['pyvrp']:.1f})"
    )
    passed_on = check["days_by_pyvrp"]["candidate"]
    if passed_on:
        stderr.print(
            f"note: {passed_on} of the tuned model's days in the twin lay outside its range "
            "and were planned by PyVRP",
            highlight=False,
        )
    verdict = (
        "adopt it (--planner learned --checkpoint …)"
        if check["adopt"]
        else "keep the one it would replace"
    )
    stderr.print(
        f"checkpoint: {escape(result['checkpoint'])}; {verdict}: {check['reason']} (the runs: "
        f"{escape(str(Path(out) / 'twin-check.json'))})",
        highlight=False,
    )


def _finetune_twin_check(
    city: str, tuned: str, base: Path, out: Path, *, days: int, seeds: int, on_progress
) -> dict[str, Any]:
    """The tuned checkpoint checked in the twin against ``base``; written to twin-check.json."""
    from twin.learned_check import check_in_twin
    from twin.results_io import write_file_atomic

    check = check_in_twin(
        city, tuned, reference=base, days=days, seeds=range(seeds), on_progress=on_progress
    )
    summary = check.summary()
    text = json.dumps({**summary, "runs": check.runs.to_dict(orient="records")}, indent=2)
    write_file_atomic(Path(out) / "twin-check.json", lambda path: path.write_text(text))
    return summary


@app.command("propose")
def propose_command(
    city: CityArgument = None,
    bins: Annotated[int, typer.Option(help="Bins of the sampled day.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the day and of the sampling.")] = 0,
    trucks: Annotated[int, typer.Option(help="Fleet size.")] = 3,
    population: Annotated[
        float | None,
        typer.Option(help="Residents served (default: estimated from OSM): more, more bins."),
    ] = None,
    samples: Annotated[
        int | None, typer.Option(help="Plans the model samples (default: the planner's).")
    ] = None,
    temperature: Annotated[
        float | None,
        typer.Option(
            help="Sampling temperature; below 1 the plans stay nearer the model's likeliest "
            "(default: the planner's)."
        ),
    ] = None,
    refine: Annotated[
        int | None,
        typer.Option(
            help="The cheapest this many sampled plans are refined by the planner's own local "
            "search, the best kept (0: the model's plan as drawn; default: the planner's)."
        ),
    ] = None,
    polish: Annotated[
        float, typer.Option(help="Seconds of PyVRP polishing the learned plan (0: none).")
    ] = 1.0,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="Trained planner (default: the shipped one for any city)."),
    ] = None,
    outside_range: Annotated[
        str,
        typer.Option(
            "--outside-range",
            "--too-large",
            help="A day outside the model's training range (bins, trucks, shift, capacity, "
            "travel-time scale): refuse, fallback (PyVRP) or attempt (the model plans it "
            "anyway, marked so).",
        ),
    ] = "refuse",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the proposal folder (proposal.json, routes.json) a planner approves "
            "or rejects (`twin decide`).",
        ),
    ] = None,
    overwrite: OverwriteOption = False,
    as_json: JsonOption = False,
) -> None:
    """Propose a day's collection plan with the learned planner, checked against PyVRP and
    greedy on the same day: capacity, shift, required bins and cost."""
    from generative.propose import OUTSIDE_RANGE
    from twin.route_proposals import propose_routes
    from twin.specs import short_repr

    if outside_range not in OUTSIDE_RANGE:
        raise typer.BadParameter(
            f"{short_repr(outside_range)}: use {', '.join(OUTSIDE_RANGE)}",
            param_hint="--outside-range",
        )
    _refuse_occupied(out, overwrite, "proposal.json")
    proposal = propose_routes(
        city, bins=bins, seed=seed, trucks=trucks, samples=samples, temperature=temperature,
        refine=refine, polish_s=polish, checkpoint=checkpoint, outside_range=outside_range,
        population=population,
    )  # fmt: skip
    if out is not None:
        proposal.write(out, overwrite=overwrite)
    report = proposal.summary()
    if as_json:
        _print_json(report)
        return
    table = Table(title=f"{report['city']}: {bins} bins ({report['required']} required)")
    for column in ("plan", "km", "truck-h", "objective km", "unserved req.", "valid", "s"):
        table.add_column(column, justify="left" if column == "plan" else "right")
    for name, row in report["plans"].items():
        # a day outside the model's range was planned by PyVRP: the row must not say "learned"
        shown = f"{name}: pyvrp (fallback)" if row.get("fallback") else name
        table.add_row(
            shown, f"{row['km']:.1f}", f"{row['truck_hours']:.2f}", f"{row['objective_km']:.1f}",
            str(row["unserved_required"]), "yes" if row["valid"] else "NO", f"{row['solve_s']:.2f}",
        )  # fmt: skip
    stdout.print(table)
    stderr.print(escape(report["label"]), highlight=False)
    if report["planner"]["outside_range"]:
        note = report["planner"]["outside_range"]
        stderr.print(f"[yellow]note:[/yellow] the day is {escape(note)}", highlight=False)
    made_by = (
        "PyVRP's plan (in the model's place)"
        if report["plans"][report["proposed"]].get("fallback")
        else f"the {report['proposed']} plan"
    )
    _say_verdict(report["recommended"], report["reasons"], made_by)
    if out is not None:
        stderr.print(f"Proposal written to {escape(str(out))}", highlight=False)


def _say_verdict(recommended: bool, reasons: list[str], what: str) -> None:
    if recommended:
        stderr.print(f"recommended: {what} passed every check", highlight=False)
        return
    for reason in reasons:
        stderr.print(f"[yellow]not recommended:[/yellow] {escape(reason)}", highlight=False)


@app.command("propose-signals")
def propose_signals_command(
    city: CityArgument = None,
    method: Annotated[
        str,
        typer.Option(
            help="webster (cycle and splits from the simulated flows), search (CMA-ES over "
            "cycles, splits and offsets, from Webster's plans) or learned (the learned signal "
            "planner, one pass)."
        ),
    ] = "webster",
    simulations: Annotated[
        str | None,
        _typed("INTEGER", help="The search's budget of simulations (method search; default 60)."),
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="The learned signal planner (method learned; default: the shipped one)."),
    ] = None,
    polish: Annotated[
        str | None,
        _typed(
            "INTEGER",
            help="Simulations of a search from the learned plans (method learned; default "
            "0: none).",
        ),
    ] = None,
    trips: TripsOption = None,
    duration: DurationOption = None,
    window: WindowOption = None,
    seed: SeedOption = "0",
    od: OdOption = None,
    close: CloseOption = None,
    demand_scale: DemandScaleOption = None,
    scenario: Annotated[
        Path | None,
        typer.Option(
            "--scenario",
            help="Take the city, the traffic and the seed from this scenario file (instead of "
            "CITY and the traffic options): a proposal a planner decides on for it.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write plans.csv (a scenario's signal_plan), plans.sumo.xml (SUMO tlLogic), "
            "checks.csv and proposal.json into this folder.",
        ),
    ] = None,
    overwrite: OverwriteOption = False,
    sumo_net: Annotated[
        Path | None,
        typer.Option(
            "--sumo-net",
            help="A SUMO network (.net.xml) of the same junctions to write plans.sumo.xml for "
            "(default: the twin's own network, written under --out/sumo).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Propose signal plans for every signalized junction, checked in the twin against the
    current plans at the scenario's demand and at ±20 %."""
    from twin.signal_proposals import propose_signals
    from twin.specs import short_repr, traffic_spec

    _refuse_window_with_od(od, window)
    given = _given(
        trips=trips, od=od, duration=duration, window=window, close=close or None,
        demand_scale=demand_scale,
    )  # fmt: skip
    seed_value = _seed(seed)
    if scenario is not None:
        city, spec, seed_value = _scenario_traffic(scenario, city, given, seed)
    else:
        spec = _from_options(traffic_spec, "traffic", {}, **given)
    # an option of another method would be ignored without a word
    for option, value, its_method in (
        ("--simulations", simulations, "search"),
        ("--checkpoint", checkpoint, "learned"),
        ("--polish", polish, "learned"),
    ):
        if value is not None and method != its_method:
            raise TwinError(
                f"{option} is read by method {its_method}, not {short_repr(method)}: drop it, "
                f"or choose --method {its_method}."
            )
    if sumo_net is not None:
        from twin.sumo import read_sumo_links

        if out is None:
            raise TwinError("--sumo-net names the network plans.sumo.xml is for: give --out too.")
        read_sumo_links(sumo_net)  # a file that is no SUMO network: said before the simulations
    _refuse_occupied(out, overwrite, "proposal.json")
    with _fraction_progress(f"Proposing signal plans ({method})") as advance:
        proposal = propose_signals(
            city,
            spec,
            method=method,
            seed=seed_value,
            simulations=60 if simulations is None else _as_number(simulations),
            checkpoint=checkpoint,
            polish=0 if polish is None else _as_number(polish),
            on_progress=advance,
        )
    if out is not None:
        proposal.write(out, overwrite=overwrite, sumo_net=sumo_net)
    if as_json:
        _print_json({**proposal.summary(), "plans": proposal.table().to_dict(orient="records")})
        return
    table = Table(title=f"{proposal.city.name}: {len(proposal.plans)} junctions ({method})")
    for column in ("demand", "delay now (veh·h)", "proposed", "change", "unfinished",
                   "held at edge"):  # fmt: skip
        table.add_column(column, justify="right")
    for row in proposal.checks.itertuples():
        before, after = row.current_total_delay_veh_h, row.proposed_total_delay_veh_h
        table.add_row(
            f"{row.demand_scale:.0%}", f"{before:,.1f}", f"{after:,.1f}",
            f"{(after / before - 1) if before else 0:+.1%}",
            f"{row.current_trips_unfinished} → {row.proposed_trips_unfinished}",
            f"{row.current_held_at_edge_veh} → {row.proposed_held_at_edge_veh}",
        )  # fmt: skip
    stdout.print(table)
    stderr.print(escape(proposal.provenance.label()), highlight=False)
    for note in proposal.notes:
        stderr.print(f"[yellow]note:[/yellow] beyond the planner's training: {escape(note)}")
    if proposal.accepted:
        stderr.print("accepted: less delay at this demand, no worse at ±20 %, no more "
                     "unfinished trips", highlight=False)  # fmt: skip
    else:
        for reason in proposal.reasons:
            stderr.print(f"[yellow]not accepted:[/yellow] {escape(reason)}", highlight=False)
    if out is not None:
        stderr.print(f"Plans written to {escape(str(out))}", highlight=False)


def _scenario_traffic(path: Path, city: str | None, given: dict, seed: str):
    """City, traffic and seed of a scenario file, refused beside options that would set them."""
    from twin.api import check_scenario

    if city is not None or given or seed != "0":
        raise TwinError(
            "--scenario sets the city, the traffic and the seed: give it alone, or give the "
            "city and traffic options without it."
        )
    loaded = check_scenario(path)
    if loaded.traffic is None:
        raise TwinError(f"{path}: has no traffic section: there are no signals to propose for.")
    return loaded.city, loaded.traffic, loaded.seed


ScenarioPath = Annotated[
    Path,
    typer.Option(
        "--scenario",
        help="The scenario file whose audit log (SCENARIO.audit.jsonl beside it) keeps the "
        "decisions.",
    ),
]


@app.command("decide")
def decide_command(
    proposal: Annotated[Path, typer.Argument(help="A proposal folder (`--out` of a proposal).")],
    scenario: ScenarioPath,
    approve: Annotated[bool, typer.Option("--approve", help="Approve the proposal.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="Reject the proposal.")] = False,
    comment: Annotated[
        str, typer.Option(help="Why (required to reject); kept in the audit log.")
    ] = "",
    by: Annotated[str | None, typer.Option(help="Who decides (default: the login name).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Approve or reject a proposal; the decision goes into the scenario's audit log. An
    approval is refused for a proposal that failed its checks or whose inputs changed since."""
    import getpass

    from cities.city import load_city
    from twin.proposals import decide, read_proposal, scenario_inputs
    from twin.scenario import load_scenario

    if approve == reject:
        # two flags, not one --approve/--reject switch, so that both given is caught rather
        # than the last one silently deciding an audit log entry
        raise TwinError(
            "say --approve or --reject, not both." if approve else "say --approve or --reject."
        )
    record = read_proposal(proposal)
    loaded = load_scenario(scenario)
    current = scenario_inputs(record, loaded, load_city(loaded.city))
    entry = decide(
        proposal, scenario, decision="approved" if approve else "rejected", comment=comment,
        by=by if by is not None else getpass.getuser(), current_inputs=current,
    )  # fmt: skip
    if as_json:
        _print_json(entry)
        return
    stderr.print(
        f"{entry['decision']}: {escape(record['label'])} (decision {entry['seq']} in "
        f"{escape(str(_audit_file(scenario)))})",
        highlight=False,
    )


def _audit_file(scenario: Path) -> Path:
    from twin.audit import audit_path

    return audit_path(scenario)


@app.command("audit")
def audit_command(
    scenario: Annotated[Path, typer.Argument(help="A scenario file (or its .audit.jsonl).")],
    as_json: JsonOption = False,
) -> None:
    """Show the decisions on a scenario's proposals, after checking that none was changed,
    removed or reordered since it was logged."""
    from twin.audit import audit_path, read_audit

    if not scenario.exists() and not audit_path(scenario).exists():
        raise TwinError(
            f"{scenario}: no such scenario file: name the scenario whose decisions to read."
        )
    entries = read_audit(scenario)
    if as_json:
        _print_json({"log": str(audit_path(scenario)), "intact": True, "decisions": entries})
        return
    table = Table(title=f"{audit_path(scenario)}: {_count(len(entries), 'decision')}, chain intact")
    for column in ("#", "time", "decision", "by", "plan", "proposed by", "comment"):
        table.add_column(column)
    for entry in entries:
        provenance = entry["provenance"]
        who = (f"model {provenance['planner']} ({str(provenance['checkpoint_sha256'])[:12]})"
               if provenance.get("by_model") else provenance["planner"])  # fmt: skip
        table.add_row(
            str(entry["seq"]), entry["time"], entry["decision"], escape(entry["by"]),
            entry["kind"], escape(who), escape(entry["comment"]),
        )  # fmt: skip
    stdout.print(table)


@app.command("field-docs")
def field_docs_command(
    proposal: Annotated[Path, typer.Argument(help="An approved proposal folder.")],
    scenario: ScenarioPath,
    out: Annotated[Path, typer.Option("--out", help="Folder for the field documents.")],
    overwrite: OverwriteOption = False,
) -> None:
    """Write an approved plan's field documents: route sheets per truck (GeoJSON, GPX, a CSV
    stop list in driving order) or signal timing tables; refused for a plan not approved."""
    from cities.city import load_city
    from twin.field_docs import write_field_documents
    from twin.proposals import read_proposal, scenario_inputs
    from twin.scenario import load_scenario

    _refuse_occupied(out, overwrite, "field-documents.json")
    record = read_proposal(proposal)
    loaded = load_scenario(scenario)
    city = load_city(loaded.city)
    written = write_field_documents(
        proposal, scenario, out, city=city, overwrite=overwrite,
        current_inputs=scenario_inputs(record, loaded, city),
    )  # fmt: skip
    names = sorted(p.name for p in written.iterdir())
    stderr.print(f"Field documents written to {escape(str(written))}: {', '.join(names)}",
                 highlight=False)  # fmt: skip


@app.command("dashboard")
def dashboard_command(
    city: CityArgument = None,
    host: Annotated[
        str, typer.Option(help="Interface to bind; 127.0.0.1 keeps it on this machine.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8050,
    debug: Annotated[
        bool, typer.Option(help="Dash debug mode (runs code on request: never on a network).")
    ] = False,
    store: Annotated[
        Path | None,
        typer.Option(
            help="Folder of saved scenarios and runs (default: the cache's dashboard folder, "
            "$TWIN_CACHE_DIR/dashboard or ~/.cache/citiverse-twin/dashboard)."
        ),
    ] = None,
) -> None:
    """Open the planner dashboard on a city (http://HOST:PORT/)."""
    if not 0 < port < 65536:
        raise typer.BadParameter(f"{port}: a port is 1–65535", param_hint="--port")
    # the dashboard is the layer above this one: started as its own program, never imported
    argv = [sys.executable, "-m", "dashboards", "--host", host, "--port", str(port)]
    if debug:
        argv.append("--debug")
    if store is not None:
        argv += ["--store", str(store)]
    if city is not None:
        argv += ["--", str(city)]
    sys.stdout.flush()
    os.execv(sys.executable, argv)


def _lonlat(value: str | None, option: str) -> tuple[float, float] | None:
    if value is None:
        return None
    parts = value.split(",")
    try:
        lon, lat = (float(p) for p in parts)
    except ValueError:
        raise typer.BadParameter(
            f"'{value}': write a position as lon,lat (e.g. 9.52,47.14)", param_hint=option
        ) from None
    return lon, lat


ScenarioArgument = Annotated[
    Path,
    typer.Argument(metavar="SCENARIO", help="A scenario YAML file (see `twin scenario schema`)."),
]


@scenario_app.command("schema")
def scenario_schema_command() -> None:
    """Print the JSON Schema of scenario files."""
    from twin.scenario import scenario_schema

    _print_json(scenario_schema())


@scenario_app.command("check")
def scenario_check_command(
    scenario: ScenarioArgument,
    shallow: Annotated[
        bool, typer.Option(help="Check the file only; do not load the city to check edge ids.")
    ] = False,
) -> None:
    """Validate a scenario file (and, unless --shallow, the edges and signals it names and its
    rounds' stops against the city's bins)."""
    from twin.scenario import load_scenario

    load_scenario(scenario)  # its bad values refused before the simulator loads
    from twin.api import check_scenario

    spec = check_scenario(scenario, deep=not shallow)
    sections = [name for name in ("traffic", "waste") if getattr(spec, name) is not None]
    stderr.print(f"{escape(str(scenario))}: ok ({spec.name}: {', '.join(sections)} on {spec.city})")


@app.command("run")
def run_command(
    scenario: ScenarioArgument,
    out: Annotated[Path, typer.Option("--out", help="Write the run into this folder.")],
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out folder.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Run a scenario file and write everything that reproduces it into --out."""
    from twin.scenario import load_scenario

    load_scenario(scenario)  # its bad values refused before the simulator loads
    _refuse_occupied(out, overwrite, "run.json")
    from twin.api import checked_scenario, run_scenario

    spec, city = checked_scenario(scenario)
    with _fraction_progress(f"Running {spec.name}") as advance:
        run = run_scenario(spec, city=city, on_progress=advance)
    run.write(out, overwrite=overwrite)
    # what the demand lost before the run (OD rows), then what the run itself says
    warnings = _say_warnings(run.traffic.settings.get("warnings", [])) if run.traffic else []
    warnings += _traffic_warnings(run.kpi_dict().get("traffic", {}))
    if run.waste is not None:
        warnings += _say_warnings(run.waste.result.info["warnings"])
    if as_json:
        _print_json(
            {"scenario": spec.name, "seed": spec.seed, **run.kpi_dict(), "out": str(out),
             "warnings": warnings}
        )  # fmt: skip
        return
    for section, kpis in run.kpi_dict().items():
        stdout.print(f"[bold]{section}[/bold]")
        _report(kpis, {}, None, False)
    stderr.print(f"Results written to {escape(str(out))}")


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so that a sweep's cleanup runs (a BaseException, as
    KeyboardInterrupt: no handler of a run's errors may take it for the run's failure)."""


_MAIN_PID = os.getpid()


def _terminated(signum: int, frame: Any) -> None:
    if os.getpid() != _MAIN_PID:  # a forked worker ends as a terminate ends it, quietly
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    raise _Terminated


SWEEP_RUNS_FAILED = 3
"""Exit status of a sweep that finished with failed runs (1 and 2 are errors before any run)."""


@app.command("sweep")
def sweep_command(
    sweep: Annotated[Path, typer.Argument(metavar="SWEEP", help="A sweep YAML file.")],
    out: Annotated[Path, typer.Option("--out", help="Results folder (resumable).")],
    scheduler: Annotated[
        str | None,
        typer.Option(help="Address of a running Dask scheduler (default: a local cluster)."),
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes of the local cluster.")] = 2,
    as_json: JsonOption = False,
) -> None:
    """Run every combination of a sweep on Dask; finished runs in --out are skipped. Exits
    with status 3 when a run failed (the others' results are written; run again to retry
    it)."""
    from twin.sweep import run_sweep

    if out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{out} is a file, not a folder", param_hint="--out")
    if scheduler is not None:
        from twin.sweep import CONNECT_TIMEOUT_S

        stderr.print(
            f"Connecting to the Dask scheduler {escape(scheduler)} (waiting up to "
            f"{CONNECT_TIMEOUT_S:.0f} s)…",
            highlight=False,
        )
    # a terminate (a scheduler's, `kill`; main() turns it into _Terminated) ends the sweep as
    # Ctrl-C does: the results table written as the run folders have it, the local cluster
    # closed, and a word of how to go on
    try:
        with _fraction_progress(f"Sweep {sweep.name}") as advance:
            table = run_sweep(
                sweep,
                out,
                scheduler=scheduler,
                workers=workers,
                on_progress=lambda done, total: advance(done / total),
            )
    except (KeyboardInterrupt, _Terminated) as stop:
        stderr.print(
            f"Sweep stopped; the runs finished are in {escape(str(out))} (results.parquet "
            "lists them): run the same command again to finish it.",
            highlight=False,
        )
        raise typer.Exit(143 if isinstance(stop, _Terminated) else 130) from None
    failed = table[table["status"] != "ok"] if len(table) else table
    summary = {
        "runs": len(table),
        "ok": int((table["status"] == "ok").sum()) if len(table) else 0,
        "failed": len(failed),
        "failures": {row["run_id"]: row["error"] for _, row in failed.iterrows()},
        "results": str(out / "results.parquet"),
    }
    if as_json:
        _print_json(summary)
    else:
        stdout.print(
            f"{summary['ok']} of {summary['runs']} runs ok; results in {escape(summary['results'])}"
        )
        for run_id, error in summary["failures"].items():
            stderr.print(f"[yellow]failed:[/yellow] {run_id}: {escape(error)}", soft_wrap=True)
    if summary["failed"]:
        # a script or a batch job must see that runs failed, not only a reader of the output
        raise typer.Exit(code=SWEEP_RUNS_FAILED)


def main() -> None:
    """Entry point of the ``twin`` console script."""
    # a terminate (a batch scheduler's, `kill`) unwinds as Ctrl-C does: a folder being written
    # is removed, not left half-written beside the output
    global _MAIN_PID
    _MAIN_PID = os.getpid()
    signal.signal(signal.SIGTERM, _terminated)
    try:
        app()
    except _Terminated:
        stderr.print(
            "Stopped (terminated): output folders are written whole or not at all.",
            highlight=False,
        )
        sys.exit(143)
    except USER_ERRORS as err:
        _fail(str(err))
    except OSError as err:
        # a path the file system refuses (too long, no permission, a folder where a file goes)
        where = f" ({_short(err.filename)})" if err.filename else ""
        _fail(f"{err.strerror or err}{where}: check the path and its permissions.")
    except MemoryError:
        _fail(
            "this machine ran out of memory: make the run smaller (fewer trips, bins or days; "
            "fewer plans sampled: --samples)."
        )


def _fail(message: str) -> None:
    stderr.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(1)


def _short(path: object, limit: int = 120) -> str:
    text = str(path)
    return text if len(text) <= limit else text[: limit // 2] + "…" + text[-limit // 2 :]
