"""TinyDigits: 8x8 grayscale digits the package draws itself (no download, no data file).

Each class starts from one 8x8 glyph (drawn here by hand, below); every sample is that glyph shifted by up to
one pixel, with random stroke intensity, a little blur and pixel noise, from a seeded generator, so the same
seed always gives the same dataset. It is small enough for a 2-core CPU (a Linear/CNN learns it in seconds)
and hard enough that a model must learn shapes: 1 and 7, 3 and 8, 5 and 6 differ by a few pixels.
"""
import numpy as np

__all__ = ["GLYPHS", "make_digits", "load_tiny_digits"]

_DRAWN = {
    0: ["..####..", ".##..##.", ".##..##.", ".##..##.", ".##..##.", ".##..##.", "..####..", "........"],
    1: ["...##...", "..###...", ".####...", "...##...", "...##...", "...##...", ".######.", "........"],
    2: ["..####..", ".##..##.", ".....##.", "....##..", "...##...", "..##....", ".######.", "........"],
    3: ["..####..", ".##..##.", ".....##.", "...###..", ".....##.", ".##..##.", "..####..", "........"],
    4: ["....##..", "...###..", "..####..", ".##.##..", ".######.", "....##..", "....##..", "........"],
    5: [".######.", ".##.....", ".#####..", ".....##.", ".....##.", ".##..##.", "..####..", "........"],
    6: ["..####..", ".##.....", ".##.....", ".#####..", ".##..##.", ".##..##.", "..####..", "........"],
    7: [".######.", ".....##.", "....##..", "...##...", "...##...", "...##...", "...##...", "........"],
    8: ["..####..", ".##..##.", ".##..##.", "..####..", ".##..##.", ".##..##.", "..####..", "........"],
    9: ["..####..", ".##..##.", ".##..##.", "..#####.", ".....##.", "....##..", "..###...", "........"],
}

GLYPHS = np.stack([np.array([[c == "#" for c in row] for row in _DRAWN[d]], dtype=np.float32) for d in range(10)])


def _shift(img, dy, dx):
    out = np.zeros_like(img)
    h, w = img.shape
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = img[ys, xs]
    return out


def make_digits(n_per_class=100, seed=0, noise=0.1):
    """(images, labels): images float32 (10 * n_per_class, 8, 8) in [0, 1], labels int64 0-9, shuffled."""
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, (int, np.integer)) or n_per_class < 1:
        raise ValueError(f"make_digits: n_per_class must be a positive integer, got {n_per_class!r}")
    if not 0 <= noise <= 1:
        raise ValueError(f"make_digits: noise must be between 0 and 1, got {noise!r}")
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for digit in range(10):
        for _ in range(int(n_per_class)):
            img = _shift(GLYPHS[digit], int(rng.integers(-1, 2)), int(rng.integers(-1, 2)))
            img = img * rng.uniform(0.6, 1.0)
            blurred = (img + 0.15 * (np.roll(img, 1, 0) + np.roll(img, -1, 0) + np.roll(img, 1, 1)
                                     + np.roll(img, -1, 1))) / 1.6
            img = blurred + noise * rng.standard_normal(img.shape)
            images.append(np.clip(img, 0.0, 1.0).astype(np.float32))
            labels.append(digit)
    order = rng.permutation(len(labels))
    return np.stack(images)[order], np.array(labels, dtype=np.int64)[order]


def load_tiny_digits(split="train", seed=0):
    """TinyDigits splits: 'train' (1000 images, 100 per class) and 'test' (200 images); disjoint seeds."""
    if split not in ("train", "test"):
        raise ValueError(f"load_tiny_digits: split must be 'train' or 'test', got {split!r}")
    return make_digits(100 if split == "train" else 20, seed=seed * 2 + (split == "test"))
