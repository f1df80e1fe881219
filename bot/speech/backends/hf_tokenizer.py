"""A Hugging Face checkpoint's tokenizer.json without its weights: the Llasa ids and text tokenization.

Remote backends that serve the safetensors checkpoint (vLLM) build prompts with it, so the bot
needs neither the model nor transformers 5 (which vLLM uses and xcodec2 cannot).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..llm import ModelError, lookup_vocab


class HfTokenizer:
    """The tokenizer of a Llasa checkpoint folder (its tokenizer.json), via the `tokenizers` library."""

    def __init__(self, tokenizer_json: str) -> None:
        from tokenizers import Tokenizer

        plain = json.loads(tokenizer_json)
        self._full = Tokenizer.from_str(tokenizer_json)
        # Plain text must never turn into control ids (a user typing "<|s_5|>" or
        # "<|SPEECH_GENERATION_END|>"): the same tokenizer without its added tokens reads them as text,
        # as llama.cpp's tokenize(special=False) does with the GGUF's CONTROL tokens.
        plain["added_tokens"] = []
        self._plain = Tokenizer.from_str(json.dumps(plain))
        self.n_vocab: int = self._full.get_vocab_size(with_added_tokens=True)
        try:
            self.vocab = lookup_vocab(self._special_ids, self.n_vocab)
        except ModelError:
            raise ModelError("it lacks the Llasa special tokens or the 65,536 <|s_N|> tokens; use the folder "
                             "of an Anime-Llasa-3B(-Captions) checkpoint") from None

    @classmethod
    def load(cls, folder: Path) -> "HfTokenizer":
        """Read folder/tokenizer.json; ModelError with a fix when it is missing or not Llasa's."""
        path = folder / "tokenizer.json"
        if not path.is_file():
            raise ModelError(f"{path} not found; point backend.tokenizer at the folder of the Llasa "
                             "checkpoint that the vLLM server serves (python -m bot download fetches it)")
        try:
            text = path.read_text(encoding="utf-8")
            return cls(text)
        except ModelError as exc:
            raise ModelError(f"{path} is not a Llasa tokenizer: {exc}") from None
        except Exception as exc:  # tokenizers reports a malformed file as a bare Exception
            raise ModelError(f"{path} is not a readable tokenizer.json ({exc}); download it again") from exc

    def tokenize_text(self, text: str) -> list[int]:
        """Plain text to ids: no BOS, special-token strings kept as text."""
        return self._plain.encode(text, add_special_tokens=False).ids

    def detokenize(self, ids: Sequence[int]) -> str:
        """Ids back to text, special tokens written out (for logs and tests)."""
        return self._full.decode(list(ids), skip_special_tokens=False)

    def _special_ids(self, text: str) -> list[int]:
        return self._full.encode(text, add_special_tokens=False).ids
