"""Chat templates render as `transformers` renders them, and `lmlineage generate --chat` on a
reference directory (config.json + safetensors + tokenizer.json + tokenizer_config.json) answers
what the reference model answers to the same conversation."""

import json
import sys

import pytest
import torch
from tokenizers import AddedToken

transformers = pytest.importorskip("transformers")

import lmlineage  # noqa: E402
from lmlineage.cli import main  # noqa: E402
from lmlineage.core.errors import UserError  # noqa: E402
from lmlineage.generation.chat import chat_prompt, reply  # noqa: E402
from lmlineage.tokenizers.chat import render  # noqa: E402
from lmlineage.tokenizers.hf import train as train_tokenizer  # noqa: E402

CHATML = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
          "{{ '<|im_start|>system\nYou are helpful.<|im_end|>\n' }}{% endif %}"
          "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
# LLaMA-2's layout: BOS per exchange, [INST] tags, the system prompt folded into the first turn,
# and an exception for a conversation whose roles do not alternate.
LLAMA2 = """{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}\
{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}\
{% set system_message = false %}{% endif %}
{% for message in loop_messages %}
    {% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}
    {% endif %}
    {% if loop.index0 == 0 and system_message != false %}
        {% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}
    {% else %}
        {% set content = message['content'] %}
    {% endif %}
    {% if message['role'] == 'user' %}
        {{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}
    {% elif message['role'] == 'assistant' %}
        {{ ' ' + content.strip() + ' ' + eos_token }}
    {% endif %}
{% endfor %}"""
# Namespaces, loop controls, tojson and the {% generation %} marker.
FANCY = """{% set ns = namespace(n=0) %}{% for m in messages %}{% if m['role'] == 'system' %}{% continue %}{% endif %}\
{% set ns.n = ns.n + 1 %}{{ ns.n }}|{{ m | tojson }}
{% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] }}{% endgeneration %}{% endif %}
{% endfor %}{% if add_generation_prompt %}>{% endif %}"""
CONVERSATION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": " Hi <there> \"é\" "},
                {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "What is 2+2?"}]
TEXT = "The quick brown fox jumps over the lazy dog. What is the capital of France? Paris. " * 30


@pytest.fixture(scope="module")
def chat_tokenizer():
    tok = train_tokenizer("bpe", [TEXT], vocab_size=300)
    tok.hf.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in ("<|im_start|>", "<|im_end|>")])
    return tok


def reference_tokenizer(tok, template):
    ref = transformers.PreTrainedTokenizerFast(tokenizer_object=tok.hf, bos_token="<|im_start|>",
                                               eos_token="<|im_end|>")
    ref.chat_template = template
    return ref


