"""Questions about images with answers that can be checked (PaLM-E's visual question answering,
Driess et al. 2023, section 6, scaled to sets that install offline).

Each question holds the image placeholder ``<img>`` where the image's tokens go; the model reads
``question + " "`` and answers with a short text ended by a line break:

- the digits: "what digit is <img>?" -> "7";
- generated scenes (``shapes.py``): "how many shapes are in <img>?" -> "two", and for each kind of
  shape the scene holds once, "what colour is the circle in <img>?" -> "red" (a kind held twice
  would make the question ambiguous, so it is not asked);
- any other labelled set: "what is <img>?" -> its label.

Training may also ask, of the scenes, "what shape is the red one in <img>?" -> "circle" for every
object (``shape_questions``: colours are distinct within a scene, so each has one answer): the
colour question names the shape and asks the colour, this one the other way round, a second task
in the mixture that binds the two (PaLM-E trains on a mixture of tasks, section 5). It supervises
the shapes directly; the held-out questions stay the kinds above.

With ``move_scenes``, each training draw of a scene is flipped left to right at random and moved
by a random offset within its empty margins (the objects kept whole): every answer stays true (the
triangles are upright and symmetric, so a left-right flip keeps every shape), and a model that
learns from a few hundred scenes cannot tie an answer to where the pixels sit.

With ``patch_shapes``, each training batch also carries every patch's shape or background
(``shapes.patch_shapes``, from the scene's masks): a second signal for the image encoder, which
the colour question alone teaches only through the answer (PaLM-E's object-centric inputs are
given the objects, section 4; here the encoder is taught where they are).

The answer ends at ``END``; the question and its answer are parted by one space (``SEPARATOR``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core.errors import UserError
from .images import ImageSet
from .shapes import COLOURS, SHAPES, patch_shapes

IMAGE = "<img>"  # where a question's image goes
SEPARATOR = " "  # between the question and its answer
END = "\n"  # what ends an answer
COUNTS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass(frozen=True)
class Question:
    image: int  # index into the set's images
    text: str  # holds IMAGE once
    answer: str


def questions_about(images: ImageSet, shape_questions: bool = False) -> list[Question]:
    """Every checkable question about every image of the set, in image order; with
    ``shape_questions``, each scene's "what shape is the (colour) one" questions too."""
    if images.objects is not None:  # generated scenes
        return [q for i, objects in enumerate(images.objects) for q in _scene_questions(i, objects, shape_questions)]
    if shape_questions:
        raise UserError(f"{images.source} has no shapes to ask about (shape questions are asked of generated scenes)",
                        "train on --data shapes:N, or leave out --shape-questions")
    images.require_labels("asking questions about the images")
    ask = "what digit is" if images.source == "digits" else "what is"
    return [Question(i, f"{ask} {IMAGE}?", images.label_names[int(label)]) for i, label in enumerate(images.labels)]


def _scene_questions(index: int, objects, shape_questions: bool) -> list[Question]:
    found = [Question(index, f"how many shapes are in {IMAGE}?", COUNTS[len(objects)])]
    kinds = [int(s) for s in objects.shapes]
    for kind, colour in zip(kinds, objects.colours):
        if kinds.count(kind) == 1:
            found.append(Question(index, f"what colour is the {SHAPES[kind]} in {IMAGE}?", list(COLOURS)[int(colour)]))
    if shape_questions:
        found += [Question(index, f"what shape is the {list(COLOURS)[int(colour)]} one in {IMAGE}?", SHAPES[kind])
                  for kind, colour in zip(kinds, objects.colours)]
    return found


def prompt_ids(tokenizer, question: str, image_token_id: int, image_tokens: int, with_image: bool = True) -> list[int]:
    """The ids the model reads before its answer: the question with ``IMAGE`` replaced by
    ``image_tokens`` placeholders (none when ``with_image`` is False: the text-only ablation), then
    the separator. A question without exactly one ``IMAGE`` is refused in one line."""
    if question.count(IMAGE) != 1:
        raise UserError(f"the prompt {question!r} holds {question.count(IMAGE)} {IMAGE} placeholders",
                        f"put {IMAGE} once where the image goes, e.g. \"what digit is {IMAGE}?\"")
    before, after = question.split(IMAGE)
    slots = [image_token_id] * image_tokens if with_image else []
    return _encode(tokenizer, before) + slots + _encode(tokenizer, after + SEPARATOR)


