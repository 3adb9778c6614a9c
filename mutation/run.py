# ruff: noqa: S603, S607 - runs git, pytest and cosmic-ray with arguments built here
"""Mutation testing of the core modules with cosmic-ray (``make mutation``).

    .venv/bin/python mutation/run.py                      # every module of mutation/modules.toml
    .venv/bin/python mutation/run.py sla/sweep.py         # one module (resumes an unfinished run)
    .venv/bin/python mutation/run.py --fresh sla/sweep.py # start that module over
    .venv/bin/python mutation/run.py --report             # print the last results, run nothing

Each mutant is a small change to one module (``<`` for ``<=``, ``and`` for ``or``, a number
plus one, a loop that never runs…); the module's own test files run against it and should fail.
The score of a module is the share of its mutants they kill, leaving out the mutants listed as
equivalent in ``modules.toml`` (they change no behaviour). A module under the floor fails the run.

Mutants are applied in a copy of the working tree (``var/mutation/trees/<module>``), never to
the files you are editing, and the tests use a database of their own per module
(``test_mutation_sla_sweep``…): you can keep working and testing while it runs, and run two
modules at once. Sessions are kept in ``var/mutation/``: an interrupted run resumes, a module
whose source changed starts over, and when only its tests changed the mutants that survived are
tested again.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = Path(__file__).with_name("modules.toml")
WORK = ROOT / "var" / "mutation"
TREES = WORK / "trees"
BIN = Path(sys.executable).parent
# The output of a mutant set aside untested because no test can kill it (see skip_equivalent…).
EQUIVALENT_BY_CONSTRUCTION = "equivalent by construction"

# Selective mutation: the operators whose mutants say something about the tests. Replacing `+` by
# `<<` or `<` by `is` only produces mutants that crash at once; they cost a test run each and
# inflate the score. Kept: + ↔ -, * ↔ /, | ↔ &, the boundary and negated comparisons, `not`
# removed, `and` ↔ `or`, True ↔ False, numbers, `not` added, break ↔ continue, exceptions,
# decorators removed, loops that never run.
EXCLUDED_OPERATORS = [
    r"core/ReplaceBinaryOperator_(?!(Add_Sub|Sub_Add|Mul_Div|Div_Mul|BitOr_BitAnd|BitAnd_BitOr)$)",
    r"core/ReplaceComparisonOperator_(?!(Lt_LtE|LtE_Lt|Gt_GtE|GtE_Gt|Lt_GtE|GtE_Lt|Gt_LtE|LtE_Gt"
    r"|Eq_NotEq|NotEq_Eq|Is_IsNot|IsNot_Is)$)",
    r"core/ReplaceUnaryOperator_(?!(Delete_Not|USub_UAdd)$)",
    r"core/Variable(Replacer|Inserter)",
]


@dataclass
class Mutant:
    line: int
    operator: str
    before: str
    after: str

    def __str__(self) -> str:
        return f"line {self.line} {self.operator}: {self.before!r} -> {self.after!r}"


@dataclass
class Result:
    module: str
    killed: int = 0
    survived: list[Mutant] = field(default_factory=list)
    equivalent: list[Mutant] = field(default_factory=list)
    pending: int = 0

    @property
    def score(self) -> float | None:
        judged = self.killed + len(self.survived)
        return 100.0 * self.killed / judged if judged else None


def load_config() -> dict:
    with CONFIG.open("rb") as handle:
        return tomllib.load(handle)


def slug(module: str) -> str:
    return module.replace("/", ".").removesuffix(".py")


def copy_tree(module: str) -> Path:
    """A copy of the files git knows of (committed or not, ignored ones left out), as they are now:
    one per module, so that two modules can be run at once."""
    tree = TREES / slug(module)
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    shutil.rmtree(tree, ignore_errors=True)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            target = tree / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return tree


def environment(module: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ITSM_ENV="test",
        ITSM_VAR_DIR=str(ROOT / "var"),  # the embedded server and secret key of this working tree
        # Tests get their own database per module (test_mutation_sla_sweep…), not the usual one.
        EMBEDDED_DATABASE_NAME="mutation_" + slug(module).replace(".", "_"),
        PYTHONDONTWRITEBYTECODE="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    return env


def test_command(tests: list[str]) -> str:
    return f"{sys.executable} -m pytest -x -q -p no:xdist {' '.join(tests)}"


def fingerprint(*names: str) -> str:
    digest = hashlib.sha256(repr(EXCLUDED_OPERATORS).encode())
    for name in names:
        digest.update(name.encode() + b"\0" + (ROOT / name).read_bytes())
    return digest.hexdigest()


def retest_survivors(session: Path) -> None:
    """Forget the outcome of the surviving mutants: ``exec`` tests them again (the tests changed,
    the module did not; a killed mutant stays killed by tests that only grew)."""
    with sqlite3.connect(session) as db:
        db.execute("DELETE FROM work_results WHERE lower(test_outcome) = 'survived'")


def write_session_config(module: str, tests: list[str], timeout: float) -> Path:
    path = WORK / f"{slug(module)}.toml"
    excluded = ", ".join(f"'{pattern}'" for pattern in EXCLUDED_OPERATORS)
    path.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{module}"\n'
        f"timeout = {timeout:.0f}\n"
        "excluded-modules = []\n"
        f'test-command = "{test_command(tests)}"\n\n'
        "[cosmic-ray.distributor]\n"
        'name = "local"\n\n'
        "[cosmic-ray.filters.operators-filter]\n"
        f"exclude-operators = [{excluded}]\n",
        encoding="utf-8",
    )
    return path


def run_module(module: str, tests: list[str], *, fresh: bool) -> bool:
    """Mutate one module and run its tests against each mutant; False when its baseline fails."""
    session = WORK / f"{slug(module)}.sqlite"
    stamp = WORK / f"{slug(module)}.stamp"
    # Fingerprinted before the copy: a file edited during the run is not taken as tested.
    source, tested = fingerprint(module), fingerprint(*(name for name in tests if not name.startswith("-")))
    tree = copy_tree(module)
    print(f"\n== {module}: tests {' '.join(tests)}", flush=True)
    began = time.perf_counter()
    baseline = subprocess.run(
        test_command(tests).split(),
        cwd=tree,
        env=environment(module),
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - began
    if baseline.returncode != 0:
        print(f"   the tests fail without any mutation; fix them first:\n{baseline.stdout[-3000:]}")
        return False
    # A mutant that makes the tests hang (a loop that never ends) is killed by the timeout.
    config = write_session_config(module, tests, timeout=max(60.0, seconds * 4))
    stamp_source, stamp_tests = ([*stamp.read_text().split(), "", ""] if stamp.exists() else ["", ""])[:2]
    if fresh or not session.exists() or stamp_source != source:
        session.unlink(missing_ok=True)
        subprocess.run([BIN / "cosmic-ray", "init", config, session], cwd=tree, check=True)
        subprocess.run([BIN / "cr-filter-operators", session, config], cwd=tree, check=True)
    elif stamp_tests != tested:
        retest_survivors(session)
    stamp.write_text(f"{source} {tested}")
    skip_equivalent_by_construction(session, module)
    total, done = progress(session)
    print(f"   baseline {seconds:.1f} s; {total} mutants, {done} already done", flush=True)
    worker = subprocess.Popen(
        [BIN / "cosmic-ray", "exec", config, session], cwd=tree, env=environment(module)
    )
    while worker.poll() is None:
        time.sleep(30)
        total, done = progress(session)
        print(f"   {done}/{total} mutants tested ({time.perf_counter() - began:.0f} s)", flush=True)
    if worker.returncode != 0:
        raise SystemExit(f"cosmic-ray exec failed on {module} (exit {worker.returncode})")
    return True


def skip_equivalent_by_construction(session: Path, module: str) -> None:
    """Set aside, untested, the pending mutants that no test can kill: inside a type annotation
    never evaluated, or a keyword-only marker made positional-only. Each would survive a whole
    run of the module's tests (minutes on a loaded machine); the report counts them equivalent."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    annotations = annotation_spans(module)
    markers = signature_markers(module)
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in db.pending_work_items:
            mutation = item.mutations[0]
            if any(start <= tuple(mutation.start_pos) < end for start, end in annotations):
                why = "annotation"
            elif mutation.operator_name.endswith("_Mul_Div") and tuple(mutation.start_pos) in markers:
                why = "signature marker"
            else:
                continue
            db.set_result(
                item.job_id,
                WorkResult(
                    worker_outcome=WorkerOutcome.SKIPPED, output=f"{EQUIVALENT_BY_CONSTRUCTION}: {why}"
                ),
            )


