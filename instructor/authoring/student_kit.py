"""``python -m instructor student-kit``: what a student installs and opens.

Two files: a wheel of the checker alone (``pip install foundations_checker-...whl`` pulls in
torch and the rest from the dependencies pyproject.toml declares) and a zip of the released
notebooks. The wheel is built from a copy of the kit's files in a temporary folder, so no
``build/`` or ``*.egg-info`` is left in the repository, and it is opened and inspected before
it is handed out: anything but the ``checker`` package and its metadata (``solutions/``,
``instructor/``, ``source/``, ``nbgrader_config.py`` ...) or the hidden-check seed anywhere
in it, and the builder refuses with :class:`LeakInWheel`.
"""
from __future__ import annotations

from checker import course

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from instructor import KIT_ROOT

ROOT = Path(KIT_ROOT)
DEFAULT_OUT = ROOT / "dist" / "student-kit"
NOTEBOOKS_ZIP = "foundations-notebooks.zip"
STUDENTS_GUIDE = "docs/STUDENTS.md"  # in the zip beside the notebooks: install, open, check, submit, statuses
SHIPPED_PACKAGE = "checker"
# Never in a student's wheel, at any depth: the course's secrets and the instructor's tools.
FORBIDDEN_DIRS = ("solutions", "instructor", course.SOURCE_DIR, "tests", course.SUBMITTED_DIR, course.AUTOGRADED_DIR,
                  course.FEEDBACK_DIR)
FORBIDDEN_FILES = ("nbgrader_config.py", course.GRADEBOOK_FILE, course.GRADES_CSV)
SEED_SETTING = re.compile(r"hidden_seed\s*=\s*(\d+)")
SEED_ENV = "FOUNDATIONS_HIDDEN_SEED"  # as instructor.grading.verdicts.HIDDEN_SEED_ENV
MIN_SEED_DIGITS = 5  # a shorter seed is a number any file may hold: only a real one is searched for
COPY_IGNORE = (".git", ".venv", "build", "dist", "__pycache__", "*.egg-info", ".pytest_cache", "submitted",
               course.AUTOGRADED_DIR, course.FEEDBACK_DIR, course.GRADEBOOK_FILE, "exchange")

BUILD_FAILED = "building the checker wheel failed ({command}):\n{output}"
LEAKED = "{wheel} holds what students must never get, not handed out: {leaks}"
NO_RELEASE = "no released notebooks in {folder}: run `python -m instructor release` first"
RELEASE_LEAKED = "the released notebooks hold solutions, not handed out: {leaks}"
WROTE = "wrote {path} ({size})"
WHEEL_HOLDS = "  the wheel: the checker package only ({files} files); it requires {requires}"
ZIP_HOLDS = "  the notebooks: {names}"
INSTALL = ("a student installs it with:\n  pip install {wheel}\nthen unzips {zip} and opens the notebooks "
           "(on Colab: upload both, `!pip install {wheel}`; torch is preinstalled there)")


class KitError(Exception):
    """The student kit could not be built; the message says why."""


@dataclasses.dataclass
class BuildFailed(KitError):
    command: str
    output: str

    def __str__(self) -> str:
        return BUILD_FAILED.format(command=self.command, output=self.output)


@dataclasses.dataclass
class LeakInWheel(KitError):
    wheel: str
    leaks: list[str]

    def __str__(self) -> str:
        return LEAKED.format(wheel=self.wheel, leaks="; ".join(self.leaks))


@dataclasses.dataclass
class NoRelease(KitError):
    folder: str

    def __str__(self) -> str:
        return NO_RELEASE.format(folder=self.folder)


@dataclasses.dataclass
class ReleaseLeaked(KitError):
    leaks: list[str]

    def __str__(self) -> str:
        return RELEASE_LEAKED.format(leaks="; ".join(self.leaks))


@dataclasses.dataclass
class Kit:
    wheel: Path
    notebooks: Path
    wheel_files: list[str]
    requires: list[str]
    notebook_names: list[str]


