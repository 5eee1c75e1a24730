"""Grade submissions: reference outputs once per exercise, student workers in parallel, scores in the parent."""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vaegan.curriculum import CAPSTONES

from .journal import Journal, atomic_write, content_hash
from .discover import Submission, discover
from .points import ReferenceProblem, check_max_scores, item_points
from .runner import CheckRun, Limits, WorkerReport, ZygotePool, run_checks, warm_modules_for

DEFAULT_REFERENCE = Path(__file__).resolve().parents[1] / "solutions"


@dataclass
class CheckResult:
    check: str
    score: float
    max_score: float
    message: str
    visible: bool = True


@dataclass
class NotebookResult:
    student: str
    exercise: str
    path: str
    results: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return round(sum(r.score for r in self.results), 2)

    @property
    def max_score(self) -> float:
        return round(sum(r.max_score for r in self.results), 2)


class Reference:
    """Reference outputs and points of one exercise, computed once per run from trusted solutions."""

    def __init__(self, slug: str, folder: Path, limits: Limits, pool=None):
        self.slug = slug
        self.notebook = folder / f"{slug}.ipynb"
        if not self.notebook.exists():
            raise ReferenceProblem(f"no reference solution {self.notebook}")
        from .checks import checks_for

        self.checks = checks_for(slug, folder).checks
        self.extra = folder
        self.by_id = {c.id: c for c in self.checks}
        self.points = item_points(self.notebook, slug)
        self.max_scores = check_max_scores(self.points, self.checks)
        report = run_checks(self.notebook, slug, self.by_id, limits, mode="reference", extra_checks=folder, pool=pool)
        bad = {cid: run for cid, run in report.runs.items() if run.status != "ok"}
        if bad or report.load_errors:
            detail = "; ".join(f"{cid}: {run.status} {run.message}" for cid, run in bad.items())
            errors = "; ".join(e.get("message", "") for e in report.load_errors)
            raise ReferenceProblem(f"the reference {self.notebook} fails its own checks: {detail or errors}\n"
                                   f"{report.log_tail}")
        self.outputs = {cid: run.outputs for cid, run in report.runs.items()}
        self.values = {cid: run.values for cid, run in report.runs.items()}  # sizes, for _oversized
        self.inputs = {cid: run.inputs for cid, run in report.runs.items() if run.inputs is not None}

    def zero_results(self, message: str) -> list[CheckResult]:
        """Every check at 0 points with ``message`` (the notebook could not be graded)."""
        return [CheckResult(c.id, 0.0, self.max_scores[c.id], message, c.visible) for c in self.checks]


def score_report(reference: Reference, report: WorkerReport) -> list[CheckResult]:
    """Judge every check of a worker report against the reference, in the trusted parent."""
    results = []
    for check in reference.checks:
        run = report.runs.get(check.id) or CheckRun("not_run", "not run")
        max_score = reference.max_scores[check.id]
        oversized = _oversized(run.values, reference.values[check.id]) if run.status == "ok" else ""
        if oversized:
            fraction, message = 0.0, f"{check.item}: {oversized}"
        elif run.status == "ok":
            verdict = check.evaluate(run.outputs, reference.outputs[check.id])  # a bad student output fails this check only
            fraction, message = verdict.fraction, verdict.message
        else:
            fraction, message = 0.0, _status_message(check, run)
        results.append(CheckResult(check.id, round(max_score * fraction, 2), max_score, message, check.visible))
    return results


OVERSIZE_FACTOR, OVERSIZE_SLACK = 8, 100_000  # honest outputs hold about what the reference's hold


def _oversized(got: int, want: int) -> str:
    """Why a student's outputs (``got`` values, counted by the runner as they arrived) are refused before judging,
    or "": far more values than the reference's ``want`` (a tensor of millions of elements where a vector is
    due). Judges run here, in the trusted parent, and some of their work grows with what they compare; a shape
    message from the judge is kept for outputs of ordinary size."""
    if got <= OVERSIZE_FACTOR * want + OVERSIZE_SLACK:
        return ""
    return (f"the outputs hold {got:,} values where the reference's hold {want:,}: far larger than the check asks "
            "for (a tensor of the wrong size, or every intermediate result returned?)")


def _status_message(check, run: CheckRun) -> str:
    if run.status == "not_implemented":
        return f"{check.item}: {run.message}"
    if run.status in ("error", "timeout", "crashed"):
        return f"{check.item} {run.message}" if run.status == "error" else f"{check.item}: {run.message}"
    return run.message


