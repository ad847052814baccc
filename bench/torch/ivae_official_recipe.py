"""The official iVAE code's training recipe (ilkhem/iVAE, configs/ivae.yaml with runners/ivae.py and
the `cleanIVAE` model), re-implemented to measure the MCC it reaches on strongid's simulated data:
separate mean and log-variance encoders g, logv on (x, one-hot u); a prior log-variance network
logl(u) with prior mean 0; decoder variance 0.1; PyTorch's default initialisation; the weighted
objective  -(a log p(x|z) - b (log q(z|x,u) - log q(z)) - c (log q(z) - sum_j log q(z_j))
- d (sum_j log q(z_j) - log p(z|u)))  with a = 100, b = 1, c = 0, d = 10 and minibatch-weighted
estimates of q(z), q(z_j); Adam lr 0.01; ReduceLROnPlateau(factor 0.1, patience 0) on the epoch's
training loss; batch 64 (drop_last, shuffled); 20 epochs. Like the official code it scores the
*sampled* codes of every row; it also scores the posterior means.
Writes the posterior means to --codes and the sampled codes next to it (*_sampled.npy); prints
one JSON line with the training seconds."""
import argparse, json, math, time
import numpy as np
import torch
from torch import nn
import common
from ivae import mlp


def log_normal(x, mu, v):
    return -0.5 * (math.log(2 * math.pi) + v.log() + (x - mu).square() / v)


class CleanIVAE(nn.Module):
    def __init__(self, x_dim, z_dim, n_env, hidden, hidden_layers):
        super().__init__()
        enc = [x_dim + n_env] + [hidden] * hidden_layers + [z_dim]
        self.g, self.logv = mlp(enc), mlp(enc)
        self.logl = mlp([n_env] + [hidden] * hidden_layers + [z_dim])
        self.f = mlp([z_dim] + [hidden] * hidden_layers + [x_dim])
        self.decoder_var = torch.tensor(0.1)

    def forward(self, x, u):
        xu = torch.cat([x, u], 1)
        g, v = self.g(xu), self.logv(xu).exp()
        z = g + v.sqrt() * torch.randn_like(g)
        return self.f(z), g, v, z, self.logl(u).exp()

    def loss(self, x, u, n_total, a=100.0, b=1.0, c=0.0, d=10.0):
        f, g, v, z, l = self(x, u)
        m, k = z.shape
        logpx = log_normal(x, f, self.decoder_var).sum(1)
        logq_cux = log_normal(z, g, v).sum(1)
        logp_cu = log_normal(z, torch.zeros_like(z), l).sum(1)
        pair = log_normal(z.view(m, 1, k), g.view(1, m, k), v.view(1, m, k))
        logq = torch.logsumexp(pair.sum(2), 1) - math.log(m * n_total)
        logq_i = (torch.logsumexp(pair, 1) - math.log(m * n_total)).sum(1)
        return -(a * logpx - b * (logq_cux - logq) - c * (logq - logq_i) - d * (logq_i - logp_cu)).mean()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--codes", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--weights", default="100,1,0,10", help="a,b,c,d of the objective (1,1,1,1 = the ELBO)")
    p.add_argument("--decoder-var", type=float, default=0.1)
    p.add_argument("--no-scheduler", action="store_true")
    a = p.parse_args()
    common.setup(a.threads, a.seed)
    x, onehot = common.load_segments(a.data)
    n = x.shape[0]
    model = CleanIVAE(x.shape[1], x.shape[1], onehot.shape[1], a.hidden, 2)
    model.decoder_var = torch.tensor(a.decoder_var)
    wa, wb, wc, wd = (float(v) for v in a.weights.split(","))
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.1, patience=0)
    t = time.perf_counter()
    for _ in range(a.epochs):
        order = torch.randperm(n)
        total, batches = 0.0, 0
        for k in range(0, n - 63, 64):
            rows = order[k:k + 64]
            opt.zero_grad()
            loss = model.loss(x[rows], onehot[rows], n, wa, wb, wc, wd)
            loss.backward()
            opt.step()
            total, batches = total + loss.item(), batches + 1
        if not a.no_scheduler:
            sched.step(total / batches)
    seconds = time.perf_counter() - t
    with torch.no_grad():
        _, g, _, s, _ = model(x, onehot)
    np.save(a.codes, g.double().numpy())
    np.save(a.codes.replace(".npy", "_sampled.npy"), s.double().numpy())
    print(json.dumps(dict(impl="official-recipe", seconds=seconds, epochs=a.epochs, lr=a.lr, weights=a.weights,
                          decoder_var=a.decoder_var, scheduler=not a.no_scheduler, threads=a.threads)))


if __name__ == "__main__":
    main()
