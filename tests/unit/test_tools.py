"""LaMDA's toolset (rl.tools): the calculator parses arithmetic and nothing else, a call runs only
a declared tool, the dialogue loop puts each result back into the context, and a call that does
not parse is a one-line error (exit 2) at `lmlineage generate --tools`."""

import builtins
import os
import subprocess
from types import SimpleNamespace

import pytest

import lmlineage.generation.chat  # noqa: F401 -- imported before any test patches the engine's generate_text,
import lmlineage.generation.text  # noqa: F401 -- so the names they bind on import stay the real one
from lmlineage import cli
from lmlineage.core.errors import UserError
from lmlineage.data.tool_dialogues import as_messages, dialogues
from lmlineage.models.capabilities import ModelCapabilities
from lmlineage.rl import tools
from lmlineage.rl.tools import SearchIndex, ToolCallError, Toolset, calculate, respond


@pytest.mark.parametrize("expression, value", [
    ("4821 * 37", "178377"), ("(1 + 2) * 3", "9"), ("-5 + 2", "-3"), ("7 / 2", "3.5"), ("10 - 4 - 3", "3"),
    ("2 * (3 + (4 - 1)) / 4", "3"), ("123456789 * 987654321", "121932631112635269"), ("1 / 3 * 3", "1"),
])
def test_the_calculator_evaluates_arithmetic_exactly(expression, value):
    assert calculate(expression) == value


@pytest.mark.parametrize("expression", ["", "1 +", "2 ** 3", "(1 + 2", "1 / 0", "abs(-1)", "1e5", "x + 1",
                                        "__import__('os')", "1; 2", "9" * 61])
def test_the_calculator_refuses_what_is_not_arithmetic(expression):
    with pytest.raises(ToolCallError):
        calculate(expression)


@pytest.fixture
def nothing_may_run(monkeypatch, tmp_path):
    """Every way to run a program or code records the attempt instead (set up after tmp_path and
    the search index's package are imported: an import runs through ``exec``)."""
    import rank_bm25  # noqa: F401

    attempts = []

    def record(name):
        def refuse(*args, **kwargs):
            attempts.append(name)
            raise AssertionError(f"{name} was called")
        return refuse

    for name in ("system", "popen", "execv", "execvp", "spawnv", "fork"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, record(f"os.{name}"))
    for name in ("Popen", "run", "call", "check_output"):
        monkeypatch.setattr(subprocess, name, record(f"subprocess.{name}"))
    for name in ("eval", "exec"):
        monkeypatch.setattr(builtins, name, record(f"builtins.{name}"))
    return attempts


def test_a_tool_never_runs_anything_but_the_declared_tools(tmp_path, nothing_may_run):
    marker = tmp_path / "ran"
    toolset = Toolset.default(SearchIndex(["bert was introduced in 2018.", "t5 was introduced in 2019."]))
    hostile = [f"Call: shell touch {marker}", f"Call: python open('{marker}', 'w')", f"Call: bash -c 'touch {marker}'",
               f"Call: calculator __import__('os').system('touch {marker}')", f"Call: calculator 1; touch {marker}",
               f"Call: calculator $(touch {marker})", "Call: eval 1 + 1", "Call: translate hello", "Call:",
               f"Call: calculator 2 * 3` touch {marker}`", f"touch {marker}"]
    for line in hostile:
        with pytest.raises(ToolCallError):
            toolset.run(line)
    assert toolset.run(f"Call: search $(touch {marker}) bert") == "bert was introduced in 2018."  # a lookup, no more
    assert not marker.exists()
    assert nothing_may_run == []


def test_the_tools_source_names_no_way_to_run_code():
    """Beside the run above: rl/tools.py calls no eval, exec, compile or __import__ and imports no
    os, subprocess, shutil or importlib, so no path through it can reach them."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(tools))
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not called & {"eval", "exec", "compile", "__import__", "open", "breakpoint"}
    assert not imported & {"os", "subprocess", "shutil", "importlib", "sys", "ctypes"}


def test_search_finds_the_passage_that_shares_the_query_words():
    index = SearchIndex(["bert was introduced in 2018, after transformer.", "t5 was introduced in 2019, after transformer.",
                         "gpt2 was introduced in 2019, after gpt."])
    assert index.search("t5")[0].startswith("t5 ")
    assert index.search("when was bert introduced")[0].startswith("bert ")


def scripted(monkeypatch, lines):
    """The model's lines, in order; each call records the context it was given."""
    contexts = []
    queue = list(lines)

    def generate_text(model, context, **options):
        contexts.append(context)
        return queue.pop(0) + "\n"

    monkeypatch.setattr("lmlineage.generation.engine.generate_text", generate_text)
    return contexts


