"""User templates for request bodies, URLs and header values.

Templates are Jinja2 in an immutable sandbox, with delimiters chosen to stay
out of the way of JSON, CSS and URLs:

    ${ expr }    placeholder   ${job['title']}  ${system.fqdn | upper}
    <% stmt %>   statement     <% for t in tags %>${t} <% endfor %>
    <# text #>   comment       <# dropped from the output #>

`{%`, `{#` and `{{` are plain text. A missing name or key is an error, never a
blank. Names come from the context the caller passes: the event's data keys
at the top level plus `event`, `webhook`, `app` and `system`, which win over
data keys of the same name (`make_context`).

How a body is rendered depends on its content type:

    application/json (and */*+json)
        JSON-safe: a placeholder inside a JSON string literal is escaped for
        that string; one in value position becomes a JSON value. Templates
        without statements are checked to give valid JSON when compiled;
        templates with statements are checked each time they render.
    application/x-www-form-urlencoded
        a JSON object of fields (as above) or `key=value` lines whose
        placeholders are percent-encoded; either becomes a form (`form_encode`).
    anything else
        plain text.

Rendering is bounded: output size, wall time, results of `*` `**` `+` `%`,
padding, joining, replacing, loops and `range()`. The bounds are best effort
against hostile templates, not a process sandbox.
"""

from __future__ import annotations

import bisect
import functools
import json
import math
import re
import string
import time
import urllib.parse
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, cast

import jinja2
from jinja2 import nodes
from jinja2.filters import FILTERS
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

__all__ = [
    "MAX_OUTPUT",
    "MAX_SECONDS",
    "BodyTemplate",
    "TemplateError",
    "check_text",
    "check_url",
    "compile_body",
    "form_encode",
    "make_context",
    "render_text",
    "render_url",
]

MAX_OUTPUT = 1 << 20
MAX_SECONDS = 1.0
MAX_INT_BITS = 128  # webhook payloads need no bigger integers; JSON readers mostly stop at 53


