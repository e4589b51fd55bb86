"""`coresim.util.compile_first`: processes that need the same kernel at once with numba's cache cold compile it
once between them (the others load it from the cache), and a process calls the kernel as before; a slow compile
says so on a terminal (`note_if_slow`)."""

import io
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
from numba import njit

from coresim.util import compile_first, note_if_slow

KERNEL = textwrap.dedent("""
    import numpy as np
    from numba import njit


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
