"""Command-line tools for people without Discord: say, doctor, download."""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Config, ConfigError
from .speech.captions import CaptionError, VoiceCaption, load_presets
from .speech.synthesizer import SpeechRequest, SynthesisReport, Voice

if TYPE_CHECKING:
    import numpy as np

    from .audio.formats import AudioFormat
    from .speech.prompt import ReferenceVoice
    from .speech.synthesizer import Synthesizer

DEFAULT_LLM_REPO = "dskjal/Anime-Llasa-3B-Captions-GGUF"
DEFAULT_LLM_FILE = "Anime-Llasa-3B-Captions.Q8_0.gguf"
DEFAULT_HF_REPO = "NandemoGHS/Anime-Llasa-3B-Captions"  # the safetensors checkpoint, for vLLM


class InputError(ValueError):
    """What was asked on the command line can't be done; the message says why and what to do."""


def say(config: Config, args: argparse.Namespace) -> int:
    """Synthesize text into an audio file."""
    from .audio.formats import encode_clip

    # Everything the user gave is checked before the minutes of model loading.
    out, fmt = _output(Path(args.output))
    sentences = _sentences(args.text, config)
    caption = _caption(config, args.preset)
    clip_in = _reference_clip(Path(args.reference)) if args.reference else None
    if args.transcript and clip_in is None:
        raise InputError("--transcript describes a --reference clip; give the clip too")

    from .speech.loader import default_sampling, load_synthesizer

    synthesizer = load_synthesizer(config)
    reference = None
    if clip_in is not None:
        reference = _reference(synthesizer, clip_in, args.transcript or "", config)
    sampling = default_sampling(config)
    if args.seed is not None:
        from dataclasses import replace

        sampling = replace(sampling, seed=args.seed)
    request = SpeechRequest(args.text, Voice(caption, reference), sampling, config.limits.max_clip_seconds)
    clip = synthesizer.synthesize(request)
    out.write_bytes(encode_clip(clip.samples, clip.sample_rate, fmt))
    r = clip.report
    print(f"wrote {out}: {clip.seconds:.2f} s at {clip.sample_rate} Hz, {r.codes} codes, "
          f"{r.sentences} sentence(s), {r.summary()}, seeds {r.seeds}, {r.elapsed_s:.1f} s")
    for line in _what_was_cut(sentences, r, config):
        print(f"note: {line}", file=sys.stderr)
    return 0


def _output(out: Path) -> tuple[Path, AudioFormat]:
    from .audio.formats import AudioFormat

    try:
        fmt = AudioFormat(out.suffix.lstrip(".").lower() or "wav")
    except ValueError:
        raise InputError(f"{out.suffix!r} is not a format I write; use .wav, .flac or .ogg") from None
    if out.is_dir():
        raise InputError(f"{out} is a folder; name a file in it, like {out / 'speech.wav'}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the folder {out.parent}: {exc.strerror or exc}") from None
    if not os.access(out.parent, os.W_OK):
        raise InputError(f"cannot write into {out.parent}: no permission; pick another -o")
    return out, fmt


def _sentences(text: str, config: Config) -> list[str]:
    """The pieces the synthesizer will speak; InputError when the text is empty or over the limit."""
    from .speech.sentences import split_sentences

    limit = config.limits.max_text_chars
    if len(text) > limit:
        raise InputError(f"the text is {len(text)} characters long; limits.max_text_chars is {limit}: "
                         "shorten it, or raise the limit in the config file")
    sentences = split_sentences(text)
    if not sentences:
        raise InputError("there is nothing to say: the text is empty or only spaces")
    return sentences


def _what_was_cut(sentences: list[str], report: SynthesisReport, config: Config) -> list[str]:
    """Which part of the text is missing from the clip, and which limit cut it."""
    from .speech.llm import FinishReason

    notes = []
    if report.sentences < len(sentences):
        rest = "".join(sentences[report.sentences:])
        notes.append(f"limits.max_clip_seconds ({config.limits.max_clip_seconds:g} s) was reached after "
                     f"{report.sentences} of {len(sentences)} sentences; {len(rest)} characters were not spoken, "
                     f"from {rest[:30]!r}")
    capped = [i + 1 for i, reason in enumerate(report.finish_reasons) if reason == FinishReason.LENGTH]
    if capped:
        notes.append(f"{len(capped)} take(s) hit sampling.max_tokens ({config.sampling.max_tokens}) "
                     "and may end mid-sentence")
    return notes


