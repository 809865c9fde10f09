"""How much of NumPy chainrule covers, and which of it is differentiable.

For every public function of ``numpy``, ``numpy.linalg``, ``numpy.fft`` and (when SciPy is
installed) a list of ``scipy.special`` functions, this checks whether
chainrule has it and, by calling it on sample inputs, whether ``jvp``
(forward mode) and ``vjp`` (reverse mode) go through it. It prints a summary
and writes ``docs/coverage.md``.

    python benchmarks/numpy_coverage.py            # prints the summary, writes docs/coverage.md
    python benchmarks/numpy_coverage.py --print    # also prints every row

A function counts as differentiable in a mode when the transform runs on one
of the sample argument lists below without raising and gives finite numbers.
That is a probe, not a proof: the test suite checks the values.
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import pathlib
import warnings

import numpy as np

import chainrule as cr
import chainrule.numpy as cnp
import chainrule.scipy.linalg as csl
import chainrule.scipy.special as csp

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Sample argument lists tried in order: the first that the function accepts
# (on plain arrays) is used for the transforms.
rng = np.random.default_rng(0)
SQUARE = rng.normal(size=(3, 3)) + 3 * np.eye(3)
SAMPLES = [
    (rng.uniform(0.2, 0.9, size=(4,)),),
    (rng.uniform(0.2, 0.9, size=(3, 4)),),
    (SQUARE @ SQUARE.T,),
    (rng.uniform(0.2, 0.9, size=(4,)), rng.uniform(0.2, 0.9, size=(4,))),
    (rng.uniform(0.2, 0.9, size=(3, 3)), rng.uniform(0.2, 0.9, size=(3, 3))),
    (rng.uniform(0.2, 0.9, size=(4,)), 2),
    (rng.uniform(0.2, 0.9, size=(4,)), 0.3, 0.7),
    (rng.uniform(1.2, 2.0, size=(4,)),),  # domains above 1 (arccosh)
]

# jax.scipy.linalg's names (JAX 0.10)
SCIPY_LINALG = ["block_diag", "cho_factor", "cho_solve", "cholesky", "circulant", "companion",
                "convolution_matrix", "det", "dft", "eigh", "eigh_tridiagonal", "expm",
                "expm_frechet", "fiedler", "fiedler_companion", "funm", "hadamard", "hankel",
                "helmert", "hessenberg", "hilbert", "inv", "invhilbert", "invpascal", "leslie",
                "lu", "lu_factor", "lu_solve", "pascal", "polar", "qr", "qr_multiply",
                "rsf2csf", "schur", "solve", "solve_sylvester", "solve_triangular", "sqrtm",
                "svd", "toeplitz"]

SPECIAL = ["erf", "erfc", "gammaln", "digamma", "expit", "logit", "xlogy", "xlog1py",
           "logsumexp", "softmax", "log_softmax", "ndtr", "gamma", "betaln", "entr",
           "erfinv", "ndtri", "log_ndtr", "gammainc", "gammaincc", "betainc", "polygamma",
           "multigammaln", "i0", "i0e", "i1", "i1e", "kl_div", "rel_entr", "zeta", "spence"]


def numpy_functions(module):
    names = []
    for name in dir(module):
        if name.startswith("_"):
            continue
        obj = getattr(module, name)
        if (isinstance(obj, np.ufunc) or inspect.isfunction(obj) or inspect.isbuiltin(obj)
                or type(obj).__name__ == "_ArrayFunctionDispatcher"):
            names.append(name)
    return sorted(names)


def first_working_args(fun, complex_ok=False, ints_ok=False):
    kinds = ("fc" if complex_ok else "f") + ("iu" if ints_ok else "")
    for args in SAMPLES:
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                out = fun(*args)
            leaves = cr.tree_util.tree_leaves(out)
            if leaves and all(np.asarray(x).dtype.kind in kinds and np.all(np.isfinite(x))
                              for x in leaves):
                return args
        except Exception:  # noqa: BLE001 - a probe: any failure means "not these args"
            continue
    return None


def differentiable(fun, args):
    """(forward, reverse) for the float array arguments of ``args``."""
    idx = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]

    def of_arrays(*xs):
        full = list(args)
        for i, x in zip(idx, xs):
            full[i] = x
        return fun(*full)

    primals = tuple(args[i] for i in idx)
    result = []
    for mode in ("fwd", "rev"):
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                if mode == "fwd":
                    _, t = cr.jvp(of_arrays, primals, tuple(np.ones_like(p) for p in primals))
                    leaves = cr.tree_util.tree_leaves(t)
                else:
                    out, pullback = cr.vjp(of_arrays, *primals)
                    leaves = cr.tree_util.tree_leaves(
                        pullback(cr.tree_util.tree_map(np.ones_like, out)))
            result.append(all(np.all(np.isfinite(np.asarray(x))) for x in leaves))
        except Exception:  # noqa: BLE001 - a probe
            result.append(False)
    return tuple(result)


def survey(np_module, cr_module, names, complex_ok=False, ints_ok=False):
    rows = []
    for name in names:
        fun = getattr(cr_module, name, None)
        if fun is None or not callable(fun):
            rows.append((name, False, None, None))
            continue
        args = first_working_args(fun, complex_ok, ints_ok)
        fwd, rev = differentiable(fun, args) if args is not None else (None, None)
        rows.append((name, True, fwd, rev))
    return rows


def mark(v):
    return {True: "yes", False: "no", None: "–"}[v]


def table(title, rows):
    have = sum(r[1] for r in rows)
    fwd = sum(bool(r[2]) for r in rows)
    rev = sum(bool(r[3]) for r in rows)
    lines = [f"## {title}", "",
             f"{have} of {len(rows)} functions exist; {fwd} differentiate in forward mode, "
             f"{rev} in reverse mode (on the probe inputs).", "",
             "| function | in chainrule | jvp | vjp |", "| --- | --- | --- | --- |"]
    lines += [f"| `{n}` | {mark(h)} | {mark(f)} | {mark(r)} |" for n, h, f, r in rows]
    return lines, (have, len(rows), fwd, rev)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--print", action="store_true", help="print every row")
    opts = parser.parse_args()
    sections = [("numpy", survey(np, cnp, numpy_functions(np))),
                ("numpy.linalg", survey(np.linalg, cnp.linalg, numpy_functions(np.linalg),
                                        complex_ok=True)),
                ("numpy.fft", survey(np.fft, cnp.fft, numpy_functions(np.fft), complex_ok=True)),
                ("scipy.special (a selection)", survey(None, csp, SPECIAL)),
                ("scipy.linalg (jax.scipy.linalg's names)",
                 survey(None, csl, SCIPY_LINALG, complex_ok=True, ints_ok=True))]
    out = ["# NumPy coverage", "",
           f"Generated by `python benchmarks/numpy_coverage.py` on {datetime.date.today()} "
           f"(NumPy {np.__version__}). A function counts as differentiable in a mode when "
           "`jvp`/`vjp` run through it on a sample input and give finite numbers; the test "
           "suite checks the values.", ""]
    for title, rows in sections:
        lines, (have, total, fwd, rev) = table(title, rows)
        print(f"{title:30s} {have:4d} / {total:4d} exist   jvp {fwd:4d}   vjp {rev:4d}")
        if opts.print:
            for n, h, f, r in rows:
                print(f"    {n:30s} {mark(h):4s} {mark(f):4s} {mark(r):4s}")
        out += lines + [""]
    path = ROOT / "docs" / "coverage.md"
    path.write_text("\n".join(out))
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
