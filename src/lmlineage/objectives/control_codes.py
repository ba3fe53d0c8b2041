"""Control codes (Keskar et al. 2019, CTRL, section 3): "the control code c" starts each training
sequence, naming the domain its text comes from, so that p(x | c) is learned and a code given at
generation time steers the text ("Wikipedia", "Books", "Reviews", ...; section 3.1, table 7).

Data-side only, parameter-free: ``prefix(source)`` is the text put before every document of a
corpus, made from its source's name (a play's genre, an imdb review's polarity, a file's name); the loss
is the causal LM's, over the codes too, as CTRL trains on them."""

from __future__ import annotations

from .clm import CausalLM


class ControlCodes(CausalLM):
    @staticmethod
    def prefix(source: str) -> str:
        """The code, then a line break: "Comedies\\nTHESEUS: ..."."""
        return f"{source}\n"
