import math

import pytest

torch = pytest.importorskip("torch")

from rlaudit.models import sampling  # noqa: E402
from rlaudit.models.device import generation_batch_size  # noqa: E402
from rlaudit.models.sampling import Sample, sample  # noqa: E402

PROMPTS = ["1+2=", "a longer prompt: 3+4=", "x"]  # different lengths: batches are left-padded


@pytest.fixture
def model_and_tok(tiny_model_builder):
    return tiny_model_builder()


def _constant_head(model, tokenizer, logits: dict[str, float]):
    """Replace the LM head with one whose logits ignore the input: `logits` for the named tokens, ~-inf else."""
    vocab_size = model.config.vocab_size
    head = torch.nn.Linear(model.config.hidden_size, vocab_size, bias=True)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(-1e4)
        for token, value in logits.items():
            head.bias[tokenizer.convert_tokens_to_ids(token)] = value
    model.lm_head = head
    return model


def test_one_sample_per_copy_in_prompt_order(model_and_tok):
    model, tok = model_and_tok
    out = sample(model, tok, PROMPTS, n=4, max_new_tokens=5, batch_size=5)
    assert len(out) == 12
    assert all(isinstance(s, Sample) for s in out)
    assert [s.prompt_index for s in out] == [0] * 4 + [1] * 4 + [2] * 4
    for s in out:
        assert 1 <= s.n_tokens <= 5
        assert s.finished or s.n_tokens == 5
        assert len(s.completion) <= s.n_tokens  # one character per token, eos decodes to nothing


def test_greedy_is_deterministic_and_ignores_the_seed(model_and_tok):
    model, tok = model_and_tok
    a = sample(model, tok, PROMPTS, n=3, temperature=0, max_new_tokens=8, seed=0)
    b = sample(model, tok, PROMPTS, n=3, temperature=0, max_new_tokens=8, seed=1)
    assert a == b
    for i in range(len(PROMPTS)):
        assert len({s for s in a if s.prompt_index == i}) == 1  # the n copies are identical


def test_left_padding_does_not_change_greedy_completions(model_and_tok):
    model, tok = model_and_tok
    one_by_one = sample(model, tok, PROMPTS, temperature=0, max_new_tokens=8, batch_size=1)
    batched = sample(model, tok, PROMPTS, temperature=0, max_new_tokens=8, batch_size=len(PROMPTS))
    assert [s.completion for s in batched] == [s.completion for s in one_by_one]
    for s, t in zip(batched, one_by_one, strict=True):
        assert s.entropy == pytest.approx(t.entropy, abs=1e-4)
        assert s.logprob == pytest.approx(t.logprob, abs=1e-4)


def test_sampling_is_reproducible_per_seed_and_leaves_the_global_rng_alone(model_and_tok):
    model, tok = model_and_tok
    rng_before = torch.get_rng_state()
    a = sample(model, tok, PROMPTS, n=4, max_new_tokens=8, seed=3)
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert sample(model, tok, PROMPTS, n=4, max_new_tokens=8, seed=3) == a
    assert sample(model, tok, PROMPTS, n=4, max_new_tokens=8, seed=4) != a
    assert len({s.completion for s in a}) > 1  # a random model at T=1 does not repeat itself


def test_completions_stop_at_eos_and_count_it(model_and_tok):
    model, tok = model_and_tok
    _constant_head(model, tok, {"a": 0.0, tok.eos_token: 0.0})  # each step: "a" or eos, 50/50
    out = sample(model, tok, ["q"], n=64, max_new_tokens=3, temperature=1.0)
    assert {s.finished for s in out} == {True, False}  # P(no eos in 3 steps) = 1/8
    for s in out:
        if s.finished:  # "a" * k then eos: eos counts as a token, not as text
            assert s.completion == "a" * (s.n_tokens - 1)
        else:
            assert (s.completion, s.n_tokens) == ("aaa", 3)
        assert s.entropy == pytest.approx(math.log(2), abs=1e-5)
        assert s.logprob == pytest.approx(math.log(0.5), abs=1e-5)


def test_greedy_eos_first_gives_an_empty_finished_completion(model_and_tok):
    model, tok = model_and_tok
    _constant_head(model, tok, {"a": 0.0, tok.eos_token: 1.0})
    (s,) = sample(model, tok, ["q"], temperature=0, max_new_tokens=4)
    assert (s.completion, s.n_tokens, s.finished) == ("", 1, True)
    # Greedy reports the model's own (T=1) distribution, not the point mass it decodes from.
    p_eos = math.e / (math.e + 1)
    assert s.logprob == pytest.approx(math.log(p_eos), abs=1e-5)
    assert s.entropy == pytest.approx(
        -(p_eos * math.log(p_eos) + (1 - p_eos) * math.log(1 - p_eos)), abs=1e-5
    )


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_uniform_model_has_entropy_log_vocab(model_and_tok, temperature):
    model, tok = model_and_tok
    with torch.no_grad():
        model.lm_head.weight.zero_()  # all logits 0: uniform at every temperature
    out = sample(model, tok, PROMPTS, n=2, max_new_tokens=6, temperature=temperature)
    log_v = math.log(model.config.vocab_size)
    for s in out:
        assert s.entropy == pytest.approx(log_v, abs=1e-4)
        assert s.logprob == pytest.approx(-log_v, abs=1e-4)


