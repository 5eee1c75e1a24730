"""Durable results: one JSON file per (student, exercise), written atomically as each notebook finishes.

An entry is reused on the next run when the notebook's content hash and the reference
fingerprint (solution notebook + check code) are unchanged; otherwise the notebook is regraded.
A run killed halfway therefore resumes where it stopped and never loses a finished result.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path


def content_hash(path: Path) -> str:
    """SHA-256 of the file, read in chunks (a huge file is refused later, but must not fill memory here)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def safe_name(name: str) -> str:
    """A file name for ``name``: the name itself when it is plain ASCII letters, digits, ``-_.``;
    otherwise its plain part plus a short hash of the whole name, so that "bob smith" and
    "bob_smith" never share a results or feedback file."""
    plain = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "-_." else "_" for ch in name)[:100].lstrip(".")
    if plain == name and plain:
        return plain
    return f"{plain[:80] or 'student'}-{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:10]}"


def atomic_write(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path`` (a character no
    encoding can write, a lone surrogate, is written out as ``\\udcff`` rather than stopping the write)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{id(text)}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", errors="backslashreplace", newline="") as fh:  # \udcff: written out
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a failed write leaves neither a half file nor a stray temporary one
        raise


class Journal:
    def __init__(self, out: Path):
        self.folder = Path(out) / "results"

    def path(self, student: str, exercise: str) -> Path:
        return self.folder / safe_name(student) / f"{exercise}.json"

    def load(self, student: str, exercise: str, notebook_hash: str, reference: str) -> dict | None:
        """The stored entry if it was made from the same notebook and the same reference, else None."""
        try:
            entry = json.loads(self.path(student, exercise).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict):
            return None
        if entry.get("student") != student or entry.get("exercise") != exercise:
            return None
        if entry.get("notebook_sha256") != notebook_hash or entry.get("reference") != reference:
            return None
        return entry

    def entries(self):
        """Every stored entry that reads as a JSON object and lies in its own file (student and exercise
        agree with the file's place), for the reports."""
        for path in sorted(self.folder.glob("*/*.json")):
            try:
                entry = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if (isinstance(entry, dict) and isinstance(entry.get("student"), str)
                    and isinstance(entry.get("exercise"), str) and self.path(entry["student"], entry["exercise"]) == path):
                yield entry

    def store(self, result, notebook_hash: str, reference: str) -> Path:
        path = self.path(result.student, result.exercise)
        entry = asdict(result) | {"score": result.score, "max_score": result.max_score,
                                  "notebook_sha256": notebook_hash, "reference": reference}
        atomic_write(path, json.dumps(entry, indent=1))
        return path
