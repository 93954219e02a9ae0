"""``python -m dashboards``: serve the planner dashboard (what ``twin dashboard`` starts).

The dashboard sits above the ``twin`` layer, so the ``twin`` command starts it as this module in
a new program rather than importing it.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import socket
import sys

from twin import USER_ERRORS, short_repr


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{short_repr(text)}: a port is a whole number 1–65535"
        ) from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"{port}: a port is 1–65535")
    return port


def bind_problem(host: str, port: int) -> str | None:
    """Why the dashboard could not listen on ``host``:``port`` (``None``: it can), found before
    the city loads, in words rather than the server's bare socket error."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as err:
        return (
            f"--host {short_repr(host)}: not an address or host name of this machine "
            f"({getattr(err, 'strerror', None) or err}): use 127.0.0.1 (this machine only) or "
            "0.0.0.0 (every interface)"
        )
    with socket.socket(family, kind, proto) as probe:
        # as the server binds: a port whose last connections are closing is free to use
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                return f"--port {port}: in use on {host} (another dashboard?): choose another port"
            return (
                f"cannot listen on {host}:{port} ({err.strerror or err}): check --host and --port"
            )
    return None


def debug_problem(host: str, debug: bool) -> str | None:
    """Why debug mode may not serve on ``host`` (``None``: it may): Dash's debugger runs code
    a request sends, so only this machine may reach it."""
    if not debug:
        return None
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (socket.gaierror, UnicodeError):
        return None  # bind_problem says what is wrong with the host
    if addresses and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        return None
    return (
        f"--debug runs code that a request sends: it serves on this machine only (--host "
        f"127.0.0.1), not on {short_repr(host)}; drop --debug to serve there"
    )


def main(argv: list[str] | None = None) -> None:
    """Parse the options of ``twin dashboard`` and serve the app until interrupted."""
    parser = argparse.ArgumentParser(
        prog="twin dashboard", description="Open the planner dashboard on a city."
    )
    parser.add_argument("city", nargs="?", default=None, help="a city name or an OSM file path")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
    parser.add_argument("--port", type=_port, default=8050, help="port (1–65535)")
    parser.add_argument("--debug", action="store_true", help="Dash debug mode: never on a network")
    parser.add_argument("--store", default=None, help="folder of saved scenarios and runs")
    options = parser.parse_args(argv)
    problem = debug_problem(options.host, options.debug) or bind_problem(options.host, options.port)
    if problem is None and options.store is not None:
        from dashboards.store import store_problem

        problem = store_problem(options.store)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(1)
    # Dash loads only now: a bad option is refused at once
    from dashboards.app import serve
    from dashboards.store import StoreError

    try:
        serve(
            options.city,
            host=options.host,
            port=options.port,
            debug=options.debug,
            store_dir=options.store,
        )
    except (*USER_ERRORS, StoreError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
