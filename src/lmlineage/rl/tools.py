"""Tool use (LaMDA: Thoppilan et al. 2022, "LaMDA: Language Models for Dialog Applications",
section 6.2: the model addresses a toolset, reads what it returns, and goes on).

A transcript is a sequence of lines; the model writes one at a time::

    User: What is 4821 * 37?
    Call: calculator 4821 * 37
    Result: 178377
    Bot: 4821 * 37 is 178377.

A line ``Call: TOOL ARGUMENT`` is parsed and run by the :class:`Toolset`, whose answer is put back
into the context as the ``Result:`` line, and the model continues; the ``Bot:`` line ends its
turn. The declared tools are all that can run: the calculator is a small recursive-descent parser
of numbers, ``+ - * /`` and parentheses (nothing is ever handed to ``eval``, ``exec``, a shell or
an import); search is a lookup in a local BM25 index; the translator is an English -> Chinese
model of ours, run only when one is given. A call that does not parse, names no declared tool or
fails is a :class:`ToolCallError`, a one-line user error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, DivisionByZero, InvalidOperation, localcontext
from typing import Callable

from ..core.errors import UserError
from ..data.tool_dialogues import BOT, CALL, RESULT, USER, lineage_facts

MAX_EXPRESSION = 200  # characters: a calculator call is a line, not a program
MAX_DIGITS = 60  # of any number the calculator reads or returns


class ToolCallError(UserError):
    """A call that does not parse, names no declared tool, or that the tool refuses."""


# ---- the calculator -------------------------------------------------------------------------------
_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|(.))")


def _tokens(text: str) -> list[str]:
    out, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        number, symbol = match.group(1), match.group(2)
        if symbol is not None and symbol not in "+-*/()":
            raise ToolCallError(f"the calculator cannot read {symbol!r} in {text!r}",
                                "it takes numbers, + - * / and parentheses")
        out.append(number or symbol)
        position = match.end()
    return out


def calculate(expression: str) -> str:
    """The value of an arithmetic expression (numbers, ``+ - * /``, parentheses, unary minus),
    exact in decimal; integers print without a point."""
    if len(expression) > MAX_EXPRESSION:
        raise ToolCallError(f"the calculator's expression has {len(expression)} characters, more than {MAX_EXPRESSION}")
    tokens = _tokens(expression)
    if not tokens:
        raise ToolCallError("the calculator call has no expression", "write e.g. Call: calculator 12 * 34")
    position = 0

    def peek():
        return tokens[position] if position < len(tokens) else None

    def take():
        nonlocal position
        position += 1
        return tokens[position - 1]

    def number_or_group() -> Decimal:
        token = peek()
        if token == "-":
            take()
            return -number_or_group()
        if token == "(":
            take()
            value = sum_()
            if peek() != ")":
                raise ToolCallError(f"unbalanced parenthesis in {expression!r}")
            take()
            return value
        if token is None or not token[0].isdigit():
            raise ToolCallError(f"the calculator expected a number in {expression!r}, found {token or 'the end'!r}")
        if len(token) > MAX_DIGITS:
            raise ToolCallError(f"a number of {len(token)} digits is more than the calculator's {MAX_DIGITS}")
        return Decimal(take())

    def product() -> Decimal:
        value = number_or_group()
        while peek() in ("*", "/"):
            operator, right = take(), number_or_group()
            try:
                value = value * right if operator == "*" else value / right
            except (DivisionByZero, InvalidOperation):
                raise ToolCallError(f"division by zero in {expression!r}") from None
        return value

    def sum_() -> Decimal:
        value = product()
        while peek() in ("+", "-"):
            operator, right = take(), product()
            value = value + right if operator == "+" else value - right
        return value

    with localcontext() as context:
        context.prec = 2 * MAX_DIGITS
        value = sum_()
        if position != len(tokens):
            raise ToolCallError(f"the calculator cannot read {expression!r} past {tokens[position]!r}")
    if value == value.to_integral_value():
        text = str(value.quantize(Decimal(1)))
    else:
        text = format(value.normalize(), "f")
    if len(text.lstrip("-").replace(".", "")) > 2 * MAX_DIGITS:
        raise ToolCallError(f"the calculator's result of {expression!r} is too long to show")
    return text


# ---- search over a local index -------------------------------------------------------------------
class SearchIndex:
    """BM25 (Robertson et al.; the ``rank-bm25`` package's Okapi variant) over passages: the best
    ``k`` passages for a query."""

    def __init__(self, passages: list[str]):
        try:
            from rank_bm25 import BM25Okapi
        except ImportError:
            raise UserError("the search index needs the rank-bm25 package", "pip install 'lmlineage[tools]'") from None

        if not passages:
            raise UserError("the search index has no passages", "give it some text")
        self.passages = list(passages)
        self.bm25 = BM25Okapi([words(p) for p in self.passages])

    def search(self, query: str, k: int = 1) -> list[str]:
        terms = words(query)
        if not terms:
            raise ToolCallError("the search call has no query", "write e.g. Call: search bert year")
        scores = self.bm25.get_scores(terms)
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        return [self.passages[i] for i in order[:k]]


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", text.lower())  # family names keep their hyphens


def lineage_passages() -> list[str]:
    """One passage per registered family: its year, parent and paper (the facts `lmlineage models`
    shows), the default index of the search tool."""
    return [passage for *_, passage in lineage_facts()]


# ---- the toolset ---------------------------------------------------------------------------------
@dataclass
class Toolset:
    """The declared tools by name, each ``argument -> text``. Nothing else can be called."""

    tools: dict[str, Callable[[str], str]] = field(default_factory=dict)

    @classmethod
    def default(cls, index: SearchIndex | None = None, translate: Callable[[str], str] | None = None) -> Toolset:
        """The calculator, search over ``index`` (default: the lineage's passages), and a translator
        where ``translate`` is given."""
        index = index or SearchIndex(lineage_passages())
        tools = {"calculator": calculate, "search": lambda query: index.search(query)[0]}
        if translate is not None:
            tools["translate"] = translate
        return cls(tools)

    def parse(self, line: str) -> tuple[str, str]:
        """``Call: TOOL ARGUMENT`` -> (tool, argument)."""
        text = line.strip()
        if not text.startswith(CALL):
            raise ToolCallError(f"a tool call starts with {CALL!r}: {text[:60]!r}")
        name, _, argument = text[len(CALL):].strip().partition(" ")
        if name not in self.tools:
            hint = " (give --translator CHECKPOINT, an en->zh model)" if name == "translate" else ""
            raise ToolCallError(f"the call {text[:60]!r} names no declared tool{hint}",
                                f"declared tools: {', '.join(self.tools)}")
        if not argument.strip():
            raise ToolCallError(f"the call {text[:60]!r} gives the {name} nothing to work on")
        return name, argument.strip()

    def run(self, line: str) -> str:
        name, argument = self.parse(line)
        return " ".join(self.tools[name](argument).split())  # one line in the transcript


def translator(model, max_new_tokens: int = 64) -> Callable[[str], str]:
    """The translate tool over an encoder-decoder translation model (``train transformer --data
    bible-en-zh``), greedy."""
    from ..generation.engine import generate_text

    if not model.is_encoder_decoder:
        raise UserError("the translator must be a translation model (an encoder-decoder)",
                        "train one with lmlineage train transformer --data bible-en-zh")
    return lambda text: generate_text(model, text, max_new_tokens=max_new_tokens, temperature=0.0)


# ---- the dialogue loop ---------------------------------------------------------------------------
@dataclass
class Turn:
    transcript: str  # every line the model wrote and the tools returned, in order
    reply: str  # the Bot line's text
    calls: list[tuple[str, str]]  # (call line, result)


def respond(model, question: str, tools: Toolset | None, *, chat: bool = False, max_lines: int = 6,
            max_line_tokens: int = 80, show: Callable[[str], None] | None = None, **options) -> Turn:
    """The model's turn after ``User: question``, one line at a time. With ``tools``, a ``Call:``
    line is run and its ``Result:`` line written by the toolset; without, the model writes every
    line itself (results included): the same model, no tools. ``chat``: the question is the user's
    turn in the model's chat template and the lines are its assistant turn (a chat model fine-tuned
    on ``data.tool_dialogues.as_messages``). ``show(line)`` sees each line."""
    from ..generation.chat import chat_prompt
    from ..generation.engine import generate_text

    question = question.strip()
    context = chat_prompt(model, [{"role": "user", "content": question}]) if chat else f"{USER} {question}\n"
    lines, calls = [], []
    options.setdefault("temperature", 0.0)
    for _ in range(max_lines):
        line = generate_text(model, context, max_new_tokens=max_line_tokens, stop=["\n"], **options)
        line = line.split("\n")[0].strip()
        if not line:  # the turn ended without another line: nothing to show or keep
            break
        context += line + "\n"
        lines.append(line)
        if show is not None:
            show(line)
        if line.startswith(BOT):
            break
        if tools is not None and line.startswith(CALL):
            result = tools.run(line)
            calls.append((line, result))
            context += f"{RESULT} {result}\n"
            lines.append(f"{RESULT} {result}")
            if show is not None:
                show(lines[-1])
    reply = next((x[len(BOT):].strip() for x in reversed(lines) if x.startswith(BOT)), "")
    return Turn("\n".join(lines), reply, calls)
