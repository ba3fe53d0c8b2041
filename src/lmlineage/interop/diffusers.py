"""Our U-Net and KL autoencoder in and out of `diffusers`' directory format (``config.json`` with
``_class_name`` + ``diffusion_pytorch_model.safetensors``): ``UNet2DConditionModel`` and
``AutoencoderKL``.

The weight rules are declared once and used both ways (``rules.load_state`` / ``export_state``):
our parameter names are diffusers' wherever the layers are the same, so most tensors keep their
name; the pieces that are the shared blocks differ by a small table per pixel-Transformer block
(q, k, v fused into one projection; the GeGLU's fused projection split into gate and input) and
per autoencoder attention.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from safetensors.torch import save_file

from ..checkpoint.directory import atomic_directory
from ..checkpoint.files import read_json, read_safetensors, refuse_pickles
from ..core.diffusion import AutoencoderSpec, UNetSpec
from ..core.errors import UserError
from .rules import Fuse, Rename, Split, export_state, load_state

WEIGHTS = "diffusion_pytorch_model.safetensors"
NO_TEMPLATES = SimpleNamespace(n_layer=0, moe=SimpleNamespace(n_experts=0))  # the rules below are concrete


def _both(ours: str, theirs: str) -> list:
    return [Rename(f"{ours}.weight", f"{theirs}.weight"), Rename(f"{ours}.bias", f"{theirs}.bias")]


def transformer_block_rules(p: str) -> list:
    """One shared pre-LN Block with cross-attention (ours) <-> one BasicTransformerBlock."""
    return [
        *_both(f"{p}attn_norm", f"{p}norm1"),
        Fuse(f"{p}attn.qkv.weight", tuple(f"{p}attn1.to_{n}.weight" for n in "qkv")),
        *_both(f"{p}attn.out", f"{p}attn1.to_out.0"),
        *_both(f"{p}cross_norm", f"{p}norm2"),
        Rename(f"{p}cross_attn.q.weight", f"{p}attn2.to_q.weight"),
        Fuse(f"{p}cross_attn.kv.weight", (f"{p}attn2.to_k.weight", f"{p}attn2.to_v.weight")),
        *_both(f"{p}cross_attn.out", f"{p}attn2.to_out.0"),
        *_both(f"{p}mlp_norm", f"{p}norm3"),
        Split((f"{p}mlp.fc_in.weight", f"{p}mlp.fc_gate.weight"), f"{p}ff.net.0.proj.weight"),
        Split((f"{p}mlp.fc_in.bias", f"{p}mlp.fc_gate.bias"), f"{p}ff.net.0.proj.bias"),
        *_both(f"{p}mlp.fc_out", f"{p}ff.net.2"),
    ]


def pixel_attention_rules(p: str) -> list:
    """Our PixelAttention (the shared attention, one head) <-> the autoencoder's Attention."""
    return [
        Fuse(f"{p}attn.qkv.weight", tuple(f"{p}to_{n}.weight" for n in "qkv")),
        Fuse(f"{p}attn.qkv.bias", tuple(f"{p}to_{n}.bias" for n in "qkv")),
        *_both(f"{p}attn.out", f"{p}to_out.0"),
    ]


def rules_for(state: dict) -> list:
    """Every tensor of our U-Net or autoencoder ``state``: a table per shared block, the rest by name."""
    rules, covered = [], set()
    for name in state:
        for marker, make in ((".transformer_blocks.", transformer_block_rules), (".attentions.0.attn.", None)):
            if marker not in name:
                continue
            if make is None:  # the autoencoder's middle attention
                prefix = name[:name.index(marker)] + ".attentions.0."
                make = pixel_attention_rules
            else:
                i = name.index(marker) + len(marker)
                prefix = name[:i] + name[i:].split(".", 1)[0] + "."
            if prefix not in covered:
                covered.add(prefix)
                rules += make(prefix)
            break
        else:
            rules.append(Rename(name, name))
    return rules