def _encode(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text) if text else []


class TextRows:
    """A batch's token rows: ``ids`` (B, T) the model reads and ``targets`` (B, T), the next token
    at answer positions and -100 elsewhere (the question is read, not predicted); with
    ``patch_shapes``, each row's image's patch labels (B, n_patches)."""

    def __init__(self, ids: torch.Tensor, targets: torch.Tensor, patch_shapes: torch.Tensor | None = None):
        self.ids, self.targets, self.patch_shapes = ids, targets, patch_shapes

    def to(self, device, non_blocking: bool = False) -> "TextRows":
        labels = None if self.patch_shapes is None else self.patch_shapes.to(device, non_blocking=non_blocking)
        return TextRows(self.ids.to(device, non_blocking=non_blocking),
                        self.targets.to(device, non_blocking=non_blocking), labels)

    def __len__(self) -> int:
        return len(self.ids)


class QuestionSplit:
    """Questions about one split's images: each question's image as pixel values and its tokens,
    read and predicted as a causal LM does, right-padded (padding is never a target and comes
    after every real token, so a causal model's real positions never see it)."""

    def __init__(self, pixels: torch.Tensor, rows: list[list[int]], starts: list[int], questions: list[Question],
                 extents: torch.Tensor | None = None, patch_labels: torch.Tensor | None = None):
        self.pixels, self.rows, self.starts, self.questions = pixels, rows, starts, questions
        self.extents = extents  # (N, 4) x0, y0, x1, y1 of all of a scene's objects: training moves the scenes
        self.patch_labels = patch_labels  # (N, n_patches) each image's patch shapes, where training teaches them

    @classmethod
    def build(cls, images: ImageSet, processor, tokenizer, image_token_id: int, image_tokens: int,
              with_image: bool = True, shape_questions: bool = False, move_scenes: bool = False,
              patch: int = 0) -> "QuestionSplit":
        """``patch``: where > 0, every image's labels of its ``patch``-pixel patches (``patch_shapes``)."""
        questions = questions_about(images, shape_questions)
        if not questions:
            raise UserError(f"{images.source} gives no questions to ask", "give a labelled image set or shapes")
        pixels = processor(images.images)
        extents = labels = None
        if move_scenes:
            extents = _extents(images, pixels.shape[-1])
        if patch:
            if move_scenes:
                raise UserError("--patch-shapes and --move-scenes do not go together: a moved scene's patches "
                                "are no longer its masks'", "leave out one of them")
            labels = _patch_labels(images, pixels.shape[-1], patch)
        rows, starts = [], []
        for q in questions:
            prompt = prompt_ids(tokenizer, q.text, image_token_id, image_tokens, with_image)
            rows.append(prompt + tokenizer.encode(q.answer + END))
            starts.append(len(prompt))
        return cls(pixels, rows, starts, questions, extents, labels)

    def __len__(self) -> int:
        return len(self.questions)

    @property
    def longest(self) -> int:
        return max(len(r) for r in self.rows)

    def collate(self, indices) -> tuple[torch.Tensor, TextRows]:
        indices = [int(i) for i in indices]
        width = max(len(self.rows[i]) for i in indices) - 1
        ids = torch.zeros((len(indices), width), dtype=torch.long)
        targets = torch.full((len(indices), width), -100, dtype=torch.long)
        for row, i in enumerate(indices):
            tokens = torch.tensor(self.rows[i], dtype=torch.long)
            ids[row, : len(tokens) - 1] = tokens[:-1]
            start = self.starts[i] - 1  # the position that reads the separator predicts the answer's first token
            targets[row, start : len(tokens) - 1] = tokens[start + 1 :]
        image_of = torch.tensor([self.questions[i].image for i in indices], dtype=torch.long)
        labels = None if self.patch_labels is None else self.patch_labels[image_of]
        return self.pixels[image_of], TextRows(ids, targets, labels)

    def sampler(self, batch_size: int, seed: int = 0, rank: int = 0, world: int = 1):
        """``batch_size`` questions drawn uniformly with replacement per step."""
        from ..data.pairs import RandomPairs

        draws = RandomPairs(self, batch_size, seed, rank, world)
        return draws if self.extents is None else MovedScenes(draws, self.extents, seed)

    def batches(self, batch_size: int, max_batches: int | None = None):
        """Every question once, in order."""
        end = len(self) if max_batches is None else min(len(self), max_batches * batch_size)
        for start in range(0, end, batch_size):
            yield self.collate(range(start, min(start + batch_size, end)))