def grade_submission(sub: Submission, reference: Reference, limits: Limits, hide=(), pool=None) -> NotebookResult:
    started = time.monotonic()
    result = NotebookResult(sub.student, reference.slug, str(sub.path))
    if sub.error:
        message = f"notebook could not be loaded: {sub.error}"
        result.results = reference.zero_results(message)
    else:
        report = run_checks(sub.path, reference.slug, reference.by_id, limits, inputs=reference.inputs, hide=hide,
                            extra_checks=reference.extra, pool=pool)
        result.notes += [f"sandbox: {p}" for p in report.sandbox_problems]
        result.results = score_report(reference, report)
        result.notes += [f"cell {e.get('cell', -1) + 1}: {e.get('message', '')}" for e in report.load_errors
                         if isinstance(e, dict)]
        if report.restored:
            shown = ", ".join(report.restored[:5]) + (" and more" if len(report.restored) > 5 else "")
            result.notes.append(f"the notebook replaced {shown}, part of the grader or of a library it calls; "
                                "the grader put it back before running the checks")
        if report.restarts:
            result.notes.append(f"{report.restarts} worker restart(s) after a hang or crash")
    result.notes += [f"also found {p}; graded the newest file instead" for p in sub.superseded]
    result.seconds = time.monotonic() - started
    return result


def contained(grade, sub: Submission, *args) -> NotebookResult:
    """``grade(sub, *args)``; an unexpected failure of the grader itself on this notebook becomes a
    zero-scored result that says so, so the other notebooks are still graded and journaled."""
    started = time.monotonic()
    try:
        return printable_result(grade(sub, *args))
    except Exception as err:  # noqa: BLE001 - contained per notebook by design
        message = (f"the grader failed on this notebook ({err.__class__.__name__}: {str(err)[:300]}); "
                   "the other notebooks were graded — tell your instructor")
        result = NotebookResult(sub.student, sub.exercise or "", str(sub.path), seconds=time.monotonic() - started)
        reference = args[0] if args and isinstance(args[0], Reference) else None
        if reference is not None:
            result.results = reference.zero_results(message)
        elif sub.exercise in CAPSTONES:
            from .capstone import zero_results

            result.results = zero_results(sub.exercise, message)
        else:
            result.notes.append(message)
        return result


_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x00, 0x09), *range(0x0b, 0x20), 0x7f]}
_CONTROL.update({c: f"\\u{c:04x}" for c in [*range(0x80, 0xa0), 0x2028, 0x2029, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069]})
_CONTROL.update({c: f"\\u{c:04x}" for c in range(0xd800, 0xe000)})  # lone surrogates: undecodable bytes, \udcff


def printable(text: str) -> str:
    """``text`` with control characters and lone surrogates written out (``\\x1b``, ``\\udcff``): messages
    quote student code and output; an ANSI escape must not rewrite the instructor's terminal, CSV or
    feedback, and a character no file can encode must not stop the reports."""
    return str(text).translate(_CONTROL)


def printable_result(result: NotebookResult) -> NotebookResult:
    for r in result.results:
        r.message = printable(r.message)
    result.notes = [printable(n) for n in result.notes]
    return result


def submission_hash(sub: Submission) -> str:
    """What the journal keys a result on; a file that cannot be read (or was refused) hashes its reason."""
    if sub.error:
        try:
            info = os.lstat(sub.path)
            stamp = f"{info.st_size}:{info.st_mtime_ns}"
        except OSError:
            stamp = "unreadable"
        return hashlib.sha256(f"refused:{sub.error}:{stamp}".encode()).hexdigest()
    try:
        return capstone_hash(sub) if sub.exercise in CAPSTONES else content_hash(sub.path)
    except OSError as err:
        sub.error = f"{Path(sub.path).name}: could not be read ({err.__class__.__name__})"
        return submission_hash(sub)


