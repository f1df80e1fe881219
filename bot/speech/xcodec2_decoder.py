"""XCodec2's decode path (codes → waveform) in plain torch, built from a checkpoint's own keys.

Covers the original 16 kHz model (HKUSTAudio/xcodec2, xcodec2 0.1.5) and the 44.1 kHz fine-tune
(Anime-XCodec2-44.1kHz, xcodec2 0.1.6): quantizer.project_out → fc_post_a → Vocos backbone →
[upsampler] → ISTFT head. Every size is read from the tensors, so nothing assumes 1024/12/16.
The equality test against the xcodec2 package (tests/test_codec.py) is what makes this trusted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# FSQ levels of XCodec2's ResidualFSQ: eight digits in base 4 → 65,536 codes, one quantizer.
FSQ_LEVEL = 4
CODES_PER_SECOND = 50
# Group count of every GroupNorm in the ResNet blocks (a constant of the code, not of the weights).
GROUP_NORM_GROUPS = 32
# Head size of the released models (1024 / 16); used when the config names no head count.
DEFAULT_HEAD_DIM = 64
_HEAD_COUNT_KEYS = ("heads", "num_heads", "n_heads", "decoder_heads", "codec_decoder_heads")


@dataclass(frozen=True)
class DecoderShape:
    """Sizes of one decoder, all read from a checkpoint (and its config for what weights lack)."""

    hidden: int
    vq_dim: int
    fsq_digits: int
    depth: int
    heads: int
    prior_blocks: int
    post_blocks: int
    hop: int
    upsample_factors: tuple[int, ...]
    upsample_kernels: tuple[int, ...]
    sample_rate: int

    @property
    def samples_per_code(self) -> int:
        return self.hop * math.prod(self.upsample_factors)

    @property
    def codebook_size(self) -> int:
        return FSQ_LEVEL**self.fsq_digits


# --------------------------------------------------------------------------- building blocks


def _swish(x: Tensor) -> Tensor:
    return x * torch.sigmoid(x)


class FP32GroupNorm(nn.GroupNorm):
    """GroupNorm computed in fp32 whatever the activations' dtype (fp16 statistics overflow)."""

    def forward(self, x: Tensor) -> Tensor:
        w = None if self.weight is None else self.weight.float()
        b = None if self.bias is None else self.bias.float()
        return F.group_norm(x.float(), self.num_groups, w, b, self.eps).to(x.dtype)


class FP32LayerNorm(nn.LayerNorm):
    """LayerNorm computed in fp32, as the seed keeps its LayerNorms in fp32 under fp16."""

    def forward(self, x: Tensor) -> Tensor:
        w = None if self.weight is None else self.weight.float()
        b = None if self.bias is None else self.bias.float()
        return F.layer_norm(x.float(), self.normalized_shape, w, b, self.eps).to(x.dtype)


class RMSNorm(nn.Module):
    """The package's RMSNorm (eps 1e-6, learnt scale), computed in fp32."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()
        out = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight.float()
        return out.to(x.dtype)


class ResnetBlock(nn.Module):
    """GroupNorm → swish → conv3 → GroupNorm → swish → conv3, plus the input (no time input)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm1 = FP32GroupNorm(GROUP_NORM_GROUPS, channels, eps=1e-6)
        self.conv1 = nn.Conv1d(channels, channels, kernel_size=3, padding=1)
        self.norm2 = FP32GroupNorm(GROUP_NORM_GROUPS, channels, eps=1e-6)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(_swish(self.norm1(x)))
        h = self.conv2(_swish(self.norm2(h)))
        return x + h