class TemplateError(ValueError):
    """A template that does not compile or render; says where when it can."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        if line is None:
            where = ""
        elif column is None:
            where = f"line {line}: "
        else:
            where = f"line {line}, column {column}: "
        super().__init__(where + message)
        self.message = message
        self.line = line
        self.column = column


def make_context(
    data: Mapping[str, Any], *, event: Any, webhook: Any, app: Any, system: Any
) -> dict[str, Any]:
    """Merge event data with the reserved names, which win."""
    return {**data, "event": event, "webhook": webhook, "app": app, "system": system}


# -- budget: what one render may spend -------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Budget:
    size: int  # largest string or structure a template may build
    deadline: float  # time.monotonic() past which rendering stops
    seconds: float = math.inf  # the limit the deadline stands for, for the error's words

    def overrun(self) -> TemplateError:
        return TemplateError(f"rendering took longer than {self.seconds:g} s")


# A context variable, not an attribute, because one compiled template is shared
# by every concurrent render.
_BUDGET: ContextVar[_Budget] = ContextVar("hookd_template_budget")
_NO_BUDGET = _Budget(MAX_OUTPUT, math.inf)


def _tick() -> None:
    budget = _BUDGET.get(_NO_BUDGET)
    if time.monotonic() > budget.deadline:
        raise budget.overrun()


def _fits(size: int, what: str) -> None:
    limit = _BUDGET.get(_NO_BUDGET).size
    if size > limit:
        raise TemplateError(f"{what} would exceed {limit} characters")


def _weigh(value: Any) -> int:
    """Count characters and items in `value`, refusing it past the budget."""
    limit = _BUDGET.get(_NO_BUDGET).size
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, Mapping):
            total += 1 + 2 * len(item)
            if total <= limit:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 1 + len(item)
            if total <= limit:
                stack.extend(item)
        else:
            total += 1
        # Shared references make small objects stringify huge: count, don't build.
        if total > limit:
            raise TemplateError(f"value is larger than {limit} characters")
    return total


def _check_width(digits: str) -> None:
    _fits(int(digits) if len(digits) < 10 else 1 << 62, "formatted width")


_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_printf(fmt: str) -> None:
    for match in _PRINTF.finditer(fmt):
        for spec in match.groups():
            if spec == "*":
                raise TemplateError("'*' widths are not allowed in % formatting")
            if spec:
                _check_width(spec)


def _check_format_string(fmt: str) -> None:
    for _, _, spec, _ in string.Formatter().parse(fmt):
        if spec and "{" in spec:
            raise TemplateError("nested fields are not allowed in format specs")
        for digits in re.findall(r"\d+", spec or ""):
            _check_width(digits)


def _replaced_size(text: str, old: str, new: str, count: int) -> int:
    found = text.count(old) if old else len(text) + 1
    if count >= 0:
        found = min(found, count)
    return len(text) + found * (len(new) - len(old))


def _is_sequence(value: Any) -> bool:
    return isinstance(value, str | bytes | list | tuple)


def _mul(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise TemplateError("number is too large")
    elif isinstance(right, int) and _is_sequence(left):
        _fits(_weigh(left) * right, "repetition")
    elif isinstance(left, int) and _is_sequence(right):
        _fits(_weigh(right) * left, "repetition")
    return left * right


def _pow(base: Any, exponent: Any) -> Any:
    # Jinja's ** is left-associative: 10**10**10 is (10**10)**10.
    ints = isinstance(base, int) and isinstance(exponent, int)
    if ints and abs(base) > 1 and exponent * math.log2(abs(base)) > MAX_INT_BITS:
        raise TemplateError("number is too large")
    return base**exponent


def _add(left: Any, right: Any) -> Any:
    if _is_sequence(left) and _is_sequence(right):
        _fits(_weigh(left) + _weigh(right), "concatenation")
    return left + right


def _mod(left: Any, right: Any) -> Any:
    if isinstance(left, str):
        _check_printf(left)
        _weigh(right)
    return left % right


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {"*": _mul, "**": _pow, "+": _add, "%": _mod}


# -- the sandbox --------------------------------------------------------------------


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, plus bounds on time and size."""

    intercepted_binops = frozenset(_BINOPS)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _tick()
        return _BINOPS[operator](left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _check_format_string(value.__self__)
        return wrapped

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _tick()
        name = getattr(obj, "__name__", "")
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, str):
            args = _check_str_method(owner, name, args, kwargs)
        elif name in ("format", "format_map"):
            _weigh((args, kwargs))
        return super().call(context, obj, *args, **kwargs)


def _check_str_method(
    text: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, ...]:
    """Refuse a str method call whose result would be too large."""
    first = args[0] if args else next(iter(kwargs.values()), None)
    if name in ("ljust", "rjust", "center", "zfill") and isinstance(first, int):
        _fits(first, name)
    elif name == "expandtabs":
        tabsize = first if isinstance(first, int) else 8
        _fits(len(text) + text.count("\t") * tabsize, name)
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str):
        count = args[2] if len(args) > 2 else kwargs.get("count", -1)
        _fits(_replaced_size(text, args[0], str(args[1]), int(count)), name)
    elif name == "translate" and isinstance(first, Mapping):
        longest = max((len(v) for v in first.values() if isinstance(v, str)), default=1)
        _fits(len(text) * longest, name)
    elif name == "join" and args:
        # Materialise once so a generator is not consumed by the check.
        items = list(args[0])
        _fits(_weigh(items) + len(text) * len(items), name)
        return (items, *args[1:])
    return args


def _guard_filter(name: str, check: Callable[..., None]) -> Callable[..., Any]:
    """Wrap Jinja's filter `name` so `check` sees its arguments first."""
    original = FILTERS[name]
    skip = 1 if hasattr(original, "jinja_pass_arg") else 0

    @functools.wraps(original)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        check(*args[skip:], **kwargs)
        return original(*args, **kwargs)

    return guarded


def _check_indent(text: Any, width: Any = 4, *_: Any, **__: Any) -> None:
    step = width if isinstance(width, int) else len(str(width))
    _fits(_weigh(text) + (str(text).count("\n") + 1) * step, "indent")


def _check_replace(text: Any, old: Any, new: Any, count: int | None = None) -> None:
    _weigh(text)
    _fits(_replaced_size(str(text), str(old), str(new), -1 if count is None else count), "replace")


