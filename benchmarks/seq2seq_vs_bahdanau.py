"""The fixed context vector (seq2seq) against Bahdanau attention (bahdanau), by input length.

Bahdanau et al. 2015 (sec. 5.1, figure 2) showed the RNN encoder-decoder's BLEU falling as
sentences grow while the attention model's holds: one fixed vector cannot carry a long source.
This script trains both families the way ``lmlineage train`` does (same preset, steps, batch,
learning rate and seed for both; the best checkpoint by validation loss) and scores held-out
inputs bucketed by length:

* ``reverse`` and ``sort``: digit strings of lengths 1-20 (``--max-length``); exact match and
  character BLEU per length bucket, on held-out sources never seen in training;
* ``en-zh``: English -> Chinese verse pairs (KJV -> Chinese Union Version) whose English has at
  most ``--max-words`` words; BLEU (sacrebleu, ``zh`` tokenization) per English-length bucket, on
  the held-out verses of the same length range.

It prints one table per task and draws them (``--plot``, PNG), marking the training inputs'
average length: the claim to check is attention ahead on inputs longer than that average.

    python benchmarks/seq2seq_vs_bahdanau.py --threads 2 --json out.json --plot seq2seq_vs_bahdanau.png
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import footer  # noqa: E402

import lmlineage  # noqa: E402
from lmlineage.data import algorithmic  # noqa: E402
from lmlineage.evaluation.translation import bleu, exact_match  # noqa: E402
from lmlineage.tasks import make_task  # noqa: E402

FAMILIES = ("seq2seq", "bahdanau")


def digit_task(task: str, max_length: int, n_eval: int):
    """The training data name, held-out (source, target) pairs never seen in training, the
    training sources' mean length and the length buckets."""
    name = f"{task}:1-{max_length}"
    train, _ = algorithmic.task_pairs(name)
    seen = {s for s, _ in train}
    held = [p for p in algorithmic.digit_pairs(task, 4 * n_eval, 1, max_length, seed=2) if p[0] not in seen][:n_eval]
    mean = sum(len(s) for s, _ in train) / len(train)
    step = max(1, max_length // 4)
    buckets = [(lo, min(lo + step - 1, max_length)) for lo in range(1, max_length + 1, step)]
    return name, held, mean, buckets, len


def verse_task(max_words: int, out: Path):
    """Short verse pairs written to a .tsv the trainer reads (its last 5% is the validation split
    that picks the best checkpoint); scored on the official held-out verses of the same lengths."""
    from lmlineage.data.translation import en_zh_pairs

    train, val = en_zh_pairs()

    def words(text):
        return len(text.split())

    train = [(e, z) for e, z in train if words(e) <= max_words]
    held = [(e, z) for e, z in val if words(e) <= max_words]
    path = out / "en_zh_short.tsv"
    path.write_text("".join(f"{e}\t{z}\n" for e, z in train), encoding="utf-8")
    fitted = train[: len(train) - max(1, round(len(train) * 0.05))]
    mean = sum(words(e) for e, _ in fitted) / len(fitted)
    edges = [1, 8, 12, 16, max_words + 1] if max_words > 16 else [1, max_words // 3, 2 * max_words // 3, max_words + 1]
    buckets = [(lo, hi - 1) for lo, hi in zip(edges, edges[1:])]
    return str(path), held, mean, buckets, words


def run(task: str, family: str, data: str, held, buckets, length_of, args, out: Path, tokenizer: dict) -> dict:
    start, cpu_start = time.perf_counter(), time.process_time()
    result = lmlineage.train(family, preset=args.preset, data=data, steps=args.steps, batch_size=args.batch_size,
                             lr=args.lr, warmup=args.warmup, seed=args.seed, out=out / f"{task}-{family}",
                             device=args.device, progress=args.progress, eval_interval=args.eval_interval,
                             **tokenizer)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    model = lmlineage.load(out / f"{task}-{family}", device=args.device)  # the best checkpoint
    tok = model.tokenizer
    decoder = make_task("seq2seq_mle", model, tok)
    sources = [tok.encode(s) for s, _ in held]
    hyps = [tok.decode(ids) for ids in decoder.translate(sources, max_new_tokens=args.max_new_tokens,
                                                         num_beams=args.num_beams)]
    language = "zh" if task == "en-zh" else "char"
    rows = []
    for lo, hi in buckets:
        chosen = [i for i, (s, _) in enumerate(held) if lo <= length_of(s) <= hi]
        if not chosen:
            continue
        h, r = [hyps[i] for i in chosen], [held[i][1] for i in chosen]
        rows.append({"lengths": [lo, hi], "n": len(chosen), "bleu": bleu(h, r, language),
                     "exact_match": exact_match(h, r)})
    refs = [t for _, t in held]
    return {"task": task, "family": family, "train_seconds": seconds, "train_cpu_seconds": cpu_seconds,
            "steps": result.steps,
            "val_loss": result.val_loss, "bleu": bleu(hyps, refs, language), "exact_match": exact_match(hyps, refs),
            "buckets": rows, "example": f"{held[-1][0]} -> {hyps[-1]} (reference: {held[-1][1]})"}


def print_table(task: str, mean: float, unit: str, results: list[dict]) -> None:
    metric = "bleu" if task == "en-zh" else "exact_match"
    print(f"\n## {task}: {'BLEU (zh)' if metric == 'bleu' else 'exact match'} by input length "
          f"(training inputs average {mean:.1f} {unit})")
    by_family = {r["family"]: r for r in results}
    print(f"| input {unit} | pairs | " + " | ".join(FAMILIES) + " |")
    print("|---|---|" + "---|" * len(FAMILIES))
    for i, bucket in enumerate(by_family[FAMILIES[0]]["buckets"]):
        lo, hi = bucket["lengths"]
        mark = " (longer than average)" if lo > mean else ""
        values = []
        for f in FAMILIES:
            row = by_family[f]["buckets"][i]
            values.append(f"{row[metric]:.1f}" if metric == "bleu" else f"{row[metric]:.3f}")
        print(f"| {lo}-{hi}{mark} | {bucket['n']} | " + " | ".join(values) + " |")
    overall = " | ".join(f"{by_family[f][metric]:.1f}" if metric == "bleu" else f"{by_family[f][metric]:.3f}"
                         for f in FAMILIES)
    print(f"| all | {sum(b['n'] for b in by_family[FAMILIES[0]]['buckets'])} | {overall} |")
    for f in FAMILIES:
        r = by_family[f]
        print(f"{f}: {r['steps']} steps in {r['train_seconds']:.0f} s wall, {r['train_cpu_seconds']:.0f} s CPU "
              f"(with the held-out translation), val loss {r['val_loss']:.3f}, "
              f"BLEU {r['bleu']:.2f}, exact match {r['exact_match']:.3f}; e.g. {r['example']}")


def plot(tables: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tables), figsize=(5 * len(tables), 4), squeeze=False)
    for ax, (task, (mean, unit, results)) in zip(axes[0], tables.items()):
        metric = "bleu" if task == "en-zh" else "exact_match"
        for r in results:
            x = [(b["lengths"][0] + b["lengths"][1]) / 2 for b in r["buckets"]]
            ax.plot(x, [b[metric] for b in r["buckets"]], marker="o", label=r["family"])
        ax.axvline(mean, color="gray", linestyle="--", label=f"training average ({mean:.1f})")
        ax.set_title(task)
        ax.set_xlabel(f"input length ({unit})")
        ax.set_ylabel("BLEU (zh)" if metric == "bleu" else "exact match")
        ax.set_ylim(0, 1.02 if metric == "exact_match" else None)  # not zoomed into a hair's difference
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def redraw(path: Path, plot_path: str) -> None:
    saved, tables = json.loads(path.read_text()), {}
    for r in saved:
        tables.setdefault(r["task"], (r["training_mean_length"], "words" if r["task"] == "en-zh" else "digits", []))
        tables[r["task"]][2].append(r)
    for task, (mean, unit, results) in tables.items():
        print_table(task, mean, unit, results)
    if plot_path:
        plot(tables, Path(plot_path))
        print(f"\nplot: {plot_path}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", default="reverse,sort,en-zh")
    p.add_argument("--preset", default="tiny")
    p.add_argument("--steps", type=int, default=1200, help="training steps on the digit tasks")
    p.add_argument("--verse-steps", type=int, default=800, help="training steps on the verse pairs")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-length", type=int, default=20, help="digit strings of lengths 1..N")
    p.add_argument("--max-words", type=int, default=20, help="verses of at most N English words")
    p.add_argument("--verse-vocab", type=int, default=2000, help="shared BPE vocabulary of the verse pairs")
    p.add_argument("--n-eval", type=int, default=1000, help="held-out digit strings per task")
    p.add_argument("--max-new-tokens", type=int, default=80)
    p.add_argument("--num-beams", type=int, default=1)
    p.add_argument("--eval-interval", type=int, default=100)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--progress", action="store_true")
    p.add_argument("--json", default=None, help="write every number here")
    p.add_argument("--plot", default="seq2seq_vs_bahdanau.png")
    p.add_argument("--from-json", default=None, help="print the tables and draw the plot of a saved --json run")
    args = p.parse_args()
    if args.from_json:
        return redraw(Path(args.from_json), args.plot)
    if args.threads:
        torch.set_num_threads(args.threads)
    tables, everything = {}, []
    with tempfile.TemporaryDirectory(prefix="seq2seq-vs-bahdanau-") as scratch:
        scratch = Path(scratch)
        for task in args.tasks.split(","):
            if task == "en-zh":
                data, held, mean, buckets, length_of = verse_task(args.max_words, scratch)
                unit, tokenizer = "words", dict(tokenizer="bpe", vocab_size=args.verse_vocab)
                options = argparse.Namespace(**{**vars(args), "steps": args.verse_steps})
            else:
                data, held, mean, buckets, length_of = digit_task(task, args.max_length, args.n_eval)
                unit, tokenizer, options = "digits", {}, args
            results = [run(task, f, data, held, buckets, length_of, options, scratch, tokenizer) for f in FAMILIES]
            print_table(task, mean, unit, results)
            tables[task] = (mean, unit, results)
            everything += [{**r, "training_mean_length": mean} for r in results]
    if args.plot:
        plot(tables, Path(args.plot))
        print(f"\nplot: {args.plot}")
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=1, ensure_ascii=False) + "\n")
    print(footer())


if __name__ == "__main__":
    main()