def test_each_result_goes_back_into_the_context_and_the_transcript(monkeypatch):
    contexts = scripted(monkeypatch, ["Call: calculator 4821 * 37", "Bot: 4821 * 37 is 178377."])
    turn = respond(object(), "What is 4821 * 37?", Toolset.default(SearchIndex(["x"])))
    assert turn.calls == [("Call: calculator 4821 * 37", "178377")]
    assert contexts[1] == "User: What is 4821 * 37?\nCall: calculator 4821 * 37\nResult: 178377\n"
    assert turn.transcript.splitlines() == ["Call: calculator 4821 * 37", "Result: 178377", "Bot: 4821 * 37 is 178377."]
    assert turn.reply == "4821 * 37 is 178377."


def test_without_tools_the_model_writes_its_own_results(monkeypatch):
    contexts = scripted(monkeypatch, ["Call: calculator 4821 * 37", "Result: 170000", "Bot: 170000."])
    turn = respond(object(), "What is 4821 * 37?", None)
    assert turn.calls == [] and turn.reply == "170000."
    assert contexts[2].endswith("Result: 170000\n")


def test_an_empty_line_ends_the_turn_and_is_neither_shown_nor_kept(monkeypatch):
    scripted(monkeypatch, ["Call: calculator 2 + 2", "", "Bot: never reached."])
    shown = []
    turn = respond(object(), "What is 2 + 2?", Toolset.default(SearchIndex(["x"])), show=shown.append)
    assert shown == ["Call: calculator 2 + 2", "Result: 4"] and turn.transcript.splitlines() == shown
    assert turn.reply == ""


CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def chat_model():
    tokens = {0: "<|im_start|>", 1: "<|im_end|>"}
    return SimpleNamespace(tokenizer=SimpleNamespace(chat_template=CHATML, bos_id=0, eos_id=1, pad_id=None,
                                                     id_to_token=tokens.get))


def test_with_chat_the_question_is_the_user_turn_and_the_lines_the_assistant_turn(monkeypatch):
    contexts = scripted(monkeypatch, ["Call: calculator 4821 * 37", "Bot: 178377."])
    turn = respond(chat_model(), " What is 4821 * 37? ", Toolset.default(SearchIndex(["x"])), chat=True)
    head = "<|im_start|>user\nWhat is 4821 * 37?<|im_end|>\n<|im_start|>assistant\n"
    assert contexts == [head, head + "Call: calculator 4821 * 37\nResult: 178377\n"]
    assert turn.reply == "178377." and turn.calls == [("Call: calculator 4821 * 37", "178377")]


def test_a_dialogue_as_a_conversation_keeps_every_line_the_model_writes():
    for dialogue in dialogues(50, seed=4):
        user, assistant = as_messages(dialogue)
        assert (user["role"], assistant["role"]) == ("user", "assistant")
        assert f"User: {user['content']}\n{assistant['content']}\n" == dialogue
        lines = assistant["content"].splitlines()
        assert not lines[0].startswith("User:") and lines[-1].startswith("Bot: ")
    with pytest.raises(ValueError):
        as_messages("Call: calculator 1 + 1\nResult: 2\n")


def test_a_call_that_does_not_parse_is_one_line_and_exit_2(monkeypatch, capsys):
    scripted(monkeypatch, ["Call: calculator 12 +* 3"])
    monkeypatch.setattr("lmlineage.api.load", lambda *a, **k: ModelCapabilities())  # a text model, nothing more
    code = cli.main(["generate", "any-run", "--tools", "--prompt", "What is 12 + 3?"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and "calculator" in err[0]


def test_tools_need_a_question_and_the_translator_needs_tools(monkeypatch, capsys):
    monkeypatch.setattr("lmlineage.api.load", lambda *a, **k: ModelCapabilities())  # a text model, nothing more
    assert cli.main(["generate", "any-run", "--tools"]) == 2
    assert cli.main(["generate", "any-run", "--translator", "zh-run", "--prompt", "hi"]) == 2
    assert cli.main(["generate", "any-run", "--tools", "--chat", "--prompt", "hi"]) == 2  # no chat template
    assert all(line.startswith("error: ") for line in capsys.readouterr().err.strip().splitlines())


def test_the_generated_dialogues_hold_what_the_tools_return():
    """Every calculator result in the fine-tuning data is the calculator's own answer."""
    toolset = Toolset.default(SearchIndex(tools.lineage_passages()))
    checked = 0
    for dialogue in dialogues(300, seed=3):
        lines = dialogue.splitlines()
        assert lines[0].startswith("User: ") and lines[-1].startswith("Bot: ")
        for call, result in zip(lines, lines[1:]):
            if call.startswith("Call: calculator") or call.startswith("Call: search"):
                assert result == f"Result: {toolset.run(call)}"
                checked += 1
    assert checked > 200
    assert dialogues(5, seed=3) == dialogues(5, seed=3)


def test_a_tool_call_error_is_a_user_error():
    assert issubclass(ToolCallError, UserError)
