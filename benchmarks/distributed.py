"""Data-parallel training across processes: chainrule's pmap over MPI vs
PyTorch DistributedDataParallel (Gloo), on the same model, batch and cores.

The workload of issue 12: one SGD step of the W1 MLP (784-512-512-10, ReLU,
softmax cross-entropy, float64; 670k parameters) at 1 and 2 ranks, one
thread per rank, each rank pinned to its own core.

- strong scaling: global batch 256 split over the ranks (efficiency T1 / (k Tk));
- weak scaling: 256 per rank (efficiency T1 / Tk);
- the gradient all-reduce alone: chainrule's (all leaves packed into one
  buffer, one MPI_Allreduce) against a bare mpi4py Allreduce of the same
  670k float64 buffer.

    python benchmarks/distributed.py            # launches mpiexec -n 1 and -n 2 itself

Results are checked first: every rank's parameters after the step equal a
one-process step on the global batch. Writes benchmarks/results/distributed.json.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = [784, 512, 512, 10]
BATCH = 256
REPEATS = 15


def _pin_by_rank():
    """One core per rank, before NumPy or torch start their thread pools."""
    rank = int(os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0")))
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[rank % len(cores)]})
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS"):
        os.environ[var] = "1"
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):   # see the machine notes
        os.environ.pop(var, None)
    return rank


def _median_time(fn, repeats=REPEATS, barrier=None):
    times = []
    for _ in range(repeats):
        if barrier is not None:
            barrier()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def worker(mode, per_rank):
    _pin_by_rank()
    import numpy as np
    sys.path.insert(0, os.path.join(HERE, "..", "src"))
    os.environ.setdefault("CHAINRULE_JIT_COMPILE", "sync")  # time compiled kernels from call one
    import chainrule as cr
    import chainrule.nn as nn
    import chainrule.numpy as cnp
    from chainrule import distributed, lax
    from chainrule.tree_util import tree_leaves

    comm = distributed.initialize()
    mpi = comm.comm if comm.size > 1 else None
    rank, ranks = comm.rank, comm.size
    barrier = mpi.Barrier if mpi is not None else None
    rng = np.random.default_rng(0)
    params = [{"w": rng.normal(0, np.sqrt(2 / m), (m, n)), "b": np.zeros(n)}
              for m, n in zip(SIZES[:-1], SIZES[1:])]
    global_batch = per_rank * ranks
    x_all = rng.normal(size=(global_batch, SIZES[0]))
    y_all = np.eye(SIZES[-1])[rng.integers(0, SIZES[-1], global_batch)]
    mine = slice(rank * per_rank, (rank + 1) * per_rank)
    lr = 0.01

    def loss(p, x, y):
        h = x
        for layer in p[:-1]:
            h = nn.relu(h @ layer["w"] + layer["b"])
        logits = h @ p[-1]["w"] + p[-1]["b"]
        return -cnp.mean(cnp.sum(y * nn.log_softmax(logits, axis=-1), axis=-1))

    def shard_step(p, x, y):
        g = lax.pmean(cr.grad(loss)(p, x, y), "ranks")
        return [{k: layer[k] - lr * gl[k] for k in layer} for layer, gl in zip(p, g)]

    result = {"ranks": ranks, "per_rank": per_rank}
    try:
        from threadpoolctl import threadpool_info
        result["blas"] = [(i.get("internal_api"), i.get("architecture"), i.get("num_threads"))
                          for i in threadpool_info()]
    except ImportError:
        pass
    if mode == "chainrule":
        step = cr.jit(cr.pmap(shard_step, "ranks", in_axes=(None, 0, 0), out_axes=None))
        x, y = x_all[mine][None], y_all[mine][None]
        new = step(params, x, y)
        serial = cr.jit(lambda p, x, y: [{k: layer[k] - lr * gl[k] for k in layer} for layer, gl
                                         in zip(p, cr.grad(loss)(p, x, y))])(params, x_all, y_all)
        err = max(float(np.max(np.abs(a - b))) for a, b in zip(tree_leaves(new),
                                                              tree_leaves(serial)))
        assert err < 1e-12, err
        result["check_max_abs_diff"] = err
        result["step"] = _median_time(lambda: step(params, x, y), barrier=barrier)
        grads = tree_leaves(cr.grad(loss)(params, x_all[mine], y_all[mine]))
        result["allreduce_chainrule"] = _median_time(lambda: comm.allreduce(grads, "sum"),
                                                     barrier=barrier)
        if mpi is not None:
            from mpi4py import MPI
            buf = np.concatenate([g.ravel() for g in grads])
            result["allreduce_bare_mpi4py"] = _median_time(
                lambda: mpi.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM), barrier=barrier)
            result["allreduce_elements"] = int(buf.size)
    else:   # torch DDP over Gloo, the same model and shards
        import torch
        import torch.distributed as tdist
        torch.set_num_threads(1)
        torch.set_default_dtype(torch.float64)
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", "29533")
        tdist.init_process_group("gloo", rank=rank, world_size=ranks)
        model = torch.nn.Sequential(
            torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512),
            torch.nn.ReLU(), torch.nn.Linear(512, 10))
        with torch.no_grad():
            for lin, p in zip([model[0], model[2], model[4]], params):
                lin.weight.copy_(torch.from_numpy(p["w"].T))
                lin.bias.copy_(torch.from_numpy(p["b"]))
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        opt = torch.optim.SGD(ddp.parameters(), lr=lr)
        x = torch.from_numpy(x_all[mine])
        y = torch.from_numpy(y_all[mine])

        def step():
            opt.zero_grad(set_to_none=True)
            logp = torch.log_softmax(ddp(x), dim=-1)
            (-(y * logp).sum(-1).mean()).backward()
            opt.step()

        result["step"] = _median_time(step, barrier=tdist.barrier)
        tdist.destroy_process_group()
    if rank == 0:
        print("RESULT " + json.dumps(result), flush=True)


def launch(n, mode, per_rank):
    env = dict(os.environ, PYTHONPATH=os.path.join(HERE, "..", "src"))
    out = subprocess.run(["mpiexec", "-n", str(n), sys.executable, __file__, "--worker", mode,
                          "--per-rank", str(per_rank)], capture_output=True, text=True,
                         timeout=600, env=env)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{mode} on {n} ranks failed:\n{out.stdout}\n{out.stderr}")


def main():
    try:
        import torch  # noqa: F401
        modes = ["chainrule", "torch"]
    except ImportError:
        modes = ["chainrule"]
        print("PyTorch is not installed: its rows are skipped (pip install torch==2.13.0)")
    rows = {}
    for mode in modes:
        one = launch(1, mode, BATCH)
        strong = launch(2, mode, BATCH // 2)
        weak = launch(2, mode, BATCH)
        rows[mode] = {"1 rank": one, "2 ranks strong": strong, "2 ranks weak": weak,
                      "strong_eff": one["step"] / (2 * strong["step"]),
                      "weak_eff": one["step"] / weak["step"]}
    print(f"\nData-parallel SGD step, MLP {'-'.join(map(str, SIZES))}, float64, one thread "
          f"(one pinned core) per rank, {platform.processor() or platform.machine()}")
    print(f"{'':12s} {'1 rank, 256':>12s} {'2x128':>9s} {'2x256':>9s} {'strong eff':>11s} "
          f"{'weak eff':>9s}")
    for mode, r in rows.items():
        ms = [r[k]["step"] * 1e3 for k in ("1 rank", "2 ranks strong", "2 ranks weak")]
        print(f"{mode:12s} {ms[0]:10.2f}ms {ms[1]:7.2f}ms {ms[2]:7.2f}ms "
              f"{r['strong_eff']:10.0%} {r['weak_eff']:8.0%}")
    w = rows["chainrule"]["2 ranks weak"]
    ratio = w["allreduce_chainrule"] / w["allreduce_bare_mpi4py"]
    print(f"\ngradient all-reduce, {w['allreduce_elements']} float64 on 2 ranks: chainrule "
          f"{w['allreduce_chainrule'] * 1e3:.2f} ms, bare mpi4py Allreduce "
          f"{w['allreduce_bare_mpi4py'] * 1e3:.2f} ms ({ratio:.2f}x)")
    sys.path.insert(0, HERE)
    from _shared import git_revision
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "distributed.json"), "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d"), "revision": git_revision(), "rows": rows,
                   "allreduce_ratio": ratio}, f, indent=1)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--worker", choices=["chainrule", "torch"])
    p.add_argument("--per-rank", type=int, default=BATCH)
    a = p.parse_args()
    if a.worker:
        worker(a.worker, a.per_rank)
    else:
        main()
