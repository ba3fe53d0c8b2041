"""Classic families share the registry, the CLI, run directories and `eval`."""

from lmlineage.cli import main


def test_ngram_trains_evaluates_and_samples_from_the_cli(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"the cat sat on the mat number {i % 7}" for i in range(400)) + "\n")
    out = tmp_path / "run"
    assert main(["train", "ngram", "--data", str(corpus), "--out", str(out), "--no-progress"]) == 0
    trained = capsys.readouterr().out
    assert "val loss" in trained and (out / "best" / "manifest.json").exists()
    assert main(["eval", str(out), "--data", str(corpus), "--json"]) == 0
    import json

    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["perplexity"] < 5  # a near-deterministic corpus: far below the 12-word vocabulary
    assert main(["generate", str(out), "--prompt", "the", "--seed", "1"]) == 0
    words = capsys.readouterr().out.split()
    assert words and set(words) <= {"the", "cat", "sat", "on", "mat", "number", *map(str, range(7))}
