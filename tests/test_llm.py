"""Generation through the real llama-cpp-python code on tiny random Llasa GGUFs."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.speech.llm import FinishReason, LlasaModel, LoadOptions, ModelError, Sampling
from bot.speech.prompt import ReferenceVoice, build_prompt
from tests.tiny_llasa import write_tiny_llasa

CPU = LoadOptions(n_gpu_layers=0, n_ctx=4096, n_threads=2)


def prompt_for(llm, text="こんにちは"):
    return build_prompt(llm.vocab, llm.tokenize_text, text, caption=None, reference=None, with_system_block=True)


def test_vocabulary_ids_are_looked_up_from_the_model(tiny_llm):
    v = tiny_llm.vocab
    assert (v.begin_of_text, v.eot, v.text_start, v.speech_start, v.speech_end, v.speech_0) == (
        128000, 128009, 128258, 128260, 128261, 128264)


def test_generation_yields_only_speech_codes_up_to_the_cap(tiny_llm):
    generation = tiny_llm.generate(prompt_for(tiny_llm), Sampling(max_tokens=120, seed=7, temperature=1.0))
    codes = list(generation)
    assert len(codes) == 120
    assert generation.finish_reason is FinishReason.LENGTH
    assert all(0 <= c < 65536 for c in codes)
    assert len(set(codes)) > 60  # sampled, not a constant


def test_same_seed_same_codes_and_the_cap_respects_the_training_length(tiny_llm):
    prompt = prompt_for(tiny_llm)
    a = list(tiny_llm.generate(prompt, Sampling(max_tokens=30, seed=3)))
    b = list(tiny_llm.generate(prompt, Sampling(max_tokens=30, seed=3)))
    assert a == b
    assert tiny_llm.max_new_tokens(len(prompt), 4096) == 2048 - len(prompt)


def test_generation_streams_and_stops_at_the_next_token_when_cancelled(tiny_llm):
    received: list[int] = []
    generation = tiny_llm.generate(prompt_for(tiny_llm), Sampling(max_tokens=1000, seed=1),
                                   should_stop=lambda: len(received) >= 3)
    for code in generation:
        received.append(code)  # each code arrives before the next token is even sampled
    assert len(received) == 3
    assert generation.finish_reason is FinishReason.CANCELLED


def test_generation_stops_on_speech_generation_end(tiny_gguf_that_ends):
    llm = LlasaModel.load(tiny_gguf_that_ends, CPU)
    lengths, reasons = [], set()
    for seed in range(8):
        generation = llm.generate(prompt_for(llm), Sampling(max_tokens=500, seed=seed, temperature=1.0,
                                                            top_p=1.0, repeat_penalty=1.0))
        lengths.append(len(list(generation)))
        reasons.add(generation.finish_reason)
    assert reasons == {FinishReason.END}
    assert max(lengths) < 500


def test_missing_model_file_is_explained(tmp_path):
    with pytest.raises(ModelError, match="not found.*python -m bot download"):
        LlasaModel.load(tmp_path / "nope.gguf", CPU)


def test_a_file_that_is_not_gguf_is_explained(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"<html>404</html>")
    with pytest.raises(ModelError, match="not a GGUF file"):
        LlasaModel.load(bad, CPU)


def test_a_gguf_without_speech_tokens_is_not_llasa(tmp_path):
    path = write_tiny_llasa(tmp_path / "plain.gguf", n_codes=16)
    with pytest.raises(ModelError, match="not a Llasa"):
        LlasaModel.load(path, CPU)


def test_a_missing_lora_adapter_is_explained(tiny_gguf, tmp_path):
    with pytest.raises(ModelError, match="LoRA"):
        LlasaModel.load(tiny_gguf, LoadOptions(n_gpu_layers=0, lora_path=tmp_path / "x.gguf"))


def test_a_prompt_sharing_a_prefix_with_the_last_one_evaluates_only_the_rest(tiny_llm):
    first, second = prompt_for(tiny_llm, "こんにちは"), prompt_for(tiny_llm, "こんばんは、元気？")
    shared = next(i for i, (a, b) in enumerate(zip(first, second)) if a != b)
    list(tiny_llm.generate(first, Sampling(max_tokens=5, seed=1)))
    generation = tiny_llm.generate(second, Sampling(max_tokens=5, seed=1))
    assert len(list(generation)) == 5
    assert (generation.prompt_reused, generation.prompt_evaluated) == (shared, len(second) - shared)
    assert generation.first_token_s is not None


def test_the_same_prompt_again_reads_only_its_last_token_and_repeats_the_take(tiny_llm):
    prompt = prompt_for(tiny_llm, "もう一度")
    takes = []
    for _ in range(3):
        generation = tiny_llm.generate(prompt, Sampling(max_tokens=40, seed=9))
        takes.append(list(generation))
    assert (generation.prompt_reused, generation.prompt_evaluated) == (len(prompt) - 1, 1)
    assert takes[1] == takes[2]


def test_a_cloned_voice_rereads_its_reference_codes_for_each_sentence(tiny_llm):
    # The prompt is text then reference codes: the next sentence of a message shares only the
    # header and the reference transcript, so every reference code is evaluated again.
    reference = ReferenceVoice(codes=tuple(range(1000, 1300)), transcript="これは参考の声です。")

    def sentence(text):
        return build_prompt(tiny_llm.vocab, tiny_llm.tokenize_text, text, caption=None, reference=reference,
                            with_system_block=True)

    list(tiny_llm.generate(sentence("一つ目の文。"), Sampling(max_tokens=3, seed=1)))
    second = tiny_llm.generate(sentence("二つ目の文です。"), Sampling(max_tokens=3, seed=1))
    list(second)
    assert second.prompt_reused > 0
    assert second.prompt_evaluated > len(reference.codes)


def test_a_generation_cancelled_before_it_starts_reads_nothing(tiny_llm):
    generation = tiny_llm.generate(prompt_for(tiny_llm), Sampling(max_tokens=50, seed=1), should_stop=lambda: True)
    assert list(generation) == []
    assert generation.finish_reason is FinishReason.CANCELLED
    assert generation.prompt_evaluated == 0


def test_other_seeds_give_other_takes(tiny_llm):
    prompt = prompt_for(tiny_llm)
    takes = {tuple(tiny_llm.generate(prompt, Sampling(max_tokens=20, seed=seed))) for seed in range(4)}
    assert len(takes) == 4