def _caption(config: Config, preset: str | None) -> VoiceCaption | None:
    if not preset:
        return None
    presets = load_presets(config.storage.presets_dir)
    if preset not in presets:
        raise CaptionError("caption.cli_no_preset", name=preset, folder=str(config.storage.presets_dir),
                           known=", ".join(sorted(presets)))
    return presets[preset]


def _reference_clip(path: Path) -> tuple[np.ndarray, int]:
    """Read and decode the clip to clone, cut to its speech, before any model loads."""
    from .audio.formats import read_clip
    from .audio.vad import trim_to_speech

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"--reference {path}: no such file") from None
    except OSError as exc:
        raise InputError(f"--reference {path}: cannot be read ({exc.strerror or exc})") from None
    try:
        samples, rate = read_clip(data)
        return trim_to_speech(samples, rate).samples, rate
    except ValueError as exc:
        raise InputError(f"--reference {path}: {exc}") from None


def _reference(synthesizer: Synthesizer, clip: tuple[np.ndarray, int], transcript: str,
               config: Config) -> ReferenceVoice:
    from .speech.prompt import ReferenceVoice

    samples, rate = clip
    codes = synthesizer.codec.encode(samples, rate, max_seconds=config.limits.reference_max_seconds)
    return ReferenceVoice(tuple(int(c) for c in codes), transcript)


def doctor(config: Config, args: argparse.Namespace) -> int:
    """Check every piece the bot needs and say what is missing or wrong."""
    checks: list[tuple[str, Callable[[], str]]] = [
        ("presets", lambda: _check_presets(config)),
        ("opus (voice)", _check_opus),
        ("discord token", lambda: _check_token(config)),
        ("database", lambda: _check_database(config)),
        ("llama.cpp + Llasa model", lambda: _check_llm(config)),
        ("XCodec2 codec", lambda: _check_codec(config)),
    ]
    if config.recognition.enabled:
        checks.append(("speech recognition", lambda: _check_recognizer(config)))
    failed = 0
    for name, check in checks:
        try:
            detail = check()
            print(f"  ok    {name}: {detail}")
        except Exception as exc:  # doctor reports every failure and goes on to the next check
            failed += 1
            print(f"  FAIL  {name}: {exc}")
    print("all good" if not failed else f"{failed} problem(s) found")
    return 1 if failed else 0


def _check_presets(config: Config) -> str:
    presets = load_presets(config.storage.presets_dir)
    return f"{len(presets)} in {config.storage.presets_dir}"


def _check_opus() -> str:
    import discord

    if not discord.opus.is_loaded():
        discord.opus.load_opus("libopus.so.0")
    return "libopus loaded"


def _check_token(config: Config) -> str:
    config.discord_token()
    return f"${config.discord.token_env} is set"


def _check_database(config: Config) -> str:
    import asyncio

    from .app import check_database

    asyncio.run(check_database(config))
    return f"{config.storage.database} opens, passes a quick check and takes writes"


def _check_llm(config: Config) -> str:
    from .speech.llm import Sampling
    from .speech.loader import make_backend
    from .speech.prompt import build_prompt

    started = time.perf_counter()
    llm = make_backend(config)
    try:
        loaded = time.perf_counter() - started
        prompt = build_prompt(llm.vocab, llm.tokenize_text, "こんにちは", caption=None, reference=None,
                              with_system_block=config.llm.uses_captions)
        started = time.perf_counter()
        codes = list(llm.generate(prompt, Sampling(max_tokens=20, seed=1)))
        rate = len(codes) / (time.perf_counter() - started)
    finally:
        llm.close()
    if not codes:
        raise RuntimeError("the model produced no speech codes")
    where = "" if config.backend.kind == "llama-cpp" else f" on {config.backend.kind} ({llm.capacity} slots)"
    return (f"{config.llm.model_path.name} loaded in {loaded:.1f} s{where}, {len(codes)} codes at {rate:.1f} tok/s: "
            f"{codes[:6]}…")


def _check_codec(config: Config) -> str:
    from .speech.codec import SpeechCodec
    from .speech.loader import codec_device

    device = codec_device(config.codec.device)
    codec = SpeechCodec.load(config.codec.source, device=device, dtype=config.codec.dtype,
                             local_files_only=config.codec.local_files_only)
    started = time.perf_counter()
    audio = codec.decode(list(range(0, 65536, 1311))[:50])
    took = time.perf_counter() - started
    return f"{config.codec.source} on {device}: {codec.sample_rate} Hz, 1 s decoded in {took * 1000:.0f} ms ({len(audio)} samples)"


