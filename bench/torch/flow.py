"""PyTorch reference of strongid's `tmi-flow` (spline), layer for layer: per-coordinate
standardisation, then `layers` steps of a MADE conditioner (tanh, hidden degrees cycling over
1..d-1, zero-initialised output) feeding a monotone rational-quadratic spline with identity tails
(Durkan et al. 2019; K bins on [-B, B], minimum bin 1e-3, interior derivatives
softplus(u + c) + 1e-3 with c making u = 0 give 1), one fixed variable ordering, N(0, I) prior.
`--zuko nsf|maf` trains zuko's own NSF / MAF of the same size instead (a second reference)."""
import argparse, math
import torch
from torch import nn
import torch.nn.functional as F
import common

MIN_BIN, MIN_DER = 1e-3, 1e-3


class MaskedLinear(nn.Linear):
    def __init__(self, n_in, n_out, mask, zero=False):
        super().__init__(n_in, n_out)
        self.register_buffer("mask", mask.float().T)  # [out, in]
        with torch.no_grad():
            if zero:
                self.weight.zero_(); self.bias.zero_()
            self.weight.mul_(self.mask)

    def forward(self, x):
        return F.linear(x, self.weight * self.mask, self.bias)


class Made(nn.Module):
    def __init__(self, d, hidden, hidden_layers, per_dim):
        super().__init__()
        deg = [torch.arange(1, d + 1)]
        deg += [torch.arange(hidden) % max(d - 1, 1) + 1 if d > 1 else torch.zeros(hidden, dtype=torch.long)] * hidden_layers
        out = torch.arange(d * per_dim) // per_dim + 1
        layers = []
        for a, b in zip(deg[:-1], deg[1:]):
            layers += [MaskedLinear(len(a), len(b), b[None, :] >= a[:, None]), nn.Tanh()]
        layers.append(MaskedLinear(len(deg[-1]), len(out), out[None, :] > deg[-1][:, None], zero=True))
        self.net = nn.Sequential(*layers)
        self.d, self.per_dim = d, per_dim

    def forward(self, x):
        return self.net(x).view(-1, self.d, self.per_dim)


def knots(u, bound):
    w = F.softmax(u, -1) * (1 - MIN_BIN * u.shape[-1]) + MIN_BIN
    return F.pad(torch.cumsum(w, -1), (1, 0)) * 2 * bound - bound


def spline(x, p, bins, bound):
    xs, ys = knots(p[..., :bins], bound), knots(p[..., bins:2 * bins], bound)
    c = math.log(math.expm1(1 - MIN_DER))
    ds = F.pad(F.softplus(p[..., 2 * bins:] + c) + MIN_DER, (1, 1), value=1.0)
    inside = x.abs() <= bound
    xc = x.clamp(-bound, bound)[..., None]
    k = (xc >= xs[..., 1:bins]).sum(-1, keepdim=True)
    g = lambda t, i: t.gather(-1, i)
    x0, y0, d0 = g(xs, k), g(ys, k), g(ds, k)
    w, h, d1 = g(xs, k + 1) - x0, g(ys, k + 1) - y0, g(ds, k + 1)
    s = h / w
    xi = ((xc - x0) / w).clamp(0, 1)
    mix = xi * (1 - xi)
    den = s + (d1 + d0 - 2 * s) * mix
    y = y0 + h * (s * xi.square() + d0 * mix) / den
    logd = 2 * s.log() + (d1 * xi.square() + 2 * s * mix + d0 * (1 - xi).square()).log() - 2 * den.log()
    y, logd = y.squeeze(-1), logd.squeeze(-1)
    return torch.where(inside, y, x), torch.where(inside, logd, torch.zeros_like(logd))


def affine(x, p):
    s = F.softplus(p[..., 1] + math.log(math.expm1(1 - MIN_DER))) + MIN_DER
    return x * s + p[..., 0], s.log()


class TmiFlow(nn.Module):
    def __init__(self, x_train, layers, hidden, hidden_layers, bins, bound=4.0, affine=False):
        super().__init__()
        d = x_train.shape[1]
        self.register_buffer("mean", x_train.mean(0))
        self.register_buffer("sd", x_train.std(0, unbiased=False))
        per = 2 if affine else 3 * bins - 1
        self.steps = nn.ModuleList(Made(d, hidden, hidden_layers, per) for _ in range(layers))
        self.bins, self.bound, self.d, self.affine = bins, bound, d, affine

    def encode(self, x):
        h = (x - self.mean) / self.sd
        ld = -self.sd.log().sum().expand(x.shape[0])
        for made in self.steps:
            p = made(h)
            h, l = affine(h, p) if self.affine else spline(h, p, self.bins, self.bound)
            ld = ld + l.sum(1)
        return h, ld

    def log_prob(self, x):
        h, ld = self.encode(x)
        return -0.5 * h.square().sum(1) - 0.5 * self.d * math.log(2 * math.pi) + ld


def main():
    p = common.base_args(argparse.ArgumentParser())
    p.add_argument("--layers", type=int, default=5)
    p.add_argument("--bins", type=int, default=8)
    p.add_argument("--zuko", choices=["nsf", "maf"])
    p.add_argument("--transform", choices=["spline", "affine"], default="spline")
    a = p.parse_args()
    common.setup(a.threads, a.seed)
    x, _ = common.load(a.data)
    x = torch.from_numpy(x)
    train, val = common.split(x.shape[0])
    if a.zuko:
        import zuko
        cls = zuko.flows.NSF if a.zuko == "nsf" else zuko.flows.MAF
        kw = dict(bins=a.bins) if a.zuko == "nsf" else {}
        model = cls(features=x.shape[1], transforms=a.layers, hidden_features=[a.hidden] * a.hidden_layers, **kw)
        mean, sd = x[train].mean(0), x[train].std(0, unbiased=False)
        xs = (x - mean) / sd
        # In raw units, as strongid's: + log|det| of the standardisation.
        log_prob = lambda rows: model().log_prob(xs[rows]) - sd.log().sum()
        name = f"zuko-{a.zuko}"
        encode = lambda rows: model().transform(xs[rows])
    else:
        model = TmiFlow(x[train], a.layers, a.hidden, a.hidden_layers, a.bins, affine=a.transform == "affine")
        log_prob = lambda rows: model.log_prob(x[rows])
        name = "torch"
        encode = lambda rows: model.encode(x[rows])
    loss_fn = lambda rows: -log_prob(rows).mean()
    step = common.make_step(model, loss_fn, a.lr)

    if a.infer:
        def pass_all():
            for s, e in common.chunks(x.shape[0], a.chunk):
                rows = torch.arange(s, e)
                encode(rows) if a.infer == "encode" else log_prob(rows)
            return x.shape[0]
        common.infer(a, x.shape[0], step, train, pass_all, dict(impl=name, workload=f"flow-{a.infer}", hidden=a.hidden))
        return
    common.train(step, loss_fn, train, val, a.batch, a.steps, a.warmup, a.seed,
                 dict(impl=name, workload="flow", batch=a.batch, hidden=a.hidden, transform=a.transform))


if __name__ == "__main__":
    main()
