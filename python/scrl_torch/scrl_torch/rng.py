"""The seedable random streams of @scrl/augment (sfc32 with keyed forks), bit for bit.

The TypeScript trainer derives every random draw from the run's seed through named forks:
image order per epoch from ``seed -> 'shuffle' -> epoch``, each image's views and boxes from
``seed -> 'item' -> epoch -> image index`` (boxes from a further ``'boxes'`` fork). Porting the
generator exactly lets this trainer visit the same images in the same order, with the same crop,
flip and colour decisions and the same box pairs, as ``scrl pretrain`` would.
"""

M32 = 0xFFFFFFFF
TWO_32 = 4294967296


def _imul(a, b):
    return (a * b) & M32


def _fmix32(h):
    h ^= h >> 16
    h = _imul(h, 0x85EBCA6B)
    h ^= h >> 13
    h = _imul(h, 0xC2B2AE35)
    h ^= h >> 16
    return h & M32


def _hash_words(words):
    out = []
    n = len(words)
    for lane, seed in enumerate((0x9E3779B9, 0x243F6A88, 0xB7E15162, 0x85A308D3)):
        h = (seed ^ _imul(n, 0x01000193)) & M32
        for w in words:
            k = _imul((w & M32) ^ lane, 0xCC9E2D51)
            k = ((k << 15) | (k >> 17)) & M32
            k = _imul(k, 0x1B873593)
            h ^= k
            h = ((h << 13) | (h >> 19)) & M32
            h = (_imul(h, 5) + 0xE6546B64) & M32
        out.append(_fmix32(h ^ n))
    return out


def _label_words(label):
    if isinstance(label, bool) or not isinstance(label, (int, str)):
        raise TypeError(f'rng: a seed or fork label must be an int or a str, got {type(label).__name__}')
    if isinstance(label, int):
        if abs(label) > 2**53 - 1:
            raise ValueError(f'rng: integer label {label} is not a safe integer (|x| < 2^53)')
        a = abs(label)
        return [0x4E554D42, 1 if label < 0 else 0, a & M32, (a // TWO_32) & M32]
    words = [0x53545247, len(label)]
    words.extend(ord(c) for c in label)
    return words


class Rng:
    """sfc32, as ``createRng`` of @scrl/augment: ``next``, ``int`` (inclusive), ``uniform``, ``bool``, ``fork``."""

    __slots__ = ('key', 'a', 'b', 'c', 'd')

    def __init__(self, key):
        self.key = list(key)
        self.a, self.b, self.c, self.d = key[0], key[1], key[2], key[3] | 1
        for _ in range(15):
            self.next_uint32()

    def next_uint32(self):
        t = (self.a + self.b + self.d) & M32
        self.d = (self.d + 1) & M32
        self.a = self.b ^ (self.b >> 9)
        self.b = (self.c + (self.c << 3)) & M32
        self.c = ((self.c << 21) | (self.c >> 11)) & M32
        self.c = (self.c + t) & M32
        return t

    def next(self):
        return self.next_uint32() / TWO_32

    def int(self, lo, hi):
        if lo > hi:
            raise ValueError(f'Rng.int: lo and hi must be integers with lo <= hi, got lo={lo}, hi={hi}')
        rng = hi - lo + 1
        limit = TWO_32 - (TWO_32 % rng)
        u = self.next_uint32()
        while u >= limit:
            u = self.next_uint32()
        return lo + (u % rng)

    def uniform(self, lo, hi):
        return lo + (hi - lo) * self.next()

    def bool(self, p):
        return self.next() < p

    def fork(self, label):
        return Rng(_hash_words(self.key + [0x464F524B] + _label_words(label)))


def create_rng(seed):
    """The root stream of a seed (an int or a str), as ``createRng(seed)``."""
    return Rng(_hash_words(_label_words(seed)))


def epoch_order(n, seed, epoch):
    """Image order of one epoch: Fisher-Yates from ``seed -> 'shuffle' -> epoch`` (the view-pair loader's)."""
    order = list(range(n))
    r = create_rng(seed).fork('shuffle').fork(epoch)
    for i in range(n - 1, 0, -1):
        j = r.int(0, i)
        order[i], order[j] = order[j], order[i]
    return order


def item_rng(seed, epoch, index):
    """The stream of image ``index`` in ``epoch``: its two views, then ``.fork('boxes')`` for its box pairs."""
    return create_rng(seed).fork('item').fork(epoch).fork(index)
