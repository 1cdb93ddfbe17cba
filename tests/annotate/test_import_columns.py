"""`annotate import` refuses a CSV that lacks a criterion column of its k, and stores nothing."""

from __future__ import annotations

import pytest

from skillmix.annotate.importers import import_labels
from skillmix.annotate.sample import load_eval_folder
from skillmix.errors import SkillmixError


def test_csv_without_a_criterion_column_of_its_k_is_refused_and_nothing_is_stored(eval_dir, tmp_path):
    gens = load_eval_folder(eval_dir).generations
    g = next(g for g in gens if g.k == 2)  # needs c1..c4 (c5, the length, is computed)
    src = tmp_path / "labels.csv"
    src.write_text(f"id,epoch,k,annotator,c1,c2,c3\n{g.id},{g.epoch},{g.k},dave,1,1,0\n")
    with pytest.raises(SkillmixError, match=r"no column c4 for this k=2 text") as err:
        import_labels([src], eval_dir)
    assert "\n" not in str(err.value)
    assert not (eval_dir / "annotations").exists()


def test_the_length_column_may_be_left_out(eval_dir, tmp_path):
    g = next(g for g in load_eval_folder(eval_dir).generations if g.k == 2)
    src = tmp_path / "labels.csv"
    src.write_text(f"id,epoch,k,annotator,c1,c2,c3,c4\n{g.id},{g.epoch},{g.k},dave,1,1,0,1\n")
    assert import_labels([src], eval_dir)["imported"] == 1


def test_a_points_column_needs_no_criterion_columns(eval_dir, tmp_path):
    g = load_eval_folder(eval_dir).generations[0]
    src = tmp_path / "labels.csv"
    src.write_text(f'id,epoch,k,annotator,points\n{g.id},{g.epoch},{g.k},dave,"{[1] * (g.k + 3)}"\n')
    assert import_labels([src], eval_dir)["imported"] == 1
