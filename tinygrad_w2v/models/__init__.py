"""Models written as plain tensor expressions on the engine."""

from .word2vec import CBOW, SkipGram, Word2Vec

__all__ = ["CBOW", "SkipGram", "Word2Vec"]
from .rnnlm import RNNLM, detach_state, lm_loss  # noqa: F401, E402  (RNN language models)