def hidden_paths(paths, out: Path, reference_dir: Path, warn=None) -> list[str]:
    """What a student's worker must not see: references, data, outputs and every submission, and of
    the rest of the machine everything it does not run from. ``warn(message)`` hears of folders with
    too many entries to hide one by one (they stay partly visible)."""
    from vaegan.data import default_data_root

    from .runner import run_root

    repo = Path(__file__).resolve().parents[1]
    hide = {DEFAULT_REFERENCE, Path(reference_dir), Path(out), default_data_root()}
    hide.update(Path(p) for p in paths)
    runs_from = [Path(sys.prefix), Path(sys.base_prefix), *(Path(p) for p in sys.path if p and Path(p).is_dir())]
    # Each as written and resolved: a link on the way (Linuxbrew's opt/python -> Cellar/...) must
    # keep its folder visible too. LDAP/AD user lookups (getpass, caches) go through sssd's pipes.
    named = [p.resolve() for p in hide if p.exists()]  # never opened, whatever the environment says
    libraries = []
    for folder in _library_path_folders():
        if any(folder == n or n in folder.parents for n in named):
            if warn:
                warn(f"warning: LD_LIBRARY_PATH folder {folder} lies in a folder hidden from students; it stays hidden")
        else:
            libraries.append(folder)
    needed = [repo / "vaegan", repo / "autograder", Path(run_root()).resolve(), Path("/var/lib/sss"),
              *(Path(os.path.abspath(p)) for p in runs_from), *(p.resolve() for p in runs_from),
              *_mapped_folders(), *libraries]
    # Beyond the named folders, show the worker only what it runs from: in the repository (its git
    # history, tests, build outputs hold solutions), the home folder and the temporary folders (earlier
    # runs' gradebooks, other classes' notebooks), every entry not on the way to a needed path is hidden;
    # so is every top-level folder of the machine but the system's own (/srv, /mnt, /opt, /home, /var ...).
    crowded: list[Path] = []
    for top in {repo, Path.home(), Path(tempfile.gettempdir()), Path("/tmp")}:
        hide.update(_all_but(top, needed, crowded=crowded))
    hide.update(_beyond_the_system(needed, crowded=crowded))
    if crowded and warn:
        warn(f"warning: {', '.join(map(str, crowded))} hold too many entries to hide one by one: "
             "some stay visible to the students' code")
    keep = []
    for p in (p.resolve() for p in hide if p.exists()):
        if not _leads_to(p, needed):  # never hide the code the worker runs
            keep.append(str(p))
    return sorted(set(keep))


def _leads_to(path: Path, needed: list[Path]) -> bool:
    """Whether ``path`` is a needed path or a folder on the way to one."""
    return any(n == path or path in n.parents for n in needed)


# Top-level folders a worker may need (programs, libraries, configuration, devices, the kernel's
# views); /tmp is handled with the temporary folder. Everything else at the top is data.
SYSTEM_FOLDERS = frozenset({"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "proc", "dev", "sys",
                            "run", "tmp", "nix", "gnu"})


def _beyond_the_system(needed: list[Path], root: Path = Path("/"), crowded: list | None = None) -> list[Path]:
    """Top-level entries of ``root`` outside ``SYSTEM_FOLDERS``: whole when no needed path lies below,
    else everything in them off the way to one (a Python installed in /opt/conda stays visible)."""
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return []
    found: list[Path] = []
    for entry in entries:
        if entry.name in SYSTEM_FOLDERS or entry.is_symlink():
            continue
        if _leads_to(entry, needed):
            found += _all_but(entry, needed, crowded=crowded)
        else:
            found.append(entry)
    return found


def _mapped_folders() -> list[Path]:
    """Folders of the shared libraries this process has loaded (Linux): the worker loads the same ones.
    Only executable mappings count: a data file mapped by the grader must not open its folder."""
    try:
        lines = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return []
    fields = [line.split(None, 5) for line in lines]
    files = {f[5] for f in fields if len(f) == 6 and "x" in f[1]}
    return sorted({Path(f).parent for f in files if f.startswith("/") and not f.endswith("(deleted)")
                   and not f.startswith(("/dev/", "/proc/", "/memfd:")) and os.path.isfile(f)})


def _library_path_folders() -> list[Path]:
    """The folders of ``LD_LIBRARY_PATH``, as written and resolved: a library the worker loads on first use
    (an MKL or CUDA runtime in /opt, say) comes from there even when the grader never loaded it."""
    folders = [Path(p) for p in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if os.path.isabs(p)]
    return [*folders, *(f.resolve() for f in folders)]


