import pytest
import torch

from rlaudit.interp.pooling import pooling_weights, position_ids

# Row 0 left-padded (2 pads), row 1 full; prompts of 2 and 3 real tokens.
MASK = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
LENGTHS = torch.tensor([2, 3])


def chosen(weights):
    return [torch.nonzero(row).flatten().tolist() for row in weights]


def test_last_prompt_with_left_padding():
    assert chosen(pooling_weights(MASK, LENGTHS, "last_prompt")) == [[3], [2]]


def test_last_token():
    assert chosen(pooling_weights(MASK, LENGTHS, "last")) == [[4], [4]]


def test_completion_mean_averages_the_completion_tokens_only():
    w = pooling_weights(MASK, LENGTHS, "completion_mean")
    assert chosen(w) == [[4], [3, 4]]
    assert torch.allclose(w.sum(dim=1), torch.ones(2))
    assert w[1, 3].item() == pytest.approx(0.5)


def test_right_padding_picks_the_same_real_tokens():
    right = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    assert chosen(pooling_weights(right, LENGTHS, "last_prompt")) == [[1], [2]]
    assert chosen(pooling_weights(right, LENGTHS, "last")) == [[2], [4]]


def test_no_completion_token_is_an_error():
    with pytest.raises(ValueError, match="completion token"):
        pooling_weights(MASK, torch.tensor([3, 3]), "completion_mean")


@pytest.mark.parametrize("lengths", [[0, 3], [4, 3]])
def test_prompt_lengths_out_of_range(lengths):
    with pytest.raises(ValueError, match="prompt"):
        pooling_weights(MASK, torch.tensor(lengths), "last")


def test_unknown_pooling():
    with pytest.raises(ValueError, match="unknown pooling"):
        pooling_weights(MASK, LENGTHS, "max")


def test_position_ids_count_real_tokens():
    assert position_ids(MASK).tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 3, 4]]
