"""Small helpers shared across layers (atomic file writes are in coresim.atomic)."""

from __future__ import annotations

import sys
from contextlib import contextmanager


def cdiv(a, b):
    """Ceiling division of integers (or integer numpy arrays): the fewest b-sized pieces that hold a."""
    return -(-a // b)


def release_memory() -> None:
    """Collect garbage, then hand the C heap's free pages back to the system (glibc's `malloc_trim`; a no-op
    elsewhere). Freed numpy buffers otherwise stay in the process's resident set: after a big network's
    partition its simulator's arrays are free but the heap keeps their pages, so the resident set grows from
    partition to partition although the live data do not."""
    import ctypes
    import gc

    gc.collect()
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return
    trim(0)


def sources_digest(anchor: str, names: tuple[str, ...]) -> int:
    """A hash of the files `names` in the folder of `anchor` (a module's `__file__`), for a numba kernel to close
    over: numba's cache checks only the time stamp of the file that defines a function, not of the modules whose
    functions it inlines or whose constants it freezes; a kernel holding this number in its closure (which numba's
    cache key includes) is recompiled when any of them changes."""
    import hashlib
    from pathlib import Path

    h = hashlib.sha256()
    for name in names:
        h.update((Path(anchor).parent / name).read_bytes())
    return int.from_bytes(h.digest()[:7], "little")


def compile_first(dispatcher, args: tuple, what: str = "a kernel") -> None:
    """Compile the numba `dispatcher` for `args` before its first call in this process, holding a lock file the
    machine's coresim processes share (one per user and kernel): of worker processes that need a big kernel at
    once with numba's cache cold (`compare -j`, `sweep -j`), one compiles it into the cache while the others wait,
    then load it from there. Compiling side by side cost each worker the compile's CPU and LLVM's memory (the
    flit kernel: ~70 s, ~0.6 GB each). Nothing is done once the dispatcher has a compiled version. A compile
    (or a wait) longer than 2 s says so on a terminal (`note_if_slow`): a first run otherwise looks stuck."""
    if dispatcher.overloads:
        return
    compile_signature(dispatcher, tuple(dispatcher.typeof_pyval(a) for a in args), what)


def compile_signature(dispatcher, sig: tuple, what: str = "a kernel"):
    """`compile_first` for the argument types `sig` (numba types); returns the compiled entry point, which takes
    the arguments as they are (a first-class function's argument, `types.FunctionType`, takes a dispatcher)."""
    import os
    import re
    import tempfile

    if sig in dispatcher.overloads:
        return dispatcher.overloads[sig].entry_point
    func = dispatcher.py_func
    uid = os.getuid() if hasattr(os, "getuid") else 0
    name = re.sub(r"[^\w.]", "_", f"{func.__module__}.{func.__qualname__}")
    path = os.path.join(tempfile.gettempdir(), f"coresim-{uid}-compile-{name}.lock")
    try:
        import fcntl
    except ImportError:  # no flock (Windows): each process compiles on its own, as numba does
        fcntl = None
    note = (f"coresim: compiling {what} (once: the first run after installing or changing coresim compiles it, "
            "later runs load it from numba's cache)")
    compiled = sum(dispatcher.stats.cache_misses.values())
    with open(path, "a") as lock, note_if_slow(note):
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        entry = dispatcher.compile(sig)
    if sum(dispatcher.stats.cache_misses.values()) > compiled:  # compiled, not loaded from numba's cache
        release_memory()  # what LLVM freed after compiling goes back to the system, not kept for the whole run
    return entry


def in_numba_cache(dispatcher, sig: tuple) -> bool:
    """Whether numba's cache holds `dispatcher` compiled for the argument types `sig`, up to date (the test
    `Dispatcher.compile` makes before compiling; numba has no public call for it)."""
    cache = getattr(dispatcher, "_cache", None)
    try:
        key = cache._index_key(sig, dispatcher.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except Exception:  # noqa: BLE001 - no cache (cache=False) or another numba: as if not cached
        return False


def spare_core() -> bool:
    """Whether this process may run on more than one core (a child compiling beside it then saves time; on one
    core it would only add its memory)."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cores > 1


@contextmanager
def compiling_aside(dispatcher, sig: tuple, what: str = "a kernel"):
    """Compile `dispatcher` (a module global named as its function) for `sig` into numba's cache in a child
    process while the block runs, unless this process has it, the cache holds it or the process has one core only
    (`spare_core`): on a first run the block compiles another kernel meanwhile, on another core. Yields the child
    process (None when none was needed). Leaving the block waits for the child (an exception kills it);
    `compile_signature` then loads the kernel from the cache, or compiles it here if the child could not (it is
    only a head start: its output is not read)."""
    import os
    import pickle
    import subprocess

    child = None
    if spare_core() and sig not in dispatcher.overloads and not in_numba_cache(dispatcher, sig):
        code = "import sys; from coresim.util import compile_child; compile_child(sys.stdin.buffer)"
        child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
    try:
        if child is not None:
            with child.stdin:
                func = dispatcher.py_func
                child.stdin.write(pickle.dumps((os.getpid(), func.__module__, func.__name__, sig, what)))
        yield child
        if child is not None:
            with note_if_slow(f"coresim: compiling {what} (once, in another process)"):
                child.wait()
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()


class KernelAddress:
    """A compiled numba function as a first-class function argument (`types.FunctionType`), by numba's wrapper
    address protocol: its address found once. Passed as a dispatcher, numba would look the compiled version up
    by its signature on every call (hashing the signature's types: ~80 us for the NoC kernel's)."""

    def __init__(self, dispatcher, signature):
        from numba.experimental.function_type import _get_wrapper_address

        self.address = _get_wrapper_address(dispatcher, signature)

    def __wrapper_address__(self, *_) -> int:
        return self.address


def compile_child(stream) -> None:
    """`compiling_aside`'s child: unpickle (parent's pid, module, name, argument types, what) from `stream` and
    compile; on Linux the child is killed when its parent ends, however it ends (a worker of `compare -j` ended
    by SIGTERM runs no `finally`), so stopping a command never leaves a compile running."""
    import importlib
    import os
    import pickle

    parent, module, name, sig, what = pickle.load(stream)
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    if os.getppid() != parent:                       # the parent ended before that
        return
    compile_signature(getattr(importlib.import_module(module), name), sig, what)


@contextmanager
def note_if_slow(message: str, after_s: float = 2.0, stream=None):
    """Write `message` (a line, above any progress bar) to `stream` (stderr) if the block takes longer than
    `after_s` seconds and the stream is a terminal; nothing otherwise."""
    stream = sys.stderr if stream is None else stream
    if not stream.isatty():
        yield
        return
    import threading

    from tqdm import tqdm

    timer = threading.Timer(after_s, lambda: tqdm.write(message, file=stream))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