def _all_but(top: Path, needed: list[Path], limit: int = 2000, crowded: list | None = None) -> list[Path]:
    """The entries below ``top`` that are neither a needed path nor on the way to one (links skipped:
    hiding one would hide its target). Empty for ``/`` or a missing folder. At most ``limit`` (each is
    a mount in every worker); when there are more, ``top`` is added to ``crowded``."""
    try:
        top = top.resolve()
    except OSError:
        return []
    if top == Path(top.anchor) or not top.is_dir():
        return []
    found: list[Path] = []
    stack = [top]
    while stack and len(found) < limit:
        folder = stack.pop()
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.is_symlink():
                continue
            if _leads_to(entry, needed):
                if entry.is_dir() and entry not in needed:
                    stack.append(entry)  # on the way to a needed path: look inside
                continue
            found.append(entry)
    if len(found) > limit or (stack and len(found) >= limit):
        if crowded is not None:
            crowded.append(top)
    return found[:limit]


def capstone_hash(sub: Submission) -> str:
    """Content hash of a capstone notebook together with every file of its run folder."""
    from .capstone import find_run_folder

    digest = hashlib.sha256(Path(sub.path).read_bytes())
    folder = find_run_folder(sub.path, sub.exercise)
    if folder is not None:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
            size = path.stat().st_size
            digest.update(f"{path.relative_to(folder)}:{size}".encode())
            if size <= 64 * 2**20:  # larger files are rejected by the capstone grader anyway
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def grade_capstone_submission(sub: Submission, reference_dir: Path) -> NotebookResult:
    """Capstones: the trusted parent reloads the saved weights (weights_only) and recomputes the metrics."""
    from .capstone import grade_capstone

    started = time.monotonic()
    result = NotebookResult(sub.student, sub.exercise, str(sub.path))
    result.results = grade_capstone(Path(sub.path), sub.exercise, reference_dir)
    result.notes += [f"also found {p}; graded the newest file instead" for p in sub.superseded]
    result.seconds = time.monotonic() - started
    return result


def use_zygote() -> bool:
    """Fork workers from a zygote (torch imported once) where fork exists; ``GRADER_ZYGOTE=0`` disables it."""
    return hasattr(os, "fork") and hasattr(os, "pidfd_open") and os.environ.get("GRADER_ZYGOTE", "1") != "0"


def reference_fingerprint(slug: str, reference_dir: Path) -> str:
    """What a stored result depends on besides the notebook: solution notebook and check code."""
    from .checks import fingerprint

    notebook = reference_dir / f"{slug}.ipynb"
    solution = content_hash(notebook) if notebook.exists() else "missing"
    return f"{solution[:16]}-{fingerprint(slug, reference_dir)[:16]}"


@dataclass
class RunSummary:
    graded: int = 0
    reused: int = 0
    seconds: float = 0.0
    sandbox: str = ""
    notes: list[str] = field(default_factory=list)
    slowest: list[tuple[str, float]] = field(default_factory=list)  # of the notebooks graded in this run
    median_seconds: float = 0.0  # grading time of the median notebook graded in this run


def _from_entry(entry: dict) -> NotebookResult | None:
    """The stored result, or None (regraded) when the entry is not of the shape this grader writes
    (another grader version, an edited or damaged file): one odd entry must not stop the run."""
    try:
        result = NotebookResult(entry["student"], entry["exercise"], str(entry["path"]),
                                notes=[str(n) for n in entry.get("notes", [])], seconds=float(entry.get("seconds", 0.0)))
        result.results = [CheckResult(str(r["check"]), float(r["score"]), float(r["max_score"]), str(r["message"]),
                                      bool(r.get("visible", True))) for r in entry["results"]]
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return result if result.results else None


