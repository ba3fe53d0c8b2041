# Prototype: does a per-patch shape loss on palm-e's vision tower (object-centric supervision from the
# training scenes' masks) let the LM bind colour to the named shape? Validation cut only (palm_e_vqa's).
# A hand-written loop (AdamW betas 0.9/0.95, cosine to 10% after 50 warm-up steps, clipping 1.0), not
# the library's trainer: how --patch-shapes 1.0 was chosen before it was a library option.
#   OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/palm_e_patch_shapes_prototype.py WEIGHT [STEPS]
# (the recorded run inlined the same labelling rule as vision.shapes.patch_shapes, which it now calls).
import json, math, sys, time
from pathlib import Path
import torch
from torch.nn import functional as F
sys.path.insert(0, str(Path(__file__).resolve().parent))
import lmlineage
from palm_e_vqa import validation_split, validating
from lmlineage.vision.images import load_images
from lmlineage.vision.questions import QuestionSplit
from lmlineage.tasks.image_questions import ImageQuestionTask

aux_weight = float(sys.argv[1]); steps = int(sys.argv[2]) if len(sys.argv) > 2 else 800
torch.set_num_threads(1)
images = load_images("shapes:1000")
train_set, val_set = validation_split(images)
with validating(True):
    lmlineage.train("palm-e", data="shapes:1000", steps=1, batch_size=2, out=f"/tmp/palm_e_patch_prototype_{aux_weight}", progress=False, seed=1337)
model = lmlineage.load(f"/tmp/palm_e_patch_prototype_{aux_weight}/last")
torch.manual_seed(1337)
from lmlineage.models import build_model
model = build_model(model.config)
m0 = lmlineage.load(f"/tmp/palm_e_patch_prototype_{aux_weight}/last")
model.tokenizer, model.processor = m0.tokenizer, m0.processor
cfg = model.config
tr = QuestionSplit.build(train_set, model.processor, model.tokenizer, cfg.image_token_id, cfg.image_tokens)
va = QuestionSplit.build(val_set, model.processor, model.tokenizer, cfg.image_token_id, cfg.image_tokens)
P = cfg.vision.image.patch; side = cfg.vision.image.size; g = side // P

from lmlineage.vision.shapes import patch_shapes
labels = torch.stack([torch.from_numpy(patch_shapes(o, side, P)) for o in train_set.objects])
head = torch.nn.Linear(cfg.vision.d_model, 4)
task = ImageQuestionTask(model)
params = list(model.parameters()) + list(head.parameters())
opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=0.1, betas=(0.9, 0.95))
gen = torch.Generator().manual_seed(1337)
warm = 50
t = time.time(); curve = []
for step in range(1, steps + 1):
    lr = 2e-3 * (step / warm if step <= warm else 0.5 * (1 + math.cos(math.pi * (step - warm) / (steps - warm))) * 0.9 + 0.1)
    for gr in opt.param_groups: gr["lr"] = lr
    idx = torch.randint(len(tr), (64,), generator=gen)
    pixels, rows = tr.collate(idx)
    img = torch.tensor([tr.questions[int(i)].image for i in idx])
    model.train()
    states = model.vision(pixels).last_hidden_state
    loss = task.forward((pixels, rows))
    if aux_weight:
        aux = F.cross_entropy(head(states[:, 1:]).flatten(0, 1), labels[img].flatten())
        loss = loss + aux_weight * aux
    opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(params, 1.0); opt.step()
    if step % 200 == 0:
        model.eval(); m = task.evaluate(va.batches(64))
        by = {}
        with torch.no_grad():
            for i0 in range(0, len(va), 64):
                ii = list(range(i0, min(i0 + 64, len(va))))
                px, rr = va.collate(ii)
                lg = model(rr.ids, px).logits
                ok = ((lg.argmax(-1) == rr.targets) | (rr.targets == -100)).all(1)
                for j, o in zip(ii, ok.tolist()):
                    k = va.questions[j].text.split(" the ")[0].split(" in ")[0]
                    by.setdefault(k, []).append(o)
        row = {"step": step, "acc": m["accuracy"], "loss": m["loss"], "by": {k: sum(v) / len(v) for k, v in by.items()}, "s": round(time.time() - t)}
        print(json.dumps(row), flush=True); curve.append(row)
print(json.dumps({"aux_weight": aux_weight, "curve": curve}))
