import contextlib
import warnings

import pytest

torch = pytest.importorskip("torch")

from rlaudit.models import device as dev  # noqa: E402
from rlaudit.models.device import (  # noqa: E402
    AUTO_BATCH_CAP,
    FALLBACK_BATCH_SIZE,
    auto_batch_size,
    batch_size_override,
    generation_batch_size,
    is_out_of_memory,
    resolve_device,
    resolve_dtype,
    run_with_backoff,
    sequence_bytes,
)


@pytest.fixture
def machine(monkeypatch):
    """``machine(gpus=N, mps=bool)``: what torch reports about the hardware, faked."""

    def fake(gpus: int = 0, mps: bool = False) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
        monkeypatch.setattr(dev, "_mps_available", lambda: mps)

    return fake


def test_auto_prefers_a_gpu_then_mps_then_the_cpu(machine):
    machine(gpus=0)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device() == torch.device("cpu")
    machine(gpus=0, mps=True)
    assert resolve_device("auto") == torch.device("mps")
    machine(gpus=2, mps=True)
    assert resolve_device("auto") == torch.device("cuda", 0)


def test_named_devices(machine):
    machine(gpus=2, mps=True)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device(" CUDA:1 ") == torch.device("cuda", 1)
    assert resolve_device("mps") == torch.device("mps")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_absent_devices_say_what_exists(machine):
    machine(gpus=0)
    with pytest.raises(
        ValueError, match=r"'cuda' is not available .*torch sees no CUDA GPU; available: cpu\)$"
    ):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="'mps' is not available"):
        resolve_device("mps")
    machine(gpus=2)
    with pytest.raises(
        ValueError, match=r"'cuda:7' .*torch sees 2 CUDA GPU\(s\); available: cpu, cuda:0\.\.cuda:1"
    ):
        resolve_device("cuda:7")


@pytest.mark.parametrize("spec", ["tpu", "gpu", "", "cuda:x", "cuda:-1"])
def test_unknown_devices(machine, spec):
    machine(gpus=1)
    with pytest.raises(ValueError, match="device"):
        resolve_device(spec)


@pytest.mark.parametrize(
    ("spec", "dtype"),
    [
        ("float32", torch.float32),
        ("fp32", torch.float32),
        ("bfloat16", torch.bfloat16),
        ("BF16", torch.bfloat16),
        ("float16", torch.float16),
        ("fp16", torch.float16),
        (torch.bfloat16, torch.bfloat16),
    ],
)
def test_named_dtypes(spec, dtype):
    assert resolve_dtype(spec, torch.device("cpu")) == dtype


def test_auto_dtype_by_device(machine, monkeypatch):
    machine(gpus=1)
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("auto", torch.device("mps")) == torch.float16
    monkeypatch.setattr(torch.cuda, "device", lambda _d: contextlib.nullcontext())
    for native, expected in ((True, torch.bfloat16), (False, torch.float16)):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True, n=native: n)
        assert resolve_dtype("auto", torch.device("cuda", 0)) == expected


def test_auto_dtype_without_a_device_is_the_auto_devices(machine):
    machine(gpus=0)
    assert resolve_dtype() == torch.float32


def test_unknown_dtype():
    with pytest.raises(ValueError, match="unknown dtype 'int8'"):
        resolve_dtype("int8", torch.device("cpu"))


class _Config:
    num_hidden_layers = 2
    hidden_size = 64
    num_attention_heads = 4
    num_key_value_heads = 2
    intermediate_size = 128
    vocab_size = 1000


class _Model(torch.nn.Module):
    def __init__(self, config=None):
        super().__init__()
        self.config = config if config is not None else _Config()
        self.weight = torch.nn.Parameter(torch.zeros(2, dtype=torch.bfloat16))


def test_sequence_bytes_counts_kv_cache_logits_and_the_prompt_pass():
    got = sequence_bytes(_Model(), max_new_tokens=10, prompt_tokens=6)
    kv = 2 * 2 * 2 * 16 * (6 + 10) * 2  # k and v, layers, kv heads, head dim, tokens, bf16 bytes
    logits = dev.LOGIT_COPIES * 10 * 1000 * 4
    prompt = (dev.ACTIVATION_WIDTHS * 64 + 2 * 128) * 6 * 2
    assert got == kv + logits + prompt
    assert sequence_bytes(_Model(config=object()), max_new_tokens=10, prompt_tokens=6) is None