def _check_count(value: Any, count: Any, *_: Any, **__: Any) -> None:
    if isinstance(count, int):
        _fits(count, "count")


def _check_sum(value: Any, attribute: Any = None, start: Any = 0) -> None:
    if not isinstance(start, int | float):
        raise TemplateError("sum() only adds numbers")


def _check_wordwrap(text: Any, width: Any = 79, *_: Any, wrapstring: Any = None, **__: Any) -> None:
    _fits(_weigh(text) * (1 + len(str(wrapstring or "\n"))), "wordwrap")


def _check_center(value: Any, width: Any = 80) -> None:
    if isinstance(width, int):
        _fits(width, "center")


def _check_format(value: Any, *args: Any, **kwargs: Any) -> None:
    _check_printf(str(value))
    _weigh((args, kwargs))


def _check_weight(value: Any, *_: Any, **__: Any) -> None:
    _weigh(value)


@jinja2.pass_eval_context
def _join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
    items = list(value)  # a list, so that checking does not consume a generator
    _fits(_weigh(items) + len(str(d)) * len(items), "join")
    return FILTERS["join"](eval_ctx, items, d, attribute)


_GUARDED_FILTERS: dict[str, Callable[..., Any]] = {
    "center": _guard_filter("center", _check_center),
    "indent": _guard_filter("indent", _check_indent),
    "format": _guard_filter("format", _check_format),
    "replace": _guard_filter("replace", _check_replace),
    "batch": _guard_filter("batch", _check_count),
    "slice": _guard_filter("slice", _check_count),
    "sum": _guard_filter("sum", _check_sum),
    "wordwrap": _guard_filter("wordwrap", _check_wordwrap),
    "string": _guard_filter("string", _check_weight),
    "tojson": _guard_filter("tojson", _check_weight),
    "pprint": _guard_filter("pprint", _check_weight),
    "join": _join,
}


def _loop(value: Any) -> Iterator[Any]:
    """Iterate `value`, stopping at the deadline even when nothing is output."""
    budget = _BUDGET.get(_NO_BUDGET)
    for item in value:
        if time.monotonic() > budget.deadline:
            raise budget.overrun()
        yield item


def _concat(items: list[Any]) -> str:
    total = 0
    for item in items:
        total += _weigh(item)
        _fits(total, "concatenation")
    return "".join(map(str, items))


