"""Data for the trainers: PTB download and loading, the vocabulary, word2vec windows, the noise sampler and
truncated-BPTT batches. Works on NumPy id arrays; knows nothing of tensors."""

from .bptt import BPTTBatches
from .ptb import PTB_MD5, PTB_URL, Corpus, download, ensure_ptb, load_corpus, load_ptb, md5sum, resolve_data_dir
from .sampler import UnigramSampler
from .vocab import EOS, UNK, Vocab, read_tokens
from .windows import SEP, context_target, keep_probabilities, sentence_windows, subsample

__all__ = [
    "EOS", "PTB_MD5", "PTB_URL", "SEP", "UNK", "BPTTBatches", "Corpus", "UnigramSampler", "Vocab", "context_target",
    "download", "ensure_ptb", "keep_probabilities", "load_corpus", "load_ptb", "md5sum", "read_tokens",
    "resolve_data_dir", "sentence_windows", "subsample",
]