def grade_paths(paths, out: Path, student: str | None = None, reference_dir: Path | None = None,
                jobs: int | None = None, limits: Limits | None = None, log=print, force: bool = False):
    """Grade every notebook under ``paths``; returns a ``GradingRun`` (results, notes, summary).

    Finished notebooks are journaled under ``out/results``; unchanged notebooks graded
    against an unchanged reference are reused unless ``force``.
    """
    from .sandbox import detect

    started = time.monotonic()
    limits = limits or Limits()
    reference_dir = Path(reference_dir) if reference_dir else DEFAULT_REFERENCE
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    journal = Journal(out)
    submissions, notes = discover(paths, student)
    summary = RunSummary(sandbox=detect().describe(limits.memory_bytes))
    results: list[NotebookResult] = []
    graded_now: set[int] = set()  # ids of the results graded (not reused) in this run
    todo: list[tuple[Submission, str, str]] = []
    for sub in submissions:
        digest = submission_hash(sub)
        ref_print = reference_fingerprint(sub.exercise, reference_dir)
        entry = None if force else journal.load(sub.student, sub.exercise, digest, ref_print)
        reused = _from_entry(entry) if entry is not None else None
        if reused is not None:
            results.append(reused)
            summary.reused += 1
        else:
            todo.append((sub, digest, ref_print))
    jobs = max(1, jobs or os.cpu_count() or 1)
    unit_slugs = sorted({sub.exercise for sub, _, _ in todo} - set(CAPSTONES))
    warm = warm_modules_for(reference_dir / f"{slug}.ipynb" for slug in unit_slugs)
    zygotes = ZygotePool(jobs, limits, warm) if unit_slugs and use_zygote() else None  # starting meanwhile
    try:
        from .checks import checks_for  # imports torch: after the zygotes were started

        unchecked = {slug for slug in unit_slugs if not checks_for(slug, reference_dir).checks}
        for sub in [t[0] for t in todo if t[0].exercise in unchecked]:
            notes.append(f"{sub.student}: {sub.exercise} has no checks")
        todo = [t for t in todo if t[0].exercise not in unchecked]
        unit_slugs = [slug for slug in unit_slugs if slug not in unchecked]
        hide = hidden_paths(paths, out, reference_dir, warn=log)
        with ThreadPoolExecutor(max_workers=jobs) as threads:
            for slug in unit_slugs:
                log(f"reference {slug}: computing expected outputs from {reference_dir / (slug + '.ipynb')}")
            pending = {slug: threads.submit(Reference, slug, reference_dir, Limits(threads=limits.threads), zygotes)
                       for slug in unit_slugs}  # trusted, in parallel
            references: dict[str, Reference] = {slug: future.result() for slug, future in pending.items()}
            futures = {(threads.submit(contained, grade_capstone_submission, sub, reference_dir)
                        if sub.exercise in CAPSTONES else
                        threads.submit(contained, grade_submission, sub, references[sub.exercise], limits, hide, zygotes)):
                       (digest, ref_print) for sub, digest, ref_print in todo}
            for future in as_completed(futures):
                result = future.result()
                journal.store(result, *futures[future])  # durable before anything else happens
                results.append(result)
                graded_now.add(id(result))
                summary.graded += 1
                log(f"graded {result.student} / {result.exercise}: {result.score:g}/{result.max_score:g} "
                    f"({result.seconds:.1f} s)")
    finally:
        if zygotes is not None:
            zygotes.close()
    results.sort(key=lambda r: (r.student, r.exercise))
    summary.seconds = time.monotonic() - started
    earlier = earlier_results(journal, {(r.student, r.exercise) for r in results})
    if earlier:
        notes.append(f"grades.csv and gradebook.csv also list {len(earlier)} notebook(s) graded into {out} by "
                     f"earlier runs and not submitted to this one (delete {out / 'results'}/<student>/ to drop one)")
    notes[:] = [printable(n) for n in notes]  # they quote file and folder names
    summary.notes = list(notes)
    graded = [r for r in results if id(r) in graded_now]  # the journal's copies keep an earlier run's times
    summary.slowest = sorted(((f"{r.student}/{r.exercise}", round(r.seconds, 2)) for r in graded),
                             key=lambda x: -x[1])[:5]
    own = sorted(r.seconds for r in graded)
    summary.median_seconds = round(own[len(own) // 2], 2) if own else 0.0
    return GradingRun(results, notes, summary, earlier)


def earlier_results(journal: Journal, current: set[tuple[str, str]]) -> list[NotebookResult]:
    """Results journaled in the output folder by earlier runs for notebooks this run did not see:
    grading a late submission into the class's folder must not drop the class from the gradebook."""
    found = {}
    for entry in journal.entries():
        result = _from_entry(entry)
        if result is not None and (result.student, result.exercise) not in current:
            found[(result.student, result.exercise)] = result
    return sorted(found.values(), key=lambda r: (r.student, r.exercise))


@dataclass
class GradingRun:
    results: list[NotebookResult]  # this run's notebooks, graded or reused
    notes: list[str]
    summary: RunSummary
    earlier: list[NotebookResult] = field(default_factory=list)  # journaled by earlier runs, not in this one

    @property
    def gradebook(self) -> list[NotebookResult]:
        """What the CSV gradebooks list: this run's results and the earlier ones it did not replace."""
        return sorted(self.results + self.earlier, key=lambda r: (r.student, r.exercise))
