"""The step kernel as the engine calls it: compiled ahead of time where installed, else numba's JIT.

Importing numba and setting up its compiler costs a traffic run about 0.6 s of process time
even when the machine code comes from numba's cache: more than the whole simulation of UXsim's
README grid (BENCHMARKS.md, "end to end"). ``make`` therefore also compiles
:mod:`agents.traffic.kernel` ahead of time (numba's ``pycc``) into an extension module beside
this file, stamped with a hash of the kernel's source; a process loads that in milliseconds
without importing numba. The JIT kernel is used instead where the module is missing (no C
compiler at install, or an install other than ``make``'s), stale (the kernel's source, numpy,
Python or the processor changed since it was built), fails to load, or
``TWIN_TRAFFIC_KERNEL=jit`` asks for it. Both compile the same source with the same types, and
give the same results (``tests/agents/traffic/test_compiled.py``).

Build (``make`` runs this)::

    python -m agents.traffic.compiled
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import platform
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

__all__ = ["AOT_MODULE", "KERNEL_ENV", "Kernel", "build_ahead_of_time", "load_kernel"]

AOT_MODULE = "_kernel_aot"
"""Name of the ahead-of-time compiled extension module (in this package's directory)."""

KERNEL_ENV = "TWIN_TRAFFIC_KERNEL"
"""Environment variable: ``jit`` forces numba's JIT kernel; unset or ``auto`` prefers the
ahead-of-time one."""

_FUNCTIONS = ("move_vehicles", "group_by_link", "queued")
_PACKAGE_DIR = Path(__file__).resolve().parent
# what the compiled code depends on: a change to any of these makes a built module stale
_SOURCES = ("kernel.py", "layout.py", "compiled.py")
_STAGING_PREFIX = ".staging-kernel-"


@dataclass(frozen=True)
class Kernel:
    """The kernel's functions, and which build provides them (``"aot"`` or ``"jit"``)."""

    move_vehicles: Callable
    group_by_link: Callable
    queued: Callable
    build: str


def _cpu_identity() -> str:
    """The processor model and its instruction-set flags (Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            first = cpuinfo.read().split("\n\n", 1)[0]
    except OSError:
        return f"{platform.machine()} {platform.processor()}"
    keep = ("model name", "flags", "Features", "CPU part")  # x86, and Arm's names
    return "\n".join(line for line in first.splitlines() if line.startswith(keep))


def source_stamp() -> str:
    """Hash of what an ahead-of-time build depends on: the kernel's sources, the numpy and
    Python versions whose ABI the extension links against, and the processor it was compiled
    for (a venv on a shared disk may run on a machine without the builder's instructions)."""
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update((_PACKAGE_DIR / name).read_bytes())
    digest.update(f"numpy {np.__version__} python {sys.version}\n".encode())
    digest.update(_cpu_identity().encode())
    return digest.hexdigest()


def _module_path(directory: Path) -> Path:
    return directory / (AOT_MODULE + importlib.machinery.EXTENSION_SUFFIXES[0])


def _stamp_path(directory: Path) -> Path:
    return directory / (AOT_MODULE + ".stamp")


def _load_aot(directory: Path) -> ModuleType | None:
    """The ahead-of-time module in ``directory`` if it exists and matches today's source."""
    module_path, stamp_path = _module_path(directory), _stamp_path(directory)
    if not module_path.is_file() or not stamp_path.is_file():
        return None
    if stamp_path.read_text().strip() != source_stamp():
        return None
    spec = importlib.util.spec_from_file_location(f"agents.traffic.{AOT_MODULE}", module_path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except (ImportError, OSError):  # built for another numpy or platform: the JIT kernel works
        return None
    return module


def _argument_types(arguments: tuple) -> tuple:
    """Each argument's dtype and rank (arrays, also inside named tuples), else its scalar kind:
    what the compiled signatures fix. Contiguity is not read (it costs as much again); the engine
    builds every array it passes C-contiguous."""
    return tuple(
        [
            (value.dtype.num, value.ndim)
            if type(value) is np.ndarray
            else tuple([(item.dtype.num, item.ndim) for item in value])
            if isinstance(value, tuple)
            else _scalar_kind(value)
            for value in arguments
        ]
    )


def _scalar_kind(value) -> type:
    # numpy scalars unbox as Python ones do; bool before int (bool is an int)
    if isinstance(value, bool | np.bool_):
        return bool
    if isinstance(value, int | np.integer):
        return int
    if isinstance(value, float | np.floating):
        return float
    return type(value)


def _guarded(name: str, compiled_function: Callable, expected: tuple) -> Callable:
    """``compiled_function`` behind a check of its arguments' types.

    The ahead-of-time wrapper does not check dtypes: an int32 array where the signature says
    int64 crashes the interpreter. A call whose types differ from the build's runs on numba's
    JIT kernel instead (compiling that specialisation), with a warning, as JIT dispatch would.
    ``expected`` is :func:`_argument_types` of the arguments the build was compiled for.
    """

    def call(*arguments):
        if _argument_types(arguments) == expected:
            return compiled_function(*arguments)
        warnings.warn(
            f"traffic kernel: {name} called with argument types the ahead-of-time build was "
            "not compiled for; running numba's JIT kernel for it",
            RuntimeWarning,
            stacklevel=2,
        )
        from agents.traffic import kernel

        return getattr(kernel, name)(*arguments)

    call.__name__ = call.__qualname__ = name
    return call


def load_kernel(*, directory: Path | None = None) -> Kernel:
    """The kernel to run: the ahead-of-time build if usable, else numba's JIT (loaded now).

    Parameters
    ----------
    directory
        Where to look for the ahead-of-time module; this package's directory by default.
    """
    if os.environ.get(KERNEL_ENV, "auto").lower() != "jit":
        module = _load_aot(directory or _PACKAGE_DIR)
        if module is not None:
            from agents.traffic import layout

            samples = layout.sample_arguments()
            functions = (
                _guarded(name, getattr(module, name), _argument_types(samples[name]))
                for name in _FUNCTIONS
            )
            return Kernel(*functions, build="aot")
    from agents.traffic import kernel

    kernel.load()
    return Kernel(*(getattr(kernel, name) for name in _FUNCTIONS), build="jit")


def build_ahead_of_time(*, directory: Path | None = None) -> Path:
    """Compile the kernel into an extension module in ``directory`` and stamp it.

    Needs numba and a C compiler. The module is built in a scratch folder and moved into place
    with its stamp, so an interrupted build leaves the previous state (or none), never a
    half-written module.

    Returns
    -------
    Path
        The extension module's path.
    """
    import numba

    with warnings.catch_warnings():
        # pycc is "pending deprecation" with no replacement released yet (numba 0.57–0.68); if it
        # goes, the JIT kernel remains and only the start-up time is lost
        warnings.simplefilter("ignore", category=numba.NumbaPendingDeprecationWarning)
        import numba.pycc.compiler as pycc_compiler
        from numba.pycc import CC

    from agents.traffic import kernel, layout

    directory = directory or _PACKAGE_DIR
    stamp = source_stamp()
    compile_extra = pycc_compiler.compile_extra

    def compile_releasing_the_gil(typing_ctx, target_ctx, func, args, return_type, flags, *a, **k):
        # pycc's wrappers hold the interpreter lock by default; the dashboard runs simulations
        # in threads beside its server, as the JIT kernel's nogil=True allows
        flags.release_gil = True
        return compile_extra(typing_ctx, target_ctx, func, args, return_type, flags, *a, **k)

    samples = layout.sample_arguments()
    for leftover in directory.glob(_STAGING_PREFIX + "*"):  # from a build that was killed
        shutil.rmtree(leftover, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=_STAGING_PREFIX, dir=directory) as scratch:
        cc = CC(AOT_MODULE, "agents.traffic")
        cc.output_dir = scratch
        cc.target_cpu = "host"  # built on the machine that runs it, as numba's JIT does
        cc.verbose = False
        for name in _FUNCTIONS:
            function = getattr(kernel, name)
            argument_types = tuple(numba.typeof(argument) for argument in samples[name])
            function(*samples[name])  # the JIT overload whose signature the build copies
            cc.export(name, function.overloads[argument_types].signature)(function.py_func)
        pycc_compiler.compile_extra = compile_releasing_the_gil
        try:
            cc.compile()
        finally:
            pycc_compiler.compile_extra = compile_extra
        built = _module_path(Path(scratch))
        Path(scratch, _stamp_path(directory).name).write_text(stamp + "\n")
        # module first, stamp last: a stamp never vouches for a module that is not in place
        _stamp_path(directory).unlink(missing_ok=True)
        os.replace(built, _module_path(directory))
        os.replace(Path(scratch, _stamp_path(directory).name), _stamp_path(directory))
    return _module_path(directory)


def main() -> int:
    """Install-time step: compile ahead of time, and warm numba's JIT cache as the fallback."""
    from agents.traffic import kernel

    kernel.load()
    try:
        path = build_ahead_of_time()
    except Exception as error:  # any failure leaves the JIT kernel, which works everywhere
        print(
            f"traffic kernel: the ahead-of-time build failed ({type(error).__name__}: {error}); "
            "runs will use numba's JIT kernel (about 0.6 s more start-up per process). "
            "Install a C compiler (gcc) and run `python -m agents.traffic.compiled` again.",
            file=sys.stderr,
        )
        return 0
    print(f"traffic kernel: compiled ahead of time into {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
