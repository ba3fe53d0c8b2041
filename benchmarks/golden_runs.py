"""Golden runs: fixed-seed 50-step training of seven families (and the n-gram's perplexity),
recorded to ``tests/fixtures/golden_runs.json`` before a refactor and compared after it
(``tests/consistency/test_golden_runs.py``), so a change of structure is shown to change no number.

    python benchmarks/golden_runs.py            # rewrite the JSON (only before a deliberate change)
    python benchmarks/golden_runs.py --check    # run again and compare, bit for bit

Every run is on one CPU thread: a matmul split over more threads may sum in another order. And every
run uses PyTorch's AVX2 kernels (``ATEN_CPU_CAPABILITY=avx2``; the script re-executes itself with it):
on an AVX-512 host some reductions sum in another order, and GPT-2's validation loss moved by one
float32 step. The JSON was recorded with the AVX2 kernels.
word2vec is trained with one worker (its Hogwild threads race) and recorded by its vectors.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "fixtures" / "golden_runs.json"
CORPUS = REPO / "tests" / "fixtures" / "golden_corpus.txt"

# family -> (train keyword arguments beyond the shared ones)
RUNS = {
    "gpt2": {},
    # Hugging Face's WordPiece trainer breaks ties in hash order, which differs from process to
    # process: BERT reads a WordPiece vocabulary trained once on the same corpus.
    "bert": {"tokenizer": str(REPO / "tests" / "fixtures" / "golden_wordpiece.json")},
    "t5": {},
    "llama": {},
    "bahdanau": {"data": "reverse:1-12"},
    "nnlm": {},
}
SHARED = dict(steps=50, batch_size=8, seed=0, progress=False, sample_tokens=0, eval_batches=4)


def _losses(run_dir: Path) -> list:
    from lmlineage.train.trainer import read_metrics

    return [{k: v for k, v in r.items() if k in ("step", "loss", "val_loss")}
            for r in read_metrics(run_dir) if "loss" in r or "val_loss" in r]


def golden_runs(workdir: Path) -> dict:
    import lmlineage
    from lmlineage.tokenizers.word import sentences_from_text
    from lmlineage.classic.word2vec import Word2Vec

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        results = {}
        for family, extra in RUNS.items():
            kwargs = {"data": str(CORPUS), **SHARED, **extra}
            result = lmlineage.train(family, out=workdir / family, **kwargs)
            results[family] = {"losses": _losses(workdir / family), "val_loss": result.val_loss}
        ngram = lmlineage.train("ngram", data=str(CORPUS), out=workdir / "ngram", seed=0, progress=False)
        results["ngram"] = {"val_loss": ngram.val_loss, "perplexity": ngram.perplexity}
        sentences = sentences_from_text(CORPUS.read_text())
        w2v = Word2Vec.train(sentences, dim=16, epochs=2, min_count=2, seed=1, workers=1, progress=False)
        matrix = torch.from_numpy(w2v.vectors.matrix)
        results["word2vec"] = {"sha256": hashlib.sha256(matrix.numpy().tobytes()).hexdigest(),
                               "first": [float(v) for v in matrix.flatten()[:8]]}
        return results
    finally:
        torch.set_num_threads(threads)


CPU_CAPABILITY = "avx2"


def main(argv=None) -> int:
    if os.environ.get("ATEN_CPU_CAPABILITY") != CPU_CAPABILITY:
        # torch reads the variable once, at import: run again in a fresh interpreter with it set.
        os.execve(sys.executable, [sys.executable, __file__, *(sys.argv[1:] if argv is None else argv)],
                  {**os.environ, "ATEN_CPU_CAPABILITY": CPU_CAPABILITY})
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the committed JSON instead of writing it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        results = golden_runs(Path(tmp))
    if args.check:
        expected = json.loads(GOLDEN.read_text())["runs"]
        same = results == expected
        print("identical" if same else json.dumps({"expected": expected, "got": results}, indent=1))
        return 0 if same else 1
    GOLDEN.write_text(json.dumps({"command": "python benchmarks/golden_runs.py", "torch": torch.__version__,
                                  "runs": results}, indent=1) + "\n")
    print(f"wrote {GOLDEN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