class _Guard(NodeTransformer):
    """Route loops and `~` through the budget; Jinja has no hook for them."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _filtered("_hookd_loop", node.iter)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _filtered("_hookd_concat", nodes.List(node.nodes, lineno=node.lineno))


def _filtered(name: str, node: nodes.Node) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


# -- JSON encoding for placeholders --------------------------------------------------

_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _escape_surrogates(text: str) -> str:
    # ensure_ascii=False leaves lone surrogates raw, which cannot be sent as UTF-8.
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return list(value)
    return str(value)


def json_value(value: Any) -> str:
    """Encode `value` as one JSON value."""
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined raises here with Jinja's own message
    _weigh(value)
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, default=_json_default)
    except ValueError as exc:
        raise TemplateError(f"cannot encode as JSON: {exc}") from None
    return _escape_surrogates(text)


def json_in_string(value: Any) -> str:
    """Encode `value` for the inside of a JSON string; non-strings as their JSON text."""
    text = value if isinstance(value, str) else json_value(value)
    return _escape_surrogates(json.dumps(text, ensure_ascii=False)[1:-1])


def _url_part(value: Any) -> str:
    return urllib.parse.quote(str(_plain(value)), safe="")


def _plain(value: Any) -> Any:
    if not isinstance(value, str):
        _weigh(value)
    return value


def _environment(finalize: Callable[[Any], Any]) -> _Sandbox:
    env = _Sandbox(
        variable_start_string="${",
        variable_end_string="}",
        block_start_string="<%",
        block_end_string="%>",
        comment_start_string="<#",
        comment_end_string="#>",
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # bodies, URLs and headers are not HTML
        finalize=finalize,
    )
    env.globals.pop("lipsum", None)  # lipsum(n=10**9) is a time bomb
    env.filters.update(_GUARDED_FILTERS)
    env.filters.update(
        json_value=json_value,
        json_in_string=json_in_string,
        _hookd_loop=_loop,
        _hookd_concat=_concat,
    )
    return env


_PLAIN_ENV = _environment(_plain)
_URL_ENV = _environment(_url_part)


# Errors that a hostile template makes Jinja's parser or Python's compiler raise
# (nesting past the recursion limit, 100 indentation levels, 20 nested blocks):
# the template is at fault, not hookd, so they are the user's TemplateError.
_TOO_COMPLEX = (RecursionError, MemoryError, SyntaxError, OverflowError)


def _too_complex(exc: BaseException) -> TemplateError:
    if isinstance(exc, RecursionError | IndentationError) or "nested" in str(exc):
        return TemplateError("template is nested too deeply")
    if isinstance(exc, MemoryError):
        return TemplateError("template is too large to compile")
    return TemplateError(f"template does not compile: {type(exc).__name__}: {exc}")


def _compile(env: _Sandbox, source: str) -> jinja2.Template:
    try:
        tree = env.parse(source)
        _Guard().visit(tree)
        tree.set_environment(env)
        return env.from_string(tree)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(exc.message or "syntax error", exc.lineno) from None
    except _TOO_COMPLEX as exc:
        raise _too_complex(exc) from None


def _template_line(exc: BaseException) -> int | None:
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _render(
    template: jinja2.Template, context: Mapping[str, Any], limit: int, seconds: float
) -> str:
    deadline = time.monotonic() + seconds
    token = _BUDGET.set(_Budget(limit, deadline, seconds))
    stream = cast("Generator[str, None, None]", template.generate(context))
    chunks: list[str] = []
    size = 0
    try:
        for chunk in stream:
            size += len(chunk.encode("utf-8", "surrogatepass"))
            if size > limit:
                raise TemplateError(f"rendered output is larger than {limit} bytes")
            if time.monotonic() > deadline:
                raise TemplateError(f"rendering took longer than {seconds:g} s")
            chunks.append(chunk)
    except TemplateError as exc:
        raise TemplateError(exc.message, exc.line or _template_line(exc), exc.column) from exc
    except Exception as exc:  # a user's template can raise anything: it is their error
        message = (
            str(exc) if isinstance(exc, jinja2.TemplateError) else f"{type(exc).__name__}: {exc}"
        )
        raise TemplateError(message, _template_line(exc)) from exc
    finally:
        stream.close()
        _BUDGET.reset(token)
    return "".join(chunks)


# -- JSON-safe rewriting --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Part:
    kind: Literal["data", "expr", "statement", "quiet"]  # quiet: comments, raw tags
    start: int
    end: int


_OPENER = re.compile(r"\$\{|<%|<#")
_RAW_BEGIN = re.compile(r"<%[-+]?\s*raw\s*[-+]?%>")
_RAW_END = re.compile(r"<%[-+]?\s*endraw\s*[-+]?%>")
_STRING = re.compile(r"'[^'\\]*(?:\\.[^'\\]*)*'|\"[^\"\\]*(?:\\.[^\"\\]*)*\"", re.S)
_CLOSERS = {"(": ")", "[": "]", "{": "}"}


def _position(source: str, offset: int) -> tuple[int, int]:
    line = source.count("\n", 0, offset) + 1
    return line, offset - (source.rfind("\n", 0, offset) + 1) + 1


def _error_at(source: str, offset: int, message: str) -> TemplateError:
    return TemplateError(message, *_position(source, offset))


def _tag_end(source: str, start: int, closer: str) -> int:
    """Find `closer` after `start` outside strings and brackets, as Jinja's lexer does."""
    stack: list[str] = []
    i = start
    while i < len(source):
        char = source[i]
        if char in "'\"":
            literal = _STRING.match(source, i)
            if literal is None:
                raise _error_at(source, i, "string is never closed")
            i = literal.end()
            continue
        if not stack and source.startswith(closer, i):
            return i
        if char in _CLOSERS:
            stack.append(_CLOSERS[char])
        elif char in ")]}" and (not stack or stack.pop() != char):
            raise _error_at(source, i, f"unexpected {char!r}")
        i += 1
    raise _error_at(source, start, f"missing {closer!r}")