def test_auto_batch_size_from_free_memory(monkeypatch):
    model = _Model()
    per = sequence_bytes(model, max_new_tokens=10, prompt_tokens=6)
    free = {"bytes": 0}
    monkeypatch.setattr(dev, "free_memory_bytes", lambda _device: free["bytes"])

    def batch(**kw):
        return auto_batch_size(model, max_new_tokens=10, prompt_tokens=6, **kw)

    free["bytes"] = 10**15
    assert batch() == AUTO_BATCH_CAP
    assert batch(cap=5) == 5
    free["bytes"] = 0
    assert batch() == 1
    free["bytes"] = int(per * 11 / dev.MEMORY_FRACTION)  # room for 11: rounded down to 8
    assert batch() == 8
    free["bytes"] = None
    assert batch() == FALLBACK_BATCH_SIZE
    assert batch(cap=3) == 3
    with pytest.raises(ValueError, match="cap must be >= 1"):
        batch(cap=0)


def test_auto_batch_size_on_this_machine(tiny_model_builder):
    model, _ = tiny_model_builder()
    size = auto_batch_size(model, max_new_tokens=8, prompt_tokens=16)
    assert 1 <= size <= AUTO_BATCH_CAP
    assert dev.free_memory_bytes(torch.device("cpu")) > 0  # psutil is installed (via accelerate)


def _oom_above(k: int, calls: list[tuple[int, int]], error=torch.OutOfMemoryError):
    def fn(start: int, stop: int) -> list[int]:
        calls.append((start, stop))
        if stop - start > k:
            raise error("CUDA out of memory. Tried to allocate 1 GiB")
        return list(range(start, stop))

    return fn


def test_backoff_halves_retries_and_keeps_the_order():
    calls: list[tuple[int, int]] = []
    done: list[int] = []
    with pytest.warns(
        UserWarning, match=r"out of memory generating 8 sequences at once; retrying 4 at a time"
    ) as record:
        out = run_with_backoff(_oom_above(3, calls), 21, 8, on_chunk=done.append)
    assert out == list(range(21))
    assert len(record) == 1  # warned once, although it backed off twice
    assert calls[:3] == [(0, 8), (0, 4), (0, 2)]  # the same chunk, halved until it fits
    assert all(stop - start <= 2 for start, stop in calls[3:])  # the rest at the smaller batch
    assert sum(done) == 21


def test_backoff_recognises_runtime_errors_that_say_out_of_memory():
    with pytest.warns(UserWarning, match="retrying 1 at a time"):
        out = run_with_backoff(_oom_above(1, [], error=RuntimeError), 3, 4)
    assert out == [0, 1, 2]
    assert is_out_of_memory(RuntimeError("MPS backend out of memory"))
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("x"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))


def test_backoff_reraises_at_one_and_passes_other_errors_through():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(torch.OutOfMemoryError):
            run_with_backoff(_oom_above(0, []), 5, 4)
    calls: list[tuple[int, int]] = []
    with pytest.raises(torch.OutOfMemoryError):
        run_with_backoff(_oom_above(0, calls), 5, 1)
    assert calls == [(0, 1)]  # no retry at batch 1

    def broken(start: int, stop: int) -> list[int]:
        raise ValueError("not memory")

    with pytest.raises(ValueError, match="not memory"):
        run_with_backoff(broken, 5, 4)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        run_with_backoff(broken, 5, 0)
    assert run_with_backoff(broken, 0, 4) == []


def test_generation_batch_size_is_scoped():
    assert batch_size_override() is None
    with generation_batch_size(4):
        assert batch_size_override() == 4
        with generation_batch_size(None):
            assert batch_size_override() is None
        assert batch_size_override() == 4
    assert batch_size_override() is None
    with pytest.raises(ValueError, match=">= 1"), generation_batch_size(0):
        pass
