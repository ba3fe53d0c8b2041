"""ViT settings tried on a validation part of the digits' training images (the held-out 20% that
`train` and `eval` use is never read): 20% of the 1,438 training images (seed 1) scored, the rest
trained on, by the trainer's recipe written out (AdamW, warmup + cosine to lr/10, clip 1), with
what the task does not have: label smoothing (ls) and random shifts of up to s pixels, the edge
filled with the background. One JSON line per setting given:

    python benchmarks/vit_digits_sweep.py '{"steps":600}' '{"steps":600,"ls":0.1}' '{"steps":1500,"s":1}'
"""
import json, math, sys, time
import torch
from torch.nn import functional as F
torch.set_num_threads(1)
import lmlineage
from lmlineage.vision.batches import held_out_split, ImageSplit
from lmlineage.vision.images import load_images
from lmlineage.vision.processor import ImageProcessor
from lmlineage.train.trainer import parameter_groups

train_set, _ = held_out_split(load_images("digits"))
fit_set, val_set = train_set.split(0.2, 1)
proc = ImageProcessor.vit(8, 8, 1)
fit, val = ImageSplit.process(fit_set, proc), ImageSplit.process(val_set, proc)

def shift(pixels, s, g):
    if s == 0: return pixels
    b = pixels.shape[0]
    pad = F.pad(pixels, (s, s, s, s), value=float(pixels.min()))
    dy = torch.randint(0, 2 * s + 1, (b,), generator=g); dx = torch.randint(0, 2 * s + 1, (b,), generator=g)
    return torch.stack([pad[i, :, dy[i]:dy[i] + 8, dx[i]:dx[i] + 8] for i in range(b)])

def run(steps=600, lr=2e-3, warmup=50, bs=64, ls=0.0, s=0, patch=2, wd=0.1, seed=1337, dropout=0.0, d=64, pooling=None, layers=4):
    torch.manual_seed(seed)
    cfg = lmlineage.core.registry.get_family("vit").config("tiny", image=dict(size=8, patch=patch, channels=1),
        labels=[str(i) for i in range(10)], max_positions=(8 // patch) ** 2 + 1, dropout=dropout, d_model=d, mlp=dict(d_ff=2 * d), pooling=pooling, n_layer=layers)
    from lmlineage.models import build_model
    model = build_model(cfg)
    opt = torch.optim.AdamW(parameter_groups(model, wd), lr=lr, betas=(0.9, 0.99))
    g = torch.Generator().manual_seed(seed)
    t0 = time.time()
    for step in range(steps):
        cur = lr * (step + 1) / warmup if step < warmup else lr / 10 + 0.5 * (lr - lr / 10) * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))
        for gr in opt.param_groups: gr["lr"] = cur
        idx = torch.randint(len(fit), (bs,), generator=g)
        x, y = fit.collate(idx.tolist())
        x = shift(x, s, g)
        model.train()
        loss = F.cross_entropy(model(x).task_logits.float(), y, label_smoothing=ls)
        loss.backward(); torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step(); opt.zero_grad()
    model.eval()
    with torch.no_grad():
        acc = float((model(val.pixels).task_logits.argmax(-1) == val.labels).float().mean())
    return acc, time.time() - t0

configs = [json.loads(a) for a in sys.argv[1:]]
for c in configs:
    acc, sec = run(**c)
    print(json.dumps({**c, "val_acc": acc, "seconds": round(sec)}), flush=True)