def progress(session: Path) -> tuple[int, int]:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome

    with use_db(str(session), WorkDB.Mode.open) as db:
        results = [result for _job, result in db.results]
        skipped = sum(result.worker_outcome == WorkerOutcome.SKIPPED for result in results)
        return db.num_work_items - skipped, len(results) - skipped


def changed_lines(diff: str) -> tuple[str, str]:
    """The first line the mutation removed and the first it added (stripped)."""
    removed = added = ""
    for line in (diff or "").splitlines():
        if line.startswith("-") and not line.startswith("---") and not removed:
            removed = line[1:].strip()
        elif line.startswith("+") and not line.startswith("+++") and not added:
            added = line[1:].strip()
    return removed, added


def is_signature_marker(operator: str, before: str, after: str) -> bool:
    """cosmic-ray reads the keyword-only marker ``*`` of a signature as a multiplication and turns it
    into the positional-only ``/``: arguments passed by keyword still bind the same way, so such a
    mutant is equivalent by construction (counted with the equivalent ones)."""
    return (
        operator.endswith("_Mul_Div")
        and ("def " in before or before == "*,")
        and before.replace("*,", "/,", 1) == after
    )


def signature_markers(module: str) -> set[tuple[int, int]]:
    """Where the bare keyword-only markers ``*`` of the module's signatures are (line, column),
    also in a signature wrapped over several lines, where ``is_signature_marker`` cannot tell."""
    source = (ROOT / module).read_text(encoding="utf-8")
    lines = source.splitlines()
    markers: set[tuple[int, int]] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not node.args.kwonlyargs:
            continue
        if node.args.vararg is not None:
            continue  # ``*args``: no bare marker
        for number in range(node.lineno, node.body[0].lineno):
            line = lines[number - 1]
            for column, char in enumerate(line):
                after = line[column + 1 :]
                if char == "*" and not after.startswith("*") and after.lstrip()[:1] in (",", ")"):
                    markers.add((number, column))
    return markers


