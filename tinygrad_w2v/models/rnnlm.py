"""Recurrent language models (RNN and LSTM) as plain tensor expressions; the tape does backprop through time.

For token ids ``x (B, T)`` and a state carried in from the previous window, each layer computes::

    e     = W_emb[x]                                  (B, T, E)   embedding lookup (a gather)
    xw    = e W_ih^T + b                              (B, T, G)   input projection of all T steps at once
    RNN:  h_t = tanh(xw_t + h_{t-1} W_hh^T)                       G = H     (nn.RNNCell.step)
    LSTM: a_t = xw_t + h_{t-1} W_hh^T;  i, f, g, o = chunk(a_t)   G = 4H    (nn.LSTMCell.step)
          c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
          h_t = sigmoid(o) * tanh(c_t)
    y     = log_softmax(h W_out^T + b_out)            (B, T, V)   output projection of all steps at once
    loss  = -mean over labels t != -1 of y[b, t, label]             (lm_loss: nn.functional.nll_loss)

The book's layers ("Deep Learning from Scratch 2", chapters 5-6) map onto this as:
``TimeEmbedding`` = ``nn.Embedding`` (one gather of all steps), ``TimeRNN`` / ``TimeLSTM`` = the ``for t``
loop over ``nn.RNNCell`` / ``nn.LSTMCell`` parameters (the cells hold ``weight_ih``, ``weight_hh`` and one
``bias``, like the book's ``Wx``, ``Wh``, ``b``, transposed to PyTorch's layout), ``TimeAffine`` =
``decoder`` (``nn.Linear``, or the embedding matrix when weights are tied), ``TimeSoftmaxWithLoss`` =
``log_softmax`` + ``lm_loss``. ``TimeDropout`` = ``nn.Dropout``. No backward pass is written here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import backend, nn
from ..nn import functional as F
from ..ops import stack, unbind
from ..tape import name_scope, no_grad
from ..tensor import Tensor

State = tuple  # per layer: h (B, H) for an RNN, (h, c) for an LSTM

CELLS = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell}


class RNNLM(nn.Module):
    """Embedding -> ``layers`` stacked RNN/LSTM cells -> output projection, batch-first ``(B, T)`` ids.

    ``init='book'``: embeddings ``randn/100``, recurrent and output weights ``randn/sqrt(fan_in)``, zero
    biases (the book's ``Rnnlm``); ``init='torch'``: PyTorch's defaults (``N(0, 1)`` embeddings, uniform
    ``+-1/sqrt(hidden)`` weights). ``tie_weights`` uses the embedding matrix as the output weights (the
    book's ``BetterRnnlm``; needs ``embed == hidden``); dropout applies to the embeddings and each layer's
    outputs while training.
    """

    def __init__(
        self,
        vocab_size: int,
        embed: int = 100,
        hidden: int = 100,
        cell: str = "rnn",
        layers: int = 1,
        dropout: float = 0.0,
        tie_weights: bool = False,
        init: str = "book",
        seed: int | None = None,
    ):
        if cell not in CELLS:
            raise ValueError(f"RNNLM: cell must be one of {sorted(CELLS)}, got {cell!r}")
        if init not in ("book", "torch"):
            raise ValueError(f"RNNLM: init must be 'book' or 'torch', got {init!r}")
        if layers < 1:
            raise ValueError(f"RNNLM: layers must be at least 1, got {layers}")
        if tie_weights and embed != hidden:
            raise ValueError(
                f"RNNLM: tie_weights needs embed == hidden (the output matrix is the embedding matrix), "
                f"got embed={embed} and hidden={hidden}"
            )
        self.vocab_size, self.embed_size, self.hidden_size = vocab_size, embed, hidden
        self.cell, self.num_layers, self.tie_weights = cell, layers, tie_weights
        self.rng = np.random.default_rng(seed)  # init, then dropout masks (saved in checkpoints)
        book = init == "book"
        self.embedding = nn.Embedding(vocab_size, embed, sparse=True, rng=self.rng, std=0.01 if book else 1.0)
        self.cells = [CELLS[cell](embed if k == 0 else hidden, hidden, rng=self.rng) for k in range(layers)]
        self.drop = nn.Dropout(dropout, rng=self.rng)
        if tie_weights:
            self.decoder_bias = nn.Parameter(np.zeros(vocab_size, dtype=np.float32))
        else:
            self.decoder = nn.Linear(hidden, vocab_size, rng=self.rng)
        if book:
            self._book_init()

    def _book_init(self) -> None:
        """Weights ``randn / sqrt(fan_in)`` (fan_in = number of input columns), biases zero."""
        for name, p in self.named_parameters():
            if name.startswith("embedding"):
                continue
            if p.ndim == 2:
                p.data = (self.rng.standard_normal(p.shape) / np.sqrt(p.shape[1])).astype(np.float32)
            else:
                p.data = np.zeros(p.shape, dtype=np.float32)

    @property
    def output_weight(self) -> Tensor:
        """``W_out (V, H)``: the decoder's weight, or the embedding matrix when tied."""
        return self.embedding.weight if self.tie_weights else self.decoder.weight

    @property
    def output_bias(self) -> Tensor:
        return self.decoder_bias if self.tie_weights else self.decoder.bias

    def init_state(self, batch_size: int) -> State:
        """Zero state: per layer ``h`` (RNN) or ``(h, c)`` (LSTM), each ``(batch_size, hidden)``."""
        xp = backend.xp_of(self.embedding.weight.data)
        dtype = self.embedding.weight.dtype

        def zeros() -> Tensor:
            return Tensor._wrap(xp.zeros((batch_size, self.hidden_size), dtype=dtype))

        return tuple((zeros(), zeros()) if self.cell == "lstm" else zeros() for _ in range(self.num_layers))

    def forward(self, x: Any, state: State | None = None) -> tuple[Tensor, State]:
        """Log-probabilities ``(B, T, V)`` of the next token after each of ``x (B, T)``, and the new state."""
        ids = _ids(x)
        B, T = ids.shape
        if state is None:
            state = self.init_state(B)
        with name_scope("embedding"):
            out = self.drop(self.embedding(ids))  # (B, T, E)
        new_state = []
        for k, (cell, s) in enumerate(zip(self.cells, state)):
            with name_scope(f"layer{k}"):  # pictures show each layer, and each time step in it (t=0, t=1...)
                xw = (out.reshape(B * T, -1) @ cell.weight_ih.T + cell.bias).reshape(B, T, -1)
                W_hh_T = cell.weight_hh.T  # once for all steps
                hs = []
                for t, xw_t in enumerate(unbind(xw, 1)):
                    with name_scope(f"t={t}"):
                        s = cell.step(xw_t, s, W_hh_T)
                    hs.append(s[0] if self.cell == "lstm" else s)
                new_state.append(s)
                out = self.drop(stack(hs, axis=1))  # (B, T, H)
        with name_scope("output"):
            logits = out.reshape(B * T, -1) @ self.output_weight.T + self.output_bias
            return logits.log_softmax(axis=-1).reshape(B, T, -1), tuple(new_state)

    def generate(
        self,
        start_id: int,
        n: int,
        temperature: float = 1.0,
        skip_ids: Sequence[int] = (),
        rng: np.random.Generator | int | None = None,
    ) -> list[int]:
        """``n`` token ids sampled one at a time after ``start_id`` from ``softmax(log p / temperature)``,
        never one of ``skip_ids`` (e.g. ``<unk>``); ``temperature=0`` takes the most likely token."""
        if temperature < 0:
            raise ValueError(f"generate: temperature must be >= 0, got {temperature}")
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        was_training = self.training
        self.eval()
        allowed = np.ones(self.vocab_size, dtype=bool)
        allowed[list(skip_ids)] = False
        if not allowed.any():
            raise ValueError("generate: skip_ids leave no token to sample")
        ids, state, token = [], None, start_id
        with no_grad():
            for _ in range(n):
                log_probs, state = self.forward(np.array([[token]]), state)
                scores = np.where(allowed, log_probs.numpy()[0, -1].astype(np.float64), -np.inf)
                if temperature == 0:
                    token = int(np.argmax(scores))
                else:
                    p = np.exp((scores - scores.max()) / temperature)
                    token = int(rng.choice(self.vocab_size, p=p / p.sum()))
                ids.append(token)
        self.train(was_training)
        return ids


def _ids(x: Any) -> Any:
    """``x`` as a ``(B, T)`` integer array (the embedding's gather checks the id range)."""
    ids = x.data if isinstance(x, Tensor) else x
    ids = ids if hasattr(ids, "dtype") else np.asarray(ids)
    if ids.ndim != 2 or ids.dtype.kind not in "iu":
        raise ValueError(f"RNNLM: input must be (batch, time) integer ids, got {ids.dtype} of shape {ids.shape}")
    return ids


def lm_loss(log_probs: Tensor, targets: Any) -> Tensor:
    """``nn.functional.nll_loss`` of ``log_probs (B, T, V)`` for integer ``targets (B, T)``: the mean over the
    positions whose label is not -1 (the book's ``TimeSoftmaxWithLoss`` ignores -1 labels)."""
    t = backend.to_numpy(targets._data if isinstance(targets, Tensor) else targets)
    if t.shape != log_probs.shape[:-1]:
        raise ValueError(f"lm_loss: targets must have shape {log_probs.shape[:-1]} for log_probs of shape "
                         f"{log_probs.shape}, got {t.shape}")
    return F.nll_loss(log_probs.flatten(0, -2), t.reshape(-1), ignore_index=-1)


def detach_state(state: State) -> State:
    """The same state cut from the graph, so the next window's backward stops here (truncated BPTT)."""
    return tuple(tuple(s.detach() for s in layer) if isinstance(layer, tuple) else layer.detach() for layer in state)
