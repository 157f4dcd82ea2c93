"""Read and check every return in a supervised worker process: one file can never take the run down.

python-calamine aborts the whole process (Rust: a failed allocation) on some crafted files, and a
file may hang the reader or blow up its memory. The reader's pre-checks refuse what they can see;
this is the second line: each candidate is examined in a pebble worker with a memory cap (POSIX:
RLIMIT_AS) and a time limit. A crash, a hang or a MemoryError rejects that one file (F014); pebble
starts a fresh worker for the next. Workers are started with spawn on every system (Windows has
nothing else), so everything they get is picked, and at most ``2 × jobs`` candidates are in flight.
"""
from __future__ import annotations

import collections
import concurrent.futures
import multiprocessing
import os
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Optional, TypeVar

if TYPE_CHECKING:
    from .desk import Period
    from .inbox import Candidate
    from .spec import Spec

E = TypeVar("E")   # the entry ``examine`` and ``failed`` make for one candidate

MAX_WORKERS = 61          # Windows' WaitForMultipleObjects limit
FAULT_ENV = "WORKBOOK_TOOL_FAULT"

_WORKER: dict[str, Any] = {}


def examine_all(candidates: Iterable[Candidate], spec: Spec, period: Period, key: bytes, jobs: Optional[int],
                examine: Callable[[Candidate, Spec, Period, bytes], E],
                failed: Callable[[Candidate, str], E]) -> Iterator[E]:
    """Yield ``examine(cand, spec, period, key)`` for each candidate, in order, each in a worker.

    ``failed(cand, detail)`` makes the entry for a candidate whose worker crashed, hung or ran out
    of memory. Candidates the inbox already refused (``cand.problem``) need no worker.
    """
    import pebble
    jobs = max(1, min(int(jobs or 1), MAX_WORKERS))
    seconds = float(getattr(spec, "max_read_seconds", 60))
    memory_mb = float(getattr(spec, "max_memory_mb", 1024))
    pool = pebble.ProcessPool(max_workers=jobs, initializer=_init_worker,
                              initargs=(spec, period, key, memory_mb),
                              context=multiprocessing.get_context("spawn"))
    pending: collections.deque[tuple[Candidate, Any]] = collections.deque()   # (candidate, entry or future)
    try:
        for cand in candidates:
            if cand.problem:
                pending.append((cand, examine(cand, spec, period, key)))
            else:
                pending.append((cand, pool.schedule(_examine_in_worker, args=(cand,), timeout=seconds)))
            while len(pending) > 2 * jobs or (pending and not _is_future(pending[0][1])):
                yield _outcome(*pending.popleft(), failed, seconds, memory_mb)
        while pending:
            yield _outcome(*pending.popleft(), failed, seconds, memory_mb)
    finally:
        pool.stop()
        pool.join()


def _is_future(x: object) -> bool:
    return isinstance(x, concurrent.futures.Future)


def _outcome(cand: Candidate, result: Any, failed: Callable[[Candidate, str], E], seconds: float,
             memory_mb: float) -> E:
    if not _is_future(result):
        return result
    try:
        return result.result()
    except concurrent.futures.TimeoutError:
        return failed(cand, f"读取超过 {seconds:g} 秒仍未完成")
    except MemoryError:
        return failed(cand, f"读取所需内存超过 {memory_mb:g} MB 上限")
    except Exception as exc:     # pebble.ProcessExpired (abort, crash, kill) or an error in the worker
        code = getattr(exc, "exitcode", None)
        if code is not None:
            return failed(cand, f"读取程序异常退出（退出码 {code}）")
        return failed(cand, f"读取时出错（{type(exc).__name__}）")


def _init_worker(spec: Spec, period: Period, key: bytes, memory_mb: float) -> None:
    _cap_memory(memory_mb)
    _WORKER.update(spec=spec, period=period, key=key)


def _cap_memory(memory_mb: float) -> None:
    """Cap the worker's address space (POSIX); Windows has no rlimit: the time limit still applies."""
    try:
        import resource
    except ImportError:
        return
    limit = int(memory_mb * 1024 * 1024)
    try:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):
        pass


def _examine_in_worker(cand: Candidate) -> Any:
    _fault(cand.path)
    from .consolidate import _examine
    return _examine(cand, _WORKER["spec"], _WORKER["period"], _WORKER["key"])


def _fault(path: str) -> None:
    """Crash, hang or exhaust memory on purpose for a file named in WORKBOOK_TOOL_FAULT (tests only):
    ``abort-reading:NAME``, ``hang-reading:NAME``, ``memory-reading:NAME``."""
    fault = os.environ.get(FAULT_ENV, "")
    kind, _, name = fault.partition(":")
    if not name or not path.endswith(name):
        return
    if kind == "abort-reading":
        os.abort()
    elif kind == "hang-reading":
        time.sleep(3600)
    elif kind == "memory-reading":
        hog = bytearray(4 * 1024 ** 3)       # more than any cap the tests set
        hog[::4096] = b"x" * len(hog[::4096])
