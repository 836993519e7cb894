"""Training: from scratch, fine-tuning from a model.bin on fresh dialogues,
the loss curve and checkpoints, target loss, and DDP under torchrun."""
import json
import os
import subprocess
import sys

import pytest

from conftest import TRAINER, synthetic_dialogues, tiny_cfg, write_dialogues_jsonl


def test_scratch_training_learns(tiny_ckpt):
    ckpt, res = tiny_ckpt
    assert os.path.exists(ckpt)
    assert res["best_val_loss"] < res["first_val"]["val_loss"] - 1.0
    run = os.path.dirname(ckpt)
    assert os.path.exists(os.path.join(run, "log.jsonl"))
    recs = [json.loads(l) for l in open(os.path.join(run, "log.jsonl"))]
    assert recs[0]["iter"] == 0 and recs[-1]["iter"] == 60


def test_loss_png(tmp_path, prepared):
    import train_arianna as T
    cfg = tiny_cfg(data_dir=prepared, out_dir=str(tmp_path), max_iters=6,
               eval_interval=3, plot=True)
    T.train(cfg)
    png = tmp_path / "loss.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_target_loss_stops_early(tmp_path, prepared):
    import train_arianna as T
    cfg = tiny_cfg(data_dir=prepared, out_dir=str(tmp_path), max_iters=500,
               eval_interval=5, target_loss=6.0)
    res = T.train(cfg)
    assert res["stop_reason"] == "target_loss" and res["iters"] < 500


def test_cli_overrides():
    import train_arianna as T
    cfg = T.parse_overrides(["--dim=32", "--dropout", "0.1", "--compile=false", "--init_from=x.bin"],
                            T.DEFAULTS)
    assert cfg["dim"] == 32 and cfg["dropout"] == 0.1 and cfg["compile"] is False
    assert cfg["init_from"] == "x.bin"
    with pytest.raises(SystemExit):
        T.parse_overrides(["--nope=1"], T.DEFAULTS)


@pytest.mark.parametrize("fmt", [1, 2])
def test_finetune_from_model_bin_lowers_val_loss_on_fresh_dialogues(tmp_path, corpus_dir, prepared,
                                                                    tiny_ckpt, fmt):
    import arianna_data as D
    import export as E
    import train_arianna as T
    model, _ = E.load_checkpoint(tiny_ckpt[0])
    base = str(tmp_path / "base.bin")
    E.model_to_bin(model, base, fmt)
    jl = write_dialogues_jsonl(str(tmp_path / "fine_tune_t.jsonl"), synthetic_dialogues(60, 11))
    data = str(tmp_path / "ft_data")
    D.prepare(corpus_dir, data, sp_model=os.path.join(prepared, "tokenizer.model"), dialogue_jsonl=[jl],
              dialogue_fraction=0.2)
    cfg = tiny_cfg(data_dir=data, out_dir=str(tmp_path / "ft"), init_from=base,
               max_iters=40, eval_interval=20, learning_rate=2e-3, warmup_iters=2)
    res = T.train(cfg)
    before = res["first_val"]["val_dialogues"]
    after = min(h["val_dialogues"] for h in res["history"])
    assert after < before - 0.3, (before, after)
    # iteration 0 evaluates the untouched base: it must equal the base's own loss
    assert res["history"][0]["iter"] == 0
    ck = E.load_checkpoint(res["ckpt"])[1]
    assert ck["provenance"]["init"]["init_from"] == base
    assert ck["provenance"]["init"]["format"] == fmt


def test_resume(tmp_path, prepared):
    import train_arianna as T
    out = str(tmp_path / "r")
    T.train(tiny_cfg(data_dir=prepared, out_dir=out, max_iters=10, eval_interval=5))
    res = T.train(tiny_cfg(data_dir=prepared, out_dir=out, max_iters=20, eval_interval=5,
                       init_from="resume"))
    assert res["iters"] == 20


