"""Framework values are recognised by duck typing, without importing the framework."""

from __future__ import annotations

import sys

import trackkit


def fake_tensor_class(module: str, numel: int, value: object):
    """A stand-in for torch.Tensor / tf.Tensor: only its module name and methods tell what it is."""

    class Tensor:
        def numel(self) -> int:
            return numel

        def size(self) -> tuple:  # torch's size() is a method, not a count
            return (numel,)

        def item(self) -> object:
            return value

        def tolist(self) -> object:
            return [value] * numel

    Tensor.__module__ = module
    return Tensor


def test_torch_like_scalars_are_logged_as_numbers_and_torch_is_not_imported() -> None:
    """A value whose type lives in module `torch` is read with .item(); torch itself is never imported."""
    scalar = fake_tensor_class("torch", 1, 0.125)()
    vector = fake_tensor_class("torch", 3, 2.0)()
    with trackkit.init(project="p", config={"t": scalar, "v": vector}) as run:
        run.log({"loss": scalar, "vec": vector})
    stored = trackkit.Api().run(f"p/{run.id}")
    assert stored.config == {"t": 0.125, "v": [2.0, 2.0, 2.0]}
    row = next(stored.scan_history())
    assert (row["loss"], row["vec"]) == (0.125, [2.0, 2.0, 2.0])
    assert "torch" not in sys.modules


def test_large_arrays_in_config_become_a_short_description() -> None:
    """An array too large for a config value is described (shape, dtype), not dumped."""
    big = fake_tensor_class("numpy", 10_000, 1.0)()
    big.shape = (100, 100)
    big.dtype = "float32"
    with trackkit.init(project="p", config={"weights": big}) as run:
        assert run.config.weights == "<Tensor shape=(100, 100) dtype=float32>"
