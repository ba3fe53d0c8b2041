"""Chat templates: the Jinja program a chat model ships (in ``tokenizer_config.json``,
``chat_template.jinja`` or GGUF metadata) that lays a conversation out as the text the model was
fine-tuned on, e.g. ``<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n``.

Templates are rendered as the ``transformers`` package renders them: a sandboxed Jinja
environment (a template from a downloaded file is untrusted code), blocks trimmed, loop controls,
``raise_exception`` and ``strftime_now`` callable, ``tojson`` without HTML escaping, and the
``{% generation %}`` marker accepted.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from ..core.errors import UserError

# The chat template our own models are fine-tuned with: plain text that any tokenizer (a character
# vocabulary too) can spell; each turn ends at a newline, which the assistant learns to emit.
PLAIN_TEMPLATE = ("{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
                  "{% if add_generation_prompt %}assistant: {% endif %}")


def render(template: str, messages: list[dict], *, add_generation_prompt: bool = True,
           special_tokens: dict[str, str | None] | None = None) -> str:
    """The conversation ``messages`` ({"role", "content"} dicts) as the template lays it out, ending
    with the assistant's header when ``add_generation_prompt``. ``special_tokens``: names the
    template may use (``bos_token``, ``eos_token``, ...)."""
    import jinja2

    try:
        compiled = _environment().from_string(template)
        return compiled.render(messages=messages, add_generation_prompt=add_generation_prompt,
                               **(special_tokens or {}))
    except _Refused as e:
        raise UserError(f"the chat template refuses this conversation: {e}") from None
    except jinja2.TemplateError as e:  # syntax errors, undefined names, sandbox violations
        raise UserError(f"the model's chat template cannot be rendered ({type(e).__name__}: {e})",
                        "fix the chat_template in the model's tokenizer_config.json") from None


class _Refused(Exception):
    pass


def _environment():
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(jinja2.ext.Extension):
        """``{% generation %}...{% endgeneration %}`` marks the assistant's text (for training masks);
        rendering keeps the text as it is."""

        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_keep"), [], [], body).set_lineno(lineno)

        def _keep(self, caller):
            return caller()

    def raise_exception(message):
        raise _Refused(message)

    def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[Generation, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env


def special_tokens(tok) -> dict[str, str | None]:
    """The special-token strings a template may print, from the tokenizer's roles."""
    def text(id_):
        return tok.id_to_token(id_) if id_ is not None else None

    return {"bos_token": text(tok.bos_id), "eos_token": text(tok.eos_id), "pad_token": text(tok.pad_id),
            "unk_token": None}


def apply_tokenizer_config(tok, directory) -> None:
    """Read a reference directory's ``tokenizer_config.json`` (and ``chat_template.jinja``) into
    ``tok``: the chat template, and which tokens end, begin and pad text (a chat model's end of
    text is its end-of-turn token, e.g. ``<|im_end|>``, which tokenizer.json does not say)."""
    directory = Path(directory)
    config = {}
    file = directory / "tokenizer_config.json"
    if file.exists():
        try:
            config = json.loads(file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise UserError(f"{file} is not valid JSON: {e}") from None
        if not isinstance(config, dict):
            raise UserError(f"{file} must hold a JSON object")
    template = config.get("chat_template")
    if isinstance(template, list):  # named templates: [{"name": "default", "template": ...}, ...]
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default")
    jinja = directory / "chat_template.jinja"
    if jinja.exists():  # transformers >= 4.43 writes the template to its own file
        template = jinja.read_text(encoding="utf-8")
    if isinstance(template, str) and template.strip():
        tok.chat_template = template
    for role, key in (("eos_id", "eos_token"), ("bos_id", "bos_token"), ("pad_id", "pad_token")):
        name = config.get(key)
        if isinstance(name, dict):  # an AddedToken written out: {"content": ..., ...}
            name = name.get("content")
        if isinstance(name, str) and tok.token_to_id(name) is not None:
            setattr(tok, role, tok.token_to_id(name))


def require_template(tok, where: str) -> str:
    template = getattr(tok, "chat_template", None) if tok is not None else None
    if not template:
        raise UserError(f"{where} has no chat template",
                        "use a chat (instruct) model whose tokenizer_config.json or GGUF metadata carries one, "
                        "or leave out --chat")
    return template
