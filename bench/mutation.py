"""Mutation score of the test suite: plant one small bug at a time in the model code and see
whether a fast, relevant subset of the tests notices.

    python bench/mutation.py                      # sampled mutants, 2 workers, score + survivors
    python bench/mutation.py --list               # count the mutants per file, run nothing
    python bench/mutation.py --max 40 --workers 1 # a smaller run
    python bench/mutation.py --only sim/engine/pools.py

Mutants (an own small AST mutator, one change per mutant, written back as source text so every
other line stays as it was):
  cmp     comparison flips: < <-> <=, > <-> >=, == <-> !=, < <-> > (no < <-> <= where a side
          has a tolerance, `x <= y + 1e-9`: the two differ only at that one float)
  arith   + <-> -, * <-> /, and +1/-1 on integer constants (off-by-one)
  minmax  min <-> max
  bool    and <-> or, `not x` -> `x`, True <-> False
  const   numeric constants: 0 -> 1, 1 -> 0, x -> x * 2 (others)
  drop    a statement (assignment, augmented assignment, call, return) replaced by `pass`:
          a dropped return falls through to the code after it

Files are globbed from sim/engine/, sim/policies/ and sim/results/, so modules split or added
there are picked up. Docstrings, annotations, strings, f-strings and lines marked
`# pragma: no mutate` are left alone. When there are more mutants than --max, a deterministic
sample is taken (sha256 of file:line:col:operator, lowest hashes first, spread over files in
proportion to their mutant count), so two runs of the same code test the same mutants.

Each mutant runs in a private copy of the checkout (one per worker; no byte-code cache, so a
mutated file is always recompiled) with `pytest -x` on the tests of TESTS (shipped scenarios
other than the two year-long ones: SELECT) that run the function it is in: the unmutated run
records every test's calls into sim/ (bench/mutation_plugin.py), and a mutant inside a def can
change no test that never runs that def. A mutant outside any def body, in code that also ran
outside a test, or in a file that memoises, runs the whole subset; so does every mutant with
--all-tests. Recording slows the unmutated run (about 1.6x, more under load), so the calls are
kept (--calls-cache) and reused while sim/ and the test helpers are unchanged: the unmutated
run then goes untraced, and test files changed since run whole. The tests run under a timeout
of max(--min-timeout, 3 x the unmutated run); each
test phase is also stopped (bench/mutation_plugin.py) after max(--min-test-timeout, 4 x the
unmutated run's slowest phase, untraced), so a mutant that loops forever costs seconds, not the
whole timeout. A mutant is killed when a test
fails or errors, or when it hangs past either limit; it survives when the subset passes. The
unmutated subset must pass first. Results: score per package, the survivors (file:line, the
change) on stdout, and all outcomes as JSON (--out, default results/mutation/mutation.json).
"""

from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sim/engine", "sim/policies", "sim/results")
TESTS = [
    # fastest and most telling first: with -x a killed mutant usually stops within seconds
    "tests/test_engine.py",
    "tests/test_model_rules.py",
    "tests/test_first_refusal.py",
    "tests/test_training_queue.py",
    "tests/test_rate_demand.py",
    "tests/test_policy_view.py",
    "tests/test_size_check.py",
    "tests/test_power.py",
    "tests/test_cost.py",
    "tests/test_procurement.py",
    "tests/reference/test_reference_sim.py",
    "tests/test_recompute.py",
    "tests/test_invariants.py",
    "tests/validation/test_conservation.py",
    "tests/validation/test_littles_law.py",
    "tests/test_queue_pass.py",
    "tests/test_summary_by_hand.py",
    "tests/test_results_io.py",
]
EXTRA_TESTS = {"sim/scenario/traces.py": ["tests/test_trace.py"],
               "sim/results/latency.py": ["tests/test_latency.py"]}
