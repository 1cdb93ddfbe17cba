"""engine/settings.py: the one set of operational fields and the one comparison of settings."""

from __future__ import annotations

import pytest

from skillmix.engine.settings import OPERATIONAL, REFILTERED, DataConfig, EvalConfig, config_diff, identity
from skillmix.engine.teacher import check_resume
from skillmix.errors import SkillmixError


def dump(**kw):
    return EvalConfig(student="mock", grader="mock", **kw).model_dump(mode="json")


def test_operational_fields_are_never_a_difference():
    before, now = dump(), dump(max_connections=2, timeout=9, batch=True, cache=False, display="none")
    assert config_diff(before, now) == {}
    assert not OPERATIONAL & set(identity(now))


def test_config_diff_names_each_change_with_both_values():
    assert config_diff(dump(seed=1), dump(seed=2, gradings=5)) == {"gradings": (3, 5), "seed": (1, 2)}
    assert config_diff(dump(seed=1), dump(seed=2), ignore={"seed"}) == {}


def test_a_setting_only_one_side_has_is_no_difference():
    """A setting added since the earlier run was recorded (at its default) does not block a resume."""
    before = {k: v for k, v in dump().items() if k != "constrain_local_grader"}
    assert config_diff(before, dump(constrain_local_grader=False)) == {}


def data(**kw):
    return DataConfig(teacher="mock", grader="mock", k=(1,), n=(2,), display="none", **kw)


def test_a_build_resumes_with_another_keep_rule_and_operational_settings(tmp_path):
    check_resume(data(), tmp_path)
    (tmp_path / "runs").mkdir()
    check_resume(data(keep="all", max_connections=3, call_path="inspect"), tmp_path)  # the same runs
    with pytest.raises(SkillmixError, match=r"\(seed differ\)"):
        check_resume(data(seed=5), tmp_path)
    assert REFILTERED == {"keep"}
