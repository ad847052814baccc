"""Shared harness for the PyTorch references: the same data files, split rule, timing and JSON
fields as strongid's `cargo bench --bench speed`, so bench/speed.sh can compare them line by line."""
import json, os, resource, time
import numpy as np
import torch


def setup(threads: int, seed: int):
    torch.set_num_threads(threads)
    torch.manual_seed(seed)


def load(data_dir):
    x = np.load(os.path.join(data_dir, "x.npy")).astype(np.float32)
    u_path = os.path.join(data_dir, "u.npy")
    u = np.load(u_path).astype(np.int64) if os.path.exists(u_path) else None
    return x, u


def load_segments(data_dir):
    """x as a float32 tensor and the one-hot rows of its segment labels u."""
    x, u = load(data_dir)
    envs = sorted(set(u.tolist()))
    onehot = torch.nn.functional.one_hot(torch.tensor([envs.index(e) for e in u]), len(envs)).float()
    return torch.from_numpy(x), onehot


def split(n):
    """Every 10th row validates, the rest train (the rule in benches/speed.rs)."""
    idx = np.arange(n)
    return idx[idx % 10 != 0], idx[idx % 10 == 0]


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def train(step, loss_fn, train_rows, val_rows, batch, steps, warmup, seed, meta):
    """Run warmup + steps optimiser steps on shuffled full batches; time each step."""
    rng = np.random.default_rng(seed)
    times, losses, done = [], [], 0
    t_wall = time.perf_counter()
    while done < warmup + steps:
        order = rng.permutation(train_rows)
        for k in range(len(order) // batch):
            rows = torch.from_numpy(order[k * batch:(k + 1) * batch])
            t = time.perf_counter()
            losses.append(step(rows))
            done += 1
            if done > warmup:
                times.append((time.perf_counter() - t) * 1e3)
            if done == warmup + steps:
                break
    wall = time.perf_counter() - t_wall
    with torch.no_grad():
        val = float(loss_fn(torch.from_numpy(val_rows)))
    times = np.sort(np.array(times))
    med = float(np.median(times))
    out = dict(meta, steps=warmup + steps, median_ms=med, p10_ms=float(times[len(times) // 10]),
               p90_ms=float(times[len(times) * 9 // 10]), samples_per_s=batch / med * 1e3, wall_s=wall,
               peak_rss_mb=peak_rss_mb(), final_train_loss=losses[-1], val_loss=val,
               threads=str(torch.get_num_threads()), torch=torch.__version__)
    print(json.dumps(out), flush=True)


def make_step(model, loss_fn, lr):
    """One optimiser step as strongid's: Adam, global gradient norm clipped at 10."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    params = list(model.parameters())

    def step(rows):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(rows)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()
        return loss.item()
    return step


def base_args(parser):
    parser.add_argument("--data", required=True)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--hidden-layers", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--infer", choices=["logprob", "encode"], help="time inference over all rows instead")
    parser.add_argument("--chunk", type=int, default=4096, help="rows per inference batch (strongid: 4096)")
    return parser


def infer(a, n, warm_step, train_rows, pass_fn, meta):
    """`a.warmup` training steps, then the median of 3 timed inference passes over all n rows."""
    rng = np.random.default_rng(a.seed)
    order = rng.permutation(train_rows)
    for k in range(min(a.warmup, len(order) // a.batch)):
        warm_step(torch.from_numpy(order[k * a.batch:(k + 1) * a.batch]))
    times = []
    with torch.no_grad():
        for _ in range(3):
            t = time.perf_counter()
            rows = pass_fn()
            times.append(time.perf_counter() - t)
            assert rows == n
    med = float(np.median(times))
    print(json.dumps(dict(meta, rows=n, median_s=med, points_per_s=n / med, peak_rss_mb=peak_rss_mb(),
                          threads=str(torch.get_num_threads()), torch=torch.__version__)), flush=True)


def chunks(n, size):
    return [(s, min(s + size, n)) for s in range(0, n, size)]
