"""Runs as a user lives them: the demos and benchmarks as subprocesses (flags out of range, a second run into
the same folder, SIGINT/SIGTERM/SIGHUP, a diverging run, paths checked before training, a resume with other
flags), and the trainers' time-based checkpoints, divergence stop and checks of edited checkpoints."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tinygrad_w2v.files import load_npz, save_npz
from tinygrad_w2v.models.rnnlm import RNNLM
from tinygrad_w2v.train import common
from tinygrad_w2v.train import word2vec as w2v
from tinygrad_w2v.train.lm import LMTrainer
from tinygrad_w2v.train.word2vec import Word2VecConfig, train_word2vec

REPO = Path(__file__).resolve().parents[1]
TEXT = "the cat sat on the mat\nthe dog sat on the log\n" * 30


@pytest.fixture
def text(tmp_path) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text(TEXT)
    return path


def word2vec_cmd(text: Path, out: Path, *flags: str) -> list[str]:
    return [sys.executable, str(REPO / "demos" / "word2vec.py"), "--data", str(text), "--epochs", "1", "--dim", "8",
            "--window", "2", "--batch-size", "16", "--out", str(out), *flags]


def rnnlm_cmd(text: Path, out: Path, *flags: str) -> list[str]:
    return [sys.executable, str(REPO / "demos" / "rnnlm.py"), "--data", str(text), "--cell", "lstm", "--epochs", "1",
            "--batch-size", "3", "--bptt", "4", "--embed", "8", "--hidden", "8", "--lr", "1", "--clip", "1",
            "--no-plot", "--out", str(out), *flags]


ENV = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=120, **kw)


def one_line_error(done: subprocess.CompletedProcess, status: int = 2) -> str:
    """The single stderr line of a command that failed with ``status`` (progress bars aside)."""
    assert done.returncode == status, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    lines = [line for line in done.stderr.replace("\r", "\n").splitlines() if line.strip()
             and "it/s]" not in line and "batch/s" not in line and "window/s" not in line and "|" not in line]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def load_demo(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_demo", REPO / "demos" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----- flags -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("demo, flag, value, allowed", [
    ("rnnlm", "--clip", "0", "> 0"), ("rnnlm", "--clip", "-1", "> 0"), ("rnnlm", "--clip", "nan", "> 0"),
    ("rnnlm", "--epochs", "0", ">= 1"), ("rnnlm", "--epochs", "-1", ">= 1"), ("rnnlm", "--max-tokens", "-5", ">= 2"),
    ("rnnlm", "--lr", "inf", "> 0"), ("rnnlm", "--temperature", "nan", ">= 0"), ("rnnlm", "--embed", "0", ">= 1"),
    ("rnnlm", "--hidden", "0", ">= 1"), ("rnnlm", "--seed", "-1", "[0, 4294967295]"),
    ("rnnlm", "--generate", "-3", ">= 0"), ("rnnlm", "--dropout", "1", "[0, 1)"), ("rnnlm", "--layers", "x", ">= 1"),
    ("rnnlm", "--bptt", "0", ">= 1"), ("rnnlm", "--batch-size", "0", ">= 1"),
    ("rnnlm", "--checkpoint-every", "0", "> 0"), ("word2vec", "--max-tokens", "-5", ">= 1"),
    ("word2vec", "--epochs", "0", ">= 1"), ("word2vec", "--lr", "inf", "> 0"), ("word2vec", "--lr", "0", "> 0"),
    ("word2vec", "--dim", "0", ">= 1"), ("word2vec", "--window", "0", ">= 1"), ("word2vec", "--negative", "0", ">= 1"),
    ("word2vec", "--batch-size", "-2", ">= 1"), ("word2vec", "--seed", "-1", "[0, 4294967295]"),
    ("word2vec", "--checkpoint-every", "nan", "> 0"),
])
def test_a_flag_out_of_range_is_one_line_naming_flag_value_and_range(capsys, demo, flag, value, allowed):
    with pytest.raises(SystemExit) as stop:
        load_demo(demo).parse_args([flag, value])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"argument {flag}: " in err and value in err and allowed in err, err


@pytest.mark.parametrize("cmd", [
    ["demos/rnnlm.py", "--clip", "-1"], ["demos/rnnlm.py", "--tie-weights", "--embed", "8", "--hidden", "9"],
    ["demos/word2vec.py", "--max-tokens", "-5"], ["demos/draw_graph.py", "--out", "README.md"],
    ["benchmarks/op_overhead.py", "--links", "0"], ["benchmarks/scatter_add.py", "--repeats", "0"],
    ["benchmarks/rnnlm_throughput.py", "--iters", "-1"], ["benchmarks/word2vec_quality.py", "--models", "glove"],
    ["benchmarks/word2vec_throughput.py", "--batch-size", "0"],
])
def test_every_command_reports_a_bad_flag_in_one_line_with_status_2(cmd):
    line = one_line_error(run([sys.executable, str(REPO / cmd[0]), *cmd[1:]], cwd=REPO))
    assert line.startswith(f"{Path(cmd[0]).name}: error: argument {cmd[1]}") or "--tie-weights" in line, line


def test_a_missing_corpus_is_one_line(tmp_path):
    line = one_line_error(run(rnnlm_cmd(tmp_path / "no_such.txt", tmp_path / "out")))
    assert "no_such.txt" in line
    line = one_line_error(run(word2vec_cmd(tmp_path / "no_such.txt", tmp_path / "out")))
    assert "no_such.txt" in line


def test_paths_are_checked_before_training(text, tmp_path):
    out = tmp_path / "out"
    line = one_line_error(run(word2vec_cmd(text, out, "--analogies", str(tmp_path / "questions-wrods.txt"))))
    assert "--analogies" in line and "questions-wrods.txt is not a file" in line
    line = one_line_error(run(word2vec_cmd(text, out, "--save", str(tmp_path))))
    assert "--save" in line and "is a directory" in line
    assert not out.exists()  # nothing was trained
    (out / "word2vec_cbow.npz").mkdir(parents=True)
    line = one_line_error(run(word2vec_cmd(text, out)))
    assert "word2vec_cbow.npz is a directory; give a file name" in line
    (tmp_path / "rnn").mkdir()
    (tmp_path / "rnn" / "checkpoint.npz").mkdir()
    assert "checkpoint.npz is a directory" in one_line_error(run(rnnlm_cmd(text, tmp_path / "rnn")))


# ----- a second run, interrupts, divergence --------------------------------------------------------------------
@pytest.mark.parametrize("demo", ["word2vec", "rnnlm"])
def test_a_second_run_never_replaces_the_first_runs_checkpoint(text, tmp_path, demo):
    cmd = {"word2vec": word2vec_cmd, "rnnlm": rnnlm_cmd}[demo]
    out = tmp_path / "out"
    assert run(cmd(text, out)).returncode == 0
    (checkpoint,) = out.glob("*.npz")
    before = checkpoint.read_bytes()
    line = one_line_error(run(cmd(text, out, "--seed", "5")))
    assert "--resume" in line and "--overwrite" in line and str(checkpoint) in line
    assert checkpoint.read_bytes() == before
    assert run(cmd(text, out, "--seed", "5", "--overwrite")).returncode == 0
    assert checkpoint.read_bytes() != before


@pytest.mark.parametrize("demo, signum", [("word2vec", signal.SIGTERM), ("rnnlm", signal.SIGHUP),
                                          ("rnnlm", signal.SIGINT)])
def test_a_signal_saves_exits_130_and_resume_says_where_it_continues(text, tmp_path, demo, signum):
    out = tmp_path / "out"
    cmd = {"word2vec": word2vec_cmd, "rnnlm": rnnlm_cmd}[demo](text, out, "--epochs", "100000")
    checkpoint = out / ("checkpoint.npz" if demo == "rnnlm" else "word2vec_cbow.npz")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    for _ in range(600):  # the first epoch's checkpoint: training is under way
        if checkpoint.exists() or proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr[-2000:]
    assert f"{signal.Signals(signum).name}: finishing this step, saving a checkpoint" in stdout
    assert "--resume to continue" in stdout.splitlines()[-1]
    saved = load_npz(checkpoint)
    epoch = int(saved["extra/epoch"])
    step = int(saved["extra/step_in_epoch" if demo == "rnnlm" else "extra/step"])
    assert epoch >= 1

    resumed = subprocess.Popen(cmd + ["--resume"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    said = ""
    while "resumed from" not in said:
        said = resumed.stdout.readline()
        assert said, resumed.stderr.read()[-2000:]
    resumed.send_signal(signal.SIGINT)
    resumed.communicate(timeout=60)
    assert resumed.returncode == 130
    unit = "window" if demo == "rnnlm" else "step"
    assert said.strip() == f"resumed from {checkpoint} at epoch {epoch + 1}, {unit} {step + 1}"


def test_a_diverging_demo_run_stops_with_status_1_and_writes_no_checkpoint(text, tmp_path):
    # SGD, and batches small enough for several steps in the first epoch (a line is a sentence: few windows):
    # Adam at this rate overflows its second moment to inf, which zeroes its steps instead of diverging
    done = run(word2vec_cmd(text, tmp_path / "out", "--lr", "1e30", "--epochs", "3", "--optimizer", "sgd",
                            "--batch-size", "4"))
    assert done.returncode == 1, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("word2vec.py: error:")]
    # NumPy's overflow warnings may precede it; the last step's update or the next loss is caught
    assert re.search(r"training diverged: the (loss is (nan|inf) at epoch \d, step \d+|weight '[\w/.]+' holds NaN)",
                     line), line
    assert not (tmp_path / "out" / "word2vec_cbow.npz").exists()


def planted(n_sentences: int = 40):
    rng = np.random.default_rng(0)
    ids = np.concatenate([np.append(rng.integers(1, 12, 8), 0) for _ in range(n_sentences)]).astype(np.int32)
    return ids, np.bincount(ids, minlength=12)


def test_word2vec_nan_loss_stops_before_the_step_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    ids, counts = planted()
    config = Word2VecConfig(dim=8, window=2, batch_size=32, epochs=3, sample=0, seed=0)
    ck = tmp_path / "ck.npz"
    calls = []

    def poisoned(model, *args):
        loss, n = w2v_batch_loss(model, *args)
        calls.append(1)
        return (loss * float("nan") if len(calls) == 15 else loss), n

    w2v_batch_loss = w2v.batch_loss
    monkeypatch.setattr(w2v, "batch_loss", poisoned)
    with pytest.raises(FloatingPointError, match=rf"the loss is nan at epoch 2, step \d+; {ck} still holds"):
        train_word2vec(ids, counts, config, checkpoint=ck, show_progress=False)
    model = w2v.make_model(config, len(counts))
    extra = common.load_checkpoint(ck, model)
    assert (extra["epoch"], extra["step"]) == (1, 0)  # the end of the first epoch, finite
    assert all(np.isfinite(v).all() for v in model.state_dict().values())


def lm_trainer(lr: float = 0.5, ids: np.ndarray | None = None, **config) -> LMTrainer:
    ids = np.tile(np.arange(10), 50) if ids is None else ids
    model = RNNLM(10, 6, 6, cell="lstm", seed=3)
    return LMTrainer(model, ids, batch_size=4, bptt=5, lr=lr, clip=1.0, config=config or None)


def test_lm_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    ck = tmp_path / "ck.npz"
    trainer = lm_trainer()
    trainer.fit(1, checkpoint=ck)
    before = ck.read_bytes()
    trainer.model.decoder.weight.data[0, 0] = np.nan  # what a diverging update leaves behind
    with pytest.raises(FloatingPointError, match=rf"the loss is nan at epoch 2, step 1; {ck} still holds"):
        trainer.fit(3, checkpoint=ck)
    assert ck.read_bytes() == before
    with pytest.raises(FloatingPointError, match="'model/decoder.weight' holds NaN"):  # never written anywhere
        trainer.save(tmp_path / "other.npz")
    assert not (tmp_path / "other.npz").exists()


def test_a_huge_finite_loss_shows_an_infinite_perplexity_not_an_overflow():
    assert common.perplexity(800.0) == float("inf") and common.perplexity(1.0) == pytest.approx(np.e)
    trainer = lm_trainer()
    trainer.step = lambda x, t: 800.0  # exp(800) overflows a float
    assert trainer.fit(1) and trainer.history["train perplexity"] == [float("inf")]


# ----- time-based checkpoints ---------------------------------------------------------------------------------
def copies_of_every_save(monkeypatch, module, folder: Path) -> list[Path]:
    """Patch ``module.save_checkpoint`` so every checkpoint written is also copied into ``folder``."""
    folder.mkdir()
    copies: list[Path] = []
    real = module.save_checkpoint

    def saving(path, *args, **kw):
        written = real(path, *args, **kw)
        copies.append(Path(shutil.copy(written, folder / f"{len(copies)}.npz")))
        return written

    monkeypatch.setattr(module, "save_checkpoint", saving)
    return copies


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_word2vec_time_based_checkpoints_resume_exactly(tmp_path, monkeypatch, optimizer):
    ids, counts = planted()
    config = Word2VecConfig(dim=8, window=2, batch_size=32, epochs=2, optimizer=optimizer, sample=0, seed=1)
    full = train_word2vec(ids, counts, config, show_progress=False)
    copies = copies_of_every_save(monkeypatch, w2v, tmp_path / "copies")
    train_word2vec(ids, counts, config, checkpoint=tmp_path / "ck.npz", checkpoint_every=0.0, show_progress=False)
    monkeypatch.undo()
    steps = [(int(load_npz(c)["extra/epoch"]), int(load_npz(c)["extra/step"])) for c in copies]
    assert steps[:3] == [(0, 1), (0, 2), (0, 3)]  # one after every step, not only at the epoch's end
    mid = copies[len(copies) * 3 // 4]
    resumed = train_word2vec(ids, counts, config, resume=mid, show_progress=False)
    for name, value in full.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[name], value, err_msg=name)
    assert resumed.history == full.history


def test_lm_time_based_checkpoints_resume_exactly(tmp_path, monkeypatch):
    from tinygrad_w2v.train import lm

    straight = lm_trainer()
    straight.fit(2)
    copies = copies_of_every_save(monkeypatch, lm, tmp_path / "copies")
    lm_trainer().fit(2, checkpoint=tmp_path / "ck.npz", checkpoint_every=0.0)
    monkeypatch.undo()
    assert [int(load_npz(c)["extra/step_in_epoch"]) for c in copies[:3]] == [1, 2, 3]
    resumed = lm_trainer()
    resumed.load(copies[len(copies) * 3 // 4])
    resumed.fit(2)
    for (name, a), b in zip(straight.model.named_parameters(), resumed.model.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    assert resumed.history == straight.history


def test_time_based_checkpoints_without_a_checkpoint_file_write_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trainer = lm_trainer()
    assert trainer.fit(1, checkpoint_every=0.0)  # (--no-checkpoint with the demo's default interval)
    ids, counts = planted()
    config = Word2VecConfig(dim=8, window=2, batch_size=32, epochs=1, sample=0, seed=0)
    train_word2vec(ids, counts, config, checkpoint_every=0.0, show_progress=False)
    assert list(tmp_path.iterdir()) == []


# ----- resuming: the same run, or a clear refusal ----------------------------------------------------------------
def test_rnnlm_resume_refuses_changed_flags_and_extends_epochs(text, tmp_path):
    out = tmp_path / "out"
    assert run(rnnlm_cmd(text, out)).returncode == 0
    line = one_line_error(run(rnnlm_cmd(text, out, "--resume", "--lr", "0.001", "--bptt", "5", "--dropout", "0.1")))
    for field in ("bptt 4 in the checkpoint, 5 now", "lr 1.0 in the checkpoint, 0.001 now",
                  "dropout 0.0 in the checkpoint, 0.1 now"):
        assert field in line, line
    line = one_line_error(run(rnnlm_cmd(text, out, "--resume", "--batch-size", "5", "--optimizer", "adam")))
    assert "batch_size 3 in the checkpoint, 5 now" in line and "optimizer sgd in the checkpoint, adam now" in line
    line = one_line_error(run(rnnlm_cmd(text, out, "--resume", "--max-tokens", "300")))
    assert re.search(r"data 420 tokens, sha256 \w+ in the checkpoint, 300 tokens, sha256 \w+ now", line), line
    extended = run(rnnlm_cmd(text, out, "--resume", "--epochs", "2"))
    assert extended.returncode == 0, extended.stderr
    assert f"resumed from {out / 'checkpoint.npz'} at epoch 2, window 1" in extended.stdout
    assert re.search(r"epoch 2/2: train perplexity", extended.stdout)


def test_word2vec_demo_extends_a_finished_run(text, tmp_path):
    out = tmp_path / "out"
    assert run(word2vec_cmd(text, out)).returncode == 0
    line = one_line_error(run(word2vec_cmd(text, out, "--resume", "--negative", "3")))
    assert "negative 5 in the checkpoint, 3 now" in line
    extended = run(word2vec_cmd(text, out, "--resume", "--epochs", "2"))
    assert extended.returncode == 0, extended.stderr
    assert "at epoch 2, step 1" in extended.stdout
    assert int(load_npz(out / "word2vec_cbow.npz")["extra/epoch"]) == 2


def edit(path: Path, change) -> Path:
    arrays = load_npz(path)
    change(arrays)
    return save_npz(path.with_name("edited.npz"), arrays)


@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("optim/m.0"), "lacks the optimizer state 'optim/m.0'"),
    (lambda a: a.update({"optim/m.1": np.zeros((3, 3), np.float32)}), r"'m.1' has shape \(3, 3\)"),
    (lambda a: a.pop("model/in_embed.weight"), r"does not fit this model.*missing \['in_embed.weight'\]"),
    (lambda a: a.update({"model/out_embed.weight": a["model/out_embed.weight"][:, :4]}), "out_embed.weight"),
    (lambda a: a["model/in_embed.weight"].__setitem__((0, 0), np.nan), "'model/in_embed.weight' holds NaN"),
    (lambda a: a.pop("extra/words"), "has no 'words'"),
    (lambda a: a.update({"extra/step": np.int64(10**6)}), r"step 1000000 of epoch 2, which has \d+ steps"),
    (lambda a: a.update({"extra/epoch": np.int64(-1)}), "at epoch -1"),
])
def test_an_edited_word2vec_checkpoint_is_refused_naming_file_and_key(tmp_path, change, message):
    ids, counts = planted()
    config = Word2VecConfig(dim=8, window=2, batch_size=32, epochs=2, seed=0)
    train_word2vec(ids, counts, Word2VecConfig(dim=8, window=2, batch_size=32, epochs=1, seed=0),
                   checkpoint=tmp_path / "ck.npz", show_progress=False)
    edited = edit(tmp_path / "ck.npz", change)
    with pytest.raises(ValueError, match=f"edited.npz.*{message}"):
        train_word2vec(ids, counts, config, resume=edited, show_progress=False)


@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("extra/time_idx"), "has no 'time_idx'"),
    (lambda a: a.update({"extra/step_in_epoch": np.int64(999)}), "window 999"),
    (lambda a: a.update({"extra/state_0_h": np.zeros((2, 6), np.float32)}), r"'state_0_h' has shape \(2, 6\)"),
    (lambda a: a["model/decoder.bias"].__setitem__(0, np.inf), "'model/decoder.bias' holds NaN or infinite"),
    (lambda a: a.pop("json/config"), "has no 'config'"),
])
def test_an_edited_lm_checkpoint_is_refused_naming_file_and_key(tmp_path, change, message):
    trainer = lm_trainer()
    trainer.fit(1, max_steps=7, checkpoint=tmp_path / "ck.npz", checkpoint_every=0.0)
    edited = edit(tmp_path / "ck.npz", change)
    with pytest.raises(ValueError, match=f"edited.npz.*{message}"):
        lm_trainer().load(edited)


def test_lm_load_refuses_other_data_and_other_settings(tmp_path):
    trainer = lm_trainer(epochs=1, seed=0)
    trainer.fit(1, checkpoint=tmp_path / "ck.npz")
    with pytest.raises(ValueError, match=r"data 500 tokens, sha256 \w+ in the checkpoint, 400 tokens"):
        lm_trainer(ids=np.tile(np.arange(10), 40), epochs=1, seed=0).load(tmp_path / "ck.npz")
    with pytest.raises(ValueError, match="lr 0.5 in the checkpoint, 0.1 now; seed 0 in the checkpoint, 1 now"):
        lm_trainer(lr=0.1, epochs=1, seed=1).load(tmp_path / "ck.npz")
    grown = lm_trainer(epochs=3, seed=0)
    grown.load(tmp_path / "ck.npz")
    assert grown.fit(3) and grown.epoch == 3
