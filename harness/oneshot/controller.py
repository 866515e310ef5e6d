"""ENAS's LSTM controller over genomes, its REINFORCE update, and SETN's template sampling.

Why its own module: the controller and the samplers are small, pure pieces of maths that the unit
tests check against hand-computed cases (log-probabilities, the REINFORCE gradient with a
baseline, the entropy bonus, sampling frequencies), without a supernet.

The controller follows the NB201 authors' ENAS controller (AutoDL-Projects,
xautodl/models/cell_searchs/search_model_enas_utils.py; docs/ONESHOT.md cites the commit): a
2-layer LSTM of hidden size 32 fed a learned start vector, then the embedding of each previous
choice; per decision, logits = tanh_constant * tanh(W h / temperature) (temperature 5, tanh
constant 2.5), one categorical draw. It is written here over a genome (harness.oneshot.spaces), so
position i has its own radix r_i: the shared prediction layer and embedding have max(r_i) outputs
and position i uses the first r_i logits (NB201: six positions of radix 5, exactly the authors'
controller; the DARTS space: the 24 digits of its genome).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class ControllerSample:
    """One controller decision sequence: summed log-probability and entropy (with gradients), the genome."""

    log_prob: torch.Tensor
    entropy: torch.Tensor
    genome: tuple[int, ...]


class Controller(nn.Module):
    """ENAS's LSTM controller over genomes with per-position radices (module docstring)."""

    def __init__(self, radices: Sequence[int], hidden: int = 32, layers: int = 2, tanh_constant: float = 2.5,
                 temperature: float = 5.0):
        super().__init__()
        self.radices = tuple(int(r) for r in radices)
        if not self.radices or min(self.radices) < 1 or hidden < 1 or layers < 1 or temperature <= 0:
            raise ValueError(f"controller needs radices >= 1, hidden, layers >= 1 and temperature > 0; got {radices}, "
                             f"{hidden}, {layers}, {temperature}")
        width = max(self.radices)
        self.tanh_constant, self.temperature = float(tanh_constant), float(temperature)
        self.input_vars = nn.Parameter(torch.empty(1, 1, hidden))
        self.lstm = nn.LSTM(input_size=hidden, hidden_size=hidden, num_layers=layers)
        self.embed = nn.Embedding(width, hidden)
        self.pred = nn.Linear(hidden, width)
        first = [self.input_vars, self.lstm.get_parameter("weight_hh_l0"), self.lstm.get_parameter("weight_ih_l0"),
                 self.embed.weight, self.pred.weight]
        for tensor in first:
            nn.init.uniform_(tensor, -0.1, 0.1)  # the authors' initialisation; the rest is PyTorch's default

    def logits(self, out: torch.Tensor, position: int) -> torch.Tensor:
        """The squashed logits of `position` from the LSTM output `out` (shape (r_position,))."""
        raw = self.pred(out).reshape(-1)[: self.radices[position]]
        if self.tanh_constant > 0:
            return self.tanh_constant * torch.tanh(raw / self.temperature)
        return raw / self.temperature

    def forward(self, gen: torch.Generator | None = None, genome: Sequence[int] | None = None,
                greedy: bool = False) -> ControllerSample:
        """Sample a genome (from `gen`), or score the given `genome`, or take the argmax (`greedy`).

        Returns the sum over positions of log pi(choice) and of the entropy of each position's
        distribution, both differentiable in the controller's parameters.
        """
        if genome is not None and len(genome) != len(self.radices):
            raise ValueError(f"a genome of {len(self.radices)} positions is needed, got {len(genome)}")
        inputs, state = self.input_vars, None
        log_probs, entropies, chosen = [], [], []
        for i in range(len(self.radices)):
            out, state = self.lstm(inputs, state)
            logp = F.log_softmax(self.logits(out, i), dim=-1)
            if genome is not None:
                index = int(genome[i])
            elif greedy:
                index = int(logp.argmax())
            else:
                index = int(torch.multinomial(logp.detach().exp().cpu(), 1, generator=gen))
            log_probs.append(logp[index])
            entropies.append(-(logp.exp() * logp).sum())
            chosen.append(index)
            inputs = self.embed(torch.tensor([[index]], device=logp.device))
        return ControllerSample(torch.stack(log_probs).sum(), torch.stack(entropies).sum(), tuple(chosen))


def update_baseline(baseline: float | None, reward: float, decay: float) -> float:
    """ENAS's moving-average baseline after a reward: b - (1 - decay) (b - reward); the first reward starts it."""
    if baseline is None:
        return float(reward)
    return float(baseline - (1.0 - decay) * (baseline - reward))


def reinforce_loss(sample: ControllerSample, accuracy: float, baseline: float | None, entropy_weight: float,
                   decay: float) -> tuple[torch.Tensor, float, float]:
    """(loss, reward, new baseline) of one REINFORCE sample.

    reward R = accuracy + entropy_weight * H (the entropy bonus, as a value: the authors add it to the
    reward); the baseline b moves towards R first (ENAS's order) and the loss is -(R - b) log pi(a),
    whose gradient is the score-function estimate of -grad E[R] with b as control variate.
    """
    reward = float(accuracy) + entropy_weight * float(sample.entropy.detach())
    new_baseline = update_baseline(baseline, reward, decay)
    return -(reward - new_baseline) * sample.log_prob, reward, new_baseline


# -- SETN ----------------------------------------------------------------------------------------
def sample_templates(alpha: torch.Tensor, count: int, gen: torch.Generator) -> list[tuple[int, ...]]:
    """`count` templates drawn from softmax(alpha): each row (an edge) independently, the op with its
    probability (SETN's generator; the authors' `dync_genotype(use_random=False)`)."""
    probs = F.softmax(alpha.detach().double().cpu(), dim=-1)
    draws = torch.multinomial(probs, count, replacement=True, generator=gen)  # (edges, count)
    return [tuple(int(v) for v in draws[:, k]) for k in range(count)]


def template_log_probs(alpha: torch.Tensor, genomes: torch.Tensor) -> torch.Tensor:
    """log p(genome) under softmax(alpha), for a (n, edges) integer tensor of genomes."""
    logp = F.log_softmax(alpha.detach().double().cpu(), dim=-1)
    return logp[torch.arange(logp.shape[0]), genomes].sum(dim=1)


def top_templates(alpha: torch.Tensor, k: int) -> list[tuple[int, ...]]:
    """The k most probable genomes under softmax(alpha), most probable first (the authors'
    `return_topK`, which enumerates the space; ties in index order). Every row of alpha is one
    position with alpha.shape[1] choices (NB201: 15,625 genomes)."""
    edges, ops = alpha.shape
    grids = torch.cartesian_prod(*[torch.arange(ops)] * edges) if edges > 1 else torch.arange(ops).reshape(-1, 1)
    scores = template_log_probs(alpha, grids)
    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))[: max(1, min(k, len(scores)))]
    return [tuple(int(v) for v in grids[i]) for i in order]