@pytest.mark.parametrize("template", [CHATML, LLAMA2, FANCY], ids=["chatml", "llama2", "namespace-tojson"])
@pytest.mark.parametrize("turns", [2, 4])
def test_rendering_matches_transformers(chat_tokenizer, template, turns):
    messages = CONVERSATION[:turns]
    ref = reference_tokenizer(chat_tokenizer, template)
    for generation_prompt in (True, False):
        ours = render(template, messages, add_generation_prompt=generation_prompt,
                      special_tokens={"bos_token": "<|im_start|>", "eos_token": "<|im_end|>"})
        assert ours == ref.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def test_template_errors_are_user_errors():
    with pytest.raises(UserError, match="roles must alternate"):
        render(LLAMA2, [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
               special_tokens={"bos_token": "<s>", "eos_token": "</s>"})
    with pytest.raises(UserError, match="cannot be rendered.*TemplateSyntaxError"):
        render("{% for m in messages %}", [])
    # A template is untrusted code: the sandbox refuses reaching Python internals.
    with pytest.raises(UserError, match="SecurityError"):
        render("{{ messages.__class__.__mro__[1].__subclasses__() }}", [])


@pytest.fixture(scope="module")
def reference_dir(tmp_path_factory, chat_tokenizer):
    directory = tmp_path_factory.mktemp("chat-ref")
    torch.manual_seed(0)
    vocab = chat_tokenizer.vocab_size
    cfg = transformers.LlamaConfig(vocab_size=vocab, hidden_size=48, num_hidden_layers=2, num_attention_heads=6,
                                   num_key_value_heads=2, intermediate_size=37, max_position_embeddings=256,
                                   bos_token_id=vocab - 2, eos_token_id=vocab - 1, attn_implementation="eager")
    ref = transformers.LlamaForCausalLM(cfg).eval()
    ref.save_pretrained(directory)
    chat_tokenizer.save(directory)
    (directory / "tokenizer_config.json").write_text(json.dumps(
        {"chat_template": CHATML, "eos_token": "<|im_end|>", "bos_token": {"__type": "AddedToken", "content": "<|im_start|>", "lstrip": False, "normalized": False,
                       "rstrip": False, "single_word": False, "special": True},
         "tokenizer_class": "PreTrainedTokenizerFast"}))
    return ref, directory


def test_reference_dir_reads_template_and_end_of_turn(reference_dir, chat_tokenizer):
    _, directory = reference_dir
    model = lmlineage.load(str(directory))
    assert model.tokenizer.chat_template == CHATML
    assert model.tokenizer.eos_id == chat_tokenizer.vocab_size - 1  # <|im_end|>, not <|endoftext|>
    assert model.tokenizer.bos_id == chat_tokenizer.vocab_size - 2


def test_chat_cli_answers_like_the_reference(reference_dir, capsys):
    ref, directory = reference_dir
    theirs = transformers.AutoTokenizer.from_pretrained(directory)
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    model = lmlineage.load(str(directory))
    ids = theirs.apply_chat_template(messages, add_generation_prompt=True, return_dict=False)
    assert model.tokenizer.encode(chat_prompt(model, messages)) == ids
    out = ref.generate(torch.tensor([ids]), max_new_tokens=10, do_sample=False, pad_token_id=0)[0, len(ids):].tolist()
    end = model.tokenizer.eos_id
    expected = theirs.decode(out[: out.index(end)] if end in out else out).strip()
    assert reply(model, messages, max_new_tokens=10, temperature=0) == expected
    assert main(["generate", str(directory), "--chat", "--prompt", messages[0]["content"], "--max-new-tokens", "10",
                 "--temperature", "0", "--dtype", "float32"]) == 0
    assert capsys.readouterr().out.strip() == expected


def test_chat_template_file_wins(reference_dir, tmp_path):
    import shutil

    _, directory = reference_dir
    copy = shutil.copytree(directory, tmp_path / "ref")
    (copy / "chat_template.jinja").write_text(LLAMA2)
    assert lmlineage.load(str(copy)).tokenizer.chat_template == LLAMA2


def test_dtype_option(reference_dir, capsys):
    _, directory = reference_dir
    assert next(lmlineage.load(str(directory), dtype="bfloat16").parameters()).dtype == torch.bfloat16
    assert main(["generate", str(directory), "--chat", "--prompt", "hi", "--max-new-tokens", "3",
                 "--dtype", "float16"]) == 0
    capsys.readouterr()
    assert main(["generate", str(directory), "--prompt", "hi", "--dtype", "float64"]) == 2
    assert "unknown dtype 'float64'" in capsys.readouterr().err


def test_no_template_is_one_line_error(reference_dir, tmp_path, capsys, monkeypatch):
    import shutil

    _, directory = reference_dir
    copy = shutil.copytree(directory, tmp_path / "plain")
    (copy / "tokenizer_config.json").unlink()
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO("never read\n"))
    for argv in (["--chat"], ["--chat", "--prompt", "hi"]):
        assert main(["generate", str(copy), *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "has no chat template" in err and "leave out --chat" in err
    assert sys.stdin.read() == "never read\n"  # refused before reading the conversation
