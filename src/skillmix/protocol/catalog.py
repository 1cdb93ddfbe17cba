"""The skill and topic catalog (protocol §1).

skillmix ships its own catalog of 101 skills and 100 topics, written in this
project's own words, with a fixed train/held-out split stored in the data. Users
can bring their own catalog in the reference format: a skills CSV with columns
``category,skill,definition,example`` (plus optional ``status`` and ``split``)
and a ``topics.txt`` with one topic per line (or a ``topic,split`` CSV).
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal, get_args

from skillmix.errors import SkillmixError

Split = Literal["train", "heldout"]
Pool = Literal["train", "heldout", "all"]
SPLITS: tuple[str, ...] = get_args(Split)
POOLS: tuple[str, ...] = get_args(Pool)
# The evaluation settings of [P1 §4] as (skill pool, topic pool): I = the training pools,
# II = the held-out pools (skill composition on unseen skills), III = everything.
Setting = Literal["I", "II", "III"]
SETTINGS: tuple[Setting, ...] = get_args(Setting)
SETTING_POOLS: dict[Setting, tuple[Pool, Pool]] = {
    "I": ("train", "train"),
    "II": ("heldout", "heldout"),
    "III": ("all", "all"),
}

# [P1 §3.1]: training skills are the literary and rhetorical ones; everything else is held out.
TRAIN_CATEGORIES = frozenset({"literary", "rhetorical"})
# [REF] drops skills whose status marks them as not final.
DROPPED_STATUSES = frozenset({"remove", "in review", "maybe"})
SKILL_COLUMNS = ("category", "skill", "definition", "example")


@dataclass(frozen=True)
class Skill:
    name: str
    category: str
    definition: str
    example: str
    split: Split


@dataclass(frozen=True)
class Topic:
    name: str
    split: Split


@dataclass(frozen=True)
class Catalog:
    skills: tuple[Skill, ...]
    topics: tuple[Topic, ...]

    def skill_pool(self, pool: Pool) -> tuple[Skill, ...]:
        return tuple(s for s in self.skills if pool == "all" or s.split == pool)

    def topic_pool(self, pool: Pool) -> tuple[Topic, ...]:
        return tuple(t for t in self.topics if pool == "all" or t.split == pool)

    def skill(self, name: str) -> Skill:
        for s in self.skills:
            if s.name == name:
                return s
        raise SkillmixError(f"unknown skill {name!r}; list them with `skillmix catalog skills`")

    def digest(self) -> str:
        """Content hash of the catalog: part of every cache key (docs/pitfalls.md #4)."""
        h = hashlib.sha256()
        for s in self.skills:
            h.update("\x1f".join((s.name, s.category, s.definition, s.example, s.split)).encode())
            h.update(b"\x1e")
        for t in self.topics:
            h.update(f"{t.name}\x1f{t.split}\x1e".encode())
        return h.hexdigest()[:16]


def check_k(k: int) -> None:
    """k, the number of skills in a combination, must be an integer >= 1."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise SkillmixError(f"k must be an integer >= 1 (the number of skills), got {k!r}")


def check_pool(pool: str, what: str = "split") -> Pool:
    if pool not in POOLS:
        raise SkillmixError(f"unknown {what} {pool!r}; choose one of: {', '.join(POOLS)}")
    return pool  # type: ignore[return-value]


def _read_text(path: Path | None, default_name: str) -> tuple[str, str]:
    if path is None:
        return resources.files("skillmix").joinpath("resources", default_name).read_text("utf-8"), default_name
    path = Path(path)
    if not path.is_file():
        raise SkillmixError(f"catalog file not found: {path}; pass an existing file path")
    return decode_utf8(path.read_bytes(), str(path)), str(path)


def decode_utf8(data: bytes, source: str) -> str:
    """A user file's text; a file that is not UTF-8 is one line naming the file and the line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise SkillmixError(f"{source}:{line}: not UTF-8 (byte 0x{data[e.start]:02x}); "
                            "save the file as UTF-8 and try again") from None


