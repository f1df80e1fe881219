"""A tiny random Whisper checkpoint with a tokenizer built here, laid out as the Hugging Face cache holds a download.

Built offline: a byte-level BPE vocabulary (the 256 byte symbols, no merges) plus Whisper's
special tokens, and a WhisperForConditionalGeneration of a few thousand parameters with random
weights. It transcribes any audio into junk text, which is all the loading and wiring tests need.
"""
from __future__ import annotations


from pathlib import Path

TINY_WHISPER_ID = "tests/tiny-whisper"
_LANGUAGES = ("en", "ja")
_SPECIAL = ("<|endoftext|>", "<|startoftranscript|>", *(f"<|{code}|>" for code in _LANGUAGES),
            "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>")


def save_tiny_whisper(folder: Path, seed: int = 0) -> Path:
    """Write config, random weights, generation config, feature extractor and tokenizer to folder."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (GenerationConfig, WhisperConfig, WhisperFeatureExtractor,
                              WhisperForConditionalGeneration, WhisperProcessor, WhisperTokenizerFast)

    folder.mkdir(parents=True, exist_ok=True)
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {symbol: i for i, symbol in enumerate(sorted(alphabet))}
    bpe = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.save(str(folder / "tokenizer.json"))
    tokenizer = WhisperTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"), unk_token="<|endoftext|>",
                                     bos_token="<|endoftext|>", eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": list(_SPECIAL[1:])})
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in _SPECIAL}

    config = WhisperConfig(
        vocab_size=len(tokenizer), num_mel_bins=80, d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
        max_source_positions=1500, max_target_positions=64, pad_token_id=ids["<|endoftext|>"],
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|endoftext|>"],
        decoder_start_token_id=ids["<|startoftranscript|>"],
    )
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"], eos_token_id=ids["<|endoftext|>"],
        pad_token_id=ids["<|endoftext|>"], bos_token_id=ids["<|endoftext|>"], max_length=64,
        is_multilingual=True, no_timestamps_token_id=ids["<|notimestamps|>"],
        lang_to_id={f"<|{code}|>": ids[f"<|{code}|>"] for code in _LANGUAGES},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
    )
    model.save_pretrained(folder)
    WhisperProcessor(WhisperFeatureExtractor(feature_size=80), tokenizer).save_pretrained(folder)
    return folder


def cached_tiny_whisper(cache: Path, repo_id: str = TINY_WHISPER_ID) -> Path:
    """A Hugging Face cache folder holding the tiny model under repo_id, as a download leaves it."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    revision = "0" * 40
    save_tiny_whisper(repo / "snapshots" / revision)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return cache