"""Tests run first for mutants of a file the common subset barely reaches."""
SELECT = "not openai_2025 and not openai_2030 and not stargate_buildout"
"""The multi-year shipped scenarios cost most of the subset's time; the smaller ones run
the same engine paths (outages, first refusal, commitments, traces, inference, agents)."""
COPY = ("sim", "tests", "scenarios", "pyproject.toml")
PLUGIN = "mutation_plugin"
HANG_EXIT = 97  # the plugin's exit status when a test hangs even after its TimeoutError
"""bench/mutation_plugin.py, copied next to the tests: a per-test-phase time limit (SIGALRM)."""

CMP_SWAP: dict[type[ast.cmpop], list[type[ast.cmpop]]] = {
    ast.Lt: [ast.LtE, ast.Gt], ast.LtE: [ast.Lt], ast.Gt: [ast.GtE, ast.Lt], ast.GtE: [ast.Gt],
    ast.Eq: [ast.NotEq], ast.NotEq: [ast.Eq], ast.Is: [ast.IsNot], ast.IsNot: [ast.Is],
    ast.In: [ast.NotIn], ast.NotIn: [ast.In],
}
BIN_SWAP: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv,
}
SYMBOL = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
          ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in", ast.Add: "+",
          ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%"}


@dataclass(frozen=True)
class Mutant:
    """One planted change: where (file, 1-based line, column span of the node) and what."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int
    kind: str
    description: str
    replacement: str

    @property
    def key(self) -> str:
        return f"{self.file}:{self.line}:{self.col}:{self.description}"

    @property
    def package(self) -> str:
        return str(Path(self.file).parent)


# ---------------------------------------------------------------- finding mutants


def _skipped_nodes(tree: ast.AST) -> set[int]:
    """ids of nodes not to mutate: docstrings, annotations, f-strings and their insides."""
    skip: set[int] = set()

    def mark(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                mark(body[0])
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            mark(node.returns)
            for a in [*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs,
                      node.args.vararg, node.args.kwarg]:
                if a is not None:
                    mark(a.annotation)
        if isinstance(node, ast.AnnAssign):
            mark(node.annotation)
        if isinstance(node, ast.JoinedStr):
            mark(node)
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            mark(node)
    return skip


STRICTNESS = {(ast.Lt, ast.LtE), (ast.LtE, ast.Lt), (ast.Gt, ast.GtE), (ast.GtE, ast.Gt)}


def _is_tolerance(node: ast.AST) -> bool:
    """A floating-point tolerance: a tiny constant, a name like TOL or EPS, or one scaled."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) \
            and not isinstance(node.value, bool):
        return 0 < abs(node.value) < 1e-6
    if isinstance(node, ast.Name):
        return node.id.isupper() and ("TOL" in node.id or "EPS" in node.id)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return _is_tolerance(node.left) or _is_tolerance(node.right)
    return False


def _with_tolerance(side: ast.AST) -> bool:
    """`side` is a tolerance, or something plus or minus one."""
    return _is_tolerance(side) or (isinstance(side, ast.BinOp) and isinstance(
        side.op, ast.Add | ast.Sub) and (_is_tolerance(side.right) or _with_tolerance(side.left)))