def parse_skills_csv(text: str, source: str = "skills.csv") -> tuple[Skill, ...]:
    """Parse a reference-format skills CSV; rows with a dropped status are skipped."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in SKILL_COLUMNS if c not in header]
    if missing:
        raise SkillmixError(
            f"{source}: missing column(s) {', '.join(missing)}; a skills CSV needs columns {','.join(SKILL_COLUMNS)}"
        )
    skills = []
    for line_no, raw in enumerate(reader, start=2):
        if None in raw:  # DictReader files surplus cells under the key None, as a list
            raise SkillmixError(
                f"{source}:{line_no}: more cells than columns; quote fields that contain commas (\"a, b\")"
            )
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        if row.get("status", "").lower() in DROPPED_STATUSES:
            continue
        skills.append(_skill_from_row(row, f"{source}:{line_no}"))
    return tuple(skills)


def _skill_from_row(row: dict[str, str], where: str) -> Skill:
    empty = [c for c in SKILL_COLUMNS if not row.get(c)]
    if empty:
        raise SkillmixError(f"{where}: empty field(s) {', '.join(empty)}; every skill needs {', '.join(SKILL_COLUMNS)}")
    category = row["category"].lower()
    split = row.get("split") or ("train" if category in TRAIN_CATEGORIES else "heldout")
    if split not in SPLITS:
        raise SkillmixError(f"{where}: unknown split {split!r}; use one of: {', '.join(SPLITS)}")
    return Skill(row["skill"], category, row["definition"], row["example"], split)  # type: ignore[arg-type]


def parse_topics(text: str, source: str = "topics.txt") -> tuple[Topic, ...]:
    """Parse topics: a ``topic,split`` CSV, or the reference's plain one-per-line topics.txt.

    Decision (protocol §1 gap): a plain topics.txt carries no split, so it is split
    50/50 by a shuffle with ``random.Random(0)`` over the lines in file order. That is
    deterministic for a given file; write a ``topic,split`` CSV to choose the split.
    """
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if lines and lines[0].replace(" ", "").lower() == "topic,split":
        return tuple(_topic_from_row(row, f"{source}:{n}") for n, row in enumerate(csv.reader(lines[1:]), start=2))
    order = list(range(len(lines)))
    random.Random(0).shuffle(order)
    train = set(order[: (len(lines) + 1) // 2])
    return tuple(Topic(name, "train" if i in train else "heldout") for i, name in enumerate(lines))


def _topic_from_row(row: list[str], where: str) -> Topic:
    if len(row) != 2 or not row[0].strip():
        raise SkillmixError(f"{where}: expected 'topic,split', got {','.join(row)!r}")
    split = row[1].strip()
    if split not in SPLITS:
        raise SkillmixError(f"{where}: unknown split {split!r}; use one of: {', '.join(SPLITS)}")
    return Topic(row[0].strip(), split)  # type: ignore[arg-type]


def validate(catalog: Catalog) -> Catalog:
    """Raise SkillmixError on duplicate names or an empty catalog; return it unchanged."""
    for kind, names in (("skill", [s.name for s in catalog.skills]), ("topic", [t.name for t in catalog.topics])):
        if not names:
            raise SkillmixError(f"the catalog has no {kind}s; add at least one")
        seen: set[str] = set()
        for name in names:
            if name.lower() in seen:
                raise SkillmixError(f"duplicate {kind} name {name!r}; every {kind} name must be unique")
            seen.add(name.lower())
    return catalog


def load_catalog(skills_path: str | Path | None = None, topics_path: str | Path | None = None) -> Catalog:
    """Load the built-in catalog, or a user's skills CSV and/or topics file."""
    skills_text, skills_src = _read_text(Path(skills_path) if skills_path else None, "skills.csv")
    topics_text, topics_src = _read_text(Path(topics_path) if topics_path else None, "topics.csv")
    return validate(Catalog(parse_skills_csv(skills_text, skills_src), parse_topics(topics_text, topics_src)))


def validate_file(path: str | Path) -> dict[str, object]:
    """Validate one user catalog file, a skills CSV or a topics file, and summarise it."""
    text, source = _read_text(Path(path), "")
    header = text.lstrip().split("\n", 1)[0].replace(" ", "").lower()
    # A skills CSV is any CSV that is not a ``topic,split`` file; plain lines are topics.
    is_skills = "," in header and header != "topic,split"
    items = parse_skills_csv(text, source) if is_skills else parse_topics(text, source)
    builtin = load_catalog()
    validate(Catalog(items, builtin.topics) if is_skills else Catalog(builtin.skills, items))  # type: ignore[arg-type]
    n_train = sum(item.split == "train" for item in items)
    return {"kind": "skills" if is_skills else "topics", "count": len(items), "train": n_train, "heldout": len(items) - n_train}
