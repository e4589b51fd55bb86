"""`coresim.util.compile_first`: processes that need the same kernel at once with numba's cache cold compile it
once between them (the others load it from the cache), and a process calls the kernel as before; a slow compile
says so on a terminal (`note_if_slow`). `compiling_aside`: a kernel compiled into the cache by a child process
while the parent works, loaded (not compiled) by the parent after; no child when the cache has it; the child
killed when the block fails. `KernelAddress`: a compiled function passed as a first-class function."""

import io
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from numba import njit, types

from coresim.util import KernelAddress, compile_first, compile_signature, compiling_aside, note_if_slow

KERNEL = textwrap.dedent("""
    import numpy as np
    from numba import njit, types


    @njit(cache=True)
    def kernel(x):
        return np.cumsum(np.sort(x)).sum()
""")

# each process says it is ready, waits for the other, then compiles: without the lock both would compile at once
WORKER = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    import kernelmod
    from coresim.util import compile_first

    me, other = sys.argv[1], sys.argv[2]
    open(me, "w").close()
    while not os.path.exists(other):
        time.sleep(0.01)
    x = np.arange(5.0)
    compile_first(kernelmod.kernel, (x,))
    assert kernelmod.kernel(x) == 20.0
    s = kernelmod.kernel.stats
    print(sum(s.cache_misses.values()), sum(s.cache_hits.values()))
""")


def test_two_processes_compile_a_cold_kernel_once(tmp_path):
    (tmp_path / "kernelmod.py").write_text(KERNEL)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), TMPDIR=str(tmp_path),
               PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    a, b = str(tmp_path / "a.ready"), str(tmp_path / "b.ready")
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, me, other], env=env, stdout=subprocess.PIPE, text=True)
             for me, other in ((a, b), (b, a))]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    counts = sorted(tuple(map(int, out.split())) for out in outs)
    assert counts == [(0, 1), (1, 0)]     # one compiled (a cache miss), the other loaded what it wrote (a hit)
    assert any(name.endswith(".lock") for name in os.listdir(tmp_path))


# compiles (or loads) the kernel, saying whether the memory LLVM freed was handed back
RELEASE = textwrap.dedent("""
    import numpy as np
    import kernelmod
    import coresim.util as util

    released = []
    util.release_memory = lambda: released.append(1)
    util.compile_first(kernelmod.kernel, (np.arange(5.0),))
    print(sum(kernelmod.kernel.stats.cache_misses.values()), len(released))
""")


def test_memory_is_released_after_a_compile_not_after_a_cache_load(tmp_path):
    (tmp_path / "kernelmod.py").write_text(KERNEL)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), TMPDIR=str(tmp_path),
               PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    runs = [subprocess.run([sys.executable, "-c", RELEASE], env=env, capture_output=True, text=True, timeout=300)
            for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    assert [r.stdout.split() for r in runs] == [["1", "1"], ["0", "0"]]   # compiled and released; loaded, kept


def test_a_compiled_dispatcher_is_left_alone():
    @njit
    def twice(x):
        return 2 * x

    compile_first(twice, (3,))
    assert len(twice.overloads) == 1 and twice(3) == 6
    compile_first(twice, (np.arange(2),))   # it has a version: the call compiles what else it needs, as before
    assert len(twice.overloads) == 1


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_slow_block_says_so_on_a_terminal():
    term = _Terminal()
    with note_if_slow("compiling", after_s=0.0, stream=term):
        for _ in range(1000):          # until the note's thread has written it (at most 10 s)
            if "compiling" in term.getvalue():
                break
            time.sleep(0.01)
    assert term.getvalue() == "compiling\n"


def test_quick_block_or_no_terminal_says_nothing():
    term = _Terminal()
    with note_if_slow("compiling", after_s=60.0, stream=term):
        pass
    pipe = io.StringIO()
    with note_if_slow("compiling", after_s=0.0, stream=pipe):
        time.sleep(0.2)
    time.sleep(0.2)
    assert term.getvalue() == "" and pipe.getvalue() == ""


# compiles the kernel aside while the block runs (it does nothing), then loads it; or fails in the block
ASIDE = textwrap.dedent("""
    import sys
    import numpy as np
    from numba import typeof
    import kernelmod
    from coresim.util import compile_signature, compiling_aside, in_numba_cache

    x = np.arange(5.0)
    sig = (typeof(x),)
    before = in_numba_cache(kernelmod.kernel, sig)
    try:
        with compiling_aside(kernelmod.kernel, sig) as child:
            if sys.argv[1] == "fail":
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        print(child.returncode)
        sys.exit(0)
    after = in_numba_cache(kernelmod.kernel, sig)
    entry = compile_signature(kernelmod.kernel, sig)
    s = kernelmod.kernel.stats
    print(int(before), int(child is not None), int(after), sum(s.cache_misses.values()), sum(s.cache_hits.values()),
          entry(x))
