#!/usr/bin/python3
"""Reference values for the drift statistics in internal/policy/drift.go.

The Go tests hard-code what this script prints; they do not run it.

    /usr/bin/python3 reference_values.py           # print the values
    /usr/bin/python3 reference_values.py --write   # rewrite the fixtures first

Needs numpy and scipy (Debian: apt-get install python3-numpy python3-scipy;
printed with numpy 1.24.2 and scipy 1.10.1). The fixtures are generated from
a fixed seed and then read back from the CSV files, so the values are those
of the exact numbers the Go tests parse.

- KS: scipy.stats.ks_2samp(method="exact") for the small samples, checked
  against an exact rational count of lattice paths with Python integers;
  for the large samples (n*m above KSExactLimit) the Numerical Recipes
  asymptotic formula with scipy.special.kolmogorov as Q_KS.
- JS: scipy.spatial.distance.jensenshannon(r, c, base=2) on the bin counts.
- PSI: numpy, bins at numpy.quantile(reference, k/bins) (method "linear"),
  duplicate edges merged with numpy.unique, outer bins open, bins closed on
  the right (numpy.searchsorted side="left"), a bin (-inf, min) in front
  when the lowest edge is the reference's minimum, proportions smoothed as
  (p + 1e-4) / (1 + B * 1e-4).
"""

import csv
import math
import os
import sys
from fractions import Fraction

import numpy as np
from scipy import special, stats
from scipy.spatial.distance import jensenshannon

HERE = os.path.dirname(os.path.abspath(__file__))
EPS = 1e-4
BINS = 10
KS_EXACT_LIMIT = 1_000_000


def write_fixtures():
    rng = np.random.default_rng(20240611)

    def write(name, rows, header):
        with open(os.path.join(HERE, name), "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(header)
            w.writerows(rows)

    def fmt(v):
        return "" if v is None else "%.4f" % v

    for prefix, n_ref, n_cur in (("small", 40, 30), ("large", 1500, 1000)):
        header = ["x", "count", "shifted", "color"]
        colors = ["red", "green", "blue"]
        ref = []
        for i in range(n_ref):
            x = rng.normal(0, 1)
            ref.append([
                fmt(None if i % 13 == 5 else x),
                int(rng.poisson(3)),
                fmt(rng.normal(0, 1)),
                colors[rng.choice(3, p=[0.5, 0.3, 0.2])],
            ])
        cur = []
        cur_colors = colors + ["purple"]
        for i in range(n_cur):
            cur.append([
                fmt(None if i % 11 == 3 else rng.normal(0.3, 1.2)),
                int(rng.poisson(3.5)),
                fmt(rng.normal(2.5, 1)),
                cur_colors[rng.choice(4, p=[0.4, 0.3, 0.2, 0.1])],
            ])
        write(prefix + "_reference.csv", ref, header)
        write(prefix + "_current.csv", cur, header)


def read(name):
    with open(os.path.join(HERE, name), newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    cols = {}
    for k, h in enumerate(header):
        cells = [r[k].strip() for r in rows if r[k].strip() != ""]
        try:
            cols[h] = np.array([float(c) for c in cells])
        except ValueError:
            cols[h] = cells
    return cols


def numeric_counts(ref, cur, bins):
    q = np.arange(1, bins) / bins
    edges = np.unique(np.quantile(ref, q))
    if edges[0] == np.min(ref):
        # A point mass at the minimum: values below it get a bin of their own.
        edges = np.concatenate(([np.nextafter(edges[0], -np.inf)], edges))
    return (edges,
            np.bincount(np.searchsorted(edges, ref, side="left"), minlength=len(edges) + 1),
            np.bincount(np.searchsorted(edges, cur, side="left"), minlength=len(edges) + 1))


def categorical_counts(ref, cur):
    labels = sorted(set(ref) | set(cur))
    return (labels,
            np.array([ref.count(l) for l in labels]),
            np.array([cur.count(l) for l in labels]))


def psi(r_counts, c_counts):
    b = len(r_counts)
    r = (r_counts / r_counts.sum() + EPS) / (1 + b * EPS)
    c = (c_counts / c_counts.sum() + EPS) / (1 + b * EPS)
    return float(np.sum((c - r) * np.log(c / r)))


def ks_exact_fraction(x, y):
    """P(D >= d) as an exact fraction, counting lattice paths with integers."""
    n, m = len(x), len(y)
    g = math.gcd(n, m)
    lcm = n // g * m
    a, b = lcm // n, lcm // m
    xs, ys = np.sort(x), np.sort(y)
    allv = np.concatenate([xs, ys])
    fx = np.searchsorted(xs, allv, side="right")
    fy = np.searchsorted(ys, allv, side="right")
    h = int(np.max(np.abs(fx * a - fy * b)))
    inside = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        for j in range(m + 1):
            if abs(i * a - j * b) >= h:
                continue
            if i == 0 and j == 0:
                inside[i][j] = 1
            else:
                inside[i][j] = (inside[i - 1][j] if i else 0) + (inside[i][j - 1] if j else 0)
    total = math.comb(n + m, n)
    return Fraction(total - inside[n][m], total)


def main():
    if "--write" in sys.argv:
        write_fixtures()
    for prefix in ("small", "large"):
        ref = read(prefix + "_reference.csv")
        cur = read(prefix + "_current.csv")
        for name in ref:
            r, c = ref[name], cur[name]
            if isinstance(r, list):
                labels, rc, cc = categorical_counts(r, c)
                ks = None
                edges = labels
            else:
                edges, rc, cc = numeric_counts(r, c, BINS)
                n, m = len(r), len(c)
                if n * m <= KS_EXACT_LIMIT:
                    res = stats.ks_2samp(r, c, method="exact")
                    exact = ks_exact_fraction(r, c)
                    assert abs(float(exact) - res.pvalue) <= 1e-12, (float(exact), res.pvalue)
                    ks = (res.statistic, float(exact), "exact")
                else:
                    d = stats.ks_2samp(r, c, method="asymp").statistic
                    ne = n * m / (n + m)
                    lam = (math.sqrt(ne) + 0.12 + 0.11 / math.sqrt(ne)) * d
                    ks = (d, float(special.kolmogorov(lam)), "asymptotic")
            print("%s/%s: n=%d m=%d" % (prefix, name, len(r), len(c)))
            print("  bins=%d edges=%s" % (len(rc), list(edges)))
            print("  ref counts=%s cur counts=%s" % (list(rc), list(cc)))
            print("  psi=%r" % psi(rc, cc))
            print("  js=%r" % float(jensenshannon(rc, cc, base=2)))
            if ks:
                print("  ks_d=%r ks_p=%r (%s)" % ks)
    # Q_KS at a few points, for KolmogorovQ.
    for lam in (0.3, 0.5, 0.8, 1.0, 1.17, 1.18, 1.5, 2.0, 3.0):
        print("kolmogorov(%r)=%r" % (lam, float(special.kolmogorov(lam))))


if __name__ == "__main__":
    main()
