"""Position-wise feed-forward layers: the two-layer MLP and the gated GLU variants."""

import torch
from torch import nn
from torch.nn import functional as F

ACTIVATIONS = {
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),  # GPT-2's "gelu_new"
    "relu": F.relu,
    "silu": F.silu,
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),  # OpenAI CLIP's sigmoid approximation of GELU
}


class MLP(nn.Module):
    """``fc_out(act(fc_in(x)))`` (Vaswani et al. 2017, section 3.3)."""

    def __init__(self, dim: int, hidden: int, activation: str, bias: bool = True):
        super().__init__()
        self.fc_in = nn.Linear(dim, hidden, bias=bias)
        self.fc_out = nn.Linear(hidden, dim, bias=bias)
        self.act = ACTIVATIONS[activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_out(self.act(self.fc_in(x)))


class GLU(nn.Module):
    """``fc_out(act(fc_gate(x)) * fc_in(x))``: SwiGLU with silu, GeGLU with gelu (Shazeer 2020)."""

    def __init__(self, dim: int, hidden: int, activation: str, bias: bool = False):
        super().__init__()
        self.fc_gate = nn.Linear(dim, hidden, bias=bias)
        self.fc_in = nn.Linear(dim, hidden, bias=bias)
        self.fc_out = nn.Linear(hidden, dim, bias=bias)
        self.act = ACTIVATIONS[activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_out(self.act(self.fc_gate(x)) * self.fc_in(x))


def make_mlp(kind: str, dim: int, hidden: int, activation: str, bias: bool) -> nn.Module:
    return GLU(dim, hidden, activation, bias) if kind == "glu" else MLP(dim, hidden, activation, bias)


class DeepMLP(nn.Module):
    """``depth`` linear layers with ``activation`` between them (none after the last): SAM's IoU
    head and the hypernetworks that turn its mask tokens into mask weights."""

    def __init__(self, dim: int, hidden: int, out: int, depth: int, activation: str = "relu"):
        super().__init__()
        self.proj_in = nn.Linear(dim, hidden)
        self.hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth - 2))
        self.proj_out = nn.Linear(hidden, out)
        self.act = ACTIVATIONS[activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.proj_in(x))
        for layer in self.hidden:
            x = self.act(layer(x))
        return self.proj_out(x)
