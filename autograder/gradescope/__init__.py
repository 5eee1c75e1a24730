"""Build the Gradescope autograder zip: ``python -m autograder.gradescope [--out dist/]``.

The zip holds ``setup.sh`` and ``run_autograder`` at its top level (as Gradescope expects)
beside the course source (``autograder/``, ``vaegan/``, ``solutions/``, ``pyproject.toml``);
Gradescope unpacks it into ``/autograder/source`` and runs ``setup.sh`` once per image.
"""
from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
INCLUDE = ("autograder", "vaegan", "solutions", "pyproject.toml", "README.md", "LICENSE")


def _skipped(relative: Path) -> bool:
    """Caches and hidden entries (``.git`` of a private-solutions repository, ``.ipynb_checkpoints``) stay out."""
    return any(part == "__pycache__" or part.startswith(".") for part in relative.parts)


def build(out_dir: Path, reference: Path | None = None) -> Path:
    """Write ``gradescope_autograder.zip``; ``reference`` replaces ``solutions/`` (private solutions)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "gradescope_autograder.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for script in ("setup.sh", "run_autograder"):
            info = zipfile.ZipInfo(script)
            info.external_attr = 0o755 << 16
            zf.writestr(info, (HERE / script).read_text())
        for name in INCLUDE:
            src = (reference if (name == "solutions" and reference) else REPO / name)
            files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file()
                                                       and not _skipped(p.relative_to(src)))
            for path in files:
                arc = Path(name) / path.relative_to(src) if src.is_dir() else Path(name)
                zf.write(path, str(arc))
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(REPO / "dist"))
    parser.add_argument("--reference", help="folder of (private) reference solutions to ship instead of solutions/")
    args = parser.parse_args(argv)
    path = build(Path(args.out), Path(args.reference) if args.reference else None)
    print(f"wrote {path}: upload it as the Gradescope autograder (Ubuntu image)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
