from hypothesis import given
from hypothesis import strategies as st

from hookd.domain.matching import is_event_type_name, is_pattern, matches, patterns_matching

segment = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,8}", fullmatch=True)
names = st.lists(segment, min_size=2, max_size=4).map(".".join)


class TestNames:
    def test_accepts_noun_verb(self) -> None:
        for name in ("job.start", "problem.update", "request.team-changed", "a.b.c", "job_2.x"):
            assert is_event_type_name(name)

    def test_refuses_other_shapes(self) -> None:
        for name in ("job", "Job.start", "job.", ".start", "job..start", "job.*", "*", "job start"):
            assert not is_event_type_name(name)

    def test_patterns(self) -> None:
        assert is_pattern("*") and is_pattern("job.*") and is_pattern("a.b.*")
        assert not is_pattern("job.start") and not is_pattern("job*") and not is_pattern("*.start")


class TestMatching:
    def test_exact_prefix_and_star(self) -> None:
        assert matches(["job.start"], "job.start")
        assert matches(["job.*"], "job.start")
        assert matches(["job.*"], "job.task.done")
        assert matches(["*"], "anything.at_all")
        assert not matches(["job.start"], "job.success")
        assert not matches(["jobs.*"], "job.start")
        assert not matches(["job.task.*"], "job.start")

    @given(names)
    def test_every_name_matches_itself_its_prefixes_and_star(self, name: str) -> None:
        parts = name.split(".")
        assert matches([name], name)
        assert matches(["*"], name)
        for i in range(1, len(parts)):
            assert matches([".".join(parts[:i]) + ".*"], name)

    @given(names, names)
    def test_index_lookup_agrees_with_matches(self, a: str, b: str) -> None:
        # fan-out finds subscribers by looking up patterns_matching(type) in an index
        assert (a in patterns_matching(b)) == matches([a], b)
