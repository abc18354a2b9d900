from __future__ import annotations

from rlaudit.judges.cache import ReplyCache


def test_replies_come_back_by_model_rubric_and_prompt_hash(tmp_path):
    path = tmp_path / "c" / "cache.sqlite"
    cache = ReplyCache(path)
    cache.put_many("m", "v1", {"h1": "<score>3</score>", "h2": "no score"})
    cache.close()
    cache = ReplyCache(path)  # a later run, a new connection
    assert cache.get_many("m", "v1", ["h1", "h2", "h3"]) == {"h1": "<score>3</score>", "h2": "no score"}
    assert cache.get_many("m", "v2", ["h1"]) == {}  # another rubric version asks again
    assert cache.get_many("other", "v1", ["h1"]) == {}
    cache.close()


def test_keys_are_parameters_not_sql(tmp_path):
    cache = ReplyCache(tmp_path / "cache.sqlite")
    name = "m'); DROP TABLE replies; --"
    cache.put_many(name, "v1", {"h": "r"})
    assert cache.get_many(name, "v1", ["h"]) == {"h": "r"}
    cache.close()