# ---- configs ----------------------------------------------------------------------------------
def unet_config(spec: UNetSpec, in_channels: int, out_channels: int, text_dim: int, sample_size: int) -> dict:
    return {"_class_name": "UNet2DConditionModel", "sample_size": sample_size, "in_channels": in_channels,
            "out_channels": out_channels,
            "down_block_types": ["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in spec.attention],
            "up_block_types": ["CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(spec.attention)],
            "mid_block_type": "UNetMidBlock2DCrossAttn", "block_out_channels": list(spec.channels),
            "layers_per_block": spec.layers_per_block, "cross_attention_dim": text_dim,
            "attention_head_dim": spec.heads, "norm_num_groups": spec.groups, "norm_eps": spec.eps,
            "transformer_layers_per_block": spec.transformer_layers, "act_fn": "silu", "flip_sin_to_cos": True,
            "freq_shift": 0, "center_input_sample": False,
            **({} if spec.class_dim is None else {"class_embed_type": "projection",
                                                  "projection_class_embeddings_input_dim": spec.class_dim})}


def autoencoder_config(spec: AutoencoderSpec, channels: int, sample_size: int, scaling_factor: float) -> dict:
    n = len(spec.channels)
    return {"_class_name": "AutoencoderKL", "in_channels": channels, "out_channels": channels,
            "down_block_types": ["DownEncoderBlock2D"] * n, "up_block_types": ["UpDecoderBlock2D"] * n,
            "block_out_channels": list(spec.channels), "layers_per_block": spec.layers_per_block,
            "latent_channels": spec.latent_channels, "norm_num_groups": spec.groups, "sample_size": sample_size,
            "scaling_factor": scaling_factor, "act_fn": "silu"}


# Their settings ours has no place for, with the only value we build: anything else is refused.
UNET_FIXED = {"act_fn": "silu", "flip_sin_to_cos": True, "freq_shift": 0, "center_input_sample": False,
              "mid_block_type": "UNetMidBlock2DCrossAttn", "use_linear_projection": False,
              "only_cross_attention": False, "upcast_attention": False, "resnet_time_scale_shift": "default",
              "addition_embed_type": None, "encoder_hid_dim": None,
              "time_embedding_type": "positional", "conv_in_kernel": 3, "conv_out_kernel": 3,
              "dual_cross_attention": False, "num_attention_heads": None, "mid_block_only_cross_attention": None}


def unet_spec_from(config: dict, where: str) -> tuple[UNetSpec, dict]:
    """(our spec, {in_channels, out_channels, text_dim, sample_size}) of a diffusers U-Net config."""
    for key, value in UNET_FIXED.items():
        if config.get(key, value) != value:
            raise UserError(f"{where}: {key}={config[key]!r} is not supported", f"only {key}={value!r} is")
    down = config["down_block_types"]
    kinds = {"CrossAttnDownBlock2D": True, "DownBlock2D": False}
    if any(d not in kinds for d in down):
        raise UserError(f"{where}: down_block_types={down} holds a block this U-Net has not")
    if config.get("class_embed_type") not in (None, "projection"):
        raise UserError(f"{where}: class_embed_type={config['class_embed_type']!r} is not supported",
                        "only none or projection is")
    heads = config["attention_head_dim"]
    layers = config.get("transformer_layers_per_block", 1)
    if not isinstance(heads, int) or not isinstance(layers, int):
        raise UserError(f"{where}: per-level attention_head_dim or transformer_layers_per_block is not supported")
    spec = UNetSpec(channels=list(config["block_out_channels"]), attention=[kinds[d] for d in down],
                    layers_per_block=config["layers_per_block"], heads=heads,
                    groups=config.get("norm_num_groups", 32), eps=config.get("norm_eps", 1e-5),
                    transformer_layers=layers,
                    class_dim=config.get("projection_class_embeddings_input_dim") if config.get("class_embed_type") else None)
    return spec, {"in_channels": config["in_channels"], "out_channels": config["out_channels"],
                  "text_dim": config["cross_attention_dim"], "sample_size": config.get("sample_size")}


def autoencoder_spec_from(config: dict, where: str) -> tuple[AutoencoderSpec, dict]:
    for key, value in {"act_fn": "silu", "use_quant_conv": True, "use_post_quant_conv": True,
                       "mid_block_add_attention": True, "force_upcast": config.get("force_upcast")}.items():
        if config.get(key, value) != value:
            raise UserError(f"{where}: {key}={config[key]!r} is not supported", f"only {key}={value!r} is")
    spec = AutoencoderSpec(channels=list(config["block_out_channels"]), layers_per_block=config["layers_per_block"],
                           latent_channels=config["latent_channels"], groups=config.get("norm_num_groups", 32))
    return spec, {"channels": config["in_channels"], "sample_size": config.get("sample_size"),
                  "scaling_factor": config.get("scaling_factor", 0.18215)}


# ---- weights ----------------------------------------------------------------------------------
def load_weights(module, directory, where: str | None = None) -> None:
    """Fill ``module`` (our U-Net or autoencoder) from a diffusers directory's weights."""
    directory = Path(directory)
    refuse_pickles(directory)
    file = directory / WEIGHTS
    if not file.is_file():
        raise UserError(f"{directory} holds no {WEIGHTS}", "give a diffusers model directory (save_pretrained)")
    target = module.state_dict()
    state = load_state(rules_for(target), read_safetensors(file), target, NO_TEMPLATES, where or str(directory))
    module.load_state_dict(state, strict=True)


def read_config(directory, class_name: str) -> dict:
    config = read_json(Path(directory) / "config.json")
    if config.get("_class_name") != class_name:
        raise UserError(f"{directory}/config.json describes a {config.get('_class_name')!r}, not a {class_name}")
    return config


def save(module, directory, config: dict) -> Path:
    """Write ``module`` with diffusers' names and ``config`` as a directory diffusers loads."""
    directory = Path(directory)
    with atomic_directory(directory) as tmp:
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        state = export_state(rules_for(module.state_dict()), module.state_dict(), NO_TEMPLATES)
        save_file(state, str(tmp / WEIGHTS), metadata={"format": "pt"})
    return directory


def load_unet(directory):
    """A diffusers ``UNet2DConditionModel`` directory as our U-Net."""
    from ..blocks.unet import UNet

    where = f"{directory}/config.json"
    spec, shape = unet_spec_from(read_config(directory, "UNet2DConditionModel"), where)
    unet = UNet(spec, shape["in_channels"], shape["out_channels"], shape["text_dim"])
    load_weights(unet, directory)
    return unet


def load_autoencoder(directory):
    """A diffusers ``AutoencoderKL`` directory as our autoencoder."""
    from ..blocks.autoencoder import AutoencoderKL

    spec, shape = autoencoder_spec_from(read_config(directory, "AutoencoderKL"), f"{directory}/config.json")
    autoencoder = AutoencoderKL(spec, shape["channels"])
    load_weights(autoencoder, directory)
    return autoencoder
