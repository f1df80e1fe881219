"""Tiny random XCodec2 checkpoints, built offline with the xcodec2 package's own classes.

- `package_decoder`: xcodec2 0.1.5's CodecDecoderVocos + fc_post_a, small, every weight random.
- `package_decode`: the package's XCodec2Model.decode_code run on those modules (the reference).
- `upsampler_modules` / `reference_decode_44k`: the 44.1 kHz variant's upsampler as the Inworld
  codec (and the 0.1.6 package derived from it) builds it, and its decode order.
- `encoder_state`: the encoder side (semantic encoder, CodecEnc, fc_prior) at real size.
- `cached_w2v_bert` / `offline_w2v_bert`: a Hugging Face cache holding facebook/w2v-bert-2.0, and
  loading from it patched to build small random models.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from bot.speech.codec import import_xcodec2

TINY_HIDDEN, TINY_DEPTH, TINY_HEADS = 64, 2, 4


def _randomize(module: nn.Module, seed: int) -> None:
    """Give every parameter a random value so the equality test exercises all of them
    (the package initialises biases to zero and norms to one)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if name.endswith("weight") and p.dim() == 1:  # norm scales stay around one
                p.copy_(1.0 + 0.2 * noise)
            elif p.dim() == 1:
                p.copy_(0.1 * noise)
            else:
                fan_in = p[0].numel() if p.dim() > 1 else 1
                p.copy_(noise / fan_in**0.5)


def package_decoder(
    hidden: int = TINY_HIDDEN,
    depth: int = TINY_DEPTH,
    heads: int = TINY_HEADS,
    hop: int = 320,
    seed: int = 0,
) -> tuple[nn.Module, nn.Linear]:
    """xcodec2 0.1.5's generator and fc_post_a with random weights."""
    import_xcodec2()
    from xcodec2.vq.codec_decoder_vocos import CodecDecoderVocos

    torch.manual_seed(seed)
    generator = CodecDecoderVocos(
        hidden_dim=hidden, depth=depth, heads=heads, pos_meb_dim=hidden // heads, hop_length=hop
    )
    fc_post_a = nn.Linear(2048, hidden)
    _randomize(generator, seed)
    _randomize(fc_post_a, seed + 1)
    return generator.eval(), fc_post_a.eval()


def decoder_state(generator: nn.Module, fc_post_a: nn.Linear) -> dict[str, Tensor]:
    """The two modules' weights under the real checkpoint's key names."""
    state = {f"generator.{k}": v for k, v in generator.state_dict().items()}
    state.update({f"fc_post_a.{k}": v for k, v in fc_post_a.state_dict().items()})
    return state


def package_decode(generator: nn.Module, fc_post_a: nn.Linear, codes: Tensor) -> Tensor:
    """XCodec2Model.decode_code itself, run on our modules: codes (B, T) → audio (B, T·hop)."""
    modeling = import_xcodec2()
    model = types.SimpleNamespace(generator=generator, fc_post_a=fc_post_a)
    return modeling.XCodec2Model.decode_code(model, codes[:, None, :])[:, 0]


