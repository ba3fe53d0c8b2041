"""Tokenize a corpus larger than memory through the streaming path and show RSS stays small.

    python benchmarks/stream_large_corpus.py                  # 3 GB, char tokenizer
    python benchmarks/stream_large_corpus.py --size-mb 300 --tokenizer bpe

Writes a synthetic text file (random words in verse-like lines), builds the tokenizer on its
first few MB, streams the whole file through ``write_token_file(iter_corpus_chunks(...))``,
checks the token count against the memory map, and reports tokens, wall time, throughput and
peak RSS (``resource.getrusage``) next to the file size.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import tempfile
import time
from pathlib import Path

from lmlineage.data.corpora import iter_corpus_chunks
from lmlineage.data.tokens import open_token_file, write_token_file
from lmlineage.tokenizers import build_tokenizer

WORDS = (
    "the and to of I you my a that in is not with it for be his your this but he have as thou so "
    "will me what by him all do no shall if are we our on thy lord king good now love more sir "
    "heaven fair death night blood crown hath doth wherefore noble sweet gentle honour grace"
).split()


def make_corpus(path: Path, size_bytes: int, seed: int = 0) -> None:
    """Random lines of words (with some accents), built from a pool of 1 MB blocks so that
    writing runs at disk speed."""
    rng = random.Random(seed)
    words = WORDS + ["café", "naïve", "fiancé", "señor"]
    blocks = []
    for _ in range(16):
        lines, size = [], 0
        while size < 1 << 20:
            line = " ".join(rng.choice(words) for _ in range(rng.randint(4, 10))).capitalize() + rng.choice(",.;:!?")
            lines.append(line)
            size += len(line) + 1
        blocks.append(("\n".join(lines) + "\n").encode("utf-8"))
    written = 0
    with open(path, "wb") as out:
        while written < size_bytes:
            block = blocks[rng.randrange(len(blocks))][: size_bytes - written]
            block = block.decode("utf-8", "ignore").encode("utf-8")  # a cut block may not split a character
            out.write(block)
            written += len(block)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=3000, help="corpus size in MB (default 3000)")
    parser.add_argument("--tokenizer", choices=["char", "bpe"], default="char")
    parser.add_argument("--dir", default=None, help="where to put the corpus and tokens (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the files afterwards")
    args = parser.parse_args()

    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="lmlineage-stream-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus, tokens = work / "corpus.txt", work / "tokens.bin"
    try:
        start = time.perf_counter()
        make_corpus(corpus, args.size_mb * 1_000_000)
        size = corpus.stat().st_size
        print(f"wrote {size / 1e6:,.0f} MB of text in {time.perf_counter() - start:.1f} s")

        with open(corpus, encoding="utf-8") as f:
            sample = f.read(4_000_000)
        tok = build_tokenizer(args.tokenizer, sample, vocab_size=None if args.tokenizer == "char" else 4096)
        rss_before = peak_rss_mb()
        start = time.perf_counter()
        count = write_token_file(iter_corpus_chunks(corpus), tok, tokens, total_bytes=size)
        seconds = time.perf_counter() - start
        assert len(open_token_file(tokens)) == count
        print(f"tokenizer: {tok.kind}, vocab {tok.vocab_size}")
        print(f"tokens: {count:,} in {seconds:.1f} s ({size / 1e6 / seconds:,.1f} MB/s of text)")
        print(
            f"peak RSS: {peak_rss_mb():,.0f} MB "
            f"(before tokenizing: {rss_before:,.0f} MB; file: {size / 1e6:,.0f} MB)"
        )
    finally:
        if not args.keep:
            corpus.unlink(missing_ok=True)
            for path in (tokens, tokens.with_name(tokens.name + ".json")):
                path.unlink(missing_ok=True)
            if not args.dir:
                shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
