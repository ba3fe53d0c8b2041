"""A stand-in for nanoGPT's CPU shakespeare_char recipe, to time it beside ours in one run.

nanoGPT itself is not installable here (no network, not on PyPI), so this module restates its
recipe from the published configuration (README "I only have a macbook" command and
config/train_shakespeare_char.py) — written for this benchmark, not copied:

- model: GPT with learned positions, pre-LN blocks, LayerNorm and Linear WITHOUT biases (train.py's
  default ``bias=False``), exact GELU, fused c_attn, causal SDPA, tied output embedding; init
  N(0, 0.02), residual projections N(0, 0.02/sqrt(2 L));
- loop: ``max_iters=2000`` (the loop runs iterations 0..2000 inclusive), batch 12, block 64,
  AdamW (torch's default implementation on CPU; decay on >=2-D tensors only) lr 1e-3, betas
  (0.9, 0.99), weight decay 0.1, linear warmup 100 iters as lr*(it+1)/(warmup+1), cosine to 1e-4
  at 2000, grad clip 1.0; batches drawn by re-opening the uint16 memmap each call;
- evaluation every 250 iters (from iter 0) of ``eval_iters=20`` batches on train and val, writing a
  checkpoint when val improves (here as safetensors: no pickles in this project) (after iter 0); ``loss.item()`` logged every iteration.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from safetensors.torch import load_model, save_model
from torch.nn import functional as F


class _Block(nn.Module):
    def __init__(self, d: int, heads: int, layers: int, dropout: float = 0.0):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.ln_1 = nn.LayerNorm(d, bias=False)
        self.c_attn = nn.Linear(d, 3 * d, bias=False)
        self.attn_proj = nn.Linear(d, d, bias=False)
        self.ln_2 = nn.LayerNorm(d, bias=False)
        self.c_fc = nn.Linear(d, 4 * d, bias=False)
        self.mlp_proj = nn.Linear(4 * d, d, bias=False)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=p).transpose(1, 2).reshape(b, t, d)
        x = x + F.dropout(self.attn_proj(y), p, self.training)
        return x + F.dropout(self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)))), p, self.training)


class RecipeGPT(nn.Module):
    def __init__(self, vocab: int, block: int = 64, d: int = 128, heads: int = 4, layers: int = 4, dropout: float = 0.0):
        super().__init__()
        self.dropout = dropout
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(block, d)
        self.blocks = nn.ModuleList(_Block(d, heads, layers, dropout) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d, bias=False)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.wte.weight = self.lm_head.weight
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx, targets):
        x = F.dropout(self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device)), self.dropout, self.training)
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


# The two published recipes: the README's CPU ("I only have a macbook") command line, and
# config/train_shakespeare_char.py as it runs on a GPU (compiled, bf16 autocast, fused AdamW).
CPU = dict(block=64, batch=12, layers=4, heads=4, d=128, dropout=0.0, iters=2000, eval_iters=20, log_interval=1,
           device="cpu", compile=False)
GPU = dict(block=256, batch=64, layers=6, heads=6, d=384, dropout=0.2, iters=5000, eval_iters=200, log_interval=10,
           device="cuda", compile=True)


def run(text_path: Path, work: Path, iters: int | None = None, seed: int = 1337,
        recipe: dict = CPU) -> tuple[float, float, float]:
    """The recipe end to end (data prep and compilation included); returns (val loss of its best
    checkpoint, wall s, val loss of the final model), both over the whole val split. The
    whole-split evaluations are outside the timed span (nanoGPT reports 200- or 20-batch
    estimates, and keeps the checkpoint with the best estimate)."""
    r = {**recipe, "iters": iters or recipe["iters"]}
    device = torch.device(r["device"])
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    text = text_path.read_text()
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = np.array([index[c] for c in text], dtype=np.uint16)
    cut = int(0.9 * len(ids))
    work.mkdir(parents=True, exist_ok=True)
    ids[:cut].tofile(work / "train.bin")
    ids[cut:].tofile(work / "val.bin")
    block, batch, total = r["block"], r["batch"], r["iters"]
    cuda = device.type == "cuda"
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda)

    def get_batch(split):
        data = np.memmap(work / f"{split}.bin", dtype=np.uint16, mode="r")
        ix = torch.randint(len(data) - block, (batch,))
        x = torch.stack([torch.from_numpy(data[i:i + block].astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy(data[i + 1:i + 1 + block].astype(np.int64)) for i in ix])
        if cuda:
            return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
        return x, y

    with torch.device(device):
        model = RecipeGPT(len(chars), block=block, d=r["d"], heads=r["heads"], layers=r["layers"], dropout=r["dropout"])
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99), fused=cuda)
    step_model = torch.compile(model) if r["compile"] else model

    def lr_at(it):
        if it < 100:
            return 1e-3 * (it + 1) / 101
        ratio = (it - 100) / (total - 100)
        return 1e-4 + 0.5 * (1.0 + math.cos(math.pi * min(ratio, 1.0))) * (1e-3 - 1e-4)

    best, best_checkpoint = float("inf"), None
    x, y = get_batch("train")
    for it in range(total + 1):
        for group in opt.param_groups:
            group["lr"] = lr_at(it)
        if it % 250 == 0:
            model.eval()
            with torch.no_grad(), autocast:
                val = float(np.mean([step_model(*get_batch("val")).item() for _ in range(r["eval_iters"])]))
                [step_model(*get_batch("train")).item() for _ in range(r["eval_iters"])]  # the recipe estimates both
            model.train()
            if val < best and it > 0:
                best, best_checkpoint = val, it
                save_model(model, str(work / "ckpt.safetensors"))  # the recipe saves on improvement
        with autocast:
            loss = step_model(x, y)
        x, y = get_batch("train")  # the next batch loads while the GPU works
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if it % r["log_interval"] == 0:
            loss.item()  # the recipe logs (a host sync) every log_interval iterations
    if cuda:
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    final = _whole_split_loss(model, ids[cut:], block, device, autocast)
    if best_checkpoint is not None:  # what the recipe leaves behind is its best checkpoint
        load_model(model, str(work / "ckpt.safetensors"))
        return _whole_split_loss(model, ids[cut:], block, device, autocast), wall, final
    return final, wall, final


def _whole_split_loss(model, val, block, device, autocast) -> float:
    model.eval()
    val_ids = torch.from_numpy(val.astype(np.int64))
    total_nats, count = 0.0, 0
    with torch.no_grad(), autocast:
        windows = (len(val_ids) - 1) // block
        for start in range(0, windows, 64):
            rows = range(start, min(start + 64, windows))
            x = torch.stack([val_ids[r * block:(r + 1) * block] for r in rows]).to(device)
            y = torch.stack([val_ids[r * block + 1:(r + 1) * block + 1] for r in rows]).to(device)
            total_nats += float(model(x, y)) * y.numel()
            count += y.numel()
    return total_nats / count