def _variants(node: ast.AST) -> Iterator[tuple[str, str, ast.AST]]:
    """(kind, description, mutated copy of node) for every mutation of this one node."""
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        tolerant = _with_tolerance(node.left) or _with_tolerance(node.comparators[0])
        for new in CMP_SWAP.get(type(node.ops[0]), []):
            if tolerant and (type(node.ops[0]), new) in STRICTNESS:
                continue  # `x <= y + tol` vs `x < y + tol`: apart only at one float, never seen
            m = copy.deepcopy(node)
            m.ops = [new()]
            yield "cmp", f"{SYMBOL[type(node.ops[0])]} -> {SYMBOL[new]}", m
    elif isinstance(node, ast.BinOp) and type(node.op) in BIN_SWAP:
        new = BIN_SWAP[type(node.op)]
        m = copy.deepcopy(node)
        m.op = new()
        yield "arith", f"{SYMBOL[type(node.op)]} -> {SYMBOL[new]}", m
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
            node.func.id in ("min", "max"):
        m = copy.deepcopy(node)
        other = "max" if node.func.id == "min" else "min"
        m.func = ast.Name(id=other, ctx=ast.Load())
        yield "minmax", f"{node.func.id} -> {other}", m
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
            node.func.attr in ("minimum", "maximum") and isinstance(node.func.value, ast.Name) \
            and node.func.value.id == "np":
        m = copy.deepcopy(node)
        other = "maximum" if node.func.attr == "minimum" else "minimum"
        assert isinstance(m.func, ast.Attribute)
        m.func.attr = other
        yield "minmax", f"np.{node.func.attr} -> np.{other}", m
    elif isinstance(node, ast.BoolOp):
        m = copy.deepcopy(node)
        m.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        desc = "and -> or" if isinstance(node.op, ast.And) else "or -> and"
        yield "bool", desc, m
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "bool", "not x -> x", copy.deepcopy(node.operand)
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        yield "bool", f"{node.value} -> {not node.value}", ast.Constant(not node.value)
    elif isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        v = node.value
        if isinstance(v, int):
            yield "arith", f"{v} -> {v + 1}", ast.Constant(v + 1)
            if v != 0:
                yield "arith", f"{v} -> {v - 1}", ast.Constant(v - 1)
        elif 0 < abs(v) < 1e-6:
            return  # a floating-point tolerance: changing it is almost always equivalent
        elif v in (0.0, 1.0):
            yield "const", f"{v!r} -> {1.0 - v!r}", ast.Constant(1.0 - v)
        else:
            yield "const", f"{v!r} -> {v * 2!r}", ast.Constant(v * 2)


DROPPABLE = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Return, ast.Delete)


def find_mutants(path: Path) -> list[Mutant]:
    """Every mutant of one source file, in source order."""
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    skip = _skipped_nodes(tree)
    rel = str(path.relative_to(ROOT))
    out: list[Mutant] = []
    for node in ast.walk(tree):
        if id(node) in skip or not hasattr(node, "lineno") or node.end_lineno is None:
            continue
        if "pragma: no mutate" in lines[node.lineno - 1]:
            continue
        where = (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)
        if isinstance(node, ast.expr):
            for kind, desc, new in _variants(node):
                out.append(Mutant(rel, *where, kind, desc, f"({ast.unparse(new)})"))
        if isinstance(node, DROPPABLE) and not (
                isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) and not (
                isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "__slots__" for t in node.targets)):
            text = ast.unparse(node).splitlines()[0]
            text = text if len(text) <= 60 else text[:57] + "..."
            # Dropped means gone: control falls through to what follows. (`return None` in its
            # place would be no drop at all where the caller only tests the value for truth,
            # e.g. `return False` -> `return None`, and was reported as a surviving drop.)
            out.append(Mutant(rel, *where, "drop", f"drop `{text}`", "pass"))
    out.sort(key=lambda m: (m.line, m.col, m.description))
    return out


def apply(source: str, m: Mutant) -> str:
    """The source with the node at m's span replaced by m's replacement text."""
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for ln in lines:
        offsets.append(offsets[-1] + len(ln.encode()))
    data = source.encode()
    start = offsets[m.line - 1] + m.col
    end = offsets[m.end_line - 1] + m.end_col
    return (data[:start] + m.replacement.encode() + data[end:]).decode()


def sample(mutants: list[Mutant], limit: int) -> list[Mutant]:
    """A deterministic sample of at most `limit`, spread over files by their mutant count."""
    if len(mutants) <= limit:
        return mutants
    by_file: dict[str, list[Mutant]] = defaultdict(list)
    for m in mutants:
        by_file[m.file].append(m)
    total = len(mutants)
    chosen: list[Mutant] = []
    for ms in by_file.values():
        quota = max(1, round(limit * len(ms) / total))
        ranked = sorted(ms, key=lambda m: hashlib.sha256(m.key.encode()).hexdigest())
        chosen.extend(ranked[:quota])
    return chosen


def shuffled(mutants: list[Mutant]) -> list[Mutant]:
    """The mutants in a fixed pseudo-random order (by hash), so that the ones a time budget
    lets run are a fair sample of all files rather than the first few."""
    return sorted(mutants, key=lambda m: hashlib.sha256(b"order:" + m.key.encode()).hexdigest())