# -- the wheel ----------------------------------------------------------------------------------------
def _copy_sources(root: Path, dest: Path) -> None:
    """The kit's files as the repository has them (git's view when there is one), without build debris."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                            capture_output=True) if (root / ".git").exists() else None
    if listed is not None and listed.returncode == 0:
        for name in filter(None, listed.stdout.decode().split("\0")):
            src = root / name
            if src.is_file():
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / name)
        return
    shutil.copytree(root, dest, ignore=shutil.ignore_patterns(*COPY_IGNORE), dirs_exist_ok=True)


def build_wheel(out: Path, root: Path = ROOT) -> Path:
    """``pip wheel --no-deps --no-build-isolation`` of a copy of ``root``; the wheel lands in ``out``."""
    with tempfile.TemporaryDirectory(prefix="student-kit-") as tmp:
        src, wheels = Path(tmp) / "src", Path(tmp) / "wheels"
        src.mkdir()
        _copy_sources(root, src)
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-cache-dir",
                   "--wheel-dir", str(wheels), str(src)]
        proc = subprocess.run(command, capture_output=True, text=True, cwd=tmp)
        built = sorted(wheels.glob("*.whl"))
        if proc.returncode != 0 or len(built) != 1:
            raise BuildFailed(command=" ".join(command[1:6]) + " ...", output=(proc.stdout + proc.stderr)[-3000:])
        out.mkdir(parents=True, exist_ok=True)
        target = out / built[0].name
        shutil.copy2(built[0], target)
    return target


def hidden_seeds(root: Path = ROOT) -> list[str]:
    """The hidden-check seeds this course uses: nbgrader_config.py's and the environment's."""
    config = root / "nbgrader_config.py"
    seeds = SEED_SETTING.findall(config.read_text()) if config.is_file() else []
    if os.environ.get(SEED_ENV, "").strip().isdigit():
        seeds.append(os.environ[SEED_ENV].strip())
    return sorted({s for s in seeds if len(s) >= MIN_SEED_DIGITS})


def leaks(wheel: Path, seeds: list[str]) -> list[str]:
    """Everything in the wheel a student must not get; empty when it is the checker and its metadata only."""
    found = []
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            parts = name.split("/")
            top = parts[0]
            if top != SHIPPED_PACKAGE and not top.endswith(".dist-info"):
                found.append(f"{name} (outside the {SHIPPED_PACKAGE} package)")
            elif set(parts[:-1]) & set(FORBIDDEN_DIRS) or parts[-1] in FORBIDDEN_FILES:
                found.append(name)
            data = zf.read(name)
            found += [f"{name} (the hidden seed {seed})" for seed in seeds
                      if re.search(rb"(?<!\d)" + seed.encode() + rb"(?!\d)", data)]
    return found


def verify(wheel: Path, root: Path = ROOT) -> None:
    """Raise :class:`LeakInWheel` unless the wheel holds the checker and its metadata only."""
    found = leaks(wheel, hidden_seeds(root))
    if found:
        raise LeakInWheel(wheel=wheel.name, leaks=found)


def wheel_requires(wheel: Path) -> list[str]:
    """The wheel's declared dependencies (``Requires-Dist`` without extras)."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        lines = zf.read(meta).decode().splitlines()
    return [line.split(":", 1)[1].strip() for line in lines
            if line.startswith("Requires-Dist:") and "extra ==" not in line]


# -- the notebooks ------------------------------------------------------------------------------------
def zip_notebooks(out: Path, root: Path = ROOT) -> tuple[Path, list[str]]:
    """The released notebooks in ``foundations/`` inside a zip; refuses a release that leaked solutions."""
    from instructor.authoring.release import leaks as release_leaks

    folder = root / course.RELEASE_DIR / course.ASSIGNMENT
    notebooks = sorted(folder.glob("*.ipynb"))
    if not notebooks:
        raise NoRelease(folder=str(folder))
    found = release_leaks(folder)
    if found:
        raise ReleaseLeaked(leaks=found)
    target = out / NOTEBOOKS_ZIP
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in notebooks:
            zf.write(path, f"foundations/{path.name}")
        zf.write(root / STUDENTS_GUIDE, f"foundations/{Path(STUDENTS_GUIDE).name}")
    return target, [p.name for p in notebooks] + [Path(STUDENTS_GUIDE).name]


def build(out: Path = DEFAULT_OUT, root: Path = ROOT) -> Kit:
    """The wheel (inspected) and the notebooks' zip, in ``out``."""
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("foundations_checker-*.whl"):
        old.unlink()
    wheel = build_wheel(out, root)
    try:
        verify(wheel, root)
    except LeakInWheel:
        wheel.unlink()
        raise
    notebooks, names = zip_notebooks(out, root)
    with zipfile.ZipFile(wheel) as zf:
        files = [n for n in zf.namelist() if n.startswith(f"{SHIPPED_PACKAGE}/")]
    return Kit(wheel, notebooks, files, wheel_requires(wheel), names)


def _size(path: Path) -> str:
    size = path.stat().st_size
    return f"{size / 1024:.0f} KiB" if size < 1024 ** 2 else f"{size / 1024 ** 2:.1f} MiB"


def summary(kit: Kit) -> str:
    """What ``python -m instructor student-kit`` prints."""
    return "\n".join([
        WROTE.format(path=kit.wheel, size=_size(kit.wheel)),
        WHEEL_HOLDS.format(files=len(kit.wheel_files), requires=", ".join(kit.requires)),
        WROTE.format(path=kit.notebooks, size=_size(kit.notebooks)),
        ZIP_HOLDS.format(names=", ".join(kit.notebook_names)),
        INSTALL.format(wheel=kit.wheel.name, zip=kit.notebooks.name),
    ])
