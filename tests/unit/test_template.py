"""Body, URL and header templates: rendering, JSON safety, errors and bounds."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookd.domain import template as template_module
from hookd.domain.template import (
    BodyTemplate,
    TemplateError,
    check_text,
    compile_body,
    form_encode,
    make_context,
    render_text,
    render_url,
)

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
TEXT = "text/plain"

# The seed's Slack example, byte for byte: `\n` is a JSON escape inside the string.
SLACK = (
    "{\n"
    "\"text\": \"Job Complete!: ${system['fqdn']} - ${job['title']}"
    "\\nhttps://${system['fqdn']}/#!/job/${job['id']}\"\n"
    "}"
)
SEED = {"job": {"title": "Webhooks!", "id": 22739}, "system": {"fqdn": "stage.zuarbase.net"}}


def render_json(source: str, context: dict[str, Any]) -> Any:
    return json.loads(compile_body(source, content_type=JSON).render(context))


class TestSeed:
    def test_slack_example_renders_like_the_seed(self) -> None:
        body = compile_body(SLACK, content_type=JSON).render(SEED)
        assert json.loads(body) == {
            "text": "Job Complete!: stage.zuarbase.net - Webhooks!\n"
            "https://stage.zuarbase.net/#!/job/22739"
        }

    def test_simple_examples(self) -> None:
        assert render_text("${job['title']}", SEED) == "Webhooks!"
        assert render_text("${system['fqdn']}", SEED) == "stage.zuarbase.net"

    def test_attribute_syntax_too(self) -> None:
        assert render_text("${job.title} #${job.id}", SEED) == "Webhooks! #22739"

    def test_all_seed_shapes_compile(self) -> None:
        assert compile_body('{\n"action": "START"\n}', content_type=JSON).render({}) == (
            '{\n"action": "START"\n}'
        )


class TestJsonSafety:
    @pytest.mark.parametrize(
        "title",
        [
            'He said "hi"\n',
            "back\\slash",
            "}{ ${job} <% x %>",
            "tab\there\r\x00\x1f",
            "é ☃ 😀",
            "\u2028",
        ],
    )
    def test_awkward_titles_stay_valid(self, title: str) -> None:
        data = {**SEED, "job": {"title": title, "id": 1}}
        text = render_json(SLACK, data)["text"]
        assert (
            text
            == f"Job Complete!: stage.zuarbase.net - {title}\nhttps://stage.zuarbase.net/#!/job/1"
        )

    def test_escaped_for_the_string(self) -> None:
        body = compile_body('{"t": "${t}"}', content_type=JSON).render({"t": 'He said "hi"\n'})
        assert body == '{"t": "He said \\"hi\\"\\n"}'

    def test_lone_surrogate_is_escaped(self) -> None:
        body = compile_body('{"t": "${t}", "v": ${t}}', content_type=JSON).render({"t": "a\ud800"})
        body.encode("utf-8")
        assert json.loads(body) == {"t": "a\ud800", "v": "a\ud800"}

    @given(st.text())
    def test_any_title_round_trips_in_a_string(self, title: str) -> None:
        assert render_json('{"title": "${job[\'title\']}"}', {"job": {"title": title}}) == {
            "title": title
        }

    @given(st.text(), st.text())
    def test_any_text_round_trips_around_literals(self, head: str, tail: str) -> None:
        source = '{"t": "<${a}|${b}>", "${a}": 1}'
        assert render_json(source, {"a": head, "b": tail}) == {"t": f"<{head}|{tail}>", head: 1}

    @given(
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(),
            lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
            max_leaves=20,
        )
    )
    def test_any_value_round_trips_in_value_position(self, value: Any) -> None:
        assert render_json('{"v": ${v}, "list": [${v}, ${ v }]}', {"v": value}) == {
            "v": value,
            "list": [value, value],
        }

    def test_whole_value_placeholders_insert_json(self) -> None:
        data = {"job": {"title": "T", "id": 7}, "count": 3, "ok": True, "none": None, "f": 1.5}
        source = (
            '{"job": ${job}, "n": ${count}, "ok": ${ok}, "none": ${none}, "f": ${f},'
            ' "t": ${job.title}}'
        )
        assert render_json(source, data) == {
            "job": {"title": "T", "id": 7},
            "n": 3,
            "ok": True,
            "none": None,
            "f": 1.5,
            "t": "T",
        }

    def test_non_strings_inside_a_string_use_json_spelling(self) -> None:
        data = {"id": 7, "ok": True, "none": None, "job": {"a": [1]}}
        source = '{"s": "${id} ${ok} ${none} ${job}"}'
        assert render_json(source, data) == {"s": '7 true null {"a": [1]}'}

    def test_filters_apply_before_encoding(self) -> None:
        assert render_json(
            '{"t": ${ t | upper }, "n": ${ xs | length }}', {"t": "a", "xs": [1, 2]}
        ) == {
            "t": "A",
            "n": 2,
        }

    def test_braces_in_expressions(self) -> None:
        assert render_json('{"d": ${ {"k": "}"} }, "s": "${ "}" ~ x }"}', {"x": '"'}) == {
            "d": {"k": "}"},
            "s": '}"',
        }

    def test_nan_cannot_be_inserted(self) -> None:
        with pytest.raises(TemplateError, match="JSON"):
            compile_body('{"v": ${v}}', content_type=JSON).render({"v": float("nan")})

    def test_content_type_parameters_and_json_suffix(self) -> None:
        for content_type in ("application/json; charset=utf-8", "application/cloudevents+json"):
            body = compile_body('{"t": "${t}"}', content_type=content_type).render({"t": '"'})
            assert json.loads(body) == {"t": '"'}

    def test_statements_in_json(self) -> None:
        source = (
            '{"tags": [<% for t in tags %>"${t}"<% if not loop.last %>, <% endif %><% endfor %>],'
            ' "n": ${ tags | length }<# a comment #>}'
        )
        assert render_json(source, {"tags": ['a"', "b\n"]}) == {"tags": ['a"', "b\n"], "n": 2}

    def test_statements_giving_invalid_json_fail_when_rendered(self) -> None:
        body = compile_body('{"a": <% if x %>1<% endif %>}', content_type=JSON)
        assert json.loads(body.render({"x": True})) == {"a": 1}
        with pytest.raises(TemplateError, match="not valid JSON"):
            body.render({"x": False})

    def test_raw_block_is_literal(self) -> None:
        assert render_json('{"t": "<% raw %>${x}<% endraw %>"}', {}) == {"t": "${x}"}

    def test_whitespace_control(self) -> None:
        assert render_json('{"t": "a  ${- x -}  b"}', {"x": "X"}) == {"t": "aXb"}


class TestJsonCompileErrors:
    @pytest.mark.parametrize(
        ("source", "line", "column"),
        [
            ('{"a": 1 "b": 2}', 1, 9),
            ('{\n  "a": 1,\n  "b": ${x} ${y}\n}', 3, 13),
            ('{\n "a": 1,\n "t": "${job.title}" "b": 2}', 3, 22),
            ('{"a": 1,}', 1, 9),
            ('{"a": "unterminated}', 1, 7),
            ("", 1, 1),
            ('{"a": "x"}\n${x}', 2, 1),
            ('{"a": "\\${x}"}', 1, 9),
            ('{"a": 1${x}}', 1, 8),
        ],
    )
    def test_invalid_json_names_line_and_column(self, source: str, line: int, column: int) -> None:
        with pytest.raises(TemplateError) as caught:
            compile_body(source, content_type=JSON)
        assert (caught.value.line, caught.value.column) == (line, column)
        assert f"line {line}, column {column}" in str(caught.value)

    def test_jinja_syntax_error_names_line(self) -> None:
        with pytest.raises(TemplateError) as caught:
            compile_body('{\n"a": "${ job | }"\n}', content_type=JSON)
        assert caught.value.line == 2

    @pytest.mark.parametrize("source", ['{"a": "${ job"}', '{"a": ${}}', '{"a": ${ x[ }}'])
    def test_broken_placeholder(self, source: str) -> None:
        with pytest.raises(TemplateError) as caught:
            compile_body(source, content_type=JSON)
        assert caught.value.line == 1

    def test_literal_nan_is_not_json(self) -> None:
        with pytest.raises(TemplateError, match="NaN"):
            compile_body('{"a": NaN}', content_type=JSON)


class TestRenderErrors:
    def test_missing_key(self) -> None:
        with pytest.raises(TemplateError, match="no attribute 'missing'"):
            compile_body('{"a": "${job.missing}"}', content_type=JSON).render(SEED)
        with pytest.raises(TemplateError, match="missing"):
            render_text("${job['missing']}", SEED)

    def test_missing_name_in_every_mode(self) -> None:
        for source, content_type in [
            ('{"a": ${nope}}', JSON),
            ("${nope}", TEXT),
            ("a=${nope}", FORM),
        ]:
            with pytest.raises(TemplateError, match="'nope' is undefined"):
                compile_body(source, content_type=content_type).render({})
        with pytest.raises(TemplateError):
            render_url("https://x/${nope}", {})

    def test_default_filter_handles_missing(self) -> None:
        assert render_text("${job.missing | default('n/a')}", SEED) == "n/a"

    def test_runtime_error_names_line(self) -> None:
        with pytest.raises(TemplateError) as caught:
            render_text("a\nb\n${ 1 / 0 }", {})
        assert caught.value.line == 3
        assert "ZeroDivisionError" in caught.value.message

    def test_syntax_error_names_line(self) -> None:
        with pytest.raises(TemplateError) as caught:
            check_text("ok\n<% for %>")
        assert caught.value.line == 2


class TestBounds:
    @pytest.mark.parametrize(
        "source",
        [
            "${'x' * 10**8}",
            "${10**10**10}",
            "${2**1000}",
            "${[1] * 10**7}",
            "${(999999999999 * 999999999999) * (999999999999 * 999999999999) * 10**100}",
            "${range(10**9) | list}",
            "${'x'.ljust(10**9)}",
            "${'x'.center(10**9)}",
            "${'x'.zfill(10**9)}",
            "${('x' * 1000).replace('x', 'x' * 10000)}",
            "${'x' | center(1000000000)}",
            "${'x' | indent(1000000000)}",
            "${[1, 2] | batch(1000000000, 0) | list}",
            "${'%*s' % (1000000000, 'x')}",
            "${'%1000000000s' % 'x'}",
            "${'%1000000000s' | format('x')}",
            "${'{:>1000000000}'.format(1)}",
            "${'{:{w}}'.format(1, w=1000000000)}",
            "${('x' * 1000000) ~ ('x' * 1000000)}",
            "${('x' * 100000) | join('y' * 100)}",
            "${[[1]] | sum(start=[])}",
            "${lipsum(n=10**9)}",
            "<% set ns = namespace(s='x') %><% for i in range(64) %>"
            "<% set ns.s = ns.s ~ ns.s %><% endfor %>${ns.s | length}",
            "<% set ns = namespace(d=[1]) %><% for i in range(64) %>"
            "<% set ns.d = [ns.d, ns.d] %><% endfor %>${ns.d}",
        ],
    )
    def test_bombs_are_refused(self, source: str) -> None:
        started = time.monotonic()
        with pytest.raises(TemplateError):
            render_text(source, {})
        assert time.monotonic() - started < 2

    def test_bomb_refused_in_json_body(self) -> None:
        with pytest.raises(TemplateError, match="exceed"):
            compile_body('{"a": "${\'x\' * 10**8}"}', content_type=JSON).render({})

    def test_modest_arithmetic_is_allowed(self) -> None:
        assert render_text(
            "${ 'ab' * 3 }|${ 2 ** 10 }|${ [0] * 3 }|${ 'a' ~ 'b' }|${ 7 % 3 }", {}
        ) == ("ababab|1024|[0, 0, 0]|ab|1")
        assert render_text("${ '%05.1f' % 3.14159 }|${ '{:>5}'.format('x') }", {}) == "003.1|    x"

    def test_output_size_is_capped(self) -> None:
        source = "<% for i in range(1000) %>0123456789<% endfor %>"
        assert len(compile_body(source, content_type=TEXT).render({})) == 10_000
        with pytest.raises(TemplateError, match="larger than 1000 bytes"):
            compile_body(source, content_type=TEXT, max_output=1000).render({})

    def test_output_size_counts_utf8_bytes(self) -> None:
        with pytest.raises(TemplateError, match="larger than"):
            compile_body("${ 'é' * 600 }", content_type=TEXT, max_output=1000).render({})

    def test_time_is_capped_even_without_output(self) -> None:
        source = "<% for i in range(100000) %><% for j in range(100000) %><% endfor %><% endfor %>"
        body = compile_body(source, content_type=TEXT, max_seconds=0.2)
        started = time.monotonic()
        with pytest.raises(TemplateError, match=r"took longer than 0\.2 s"):
            body.render({})
        assert time.monotonic() - started < 1

    def test_time_is_capped_while_streaming(self) -> None:
        source = (
            "<% for i in range(100000) %><% for j in range(100000) %>${j}<% endfor %><% endfor %>"
        )
        body = compile_body(source, content_type=TEXT, max_output=1 << 30, max_seconds=0.2)
        with pytest.raises(TemplateError, match=r"too long|longer than"):
            body.render({})

    def test_recursion_is_refused(self) -> None:
        source = "<% for x in [1] recursive %>${ loop([1, 1]) }<% endfor %>"
        with pytest.raises(TemplateError):
            render_text(source, {}, max_seconds=0.5)


class TestSandbox:
    @pytest.mark.parametrize(
        "source",
        [
            "${''.__class__.__mro__}",
            "${''.__class__.__mro__[1].__subclasses__()}",
            "${cycler.__init__.__globals__}",
            "${joiner.__init__.__globals__}",
            "${namespace.__init__.__globals__}",
            "${self.__init__.__globals__}",
            "${'' | attr('__class__')}",
            "${job.items.__self__}",
            "${job.__class__}",
            "${range.__self__}",
            "${dict.mro()}",
            "${job.pop('title')}",
            "${job.update({'a': 1})}",
            "${job.title.format.__globals__}",
            "${'{0.__class__}'.format(job)}",
            "${(1).__class__.__base__.__subclasses__()}",
            "${config}",
            "${request}",
        ],
    )
    def test_escapes_are_refused(self, source: str) -> None:
        with pytest.raises(TemplateError):
            render_text(source, SEED)

    def test_data_is_not_mutated(self) -> None:
        data = {"xs": [1, 2]}
        with pytest.raises(TemplateError):
            render_text("${ xs.append(3) }", data)
        assert data == {"xs": [1, 2]}


class TestDelimiters:
    def test_jinja_default_delimiters_are_plain_text(self) -> None:
        source = "body { color: red; } {% if x %} {# not a comment #} {{ y }}\n"
        assert compile_body(source, content_type=TEXT).render({}) == source

    def test_statements_and_comments(self) -> None:
        source = "<# greet #><% for n in names %>hi ${n}\n<% endfor %>"
        assert render_text(source, {"names": ["a", "b"]}) == "hi a\nhi b\n"

    def test_trailing_newline_is_kept(self) -> None:
        assert render_text("x\n", {}) == "x\n"

    def test_dollar_without_brace_is_text(self) -> None:
        assert render_text("$5 and $x and <b> and %>", {}) == "$5 and $x and <b> and %>"


class TestUrl:
    def test_placeholders_are_percent_encoded(self) -> None:
        data = {"job": {"title": "a/b?c=d&e#f g"}, "q": "x y"}
        url = render_url("https://example.com/jobs/${job.title}?q=${q}", data)
        assert url == "https://example.com/jobs/a%2Fb%3Fc%3Dd%26e%23f%20g?q=x%20y"

    def test_literal_text_is_untouched(self) -> None:
        assert render_url("https://h/v2/jobs/${id}/:actions?a=1&b=2", {"id": 7}) == (
            "https://h/v2/jobs/7/:actions?a=1&b=2"
        )

    def test_check_text(self) -> None:
        check_text("Bearer ${token}")
        with pytest.raises(TemplateError):
            check_text("Bearer ${token")


class TestForm:
    def test_json_object_of_fields(self) -> None:
        source = (
            '{"title": "${job.title}", "id": ${job.id}, "tags": ${tags},'
            ' "ok": ${ok}, "none": ${none}}'
        )
        data = {"job": {"title": "a&b=c d", "id": 7}, "tags": ["x", "y"], "ok": True, "none": None}
        body = compile_body(source, content_type=FORM).render(data)
        assert body == "title=a%26b%3Dc+d&id=7&tags=x&tags=y&ok=true&none="

    def test_key_value_lines(self) -> None:
        body = compile_body("title=${job.title}\nid=${job.id}\n", content_type=FORM)
        assert (
            body.render({"job": {"title": "a&b=c d\ne=f", "id": 7}})
            == "title=a%26b%3Dc+d%0Ae%3Df&id=7"
        )

    def test_key_value_ampersands(self) -> None:
        body = compile_body("a=1&b=${b}", content_type=FORM)
        assert body.render({"b": "x&c=3"}) == "a=1&b=x%26c%3D3"

    @pytest.mark.parametrize(
        ("rendered", "expected"),
        [
            ('{"a": "1 2", "b": [1, 2], "c": {"d": 1}}', "a=1+2&b=1&b=2&c=%7B%22d%22%3A+1%7D"),
            ("a=1 2\nb=x%26y\n", "a=1+2&b=x%26y"),
            ("a=1&b=", "a=1&b="),
            ("", ""),
        ],
    )
    def test_form_encode(self, rendered: str, expected: str) -> None:
        assert form_encode(rendered) == expected
        assert form_encode(expected) == expected

    def test_form_encode_rejects_non_objects(self) -> None:
        with pytest.raises(TemplateError):
            form_encode('{"a": ')
        with pytest.raises(TemplateError):
            compile_body('{"a": ${x}, }', content_type=FORM)


class TestTextAndCache:
    def test_plain_text_is_not_escaped(self) -> None:
        body = compile_body('Title: "${job.title}"\n', content_type=TEXT)
        assert body.render({"job": {"title": 'a"b\\c'}}) == 'Title: "a"b\\c"\n'

    def test_header_value(self) -> None:
        assert render_text("hookd/${system.version}", {"system": {"version": "1.2"}}) == "hookd/1.2"

    def test_compile_body_is_cached(self) -> None:
        first = compile_body(SLACK, content_type=JSON)
        assert isinstance(first, BodyTemplate)
        assert compile_body(SLACK, content_type=JSON) is first
        assert compile_body(SLACK, content_type=TEXT) is not first

    def test_public_names(self) -> None:
        for name in template_module.__all__:
            assert hasattr(template_module, name)


class TestContext:
    def test_reserved_names_win_over_data(self) -> None:
        context = make_context(
            {"event": "data's", "title": "T"},
            event={"id": "evt_1"},
            webhook={"id": "wh_1", "name": "n"},
            app={"uid": "default"},
            system={"fqdn": "h"},
        )
        assert render_text(
            "${event.id} ${title} ${webhook.name} ${app.uid} ${system.fqdn}", context
        ) == ("evt_1 T n default h")