def _split(source: str) -> list[_Part]:
    """Split `source` into text, placeholders, statements and comments."""
    parts: list[_Part] = []
    pos = 0
    while (opener := _OPENER.search(source, pos)) is not None:
        start = opener.start()
        if start > pos:
            parts.append(_Part("data", pos, start))
        if opener.group() == "<#":
            end = source.find("#>", opener.end())
            if end < 0:
                raise _error_at(source, start, "comment is never closed")
            parts.append(_Part("quiet", start, end + 2))
        elif (raw := _RAW_BEGIN.match(source, start)) is not None:
            close = _RAW_END.search(source, raw.end())
            if close is None:
                raise _error_at(source, start, "raw block is never closed")
            parts += [
                _Part("quiet", start, raw.end()),
                _Part("data", raw.end(), close.start()),
                _Part("quiet", close.start(), close.end()),
            ]
        elif opener.group() == "${":
            end = _tag_end(source, opener.end(), "}")
            parts.append(_Part("expr", start, end + 1))
        else:
            end = _tag_end(source, opener.end(), "%>")
            parts.append(_Part("statement", start, end + 2))
        pos = parts[-1].end
    if pos < len(source):
        parts.append(_Part("data", pos, len(source)))
    return parts


def _rewrite_placeholder(source: str, part: _Part, filter_name: str) -> str:
    inner_start, inner_end = part.start + 2, part.end - 1
    left = source[inner_start] if source[inner_start] in "-+" else ""
    right = "-" if inner_end - 1 > inner_start and source[inner_end - 1] == "-" else ""
    expression = source[inner_start + len(left) : inner_end - len(right)]
    if not expression.strip():
        raise _error_at(source, part.start, "empty placeholder")
    return f"${{{left}({expression})|{filter_name} {right}}}"


def _prepare_json(source: str) -> tuple[str, bool]:
    """Rewrite placeholders to JSON-encode their values; say if statements are used.

    A statement-free template is also checked: each placeholder is replaced by
    a neutral value (`null` in value position, nothing inside a string), and
    the result must parse.
    """
    rewritten: list[str] = []
    probe: list[str] = []
    marks: list[tuple[int, int, bool]] = []  # (probe offset, source offset, char-exact)
    probe_size = 0
    in_string = escaped = statements = False
    for part in _split(source):
        text = source[part.start : part.end]
        if part.kind == "data":
            marks.append((probe_size, part.start, True))
            probe.append(text)
            probe_size += len(text)
            for char in text:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = in_string
                elif char == '"':
                    in_string = not in_string
            rewritten.append(text)
        elif part.kind == "expr":
            if escaped:
                raise _error_at(source, part.start, "placeholder right after a backslash")
            neutral = "" if in_string else "null"
            marks.append((probe_size, part.start, False))
            probe.append(neutral)
            probe_size += len(neutral)
            name = "json_in_string" if in_string else "json_value"
            rewritten.append(_rewrite_placeholder(source, part, name))
        else:
            statements = statements or part.kind == "statement"
            rewritten.append(text)
    if not statements:
        try:
            _load_json("".join(probe))
        except json.JSONDecodeError as exc:
            index = bisect.bisect_right(marks, exc.pos, key=lambda mark: mark[0]) - 1
            probe_at, source_at, exact = marks[index] if index >= 0 else (0, 0, True)
            offset = source_at + (exc.pos - probe_at if exact else 0)
            raise _error_at(source, offset, f"not valid JSON: {exc.msg}") from None
    return "".join(rewritten), statements


def _reject_constant(name: str) -> Any:
    raise TemplateError(f"not valid JSON: {name}")


def _load_json(text: str) -> Any:
    return json.loads(text, parse_constant=_reject_constant)


# -- public API --------------------------------------------------------------------

_Kind = Literal["json", "form", "text"]


def _kind(content_type: str) -> _Kind:
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return "json"
    return "form" if media == "application/x-www-form-urlencoded" else "text"


