#!/usr/bin/env python3
"""Writes shuffle_golden.json: the permutations llmc::shuffled_indices must produce, from an
independent Python implementation of std::mt19937_64 (C++ [rand.eng.mers], parameters of
[rand.predef]) and of the Fisher-Yates / rejection-sampling procedure documented in
include/llmc/text/dataset_sampling.hpp. Usage: python3 make_shuffle_golden.py
"""
import json
import os

M64 = (1 << 64) - 1


class MT19937_64:
    n, m, r = 312, 156, 31
    a = 0xB5026F5AA96619E9
    u, d = 29, 0x5555555555555555
    s, b = 17, 0x71D67FFFEDA60000
    t, c = 37, 0xFFF7EEE000000000
    l, f = 43, 6364136223846793005

    def __init__(self, seed):
        self.x = [seed & M64]
        for i in range(1, self.n):
            prev = self.x[-1]
            self.x.append((self.f * (prev ^ (prev >> 62)) + i) & M64)
        self.i = 0

    def __call__(self):
        n, m = self.n, self.m
        upper = (M64 << self.r) & M64
        lower = ~upper & M64
        k = self.i
        y = (self.x[k] & upper) | (self.x[(k + 1) % n] & lower)
        self.x[k] = self.x[(k + m) % n] ^ (y >> 1) ^ (self.a if y & 1 else 0)
        z = self.x[k]
        self.i = (k + 1) % n
        z ^= (z >> self.u) & self.d
        z ^= (z << self.s) & self.b
        z ^= (z << self.t) & self.c
        z ^= z >> self.l
        return z & M64


def uniform_below(engine, m):
    reject_from = (1 << 64) - ((1 << 64) % m)
    while True:
        x = engine()
        if x < reject_from:
            return x % m


def shuffled_indices(n, seed):
    p = list(range(n))
    e = MT19937_64(seed)
    for i in range(n - 1, 0, -1):
        j = uniform_below(e, i + 1)
        p[i], p[j] = p[j], p[i]
    return p


def main():
    e = MT19937_64(5489)  # default seed; the standard fixes the 10000th output
    for _ in range(9999):
        e()
    out = {
        "mt19937_64_default_10000th": str(e()),
        "permutations": [{"n": n, "seed": s, "perm": shuffled_indices(n, s)}
                         for n, s in ((10, 42), (10, 7), (1, 42), (2, 0), (2114, 42))],
    }
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "shuffle_golden.json"), "w") as f:
        json.dump(out, f)
        f.write("\n")
    print(out["mt19937_64_default_10000th"], out["permutations"][0])


if __name__ == "__main__":
    main()