# ---------------------------------------------------------------- running them


def _def_spans(source: str) -> list[tuple[int, int, int, int]]:
    """(first line of the code object, last line, first body line, last line) of every def:
    a mutant on a line of a def's body changes only runs of code objects starting in it."""
    spans = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            spans.append((first, node.end_lineno, node.body[0].lineno, node.end_lineno))
    return spans


def reaching_tests(m: Mutant, calls: dict[str, Any], source: str) -> list[str] | None:
    """The tests (node ids, in the unmutated run's order) that run the code m is in, from the
    recorded calls; None when every test must run: m is outside any def (module or class
    body, a def's header, evaluated on import), its code also ran outside tests, or its file
    memoises (lru_cache: a test may get a result another test's call computed). `source`:
    the unmutated file the calls were recorded on (the copy's, not the checkout's, which may
    have been edited since)."""
    if "lru_cache" in source or "functools.cache" in source:
        return None
    inside = [sp for sp in _def_spans(source) if sp[2] <= m.line and m.end_line <= sp[3]]
    if not inside:
        return None
    lo, hi = max(sp[0] for sp in inside), min(sp[1] for sp in inside)  # the innermost def
    prefix = m.file + ":"
    def in_def(key: str) -> bool:
        return key.startswith(prefix) and lo <= int(key[len(prefix):]) <= hi
    if any(in_def(k) for k in calls["outside"]):
        return None
    return [nodeid for nodeid, keys in calls["tests"].items() if any(in_def(k) for k in keys)]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def code_digest() -> str:
    """Hash of what the recorded calls depend on besides the test files themselves: sim/,
    the test helpers (every tests/ file not in TESTS or EXTRA_TESTS) and the plugin."""
    mine = {t for t in TESTS} | {t for ts in EXTRA_TESTS.values() for t in ts}
    files = sorted([*ROOT.glob("sim/**/*.py"), *(p for p in ROOT.glob("tests/**/*.py")
                                                 if str(p.relative_to(ROOT)) not in mine),
                    ROOT / "bench" / f"{PLUGIN}.py"])
    h = hashlib.sha256()
    for f in files:
        # the syntax tree with line numbers: a comment added to a line (a `pragma: no mutate`)
        # changes no recorded call, so it keeps the recording
        tree = ast.dump(ast.parse(f.read_text()), include_attributes=True)
        h.update(str(f.relative_to(ROOT)).encode() + b"\0" + tree.encode())
    return h.hexdigest()


def cached_calls(path: Path) -> tuple[dict[str, Any], list[str]] | None:
    """The calls recorded by an earlier run on the same sim/ and helpers, without the tests of
    files changed since, and those files (to run whole for every mutant); None if stale."""
    if not path.exists():
        return None
    cache = json.loads(path.read_text())
    if cache.get("code") != code_digest():
        return None
    changed = [t for t in TESTS if cache["files"].get(t) != _sha(ROOT / t)]
    # a test file importing names from a changed one may have changed with it
    changed += [t for t in TESTS if t not in changed and any(
        Path(c).stem in (ROOT / t).read_text() for c in changed)]
    tests = {n: keys for n, keys in cache["tests"].items() if n.split("::")[0] not in changed}
    return {"outside": cache["outside"], "tests": tests}, changed


def make_copy(dest: Path) -> None:
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    shutil.copy2(ROOT / "bench" / f"{PLUGIN}.py", dest / f"{PLUGIN}.py")


def slowest_phase(output: str) -> float:
    """Seconds of the slowest test phase in pytest's --durations report (0 if none)."""
    found = re.findall(r"^\s*([0-9.]+)s (?:setup|call|teardown) ", output, flags=re.M)
    return max((float(x) for x in found), default=0.0)