class BodyTemplate:
    """A compiled body template; render it once per request."""

    __slots__ = ("_check_json", "_form", "_template", "kind", "max_output", "max_seconds")

    def __init__(
        self,
        template: jinja2.Template,
        kind: _Kind,
        *,
        check_json: bool,
        max_output: int,
        max_seconds: float,
    ) -> None:
        self._template = template
        self._check_json = check_json
        self._form = kind == "form"
        self.kind = kind
        self.max_output = max_output
        self.max_seconds = max_seconds

    def render(self, context: Mapping[str, Any]) -> str:
        """Render the body for `context`, ready to send."""
        body = _render(self._template, context, self.max_output, self.max_seconds)
        try:
            if self._check_json:
                try:
                    _load_json(body)
                except json.JSONDecodeError as exc:
                    at = f"{exc.lineno}:{exc.colno}"
                    raise TemplateError(
                        f"rendered body is not valid JSON at {at}: {exc.msg}"
                    ) from None
            return form_encode(body) if self._form else body
        except RecursionError:  # JSON rendered deeper than the parser goes
            raise TemplateError("rendered body is nested too deeply") from None


def compile_body(
    source: str,
    *,
    content_type: str,
    max_output: int = MAX_OUTPUT,
    max_seconds: float = MAX_SECONDS,
) -> BodyTemplate:
    """Compile a body template for `content_type`; cached, so call it freely."""
    return _compile_body(source, _kind(content_type), max_output, max_seconds)


@functools.lru_cache(maxsize=512)
def _compile_body(source: str, kind: _Kind, max_output: int, max_seconds: float) -> BodyTemplate:
    check_json = False
    if kind == "json" or (kind == "form" and source.lstrip().startswith("{")):
        _compile(_PLAIN_ENV, source)  # Jinja's own syntax errors read better than ours
        try:
            source, statements = _prepare_json(source)
        except _TOO_COMPLEX as exc:  # the JSON check of deeply nested literal text
            raise _too_complex(exc) from None
        env, check_json = _PLAIN_ENV, statements and kind == "json"
    else:
        env = _URL_ENV if kind == "form" else _PLAIN_ENV
    return BodyTemplate(
        _compile(env, source),
        kind,
        check_json=check_json,
        max_output=max_output,
        max_seconds=max_seconds,
    )


@functools.lru_cache(maxsize=512)
def _compile_text(source: str, url: bool) -> jinja2.Template:
    return _compile(_URL_ENV if url else _PLAIN_ENV, source)


def check_text(source: str) -> None:
    """Compile-check a header template."""
    _compile_text(source, False)


def check_url(source: str) -> None:
    """Compile-check a URL template."""
    _compile_text(source, True)


def render_text(
    source: str,
    context: Mapping[str, Any],
    *,
    max_output: int = MAX_OUTPUT,
    max_seconds: float = MAX_SECONDS,
) -> str:
    """Render a plain template, such as a header value."""
    return _render(_compile_text(source, False), context, max_output, max_seconds)


def render_url(
    source: str,
    context: Mapping[str, Any],
    *,
    max_output: int = MAX_OUTPUT,
    max_seconds: float = MAX_SECONDS,
) -> str:
    """Render a URL template; placeholders are percent-encoded so data cannot reshape the URL."""
    return _render(_compile_text(source, True), context, max_output, max_seconds)


def _form_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value, ensure_ascii=False)


def form_encode(rendered: str) -> str:
    """Turn a JSON object of fields, or `key=value` lines, into a url-encoded form.

    A list value repeats its key. Encoding is idempotent: a form encodes to itself.
    """
    text = rendered.strip()
    pairs: list[tuple[str, str]]
    if text.startswith("{"):
        try:
            fields = _load_json(text)
        except json.JSONDecodeError as exc:
            raise TemplateError(
                f"form is not valid JSON: {exc.msg}", exc.lineno, exc.colno
            ) from None
        if not isinstance(fields, dict):
            raise TemplateError("form must be a JSON object")
        pairs = [
            (key, _form_value(item))
            for key, value in fields.items()
            for item in (value if isinstance(value, list) else [value])
        ]
    else:
        lines = text.replace("\r\n", "\n").replace("\n", "&")
        pairs = urllib.parse.parse_qsl(lines, keep_blank_values=True)
    return urllib.parse.urlencode(pairs)
