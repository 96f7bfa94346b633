#!/usr/bin/env python3
"""NumPy transcription of the entropy observer's KL search (TensorRT's algorithm as described in
src/quant/quant.cc: P = first i bins with the tail folded into the last, Q = first i bins alone
requantised into `levels` groups spread over their non-empty bins, both normalised, infinite where
P > 0 and Q = 0), written independently of the C++ to give quant_test's EntropyObserver its
expected threshold. Data: the |x| histogram of the test (bin width 1/32): bin j holds
round(100000 * exp(-j / 100)) values for j < 1000 (a Laplace-like tail, no empty bin), plus one
value at 64 (bin 2047).

usage: /usr/bin/python3 tests/quant/entropy_reference.py   -> prints the threshold bin and value
"""
import numpy as np


def entropy_threshold_bin(a, levels):
    used = len(a)
    while used > 0 and a[used - 1] == 0:
        used -= 1
    if used <= levels:
        return used
    best_kl, best_i = np.inf, used
    for i in range(levels, used + 1):
        p = a[:i].astype(np.float64).copy()
        p[i - 1] += a[i:].sum()
        h = a[:i].astype(np.float64)
        q = np.zeros(i)
        for g in range(levels):
            b0, b1 = g * i // levels, (g + 1) * i // levels
            nz = (h[b0:b1] > 0).sum()
            if nz:
                q[b0:b1] = np.where(h[b0:b1] > 0, h[b0:b1].sum() / nz, 0)
        P, Q = p / p.sum(), q / q.sum()
        m = P > 0
        if np.any(Q[m] == 0):
            continue
        kl = (P[m] * np.log(P[m] / Q[m])).sum()
        if kl < best_kl:
            best_kl, best_i = kl, i
    return best_i


def test_histogram():
    a = np.zeros(2048)
    for j in range(1000):
        a[j] = round(100000 * np.exp(-j / 100))
    a[2047] += 1
    return a


if __name__ == "__main__":
    i = entropy_threshold_bin(test_histogram(), 255)
    print(f"threshold bin {i}, t = {i}/32 = {i / 32}")