def upsampler_modules(
    hidden: int, factors: list[int], kernels: list[int], seed: int = 0
) -> nn.Module:
    """UpSamplerBlock's layout: weight-normed ConvTranspose1d halving channels + ResnetBlock per
    factor, then out_proj back to hidden (swish applied in reference_decode_44k)."""
    import_xcodec2()
    from xcodec2.vq.codec_decoder_vocos import ResnetBlock

    block = nn.Module()
    block.upsample_layers = nn.ModuleList()
    block.resnet_blocks = nn.ModuleList()
    for i, (u, k) in enumerate(zip(factors, kernels)):
        c_in, c_out = hidden // 2**i, hidden // 2 ** (i + 1)
        conv = nn.ConvTranspose1d(c_in, c_out, k, u, padding=(k - u) // 2)
        block.upsample_layers.append(nn.utils.parametrizations.weight_norm(conv))
        block.resnet_blocks.append(
            ResnetBlock(in_channels=c_out, out_channels=c_out, dropout=0.0, temb_channels=0)
        )
    block.out_proj = nn.Linear(hidden // 2 ** len(factors), hidden)
    _randomize(block, seed + 7)
    return block.eval()


def reference_decode_44k(
    generator: nn.Module, fc_post_a: nn.Linear, upsampler: nn.Module, codes: Tensor
) -> Tensor:
    """backbone → upsampler → ISTFT head, in the order of the 44.1 kHz decoder's forward."""
    with torch.no_grad():
        emb = generator.quantizer.get_output_from_indices(codes[:, :, None])
        x = generator.backbone(fc_post_a(emb))
        x = x.transpose(1, 2)
        for up, block in zip(upsampler.upsample_layers, upsampler.resnet_blocks):
            x = block(up(x))
        x = upsampler.out_proj(x.transpose(1, 2))
        audio, _ = generator.head(x * torch.sigmoid(x))
    return audio[:, 0]


def upsampler_state(
    upsampler: nn.Module, weight_norm_style: str = "parametrizations"
) -> dict[str, Tensor]:
    """Checkpoint keys generator.upsampler.*, weight norm spelt either way."""
    state = {}
    for k, v in upsampler.state_dict().items():
        if weight_norm_style == "weight_g":
            k = k.replace("parametrizations.weight.original0", "weight_g")
            k = k.replace("parametrizations.weight.original1", "weight_v")
        state[f"generator.upsampler.{k}"] = v
    return state


def encoder_state(seed: int = 0) -> dict[str, Tensor]:
    """Random encoder-side weights at the real sizes (what encode() loads from a checkpoint).
    The quantizer they feed (generator.quantizer.*) is the decoder's: see decoder_state."""
    import_xcodec2()
    from xcodec2.vq.codec_encoder import CodecEncoder_Transformer
    from xcodec2.vq.module import SemanticEncoder

    torch.manual_seed(seed)
    parts = {
        "SemanticEncoder_module": SemanticEncoder(1024, 1024, 1024),
        "CodecEnc": CodecEncoder_Transformer(),
        "fc_prior": nn.Linear(2048, 2048),
    }
    for offset, module in enumerate(parts.values()):
        # At its own init the encoder outputs ~0 and every frame gets the same code.
        _randomize(module, seed + offset)
    return {f"{prefix}.{k}": v for prefix, m in parts.items() for k, v in m.state_dict().items()}


def write_checkpoint(folder: Path, state: dict[str, Tensor], config: dict | None = None) -> Path:
    """model.safetensors (+ config.json) in folder, as a hub snapshot would hold them."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous() for k, v in state.items()}
    save_file(tensors, str(folder / "model.safetensors"))
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    return folder


def cached_w2v_bert(cache: Path) -> Path:
    """A Hugging Face cache folder holding facebook/w2v-bert-2.0 as `download` leaves it (only
    its config: offline_w2v_bert supplies the model)."""
    repo = cache / "models--facebook--w2v-bert-2.0"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True, exist_ok=True)
    (snapshot / "config.json").write_text(json.dumps({"model_type": "wav2vec2-bert"}))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text("0" * 40)
    return cache


def offline_w2v_bert(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    """Point the Hugging Face cache at `cache` and make loading w2v-BERT from a folder there
    build a small random model (hidden 1024 and 16 layers are hard-coded by XCodec2) and a
    default feature extractor. Loading it by hub id, or from anywhere else, fails the test."""
    from huggingface_hub import constants
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig, Wav2Vec2BertModel

    modeling = import_xcodec2()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))

    def from_cache(path: object) -> None:
        if not Path(str(path)).is_dir() or cache.resolve() not in Path(str(path)).resolve().parents:
            raise AssertionError(f"w2v-BERT must come from the local cache, not {path}")

    def semantic_model(path: object, *_args: object, **_kwargs: object) -> Wav2Vec2BertModel:
        from_cache(path)
        torch.manual_seed(0)
        config = Wav2Vec2BertConfig(
            hidden_size=1024, num_hidden_layers=16, intermediate_size=256, output_hidden_states=True
        )
        return Wav2Vec2BertModel(config)

    def feature_extractor(path: object, *_args: object, **_kwargs: object) -> object:
        from_cache(path)
        return SeamlessM4TFeatureExtractor()

    monkeypatch.setattr(modeling.Wav2Vec2BertModel, "from_pretrained", semantic_model)
    monkeypatch.setattr(modeling.AutoFeatureExtractor, "from_pretrained", feature_extractor)


def random_codes(n: int, seed: int = 0) -> np.ndarray:
    """n random codes over the whole range, the extremes 0 and 65535 included."""
    codes = np.random.default_rng(seed).integers(0, 65536, size=n)
    codes[:2] = [0, 65535]
    return codes.astype(np.int64)