@pytest.mark.skipif(sys.version_info >= (3, 11) and int(__import__("torch").__version__.split(".")[0]) < 2,
                    reason="torch 1.13's torchrun itself breaks on Python 3.11 (elastic Std map)")
def test_ddp_torchrun_two_cpu_processes(tmp_path, prepared):
    """The distributed engine: torchrun with 2 CPU workers (gloo)."""
    out = str(tmp_path / "ddp")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           os.path.join(TRAINER, "train_arianna.py"), f"--data_dir={prepared}", f"--out_dir={out}",
           "--dim=32", "--n_layers=1", "--n_heads=2", "--hidden_dim=64", "--seq_len=32",
           "--batch_size=4", "--max_iters=6", "--eval_interval=3", "--eval_windows=2",
           "--progress=false", "--plot=false", "--threads=1", "--device=cpu", "--warmup_iters=1"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    if r.returncode != 0:
        # Seen once in ~10 runs on a loaded 2-core box, not reproduced since: a
        # torchrun worker failing at start-up. Show it, then try once more.
        print("torchrun failed once, retrying:\n" + r.stderr[-3000:])
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert os.path.exists(os.path.join(out, "ckpt.pt"))
    res = json.loads(r.stdout[r.stdout.index("{"):])
    assert res["iters"] == 6 and res["tokens"] == 6 * 4 * 32 * 2  # both ranks' tokens


def test_lr_schedule_follows_time_budget():
    import train_arianna as T
    cfg = dict(T.DEFAULTS, learning_rate=1e-3, min_lr=1e-4, warmup_iters=10, decay_lr=True)
    assert T.get_lr(0, cfg, 1000) < 1e-4 + 1e-12  # warmup starts small
    assert abs(T.get_lr(10, cfg, 1000) - 1e-3) < 1e-9
    assert abs(T.get_lr(1000, cfg, 1000) - 1e-4) < 1e-12
    # a run limited by time reaches min_lr when its minutes are spent
    assert abs(T.get_lr(50, cfg, 100000, time_frac=1.0) - 1e-4) < 1e-12
    assert T.get_lr(50, cfg, 100000, time_frac=0.5) < T.get_lr(50, cfg, 100000, time_frac=0.1)


def test_patience_stops_when_val_stops_improving(tmp_path, prepared):
    import train_arianna as T
    res = T.train(tiny_cfg(data_dir=prepared, out_dir=str(tmp_path), max_iters=500, eval_interval=4,
                           learning_rate=0.0, min_lr=0.0, patience=2))
    assert res["stop_reason"] == "early_stop" and res["iters"] == 8


def test_a_time_limited_run_logs_its_final_evaluation_and_resumes_its_clock(tmp_path, prepared):
    """The time limit ends through the same evaluation path as every other
    stop: its val loss is in log.jsonl, and a resumed run continues the spent
    budget instead of starting a new one."""
    import torch
    import train_arianna as T
    out = str(tmp_path / "t")
    res = T.train(tiny_cfg(data_dir=prepared, out_dir=out, max_iters=100000, eval_interval=100000,
                           max_minutes=0.02))
    recs = [json.loads(l) for l in open(os.path.join(out, "log.jsonl"))]
    assert res["stop_reason"] == "max_minutes" and len(recs) == 2
    assert recs[0]["iter"] == 0 and recs[-1]["iter"] == res["iters"] > 0
    assert recs[-1]["val_loss"] == res["history"][-1]["val_loss"] and recs[-1]["lr"] is not None
    spent = torch.load(os.path.join(out, "ckpt.pt"), weights_only=False)["elapsed_s"]
    assert spent >= 0.02 * 60 * 0.9
    again = T.train(tiny_cfg(data_dir=prepared, out_dir=out, max_iters=100000, eval_interval=100000,
                             max_minutes=0.02, init_from="resume"))
    assert again["stop_reason"] == "max_minutes" and again["iters"] == res["iters"]  # no time left
