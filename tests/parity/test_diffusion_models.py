"""Our U-Net and KL autoencoder against `diffusers`' UNet2DConditionModel and AutoencoderKL on tiny
random configs: the reference saved with save_pretrained, loaded by our production loader
(declarative rules), every down, middle and up block's output and the final output within 1e-5
(with a padded text); ours exported in diffusers' format loads there with strict keys and gives
the same output."""

import pytest
import torch
from safetensors.torch import load_file

diffusers = pytest.importorskip("diffusers")

from lmlineage.blocks.autoencoder import AutoencoderKL  # noqa: E402
from lmlineage.blocks.unet import UNet  # noqa: E402
from lmlineage.core.diffusion import AutoencoderSpec, UNetSpec  # noqa: E402
from lmlineage.interop import diffusers as interop  # noqa: E402

UNETS = {
    "two-levels": dict(block_out_channels=(16, 32), layers_per_block=2, attention_head_dim=4, norm_num_groups=8,
                       down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                       up_block_types=("UpBlock2D", "CrossAttnUpBlock2D")),
    "three-levels": dict(block_out_channels=(8, 16, 16), layers_per_block=1, attention_head_dim=2, norm_num_groups=4,
                         transformer_layers_per_block=2, class_embed_type="projection",
                         projection_class_embeddings_input_dim=6,
                         down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                         up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D")),
}


def perturbed(module):
    """Zero biases and unit norms moved off their defaults, so a swap or a missed tensor shows."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return module.eval()


def block_outputs(model, names, outputs=None):
    """Forward hooks collecting each named child's output (a block's hidden states) into ``outputs``."""
    outputs = [] if outputs is None else outputs

    def keep(module, args, output):
        outputs.append(output[0] if isinstance(output, tuple) else output)

    for name in names:
        for block in (getattr(model, name) if isinstance(getattr(model, name), torch.nn.ModuleList)
                      else [getattr(model, name)]):
            block.register_forward_hook(keep)
    return outputs


@pytest.fixture(params=list(UNETS))
def unet_pair(request, tmp_path):
    ref = perturbed(diffusers.UNet2DConditionModel(sample_size=8, in_channels=3, out_channels=2,
                                                   cross_attention_dim=24, **UNETS[request.param]))
    ref.save_pretrained(tmp_path / "ref")
    return ref, interop.load_unet(tmp_path / "ref").eval()


def unet_inputs():
    g = torch.Generator().manual_seed(1)
    x, text = torch.randn(3, 3, 8, 8, generator=g), torch.randn(3, 5, 24, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])
    return x, torch.tensor([0, 17, 999]), text, mask


def test_unet_every_block_matches(unet_pair):
    ref, ours = unet_pair
    x, t, text, mask = unet_inputs()
    pooled = torch.randn(3, 6) if ours.class_embedding is not None else None  # GLIDE's caption in place of a class
    theirs_blocks = block_outputs(ref, ["down_blocks", "mid_block", "up_blocks"])
    mine_blocks = []
    with torch.no_grad():
        theirs = ref(x, t, encoder_hidden_states=text, encoder_attention_mask=mask, class_labels=pooled).sample
        mine = ours(x, t, text, mask, block_outputs=mine_blocks, pooled=pooled)
    assert len(mine_blocks) == len(theirs_blocks) == 2 * len(ref.down_blocks) + 1
    for a, b in zip(mine_blocks, theirs_blocks):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-5)
    with torch.no_grad():  # the mask matters: padding read as text would change the output
        assert (ours(x, t, text, pooled=pooled) - mine).abs().max() > 1e-3


def test_unet_export_loads_strictly_in_diffusers(tmp_path):
    spec = UNetSpec(channels=[16, 32], attention=[True, True], layers_per_block=1, heads=4, groups=8, class_dim=5)
    ours = perturbed(UNet(spec, 3, 3, 24))
    out = interop.save(ours, tmp_path / "unet", interop.unet_config(spec, 3, 3, 24, 8))
    config = diffusers.UNet2DConditionModel.load_config(out)
    theirs = diffusers.UNet2DConditionModel.from_config(config).eval()
    theirs.load_state_dict(load_file(str(out / interop.WEIGHTS)), strict=True)
    loaded = diffusers.UNet2DConditionModel.from_pretrained(out).eval()
    x, t, text, mask = unet_inputs()
    pooled = torch.randn(3, 5)
    with torch.no_grad():
        mine = ours(x, t, text, mask, pooled=pooled)
        for model in (theirs, loaded):
            torch.testing.assert_close(model(x, t, encoder_hidden_states=text, encoder_attention_mask=mask,
                                             class_labels=pooled).sample,
                                       mine, rtol=0, atol=1e-5)


AUTOENCODERS = {
    "two-levels": dict(block_out_channels=(8, 16), layers_per_block=1, latent_channels=2, norm_num_groups=4),
    "three-levels": dict(block_out_channels=(8, 16, 16), layers_per_block=2, latent_channels=3, norm_num_groups=8),
}


@pytest.mark.parametrize("name", list(AUTOENCODERS))
def test_autoencoder_every_block_matches(name, tmp_path):
    n = len(AUTOENCODERS[name]["block_out_channels"])
    ref = perturbed(diffusers.AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * n,
                                            up_block_types=("UpDecoderBlock2D",) * n, **AUTOENCODERS[name]))
    ref.save_pretrained(tmp_path / "ref")
    ours = interop.load_autoencoder(tmp_path / "ref").eval()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    theirs_blocks = block_outputs(ref.encoder, ["down_blocks", "mid_block"])
    block_outputs(ref.decoder, ["mid_block", "up_blocks"], theirs_blocks)
    mine_encoder, mine_decoder = [], []
    with torch.no_grad():
        theirs_posterior = ref.encode(x).latent_dist
        theirs = ref.decode(theirs_posterior.mean).sample
        moments = ours.quant_conv(ours.encoder(x, block_outputs=mine_encoder))
        mine = ours.decoder(ours.post_quant_conv(ours.encode(x).mean), block_outputs=mine_decoder)
    assert len(mine_encoder + mine_decoder) == len(theirs_blocks) == 2 * n + 2
    for a, b in zip(mine_encoder + mine_decoder, theirs_blocks):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    posterior = ours.encode(x)
    torch.testing.assert_close(moments, torch.cat([theirs_posterior.mean, theirs_posterior.logvar], 1), rtol=0, atol=1e-5)
    torch.testing.assert_close(posterior.kl(), theirs_posterior.kl(), rtol=0, atol=1e-4)
    torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-5)


def test_autoencoder_export_loads_strictly_in_diffusers(tmp_path):
    spec = AutoencoderSpec(channels=[8, 16], layers_per_block=1, latent_channels=2, groups=4)
    ours = perturbed(AutoencoderKL(spec, 1))
    out = interop.save(ours, tmp_path / "vae", interop.autoencoder_config(spec, 1, 16, 0.5))
    theirs = diffusers.AutoencoderKL.from_config(diffusers.AutoencoderKL.load_config(out)).eval()
    theirs.load_state_dict(load_file(str(out / interop.WEIGHTS)), strict=True)
    x = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        z = ours.encode(x).mean
        torch.testing.assert_close(theirs.encode(x).latent_dist.mean, z, rtol=0, atol=1e-5)
        torch.testing.assert_close(theirs.decode(z).sample, ours.decode(z), rtol=0, atol=1e-5)
    assert theirs.config.scaling_factor == 0.5