def run_tests(workdir: Path, tests: list[str], timeout: float, test_seconds: float = 0.0,
              durations: bool = False, calls: Path | None = None) -> tuple[str, float, str]:
    """('passed' | 'failed' | 'timeout', seconds, last line of output) of the subset there;
    each test phase is stopped after `test_seconds` (0: no limit). With `durations` the last
    item is the whole output with pytest's report of the slowest phases."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg",
           "CAPSIM_MUTATION_TEST_SECONDS": str(test_seconds),
           "CAPSIM_MUTATION_CALLS": str(calls or "")}
    env.pop("CI", None)
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--no-header",
           "-p", PLUGIN, "-o", "addopts=", "-m", "not slow", "-k", SELECT,
           *(["--durations=5", "--durations-min=0"] if durations else []),
           *[t for t in tests if (workdir / t.split("::")[0]).exists()]]
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - t0, ""
    tail = done.stdout if durations else (done.stdout.strip().splitlines() or [""])[-1]
    status = "passed" if done.returncode == 0 else (
        "timeout" if "the mutant hangs" in done.stdout or done.returncode == HANG_EXIT
        else "failed")
    return status, time.perf_counter() - t0, tail


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max", type=int, default=130, help="most mutants to run (sampled)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--min-timeout", type=float, default=90.0)
    ap.add_argument("--min-test-timeout", type=float, default=20.0,
                    help="least seconds a test phase may take before it counts as a hang")
    ap.add_argument("--budget-minutes", type=float, default=17.0,
                    help="start no new mutant after this long; stop any still running 2.5 min "
                         "later (counted as unfinished, not as killed); report the rest")
    ap.add_argument("--only", nargs="*", help="source files to mutate (default: the packages)")
    ap.add_argument("--filter", nargs="*",
                    help="run only the sampled mutants of these files: the same mutants a run "
                         "without --filter tests in them (e.g. one file of the engine's sample)")
    ap.add_argument("--calls-cache", type=Path, default=ROOT / "results" / "mutation" / "calls.json",
                    help="the tests' recorded calls, reused while sim/ and the test helpers are "
                         "unchanged (the unmutated run then goes untraced and faster)")
    ap.add_argument("--list", action="store_true", help="count mutants, run nothing")
    ap.add_argument("--all-tests", action="store_true",
                    help="run the whole subset for every mutant, not only the tests that reach "
                         "the mutated function (slower; a check of the selection)")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "mutation" / "mutation.json")
    args = ap.parse_args(argv)

    files = [ROOT / f for f in args.only] if args.only else sorted(
        [p for pkg in PACKAGES for p in (ROOT / pkg).glob("*.py") if p.name != "__init__.py"
         or p.stat().st_size > 400]
        + [ROOT / f for f in EXTRA_TESTS if not f.startswith(tuple(p + "/" for p in PACKAGES))])
    everything = [m for f in files for m in find_mutants(f)]
    chosen = shuffled(sample(everything, args.max))
    if args.filter:
        chosen = [m for m in chosen if m.file in set(args.filter)]
    per_file = Counter(m.file for m in everything)
    if args.list:
        for f, n in sorted(per_file.items()):
            print(f"{n:5d}  {f}")
        print(f"{len(everything)} mutants; {len(chosen)} would run (--max {args.max})")
        return 0
    print(f"{len(everything)} mutants in {len(files)} files; running {len(chosen)} "
          f"(deterministic sample) on {args.workers} workers", flush=True)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="capsim-mut-") as tmp:
        dirs = [Path(tmp) / f"w{i}" for i in range(args.workers)]
        digest = code_digest()  # of the code copied now (the checkout may change meanwhile)
        for d in dirs:
            make_copy(d)
        calls_file = Path(tmp) / "calls.json"
        cached = None if args.all_tests else cached_calls(args.calls_cache)
        record = not args.all_tests and cached is None
        status, base_s, output = run_tests(dirs[0], TESTS, timeout=1800, durations=True,
                                           calls=calls_file if record else None)
        tail = (output.strip().splitlines() or [""])[-1]
        if status != "passed":
            print(f"the unmutated tests do not pass ({tail}); fix them first", file=sys.stderr)
            return 1
        calls: dict[str, Any] | None = None
        whole: list[str] = []  # test files to run whole for every mutant (changed since cached)
        if record:
            calls = json.loads(calls_file.read_text())
            args.calls_cache.parent.mkdir(parents=True, exist_ok=True)
            args.calls_cache.write_text(json.dumps({
                "code": digest, "files": {t: _sha(dirs[0] / t) for t in TESTS}, **calls}))
        elif cached is not None:
            calls, whole = cached
            print(f"calls recorded earlier on the same code ({args.calls_cache}); test files "
                  f"changed since, run whole: {', '.join(whole) or 'none'}", flush=True)
        timeout = max(args.min_timeout, 3 * base_s)
        # A hang shows in the test it happens in: stop that test at 4 x the slowest phase
        # (2.5 x when it was timed with calls recorded, which slows it by about 1.6).
        test_seconds = max(args.min_test_timeout, (2.5 if record else 4.0) * slowest_phase(output))
        print(f"unmutated subset: {base_s:.0f} s ({tail}); timeout per mutant {timeout:.0f} s, "
              f"per test phase {test_seconds:.0f} s", flush=True)
        free = list(dirs)
        hard_end = started + (args.budget_minutes + 2.5) * 60
        outcomes: list[dict[str, object]] = []

        def one(m: Mutant) -> dict[str, object] | None:
            if time.perf_counter() - started > args.budget_minutes * 60:
                return None  # out of time: not run
            d = free.pop()
            reach: list[str] | None = None
            try:
                target = d / m.file
                original = target.read_text()
                target.write_text(apply(original, m))
                try:
                    compile(target.read_text(), str(target), "exec")
                    reach = None if calls is None else reaching_tests(m, calls, original)
                    tests = EXTRA_TESTS.get(m.file, []) + (
                        TESTS if reach is None else [t for t in TESTS if t in whole] + reach)
                    limit = min(timeout, hard_end - time.perf_counter())
                    if not tests:
                        st, secs, last = "passed", 0.0, "no test runs this code"
                    else:
                        st, secs, last = run_tests(d, tests, max(1.0, limit), test_seconds)
                    if st == "timeout" and limit < timeout:
                        st = "unfinished"  # stopped by the time budget, not a hang
                except SyntaxError:
                    st, secs, last = "invalid", 0.0, ""
                finally:
                    target.write_text(original)
            finally:
                free.append(d)
            return {**asdict(m), "status": st, "seconds": round(secs, 1), "tail": last,
                    "tests_run": "all" if reach is None else len(reach)}

        with ThreadPoolExecutor(args.workers) as pool:
            for i, res in enumerate(pool.map(one, chosen), 1):
                if res is None:
                    continue
                outcomes.append(res)
                mark = {"failed": "killed", "timeout": "killed (hang)", "passed": "SURVIVED",
                        "invalid": "invalid", "unfinished": "unfinished"}[str(res["status"])]
                print(f"[{i}/{len(chosen)}] {mark:14s} {res['file']}:{res['line']} "
                      f"{res['description']} ({res['seconds']} s)", flush=True)

    elapsed = time.perf_counter() - started
    valid = [o for o in outcomes if o["status"] not in ("invalid", "unfinished")]
    print(f"\nscore per package ({elapsed / 60:.1f} min on {args.workers} workers; "
          f"{len(valid)} mutants run of {len(chosen)} sampled, of {len(everything)} in all):")
    for pkg in PACKAGES:
        mine = [o for o in valid if str(o["file"]).startswith(pkg + "/")]
        if mine:
            killed = sum(o["status"] != "passed" for o in mine)
            print(f"  {pkg:14s} {killed:4d}/{len(mine):<4d} killed = {100 * killed / len(mine):5.1f}%")
    survivors = [o for o in valid if o["status"] == "passed"]
    print(f"\nsurvivors ({len(survivors)}):")
    for o in survivors:
        print(f"  {o['file']}:{o['line']}  [{o['kind']}] {o['description']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"minutes": elapsed / 60, "workers": args.workers,
                                    "total_mutants": len(everything), "run": len(chosen),
                                    "base_seconds": base_s, "tests": TESTS,
                                    "outcomes": outcomes}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
