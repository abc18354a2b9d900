import pytest

torch = pytest.importorskip("torch")

from rlaudit.models.threads import SMALL_MODEL_PARAMETERS, suggested_threads, torch_threads  # noqa: E402


class _Big:
    """Stands in for a model of `SMALL_MODEL_PARAMETERS` parameters (all `suggested_threads` reads)."""

    class _Weight:
        def numel(self) -> int:
            return SMALL_MODEL_PARAMETERS

    def parameters(self):
        return [self._Weight()]


def test_small_models_get_one_thread(tiny_model_builder):
    model, _ = tiny_model_builder()
    assert suggested_threads(model) == 1
    assert suggested_threads(_Big()) is None


def test_threads_are_restored_even_on_error(tiny_model_builder):
    model, _ = tiny_model_builder()
    before = torch.get_num_threads()
    with torch_threads(model):
        assert torch.get_num_threads() == 1
    with pytest.raises(RuntimeError), torch_threads(None, 3):
        assert torch.get_num_threads() == 3
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with torch_threads(_Big()):
        assert torch.get_num_threads() == before  # a big model keeps torch's default