def head_index_rope(heads: int, head_dim: int, base: float = 10_000.0) -> tuple[Tensor, Tensor]:
    """cos/sin tables of torchtune's RoPE as XCodec2 applies it: positions are HEAD indices.

    The package feeds (b, h, t, d) tensors to torchtune, which reads dim 1 as the sequence, so
    head h is rotated by angle h·θ at every time step. Returned shapes: (heads, 1, head_dim // 2).
    """
    theta = 1.0 / (base ** (torch.arange(0, head_dim, 2)[: head_dim // 2].float() / head_dim))
    angles = torch.einsum("i, j -> ij", torch.arange(heads, dtype=theta.dtype), theta).float()
    return torch.cos(angles)[:, None, :], torch.sin(angles)[:, None, :]


def _apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate interleaved pairs (x0, x1) of x (b, h, t, d) in fp32, like torchtune."""
    pairs = x.float().reshape(*x.shape[:-1], -1, 2)
    x0, x1 = pairs[..., 0], pairs[..., 1]
    rotated = torch.stack([x0 * cos - x1 * sin, x1 * cos + x0 * sin], dim=-1)
    return rotated.flatten(3).type_as(x)


class Attention(nn.Module):
    """Non-causal multi-head self-attention over the whole code sequence."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(dim, 3 * dim, bias=False)
        self.c_proj = nn.Linear(dim, dim, bias=False)
        cos, sin = head_index_rope(heads, dim // heads)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        b, t, c = x.shape
        qkv = self.c_attn(x).view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q = _apply_rope(qkv[0], self.rope_cos, self.rope_sin)
        k = _apply_rope(qkv[1], self.rope_cos, self.rope_sin)
        y = F.scaled_dot_product_attention(q, k, qkv[2], is_causal=False)
        return self.c_proj(y.transpose(1, 2).reshape(b, t, c))


class MLP(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim, bias=False)
        self.fc2 = nn.Linear(4 * dim, dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.silu(self.fc1(x)))


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.att_norm = RMSNorm(dim)
        self.ffn_norm = RMSNorm(dim)
        self.att = Attention(dim, heads)
        self.mlp = MLP(dim)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.att(self.att_norm(x))
        return x + self.mlp(self.ffn_norm(x))


class VocosBackbone(nn.Module):
    """embed conv → ResNet blocks → transformer blocks → ResNet blocks → LayerNorm."""

    def __init__(self, shape: DecoderShape) -> None:
        super().__init__()
        dim = shape.hidden
        self.embed = nn.Conv1d(dim, dim, kernel_size=7, padding=3)
        self.prior_net = nn.Sequential(*(ResnetBlock(dim) for _ in range(shape.prior_blocks)))
        self.transformers = nn.Sequential(
            *(TransformerBlock(dim, shape.heads) for _ in range(shape.depth))
        )
        self.post_net = nn.Sequential(*(ResnetBlock(dim) for _ in range(shape.post_blocks)))
        self.final_layer_norm = FP32LayerNorm(dim, eps=1e-6)

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, H) → (B, T, H)."""
        x = self.prior_net(self.embed(x.transpose(1, 2)))
        x = self.transformers(x.transpose(1, 2))
        x = self.post_net(x.transpose(1, 2))
        return self.final_layer_norm(x.transpose(1, 2))


class Upsampler(nn.Module):
    """The 44.1 kHz variant's upsampler (Inworld TTS codec design): per factor u with kernel k,
    ConvTranspose1d halving channels (stride u, padding (k - u) // 2) and a ResNet block; then a
    Linear back to the hidden size and a swish. Weight norm is folded into the weights at load."""

    def __init__(self, shape: DecoderShape) -> None:
        super().__init__()
        dim = shape.hidden
        self.upsample_layers = nn.ModuleList()
        self.resnet_blocks = nn.ModuleList()
        for i, (u, k) in enumerate(zip(shape.upsample_factors, shape.upsample_kernels)):
            c_in, c_out = dim // 2**i, dim // 2 ** (i + 1)
            self.upsample_layers.append(
                nn.ConvTranspose1d(c_in, c_out, k, stride=u, padding=(k - u) // 2)
            )
            self.resnet_blocks.append(ResnetBlock(c_out))
        self.out_proj = nn.Linear(dim // 2 ** len(shape.upsample_factors), dim)

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, H) → (B, T·∏u, H)."""
        x = x.transpose(1, 2)
        for up, block in zip(self.upsample_layers, self.resnet_blocks):
            x = block(up(x))
        return _swish(self.out_proj(x.transpose(1, 2)))


class ISTFTHead(nn.Module):
    """Linear → log-magnitude and phase → inverse STFT with 'same' padding, always in fp32.

    n_fft = win = 4·hop. The left pad is (win − hop) // 2 and the right pad takes the rest (the
    0.1.6 head's asymmetric split; equal to the 0.1.5 head's whenever win − hop is even).
    """

    def __init__(self, dim: int, hop: int) -> None:
        super().__init__()
        self.hop = hop
        self.n_fft = 4 * hop
        self.out = nn.Linear(dim, self.n_fft + 2)
        self.istft = nn.Module()  # holds the window under the checkpoint's name head.istft.window
        self.istft.register_buffer("window", torch.hann_window(self.n_fft))
        self.pad_left = (self.n_fft - hop) // 2
        self.pad_right = self.n_fft - hop - self.pad_left

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, H) → (B, T·hop) float32."""
        pred = F.linear(x.float(), self.out.weight.float(), self.out.bias.float()).transpose(1, 2)
        log_mag, phase = pred.chunk(2, dim=1)
        mag = torch.clip(torch.exp(log_mag), max=1e2)  # the package's guard against blow-ups
        spec = mag * (torch.cos(phase) + 1j * torch.sin(phase))
        return self._istft(spec)

    def _istft(self, spec: Tensor) -> Tensor:
        frames = spec.shape[-1]
        window = self.istft.window.float()
        ifft = torch.fft.irfft(spec, self.n_fft, dim=1, norm="backward") * window[None, :, None]
        size = (frames - 1) * self.hop + self.n_fft
        fold = dict(output_size=(1, size), kernel_size=(1, self.n_fft), stride=(1, self.hop))
        y = F.fold(ifft, **fold)[:, 0, 0]
        envelope = F.fold(window.square().expand(1, frames, -1).transpose(1, 2), **fold)[0, 0, 0]
        end = size - self.pad_right
        return y[:, self.pad_left : end] / envelope[self.pad_left : end]


class XCodec2Decoder(nn.Module):
    """Codes (B, T) in [0, 65536) → audio (B, T · samples_per_code) float32 at sample_rate."""

    def __init__(self, shape: DecoderShape) -> None:
        super().__init__()
        self.shape = shape
        self.quantizer = nn.Module()
        self.quantizer.project_out = nn.Linear(shape.fsq_digits, shape.vq_dim)
        self.fc_post_a = nn.Linear(shape.vq_dim, shape.hidden)
        self.backbone = VocosBackbone(shape)
        self.upsampler = Upsampler(shape) if shape.upsample_factors else None
        self.head = ISTFTHead(shape.hidden, shape.hop)
        self.register_buffer(
            "fsq_basis", FSQ_LEVEL ** torch.arange(shape.fsq_digits), persistent=False
        )

    @property
    def sample_rate(self) -> int:
        return self.shape.sample_rate

    @property
    def samples_per_code(self) -> int:
        return self.shape.samples_per_code

    def compute_dtype(self) -> torch.dtype:
        return self.fc_post_a.weight.dtype

    def embed_codes(self, codes: Tensor) -> Tensor:
        """FSQ index → base-4 digits as {−1, −½, 0, ½} → project_out, as ResidualFSQ does."""
        half = FSQ_LEVEL // 2
        digits = (codes.long()[..., None] // self.fsq_basis) % FSQ_LEVEL
        fsq = (digits - half).float() / half
        w, b = self.quantizer.project_out.weight, self.quantizer.project_out.bias
        return F.linear(fsq, w.float(), b.float())

    def forward(self, codes: Tensor) -> Tensor:
        x = self.fc_post_a(self.embed_codes(codes).to(self.compute_dtype()))
        x = self.backbone(x)
        if self.upsampler is not None:
            x = self.upsampler(x)
        audio = self.head(x)
        # An odd (k − u) makes each ConvTranspose one frame longer; keep the length contract.
        return audio[:, : codes.shape[-1] * self.samples_per_code]

    def set_precision(self, dtype: torch.dtype) -> XCodec2Decoder:
        """Cast the backbone/upsampler weights to dtype; FSQ, norms and the ISTFT head stay fp32."""
        self.float()
        for module in (self.fc_post_a, self.backbone, self.upsampler):
            if module is None:
                continue
            for sub in module.modules():
                if not isinstance(sub, (FP32GroupNorm, FP32LayerNorm, RMSNorm)):
                    for p in sub.parameters(recurse=False):
                        p.data = p.data.to(dtype)
        return self


# --------------------------------------------------------------------------- checkpoint loading

_DECODER_PREFIXES = ("generator.backbone.", "generator.head.", "generator.upsampler.", "fc_post_a.")
_DECODER_KEYS = ("generator.quantizer.project_out.weight", "generator.quantizer.project_out.bias")


def is_decoder_key(key: str) -> bool:
    """Whether a checkpoint key belongs to the decode path (so the rest need not be read)."""
    return key.startswith(_DECODER_PREFIXES) or key in _DECODER_KEYS


def canonical_key(key: str) -> str:
    """Unify naming variants: `.beta` → `.bias` (as the seed does), one weight-norm spelling."""
    key = re.sub(r"\.beta$", ".bias", key)
    key = re.sub(r"\.parametrizations\.weight\.original0$", ".weight_g", key)
    return re.sub(r"\.parametrizations\.weight\.original1$", ".weight_v", key)


def _fold_weight_norm(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Replace each weight_g/weight_v pair by the weight it stands for: g · v / ‖v‖."""
    out = {k: v for k, v in state.items() if not k.endswith((".weight_g", ".weight_v"))}
    for key in state:
        if key.endswith(".weight_g"):
            stem = key[: -len(".weight_g")]
            g, v = state[key].float(), state[stem + ".weight_v"].float()
            out[stem + ".weight"] = torch._weight_norm(v, g, _weight_norm_dim(g, v))
    return out


def _weight_norm_dim(g: Tensor, v: Tensor) -> int:
    """The axis weight norm kept (where g is not 1); -1 means one norm for the whole tensor."""
    axes = [i for i, n in enumerate(g.shape) if n != 1 and n == v.shape[i]]
    return axes[0] if axes else -1


def prepare_state(raw: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Decoder keys of a checkpoint, renamed to this module's names (without `generator.`)."""
    state = {canonical_key(k): v for k, v in raw.items() if is_decoder_key(canonical_key(k))}
    state = _fold_weight_norm(state)
    return {k.removeprefix("generator."): v for k, v in state.items()}


def _indices(state: Mapping[str, Tensor], prefix: str) -> list[int]:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    return sorted({int(m.group(1)) for k in state if (m := pattern.match(k))})


def _config_int(config: Mapping[str, object], key: str) -> int | None:
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        return None
    return int(value)


def _head_count(config: Mapping[str, object], hidden: int) -> int:
    """Heads are invisible in the weights (c_attn is H×3H whatever the split): take them from
    config, else assume the released models' head size of 64 (1024 → 16 heads)."""
    for key in _HEAD_COUNT_KEYS:
        if (heads := _config_int(config, key)) is not None:
            return heads
    return max(1, hidden // DEFAULT_HEAD_DIM)


def _upsample_factors(config: Mapping[str, object], layers: int, hop: int) -> tuple[int, ...]:
    """Strides are invisible in the weights: from config, or derived when only one layer."""
    factors = config.get("upsample_factors")
    if isinstance(factors, (list, tuple)) and factors:
        if len(factors) != layers:
            raise ValueError(f"config has {len(factors)} upsample factors, weights {layers}")
        return tuple(int(f) for f in factors)
    if layers == 0:
        return ()
    rate = _config_int(config, "sample_rate")
    if layers == 1 and rate is not None and rate % (CODES_PER_SECOND * hop) == 0:
        return (rate // (CODES_PER_SECOND * hop),)
    raise ValueError("the checkpoint has an upsampler but config.json gives no upsample_factors")


def infer_shape(state: Mapping[str, Tensor], config: Mapping[str, object]) -> DecoderShape:
    """Read every size from prepared decoder weights; config only for heads, strides, rate."""
    try:
        vq_dim, hidden = state["fc_post_a.weight"].shape[1], state["fc_post_a.weight"].shape[0]
        fsq_digits = state["quantizer.project_out.weight"].shape[1]
        head_rows = state["head.out.weight"].shape[0]
    except KeyError as missing:
        raise ValueError(f"not an XCodec2 checkpoint: no {missing.args[0]}") from None
    if (head_rows - 2) % 4:
        raise ValueError(f"head.out has {head_rows} rows; expected 4·hop + 2")
    hop = (head_rows - 2) // 4
    if _config_int(config, "hop_length") not in (None, hop):
        raise ValueError(f"config hop_length {config['hop_length']} but head.out implies {hop}")
    ups = _indices(state, "upsampler.upsample_layers.")
    factors = _upsample_factors(config, len(ups), hop)
    kernels = tuple(state[f"upsampler.upsample_layers.{i}.weight"].shape[2] for i in ups)
    heads = _head_count(config, hidden)
    if hidden % heads or (hidden // heads) % 2:
        raise ValueError(f"hidden size {hidden} does not split into {heads} heads of even size")
    spc = hop * math.prod(factors)
    sample_rate = _config_int(config, "sample_rate") or CODES_PER_SECOND * spc
    if sample_rate // spc != CODES_PER_SECOND:
        raise ValueError(f"sample_rate {sample_rate} does not fit {spc} samples per code")
    return DecoderShape(
        hidden=hidden,
        vq_dim=vq_dim,
        fsq_digits=fsq_digits,
        depth=len(_indices(state, "backbone.transformers.")),
        heads=heads,
        prior_blocks=len(_indices(state, "backbone.prior_net.")),
        post_blocks=len(_indices(state, "backbone.post_net.")),
        hop=hop,
        upsample_factors=factors,
        upsample_kernels=kernels,
        sample_rate=sample_rate,
    )


def build_decoder(raw: Mapping[str, Tensor], config: Mapping[str, object]) -> XCodec2Decoder:
    """Build and fill a decoder from checkpoint tensors; keys outside the decoder are ignored."""
    state = prepare_state(raw)
    shape = infer_shape(state, config)
    decoder = XCodec2Decoder(shape)
    state.setdefault("head.istft.window", decoder.head.istft.window.clone())
    missing, unexpected = decoder.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"weights do not fit: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return decoder.eval()
