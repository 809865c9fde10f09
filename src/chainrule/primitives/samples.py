"""Test points for primitives: each primitive's ``samples(rng)`` returns a list
of ``(args, params)`` inside its domain, which the registry tests sweep."""

from __future__ import annotations

UNARY_SHAPES = [(), (3,), (2, 3)]
BINARY_SHAPES = [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 2))]


def unary_samples(lo, hi, params=({},)):
    def samples(rng):
        return [((rng.uniform(lo, hi, size=shape),), dict(p))
                for shape in UNARY_SHAPES for p in params]
    return samples


def binary_samples(lo, hi):
    def samples(rng):
        return [((rng.uniform(lo, hi, size=sx), rng.uniform(lo, hi, size=sy)), {})
                for sx, sy in BINARY_SHAPES]
    return samples
