"""PyTorch reference of strongid's `ivae` (mean-variance or variance-only priors), layer for layer: encoder MLP on
(x, one-hot u) -> (mean, log-variance), decoder MLP with fixed variance 0.01, per-environment
prior tables, xtanh activations, closed-form Gaussian KL, one reparameterised sample, Adam with
global-norm clipping at 10. Sizes of the official iVAE configuration (d = 5, 40 segments,
hidden 100, "3 layers" = 2 hidden layers). A lean loop: no per-batch metrics."""
import argparse, json, math, time
import numpy as np
import torch
from torch import nn
import common


class XTanh(nn.Module):
    def forward(self, x):
        return torch.tanh(x) + 0.1 * x


def mlp(sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))  # U(±1/sqrt(fan_in)), as strongid
        if i + 2 < len(sizes):
            layers.append(XTanh())
    return nn.Sequential(*layers)


class IVAE(nn.Module):
    def __init__(self, x_dim, z_dim, n_env, hidden, hidden_layers, decoder_var=0.01, prior_means=True):
        super().__init__()
        self.d = z_dim
        self.encoder = mlp([x_dim + n_env] + [hidden] * hidden_layers + [2 * z_dim])
        self.decoder = mlp([z_dim] + [hidden] * hidden_layers + [x_dim])
        # Variance-only modulation (the official default): prior means fixed at 0.
        means = torch.zeros(n_env, z_dim)
        if prior_means:
            self.prior_mean = nn.Parameter(means)
        else:
            self.register_buffer("prior_mean", means)
        self.prior_logvar = nn.Parameter(torch.zeros(n_env, z_dim))
        self.s2 = decoder_var
        self.const = 0.5 * x_dim * math.log(2 * math.pi * decoder_var)

    def neg_elbo(self, x, onehot):
        out = self.encoder(torch.cat([x, onehot], 1))
        m, logv = out[:, :self.d], out[:, self.d:]
        v = logv.exp()
        pm, plogv = onehot @ self.prior_mean, onehot @ self.prior_logvar
        z = m + v.sqrt() * torch.randn_like(m)
        rec = (self.decoder(z) - x).square().sum(1) / (2 * self.s2) + self.const
        kl = 0.5 * (plogv - logv + (v + (m - pm).square()) / plogv.exp() - 1).sum(1)
        return (rec + kl).mean()


def main():
    p = common.base_args(argparse.ArgumentParser())
    p.add_argument("--epochs", type=int, help="train this many epochs and write posterior means to --codes")
    p.add_argument("--codes", help="output .npy for --epochs")
    p.add_argument("--modulation", choices=["mean-variance", "variance"], default="mean-variance")
    a = p.parse_args()
    common.setup(a.threads, a.seed)
    x, onehot = common.load_segments(a.data)
    model = IVAE(x.shape[1], x.shape[1], onehot.shape[1], a.hidden, a.hidden_layers, prior_means=a.modulation == "mean-variance")
    def loss_fn(rows):
        return model.neg_elbo(x[rows], onehot[rows])

    step = common.make_step(model, loss_fn, a.lr)

    train, val = common.split(x.shape[0])
    if a.epochs:
        # End to end: `epochs` passes over the training rows, then posterior means of every row.
        rng = np.random.default_rng(a.seed)
        t = time.perf_counter()
        for _ in range(a.epochs):
            order = rng.permutation(train)
            for k in range(0, len(order), a.batch):
                step(torch.from_numpy(order[k:k + a.batch]))
        seconds = time.perf_counter() - t
        with torch.no_grad():
            val_loss = float(loss_fn(torch.from_numpy(val)))
            codes = model.encoder(torch.cat([x, onehot], 1))[:, :model.d].double().numpy()
        np.save(a.codes, codes)
        print(json.dumps(dict(impl="torch", epochs=a.epochs, seconds=seconds, val_loss=val_loss, threads=a.threads)))
        return
    if a.infer:
        def encode_all():
            for s, e in common.chunks(x.shape[0], a.chunk):
                model.encoder(torch.cat([x[s:e], onehot[s:e]], 1))[:, :model.d]
            return x.shape[0]
        common.infer(a, x.shape[0], step, train, encode_all, dict(impl="torch", workload="ivae-encode", hidden=a.hidden))
        return
    common.train(step, loss_fn, train, val, a.batch, a.steps, a.warmup, a.seed,
                 dict(impl="torch", workload="ivae", batch=a.batch, hidden=a.hidden))


if __name__ == "__main__":
    main()