@pytest.mark.parametrize("temperature", [0.0, 0.7, 1.5])
def test_entropy_is_nonnegative_and_logprob_nonpositive(model_and_tok, temperature):
    model, tok = model_and_tok
    out = sample(model, tok, PROMPTS, n=3, max_new_tokens=6, temperature=temperature)
    log_v = math.log(model.config.vocab_size)
    for s in out:
        assert 0.0 <= s.entropy <= log_v + 1e-5
        assert s.logprob <= 0.0


def test_chat_template_is_applied_when_the_tokenizer_has_one(model_and_tok, monkeypatch):
    model, tok = model_and_tok
    rendered = []

    def spy(messages, **kwargs):
        rendered.append(messages[0]["content"])
        return f"user: {messages[0]['content']}\nassistant:"

    monkeypatch.setattr(tok, "apply_chat_template", spy)
    sample(model, tok, ["1+1="], max_new_tokens=2)  # no template: raw text
    assert rendered == []
    with pytest.raises(ValueError, match="no chat template"):
        sample(model, tok, ["1+1="], max_new_tokens=2, chat=True)

    tok.chat_template = "{{ messages[0]['content'] }}"  # any template: the spy renders
    sample(model, tok, ["1+1="], max_new_tokens=2)
    assert rendered == ["1+1="]
    sample(model, tok, ["2+2="], max_new_tokens=2, chat=False)
    assert rendered == ["1+1="]


def test_restores_training_mode(model_and_tok):
    model, tok = model_and_tok
    model.train()
    sample(model, tok, ["q"], max_new_tokens=2)
    assert model.training


def test_progress_bar_only_for_many_batches(model_and_tok, capsys, monkeypatch):
    from rlaudit import progress

    model, tok = model_and_tok
    monkeypatch.setattr(progress, "disable_flag", lambda: False)  # as on a terminal
    sample(model, tok, PROMPTS, max_new_tokens=1, batch_size=len(PROMPTS))
    assert "sampling" not in capsys.readouterr().err
    sample(model, tok, ["q"] * 4, max_new_tokens=1, batch_size=1)
    assert "sampling" in capsys.readouterr().err
    monkeypatch.undo()
    with progress.quiet():  # what the CLI enters under --json
        sample(model, tok, ["q"] * 4, max_new_tokens=1, batch_size=1)
    assert "sampling" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, "must be >= 1"),
        ({"max_new_tokens": 0}, "must be >= 1"),
        ({"batch_size": 0}, "must be >= 1"),
        ({"temperature": -0.1}, "temperature must be >= 0"),
        ({"temperature": float("nan")}, "temperature must be >= 0"),
    ],
)
def test_rejects_bad_arguments(model_and_tok, kwargs, match):
    model, tok = model_and_tok
    with pytest.raises(ValueError, match=match):
        sample(model, tok, PROMPTS, **kwargs)


def test_needs_a_pad_token(model_and_tok):
    model, tok = model_and_tok
    tok.pad_token = None
    with pytest.raises(ValueError, match="no pad token"):
        sample(model, tok, PROMPTS)


def _generate_spy(monkeypatch, *, oom_above: int | None = None, draw_first: bool = False):
    """Wrap the decoding of one batch (`sampling._decode`): record each call's number of sequences; with
    `oom_above`, raise ``torch.OutOfMemoryError`` for a larger batch (after drawing from the RNG, with
    `draw_first`, as a real run may before it fails)."""
    real = sampling._decode
    sizes: list[int] = []

    def decode(model, tokenizer, prompts, *args):
        sizes.append(len(prompts))
        if oom_above is not None and len(prompts) > oom_above:
            if draw_first:
                torch.rand(100)
            raise torch.OutOfMemoryError(f"CUDA out of memory (simulated, {len(prompts)} rows)")
        return real(model, tokenizer, prompts, *args)

    monkeypatch.setattr(sampling, "_decode", decode)
    return sizes


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_out_of_memory_backs_off_to_the_same_results(model_and_tok, temperature, monkeypatch):
    model, tok = model_and_tok
    prompts = [f"{i}+{i}=" for i in range(7)]
    kwargs = {"n": 2, "temperature": temperature, "max_new_tokens": 5, "seed": 1}
    expected = sample(model, tok, prompts, batch_size=3, **kwargs)
    sizes = _generate_spy(monkeypatch, oom_above=3, draw_first=True)
    with pytest.warns(UserWarning, match="out of memory generating 12 sequences"):
        out = sample(model, tok, prompts, batch_size=12, **kwargs)
    assert out == expected  # in order, and the failed attempts left the RNG as it was
    assert sizes[:3] == [12, 6, 3] and max(sizes[3:]) <= 3