def _check_recognizer(config: Config) -> str:
    import numpy as np

    from .speech.loader import codec_device
    from .speech.recognizer import SpeechRecognizer

    device = codec_device(config.recognition.device, "recognition.device")
    recognizer = SpeechRecognizer.load(config.recognition.model, device=device)
    started = time.perf_counter()
    recognizer.transcribe(np.zeros(16_000, dtype=np.float32), 16_000)
    return f"{config.recognition.model} on {device}: 1 s transcribed in {(time.perf_counter() - started) * 1000:.0f} ms"


def download(config: Config, args: argparse.Namespace) -> int:
    """Fetch, with progress bars, everything a request needs, so that nothing is fetched while
    serving: the GGUF into models/, the codec and the voice-cloning model into the HF cache."""
    from .speech.codec import SEMANTIC_MODEL_ID, fetch_semantic_model, locate_checkpoint

    _download_llm(config, args)
    source = config.codec.source
    if Path(source).exists():
        print(f"codec {source} is local; nothing to fetch")
    else:
        print(f"downloading codec {source} …")
        locate_checkpoint(source)
    print(f"downloading {SEMANTIC_MODEL_ID} (cloning voices from clips needs it) …")
    fetch_semantic_model(local_files_only=False)
    _download_recognizer(config, args.recognizer)
    print("done")
    return 0


def _download_llm(config: Config, args: argparse.Namespace) -> None:
    """The GGUF into llm.model_path, or for vLLM the Hugging Face checkpoint into backend.tokenizer."""
    from huggingface_hub import hf_hub_download, snapshot_download

    if config.backend.kind == "vllm":
        folder = config.backend.tokenizer
        assert folder is not None  # config validation requires it for vllm
        if (folder / "tokenizer.json").is_file() and any(folder.glob("*.safetensors")):
            print(f"{folder} already holds a checkpoint")
        else:
            print(f"downloading the checkpoint {args.hf_repo} to {folder}/ (for vLLM) …")
            snapshot_download(args.hf_repo, local_dir=folder,
                              allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model"])
        print(f"serve it with: vllm serve {folder} (README, Serving many voices with vLLM)")
        return
    target = config.llm.model_path
    if target.is_file():
        print(f"{target} is already there")
    else:
        print(f"downloading {args.llm_file} from {args.llm_repo} to {target.parent}/ …")
        path = hf_hub_download(args.llm_repo, args.llm_file, local_dir=target.parent)
        if Path(path).resolve() != target.resolve():
            print(f"note: saved as {path}; set llm.model_path to it")


def _download_recognizer(config: Config, anyway: bool) -> None:
    from .speech.recognizer import locate_model

    model = config.recognition.model
    if not (config.recognition.enabled or anyway):
        print(f"speech recognition is off (recognition.enabled = false): not fetching {model}; "
              "--recognizer fetches it anyway")
    elif Path(model).is_dir():
        print(f"speech recognition model {model} is local; nothing to fetch")
    else:
        print(f"downloading {model} (speech recognition: checking takes, transcribing clips) …")
        locate_model(model, local_files_only=False)


def _seed(text: str) -> int:
    # llama.cpp takes a 32-bit seed; a larger one would fail inside the model after it loaded.
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not -1 <= seed < 2**32:
        raise argparse.ArgumentTypeError(f"{seed} is out of range; use -1 (random) or 0 to 4294967295")
    return seed


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("say", help="synthesize text into an audio file")
    p.add_argument("text")
    p.add_argument("-o", "--output", default="out.wav", help="file to write (.wav, .flac or .ogg)")
    p.add_argument("--preset", help="a caption preset name from the presets folder")
    p.add_argument("--reference", help="an audio clip whose voice to clone")
    p.add_argument("--transcript", help="what is said in the reference clip")
    p.add_argument("--seed", type=_seed, help="sampling seed (0 to 4294967295; -1 random), for a reproducible take")
    p.set_defaults(handler=say)

    p = sub.add_parser("doctor", help="check the models, codec and settings and report problems")
    p.set_defaults(handler=doctor)

    p = sub.add_parser("download", help="download the default model and codec")
    p.add_argument("--llm-repo", default=DEFAULT_LLM_REPO)
    p.add_argument("--llm-file", default=DEFAULT_LLM_FILE)
    p.add_argument("--hf-repo", default=DEFAULT_HF_REPO,
                   help="the Hugging Face checkpoint fetched into backend.tokenizer when backend.kind is vllm")
    p.add_argument("--recognizer", action="store_true",
                   help="also fetch the speech recognition model when recognition is off in the config")
    p.set_defaults(handler=download)


__all__ = ["add_commands", "ConfigError", "InputError"]