def _scene_objects(images: ImageSet, side: int, option: str) -> list:
    """The scenes' objects, which ``option`` reads in pixels of the processed ``side``: the scenes
    must be generated ones at that size (a resize would move the objects' edges)."""
    if images.objects is None:
        raise UserError(f"{images.source} has no objects for {option} to read",
                        f"{option} trains on generated scenes: give --data shapes:N, or leave it out")
    if any(o.masks.shape[1:] != (side, side) for o in images.objects):
        raise UserError(f"{option} reads scenes at their own size, but the model reads {side}x{side} images",
                        "give the model the scenes' side (its vision.image.size)")
    return images.objects


def _patch_labels(images: ImageSet, side: int, patch: int) -> torch.Tensor:
    """(N, n_patches) every scene's patch shapes."""
    objects = _scene_objects(images, side, "--patch-shapes")
    return torch.from_numpy(np.stack([patch_shapes(o, side, patch) for o in objects]))


def _extents(images: ImageSet, side: int) -> torch.Tensor:
    """(N, 4) the box around all of each scene's objects, x0, y0, x1, y1 (exclusive), in pixels."""
    boxes = [np.concatenate([o.boxes[:, :2].min(0), o.boxes[:, 2:].max(0)])
             for o in _scene_objects(images, side, "--move-scenes")]
    return torch.tensor(np.array(boxes), dtype=torch.long)


class MovedScenes:
    """Training draws (``RandomPairs``) whose scenes are each flipped left to right with chance 1/2,
    then rolled by a random offset that keeps every object inside the image: only background wraps
    round, so the picture is the same scene moved. Its own seeded generator, saved with the draws'."""

    def __init__(self, draws, extents: torch.Tensor, seed: int):
        self.draws, self.extents = draws, extents
        self.generator = torch.Generator().manual_seed(seed + 1)

    def __iter__(self):
        return self

    def __next__(self):
        indices = self.draws.draw()
        pixels, rows = self.draws.split.collate(indices)
        image_of = torch.tensor([self.draws.split.questions[i].image for i in indices])
        return moved(pixels, self.extents[image_of], self.generator), rows

    def state_dict(self) -> dict:
        return {"draws": self.draws.state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.draws.load_state_dict(state["draws"])
        self.generator.set_state(state["generator"])


def moved(pixels: torch.Tensor, extents: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(B, C, S, S) scenes, each flipped left to right at random and rolled by an offset drawn
    uniformly among those that keep its objects' box ``extents`` (B, 4) inside the image."""
    side = pixels.shape[-1]
    out = pixels.clone()
    for i, (x0, y0, x1, y1) in enumerate(extents.tolist()):
        if bool(torch.rand((), generator=generator) < 0.5):
            out[i] = out[i].flip(-1)
            x0, x1 = side - x1, side - x0
        dx = int(torch.randint(-x0, side - x1 + 1, (), generator=generator))
        dy = int(torch.randint(-y0, side - y1 + 1, (), generator=generator))
        out[i] = out[i].roll((dy, dx), dims=(-2, -1))
    return out


def answer_counts(questions: list[Question]) -> dict[str, int]:
    """How often each answer is right: the floor a guess of the commonest answer reaches."""
    answers, counts = np.unique([q.answer for q in questions], return_counts=True)
    return {str(a): int(c) for a, c in zip(answers, counts)}
