"""Catalog (protocol §1): counts, split, required names, user catalogs, validation."""

import csv
from dataclasses import replace

import pytest

from skillmix import load_catalog
from skillmix.errors import SkillmixError
from skillmix.protocol.catalog import parse_skills_csv, parse_topics, validate_file

REQUIRED_SKILLS = [
    "self serving bias", "accident (fallacy)", "complex question (loaded question with implicit assumption)",
    "red herring", "metaphor", "spatial reasoning", "modus ponens", "statistical syllogism",
    "emotional self regulation", "folk physics (common knowledge physics)", "false dichotomy",
    "availability bias", "visualization", "actor observer bias", "tu quoque", "categorical syllogism",
    "aphorism", "self motivation", "hyperbole", "equivocation (informal fallacy)", "ad hominem",
    "fallacy of division",
]
REQUIRED_TOPICS = ["Sewing", "Dueling", "The Ottoman Empire", "Urbanism", "Beekeeping", "Survivalism",
                   "Guerilla warfare", "Triathlons", "Gardening", "Knots", "Japan", "Plumbers"]
HELDOUT_CATEGORIES = {"reasoning", "logic", "theory of mind", "pragmatics", "common sense", "physical knowledge"}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_builtin_counts_and_split(catalog):
    assert len(catalog.skills) == 101
    assert len(catalog.skill_pool("train")) == 53
    assert len(catalog.skill_pool("heldout")) == 48
    assert len(catalog.topics) == 100
    assert len(catalog.topic_pool("train")) == 50
    assert len(catalog.topic_pool("heldout")) == 50


def test_split_follows_categories(catalog):
    assert {s.category for s in catalog.skill_pool("train")} == {"literary", "rhetorical"}
    assert {s.category for s in catalog.skill_pool("heldout")} == HELDOUT_CATEGORIES


def test_required_names_present(catalog):
    names = {s.name for s in catalog.skills}
    assert [n for n in REQUIRED_SKILLS if n not in names] == []
    topics = {t.name for t in catalog.topics}
    assert [t for t in REQUIRED_TOPICS if t not in topics] == []


def test_no_empty_fields_and_unique(catalog):
    for s in catalog.skills:
        assert s.name and s.definition and s.example and s.category
    assert len({s.name.lower() for s in catalog.skills}) == 101
    assert len({t.name.lower() for t in catalog.topics}) == 100


def test_digest_is_the_content_not_the_file(catalog, tmp_path):
    # The same skills and topics read from a user's files (other path, shuffled columns) hash the same.
    skills = tmp_path / "skills.csv"
    with skills.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["example", "skill", "definition", "category", "split"])
        writer.writerows([s.example, s.name, s.definition, s.category, s.split] for s in catalog.skills)
    topics = tmp_path / "topics.csv"
    topics.write_text("topic,split\n" + "".join(f"{t.name},{t.split}\n" for t in catalog.topics), encoding="utf-8")
    from_files = load_catalog(skills, topics)
    assert from_files == catalog and from_files is not catalog
    assert from_files.digest() == catalog.digest()
    assert len(catalog.digest()) == 16 and int(catalog.digest(), 16) >= 0


@pytest.mark.parametrize(
    "change",
    [
        lambda c: replace(c, skills=(replace(c.skills[0], name="renamed"), *c.skills[1:])),
        lambda c: replace(c, skills=(replace(c.skills[0], category="other"), *c.skills[1:])),
        lambda c: replace(c, skills=(*c.skills[:-1], replace(c.skills[-1], definition="changed"))),
        lambda c: replace(c, skills=(*c.skills[:-1], replace(c.skills[-1], example="changed"))),
        lambda c: replace(c, skills=(replace(c.skills[0], split="heldout" if c.skills[0].split == "train" else "train"),
                                     *c.skills[1:])),
        lambda c: replace(c, skills=c.skills[1:]),
        lambda c: replace(c, skills=(*c.skills[1:], c.skills[0])),  # order matters: draws index the catalog
        lambda c: replace(c, topics=(replace(c.topics[0], name="renamed"), *c.topics[1:])),
        lambda c: replace(c, topics=(replace(c.topics[0], split="heldout" if c.topics[0].split == "train" else "train"),
                                     *c.topics[1:])),
    ],
)
def test_digest_changes_with_any_content(catalog, change):
    changed = change(catalog)
    assert changed != catalog
    assert changed.digest() != catalog.digest()


def test_reference_format_drops_statuses():
    text = (
        "category,skill,definition,example,status\n"
        "literary,metaphor,A comparison.,Time is a thief.,\n"
        "logic,modus ponens,If P then Q; P; so Q.,It rains so it is wet.,remove\n"
        "logic,modus tollens,If P then Q; not Q; so not P.,No smoke so no fire.,in review\n"
        "reasoning,anchoring,Over-relying on a first number.,The first price stuck.,maybe\n"
        "reasoning,hindsight bias,Seeing the past as predictable.,I knew it all along.,final\n"
    )
    skills = parse_skills_csv(text)
    assert [(s.name, s.split) for s in skills] == [("metaphor", "train"), ("hindsight bias", "heldout")]


@pytest.mark.parametrize(
    "text, message",
    [
        ("category,skill,definition\nliterary,metaphor,x\n", "missing column(s) example"),
        ("category,skill,definition,example\nliterary,metaphor,,ex\n", "empty field(s) definition"),
        ("category,skill,definition,example,split\nliterary,metaphor,d.,e,test\n", "unknown split 'test'"),
        ("category,skill,definition,example\nliterary,metaphor,a, b,c\n", "skills.csv:2: more cells than columns"),
    ],
)
def test_bad_skills_csv(text, message):
    with pytest.raises(SkillmixError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_skills_csv(text)


def test_plain_topics_txt_is_split_deterministically():
    topics = parse_topics("A\nB\nC\nD\n\n")
    assert [t.name for t in topics] == ["A", "B", "C", "D"]
    assert sum(t.split == "train" for t in topics) == 2
    assert topics == parse_topics("A\nB\nC\nD\n")


def test_topics_csv_with_split():
    topics = parse_topics("topic,split\nSewing,train\nKnots,heldout\n")
    assert [(t.name, t.split) for t in topics] == [("Sewing", "train"), ("Knots", "heldout")]


def test_user_catalog_files(tmp_path):
    skills = tmp_path / "skills.csv"
    skills.write_text("category,skill,definition,example\nliterary,metaphor,A.,B.\nlogic,modus ponens,C.,D.\n")
    topics = tmp_path / "topics.txt"
    topics.write_text("Sewing\nKnots\n")
    cat = load_catalog(skills, topics)
    assert [s.split for s in cat.skills] == ["train", "heldout"]
    assert validate_file(skills) == {"kind": "skills", "count": 2, "train": 1, "heldout": 1}
    assert validate_file(topics) == {"kind": "topics", "count": 2, "train": 1, "heldout": 1}


def test_duplicates_and_missing_file(tmp_path):
    dup = tmp_path / "dup.csv"
    dup.write_text("category,skill,definition,example\nliterary,metaphor,A.,B.\nliterary,Metaphor,C.,D.\n")
    with pytest.raises(SkillmixError, match="duplicate skill name 'Metaphor'"):
        load_catalog(dup)
    with pytest.raises(SkillmixError, match="catalog file not found"):
        load_catalog(tmp_path / "nope.csv")