def test_out_of_memory_at_batch_one_is_raised(model_and_tok, monkeypatch):
    model, tok = model_and_tok
    _generate_spy(monkeypatch, oom_above=0)
    with pytest.raises(torch.OutOfMemoryError):
        sample(model, tok, PROMPTS, batch_size=1, max_new_tokens=2)
    rng = torch.get_rng_state()
    with pytest.warns(UserWarning), pytest.raises(torch.OutOfMemoryError):
        sample(model, tok, PROMPTS, batch_size=3, max_new_tokens=2)
    assert torch.equal(torch.get_rng_state(), rng)


def test_the_cli_batch_size_overrides_every_caller(model_and_tok, monkeypatch):
    model, tok = model_and_tok
    sizes = _generate_spy(monkeypatch)
    with generation_batch_size(2):
        sample(model, tok, PROMPTS, n=2, max_new_tokens=2, batch_size=5)
        sample(model, tok, PROMPTS, max_new_tokens=2)
    assert sizes == [2, 2, 2, 2, 1]
    sizes.clear()
    sample(model, tok, PROMPTS, n=2, max_new_tokens=2, batch_size=5)  # outside the block: the caller's
    assert sizes == [5, 1]


def test_no_batch_size_asks_auto_batch_size(model_and_tok, monkeypatch):
    model, tok = model_and_tok
    asked = []

    def auto(m, *, max_new_tokens, prompt_tokens):
        asked.append((max_new_tokens, prompt_tokens))
        return 2

    monkeypatch.setattr(sampling, "auto_batch_size", auto)
    sizes = _generate_spy(monkeypatch)
    sample(model, tok, PROMPTS, max_new_tokens=3)
    longest = max(len(tok(p)["input_ids"]) for p in PROMPTS)
    assert asked == [(3, longest)] and sizes == [2, 1]


def test_bfloat16_model_on_the_cpu(model_and_tok):
    model, tok = model_and_tok
    model = model.to(torch.bfloat16)
    out = sample(model, tok, PROMPTS, n=2, max_new_tokens=4, temperature=0)
    assert len(out) == 6 and all(s.n_tokens >= 1 and math.isfinite(s.entropy) for s in out)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu(tmp_path, tiny_model_builder):
    """The GPU path end to end: device "cuda", dtype auto (bfloat16 on a recent GPU) at an automatic
    batch size, batched greedy decoding that matches one-by-one, and the back-off on a real CUDA
    out-of-memory error."""
    from rlaudit.models.loading import load_model

    model, tok = tiny_model_builder()
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    model, tok = load_model(tmp_path, device="cuda")
    assert model.device.type == "cuda"
    assert model.dtype == (torch.bfloat16 if torch.cuda.is_bf16_supported(False) else torch.float16)
    out = sample(model, tok, PROMPTS * 20, n=2, max_new_tokens=4)  # auto batch size
    assert [s.prompt_index for s in out] == [i for i in range(60) for _ in range(2)]
    assert all(math.isfinite(s.entropy) and s.logprob <= 0 for s in out)

    # Left padding on the GPU (float32: a random model's near-uniform logits tie in bfloat16).
    model, tok = load_model(tmp_path, device="cuda:0", dtype="float32")
    batched = sample(model, tok, PROMPTS, n=2, temperature=0, max_new_tokens=6, batch_size=6)
    one_by_one = sample(model, tok, PROMPTS, n=2, temperature=0, max_new_tokens=6, batch_size=1)
    assert [s.completion for s in batched] == [s.completion for s in one_by_one]

    real = model.forward

    def forward(**kwargs):
        if kwargs["input_ids"].shape[0] > 2:  # a real allocation far beyond any GPU's memory
            torch.empty(2**50, dtype=torch.uint8, device=model.device)
        return real(**kwargs)

    expected = sample(model, tok, PROMPTS * 2, temperature=1.0, max_new_tokens=4, batch_size=2, seed=5)
    model.forward = forward
    with pytest.warns(UserWarning, match="out of memory"):
        out = sample(model, tok, PROMPTS * 2, temperature=1.0, max_new_tokens=4, batch_size=6, seed=5)
    assert out == expected


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_without_stats_the_same_completions(model_and_tok, temperature):
    model, tok = model_and_tok
    kwargs = {"n": 3, "temperature": temperature, "max_new_tokens": 6, "seed": 2, "batch_size": 9}
    with_stats = sample(model, tok, PROMPTS, **kwargs)
    without = sample(model, tok, PROMPTS, stats=False, **kwargs)
    assert [s.completion for s in without] == [s.completion for s in with_stats]
    assert [s.n_tokens for s in without] == [s.n_tokens for s in with_stats]
    assert all(math.isnan(s.entropy) and math.isnan(s.logprob) for s in without)