def annotation_spans(module: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where the type annotations of a module are, if it never evaluates them
    (``from __future__ import annotations``): a mutant inside one (``int | None`` → ``int & None``)
    changes nothing at run time and is counted with the equivalent ones."""
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    postponed = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(alias.name == "annotations" for alias in node.names)
        for node in tree.body
    )
    if not postponed:
        return []
    annotations: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = node.args
            every = [
                *arguments.posonlyargs,
                *arguments.args,
                *arguments.kwonlyargs,
                arguments.vararg,
                arguments.kwarg,
            ]
            annotations.extend(
                argument.annotation
                for argument in every
                if argument is not None and argument.annotation is not None
            )
            if node.returns is not None:
                annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
    return [
        ((node.lineno, node.col_offset), (node.end_lineno or node.lineno, node.end_col_offset or 0))
        for node in annotations
    ]


def enclosing_function(module: str, line: int) -> str:
    """The name of the innermost function whose lines (its decorators included) hold ``line``,
    or "" at module level: an equivalent mutant listed with a ``function`` is only that one."""
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    name, size = "", None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
            end = node.end_lineno or node.lineno
            if start <= line <= end and (size is None or end - start < size):
                name, size = node.name, end - start
    return name


def results(module: str, equivalents: dict[tuple[str, ...], str]) -> Result | None:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    session = WORK / f"{slug(module)}.sqlite"
    if not session.exists():
        return None
    result = Result(module)
    annotations = annotation_spans(module)
    lines = (ROOT / module).read_text(encoding="utf-8").splitlines()
    markers = signature_markers(module)
    with use_db(str(session), WorkDB.Mode.open) as db:
        result.pending = len(db.pending_work_items)
        for item, outcome in db.completed_work_items:
            mutation = item.mutations[0]
            if outcome.worker_outcome == WorkerOutcome.SKIPPED:
                if (outcome.output or "").startswith(EQUIVALENT_BY_CONSTRUCTION):
                    line = lines[mutation.start_pos[0] - 1].strip()
                    result.equivalent.append(
                        Mutant(mutation.start_pos[0], mutation.operator_name, line, outcome.output)
                    )
                continue
            before, after = changed_lines(outcome.diff)
            mutant = Mutant(mutation.start_pos[0], mutation.operator_name, before, after)
            in_annotation = any(start <= tuple(mutation.start_pos) < end for start, end in annotations)
            if (
                (module, before, after) in equivalents
                or (module, before, after, enclosing_function(module, mutant.line)) in equivalents
                or is_signature_marker(mutant.operator, before, after)
                or (mutant.operator.endswith("_Mul_Div") and tuple(mutation.start_pos) in markers)
                or in_annotation
            ):
                result.equivalent.append(mutant)
            elif outcome.test_outcome == TestOutcome.SURVIVED:
                result.survived.append(mutant)
            else:  # killed: a test failed, the mutant did not even import, or the tests timed out
                result.killed += 1
    return result


def report(modules: list[str], config: dict) -> bool:
    """Print the score per module and the surviving mutants; False when a module is under the floor."""
    floor = float(config.get("floor", 90))
    # An entry with a "function" matches in that function only (the same line, such as a removed
    # "@transaction.atomic", may be equivalent in one function and not in another).
    equivalents = {
        (
            entry["module"],
            entry["before"],
            entry["after"],
            *([entry["function"]] if "function" in entry else []),
        ): (entry["why"])
        for entry in config.get("equivalent", [])
    }
    rows = [(module, results(module, equivalents)) for module in modules]
    print(f"\n{'module':<32}{'mutants':>8}{'killed':>8}{'survived':>10}{'equivalent':>12}{'score':>9}")
    ok = True
    for module, result in rows:
        if result is None:
            print(f"{module:<32}{'not run yet':>47}")
            continue
        total = result.killed + len(result.survived) + len(result.equivalent)
        score = "-" if result.score is None else f"{result.score:.1f} %"
        note = f"  ({result.pending} not tested yet)" if result.pending else ""
        print(
            f"{module:<32}{total:>8}{result.killed:>8}{len(result.survived):>10}"
            f"{len(result.equivalent):>12}{score:>9}{note}"
        )
        if result.score is not None and result.score < floor and not result.pending:
            ok = False
    for module, result in rows:
        if result and result.survived:
            print(f"\nSurviving mutants of {module} (a test should fail on each, or list it as equivalent):")
            for mutant in sorted(result.survived, key=lambda mutant: mutant.line):
                print(f"  {mutant}")
    if not ok:
        print(f"\nA module is under the floor of {floor:.0f} % of its non-equivalent mutants killed.")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("modules", nargs="*", help="paths as listed in mutation/modules.toml (default: all)")
    parser.add_argument("--fresh", action="store_true", help="start the modules over")
    parser.add_argument("--report", action="store_true", help="only print the results of the last runs")
    args = parser.parse_args()
    config = load_config()
    listed = config["modules"]
    unknown = [module for module in args.modules if module not in listed]
    if unknown:
        parser.error(f"not in mutation/modules.toml: {', '.join(unknown)} (add a line there first)")
    modules = args.modules or list(listed)
    WORK.mkdir(parents=True, exist_ok=True)
    if not args.report:
        for module in modules:
            if not run_module(module, listed[module], fresh=args.fresh):
                raise SystemExit(1)
    if not report(modules, config):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