""")


def _aside(tmp_path, how):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), TMPDIR=str(tmp_path),
               PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", ASIDE, how], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_a_kernel_compiled_aside_is_loaded_not_compiled(tmp_path):
    (tmp_path / "kernelmod.py").write_text(KERNEL)
    # not cached, a child compiled it, cached after, this process: no miss, one hit
    assert _aside(tmp_path, "run") == ["0", "1", "1", "0", "1", "20.0"]
    assert _aside(tmp_path, "run") == ["1", "0", "1", "0", "1", "20.0"]    # cached: no child


def test_a_failing_block_kills_the_child(tmp_path):
    (tmp_path / "kernelmod.py").write_text(KERNEL)
    code = int(_aside(tmp_path, "fail")[0])
    assert code < 0                                   # killed by a signal, not finished
    assert _aside(tmp_path, "run")[:2] == ["0", "1"]  # nothing was cached: compiled aside again


def test_a_compiled_function_passed_by_its_address():
    @njit
    def twice(i):
        return 2 * i

    @njit
    def total(f, n):
        s = 0
        for i in range(n):
            s += f(i)
        return s

    fn = types.FunctionType(types.int64(types.int64))
    twice.compile((types.int64,))
    entry = compile_signature(total, (fn, types.int64))
    assert entry(KernelAddress(twice, fn.signature), 4) == 12
    assert [k[0] for k in total.overloads] == [fn]    # one version, for the function type: not one per function


# starts compiling aside, says the child's pid, waits until the child compiles (it holds the kernel's lock file),
# then dies (SIGKILL: no `finally` runs)
ORPHAN = textwrap.dedent("""
    import glob, os, signal, sys, tempfile, time
    import numpy as np
    from numba import typeof
    import kernelmod
    from coresim.util import compiling_aside

    with compiling_aside(kernelmod.kernel, (typeof(np.arange(5.0)),)) as child:
        print(child.pid, flush=True)
        while not glob.glob(os.path.join(tempfile.gettempdir(), "coresim-*-compile-kernelmod.kernel.lock")):
            time.sleep(0.005)
        os.kill(os.getpid(), signal.SIGKILL)
""")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the child's end with its parent is Linux's prctl")
def test_the_child_ends_with_its_parent(tmp_path):
    (tmp_path / "kernelmod.py").write_text(KERNEL)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), TMPDIR=str(tmp_path),
               PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", ORPHAN], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == -signal.SIGKILL
    pid = int(r.stdout.split()[0])
    for _ in range(500):                 # at most 10 s: the child imports, sees its parent gone, or is killed
        if not _alive(pid):
            break
        time.sleep(0.02)
    assert not _alive(pid)
    assert not list((tmp_path / "cache").rglob("*.nbc"))    # killed while compiling: nothing written


def test_no_child_on_one_core(monkeypatch):
    @njit
    def kernel(x):
        return x + 1

    sig = (types.float64,)
    import coresim.util as util

    monkeypatch.setattr(util, "spare_core", lambda: False)
    with compiling_aside(kernel, sig) as child:
        assert child is None
    monkeypatch.setattr(util, "spare_core", lambda: True)
    with compiling_aside(kernel, sig) as child:   # a child, which finds no global `kernel`: harmless
        assert child is not None
    assert child.returncode != 0 and compile_signature(kernel, sig)(1.0) == 2.0
