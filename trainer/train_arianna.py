"""Train or fine-tune the Arianna kernel (nanoGPT-style: the config is right
below, every key can be overridden on the command line).

  # from scratch, on data prepared by arianna_data.py
  python trainer/train_arianna.py --data_dir=trainer/out/data --out_dir=trainer/out/run
  # fine-tune the device's current kernel (model.bin v0/v1/v2, or a ckpt.pt)
  python trainer/train_arianna.py --init_from=models/default/model.bin --data_dir=... \
      --max_iters=300 --learning_rate=1e-4
  # several GPUs
  torchrun --standalone --nproc_per_node=4 trainer/train_arianna.py --data_dir=...

Stops at max_iters, at max_minutes, once the val loss reaches target_loss, or
(patience > 0) when it has not improved for `patience` evaluations.
Writes out_dir/ckpt.pt (the best val loss), out_dir/log.jsonl and out_dir/loss.png.
Picks CUDA, MPS or CPU by itself; bf16 autocast on CUDA.
"""
from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from contextlib import nullcontext

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# ----------------------------------------------------------------------------- config
DEFAULTS = dict(
    # I/O
    data_dir="trainer/out/data",    # from arianna_data.py (shards + tokenizer + meta.json)
    out_dir="trainer/out/run",
    init_from="scratch",            # scratch | resume | path/to/ckpt.pt | path/to/model.bin
    eval_interval=100,
    eval_windows=32,                # val windows per stream per eval
    log_interval=10,
    save_checkpoint=True,
    plot=True,                      # loss.png with matplotlib
    progress=True,                  # tqdm bar
    # data
    batch_size=16,
    seq_len=256,
    dialogue_fraction=0.2,          # share of training windows from the fresh dialogues
    # model (ignored when init_from is a model)
    vocab_size=0,                   # 0 = from data_dir/meta.json
    dim=288,
    n_layers=6,
    n_heads=6,
    n_kv_heads=0,                   # 0 = n_heads
    hidden_dim=0,                   # 0 = llama rule (8/3 dim, multiple_of)
    multiple_of=32,
    shared_classifier=True,
    dropout=0.0,
    # optimiser
    learning_rate=1e-3,
    min_lr=1e-4,
    weight_decay=0.1,
    beta1=0.9,
    beta2=0.95,
    grad_clip=1.0,
    gradient_accumulation_steps=1,
    warmup_iters=100,
    decay_lr=True,
    # stopping
    max_iters=2000,
    max_minutes=0.0,                # 0 = no time limit
    target_loss=0.0,                # > 0: stop once val loss <= target
    patience=0,                     # > 0: stop after this many evals without a better val loss
    # system
    device="auto",                  # auto | cpu | cuda | cuda:N | mps
    dtype="auto",                   # auto (bf16 autocast on CUDA) | float32 | bfloat16 | float16
    compile=False,                  # torch.compile (torch 2.x only)
    threads=0,                      # CPU threads for torch (0 = torch's default)
    seed=1337,
)


def parse_overrides(argv, cfg):
    """--key=value / --key value, with the type of the default."""
    cfg = dict(cfg)
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--"):
            raise SystemExit(f"unexpected argument {arg!r} (use --key=value)")
        key, eq, val = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(argv):
                raise SystemExit(f"--{key} needs a value")
            i += 1
            val = argv[i]
        if key not in cfg:
            raise SystemExit(f"unknown config key {key!r}; known: {', '.join(sorted(cfg))}")
        d = cfg[key]
        if isinstance(d, bool):
            v = val.lower() in ("1", "true", "yes", "on")
        elif isinstance(d, int):
            v = int(val)
        elif isinstance(d, float):
            v = float(val)
        else:
            v = val
        cfg[key] = v
        i += 1
    return cfg


def get_lr(it, cfg, total, time_frac=0.0):
    """Linear warmup, then cosine decay to min_lr. Progress is the iteration
    fraction, or the elapsed fraction of max_minutes when that is further on,
    so a time-limited run still ends at min_lr."""
    if not cfg["decay_lr"]:
        return cfg["learning_rate"]
    if it < cfg["warmup_iters"]:
        return cfg["learning_rate"] * (it + 1) / (cfg["warmup_iters"] + 1)
    if it >= total:
        return cfg["min_lr"]
    ratio = (it - cfg["warmup_iters"]) / max(1, total - cfg["warmup_iters"])
    ratio = min(1.0, max(ratio, time_frac))
    coeff = 0.5 * (1.0 + math.cos(math.pi * ratio))
    return cfg["min_lr"] + coeff * (cfg["learning_rate"] - cfg["min_lr"])


def plot_losses(history, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:  # plotting is a nicety, never a failure
        return False
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    tr = [(h["iter"], h["train_loss"]) for h in history if h.get("train_loss") is not None]
    if tr:
        ax.plot(*zip(*tr), label="train", alpha=0.7)
    for key, lab in (("val_loss", "val (mixed)"), ("val_corpus", "val corpus"), ("val_dialogues", "val dialogues")):
        pts = [(h["iter"], h[key]) for h in history if h.get(key) is not None]
        if pts:
            ax.plot(*zip(*pts), marker="o", ms=3, label=lab)
    ax.set_xlabel("iteration")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_title("Arianna kernel training")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def git_commit():
    try:
        import subprocess
        r = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True,
                           text=True, timeout=5)
        return r.stdout.strip() or None
    except Exception:
        return None


class Run:
    """Where one job runs: distributed rank and world, device, autocast."""

    def __init__(self, cfg: dict):
        import torch
        import torch.distributed as dist
        from model import pick_device, autocast_ctx
        self.ddp = int(os.environ.get("RANK", -1)) != -1
        if self.ddp:
            local_rank = int(os.environ["LOCAL_RANK"])
            self.rank, self.world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
            want = pick_device(cfg["device"])
            dist.init_process_group(backend="nccl" if want.startswith("cuda") else "gloo")
            self.device = f"cuda:{local_rank}" if want.startswith("cuda") else "cpu"
            if self.device.startswith("cuda"):
                torch.cuda.set_device(self.device)
            assert cfg["gradient_accumulation_steps"] % self.world == 0 or cfg["gradient_accumulation_steps"] == 1
            if cfg["gradient_accumulation_steps"] >= self.world:
                cfg["gradient_accumulation_steps"] //= self.world
        else:
            self.rank, self.world = 0, 1
            self.device = pick_device(cfg["device"])
        self.master = self.rank == 0
        self.dev_type = self.device.split(":")[0]
        self.ctx = autocast_ctx(self.device, cfg["dtype"])
        if cfg["threads"]:
            torch.set_num_threads(cfg["threads"])
        torch.manual_seed(cfg["seed"] + self.rank)

    def broadcast(self, x: float) -> float:
        """Rank 0's value for every rank (its clock decides stop and lr for all)."""
        if not self.ddp:
            return x
        import torch
        import torch.distributed as dist
        t = torch.tensor([x], dtype=torch.float64, device=self.device)
        dist.broadcast(t, 0)
        return float(t.item())


def init_model(cfg: dict, meta: dict):
    """-> (model, state): a fresh model, a resumed checkpoint (with its
    optimiser, history and spent time) or a model to fine-tune."""
    from model import ModelArgs, Transformer
    import export as E
    init = cfg["init_from"]
    state = {"iter_num": 0, "best_val": float("inf"), "history": [], "optimizer": None,
             "elapsed_before": 0.0, "init_info": {"init_from": init}}
    if init == "scratch":
        margs = ModelArgs(dim=cfg["dim"], n_layers=cfg["n_layers"], n_heads=cfg["n_heads"],
                          n_kv_heads=cfg["n_kv_heads"] or None, vocab_size=cfg["vocab_size"] or meta["vocab_size"],
                          hidden_dim=cfg["hidden_dim"] or None, multiple_of=cfg["multiple_of"],
                          max_seq_len=cfg["seq_len"], dropout=cfg["dropout"],
                          shared_classifier=cfg["shared_classifier"])
        model = Transformer(margs)
    elif init == "resume" or init.endswith(".pt"):
        path = os.path.join(cfg["out_dir"], "ckpt.pt") if init == "resume" else init
        model, ck = E.load_checkpoint(path)
        model.args.dropout = cfg["dropout"]
        if init == "resume":
            state.update(iter_num=ck["iter_num"], best_val=ck["best_val_loss"], history=ck.get("history", []),
                         optimizer=ck.get("optimizer"),
                         elapsed_before=ck.get("elapsed_s", 0.0))  # the time budget continues, not restarts
        state["init_info"].update(parent=ck.get("provenance"))
    else:  # a model.bin
        model, info = E.load_model_bin(init, dropout=cfg["dropout"])
        state["init_info"].update(format=info["format"], sha256=E.sha256_file(init))
        man = os.path.join(os.path.dirname(init), "manifest.json")
        if os.path.exists(man):
            with open(man) as f:
                pm = json.load(f)
            state["init_info"].update(parent_version=pm.get("version"), parent_name=pm.get("name"),
                                      parent_val_loss=pm.get("val_loss"))
    if model.args.vocab_size != meta["vocab_size"]:
        raise SystemExit(f"model vocab {model.args.vocab_size} != data vocab {meta['vocab_size']} "
                         "(fine-tuning must reuse the model's tokenizer)")
    return model, state


def make_evaluator(raw_model, val_data, cfg: dict, run: Run):
    """-> evaluate(): val loss per stream over fixed windows, and their mix
    weighted by the dialogue fraction."""
    import torch
    dial_frac = val_data.frac

    @torch.no_grad()
    def evaluate() -> dict:
        raw_model.eval()
        out = {}
        for src in ("corpus", "dialogues"):
            tot, n = 0.0, 0
            windows = list(val_data.eval_windows(src, cfg["eval_windows"]))
            for k in range(0, len(windows), cfg["batch_size"]):
                chunk = windows[k:k + cfg["batch_size"]]
                X = torch.cat([w[0] for w in chunk]).to(run.device)
                Y = torch.cat([w[1] for w in chunk]).to(run.device)
                with run.ctx:
                    _, loss = raw_model(X, Y, reduction="sum")
                tot += float(loss)
                n += Y.numel()
            out[src] = tot / n if n else None
        raw_model.train()
        c, d = out["corpus"], out["dialogues"]
        mixed = d if c is None else c if d is None else (1 - dial_frac) * c + dial_frac * d
        return {"val_loss": mixed, "val_corpus": c, "val_dialogues": d}

    return evaluate


def wrap_model(model, cfg: dict, run: Run):
    """-> (model to step, scaler): loss scaling only for fp16 autocast (bf16
    needs none), torch.compile when asked, DDP across ranks."""
    import torch
    scaler = None
    fp16 = cfg["dtype"] == "float16" or (cfg["dtype"] == "auto" and run.dev_type == "cuda"
                                          and not torch.cuda.is_bf16_supported())
    if run.dev_type == "cuda" and fp16:
        amp = getattr(torch, "amp", None)
        scaler = amp.GradScaler("cuda") if amp is not None and hasattr(amp, "GradScaler") \
            else torch.cuda.amp.GradScaler()
    if cfg["compile"] and hasattr(torch, "compile"):
        model = torch.compile(model)
    if run.ddp:
        from torch.nn.parallel import DistributedDataParallel as DDP
        model = DDP(model, device_ids=[int(run.device.split(":")[1])] if run.dev_type == "cuda" else None)
    return model, scaler


def provenance(cfg: dict, run: Run, meta: dict, init_info: dict) -> dict:
    """Where a checkpoint came from: its parent, the machine, the code, the
    settings and the data (completed with the outcome when the run ends)."""
    import torch
    return {
        "init": init_info, "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "device": run.device if run.dev_type != "cuda" else f"cuda ({torch.cuda.get_device_name(run.device)})",
        "world_size": run.world, "torch": torch.__version__, "python": platform.python_version(),
        "host": platform.node(), "git_commit": git_commit(),
        "config": {k: cfg[k] for k in ("batch_size", "seq_len", "learning_rate", "min_lr", "weight_decay",
                                       "warmup_iters", "max_iters", "dropout", "dialogue_fraction",
                                       "gradient_accumulation_steps")},
        "data": meta.get("shards"),
        "dialogues": meta.get("dialogues"),
    }


def progress_bar(cfg: dict, run: Run, elapsed_before: float, iter_num: int):
    """tqdm on the master rank, or None. A time-limited run's bar counts its
    budget in seconds (its iterations are unknown ahead)."""
    if not (run.master and cfg["progress"]):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    budget = round(60 * cfg["max_minutes"])
    timed = cfg["max_minutes"] > 0
    return tqdm(total=budget if timed else cfg["max_iters"],
                initial=min(round(elapsed_before), budget) if timed else iter_num,
                desc="train", unit="s" if timed else "it", dynamic_ncols=True, file=sys.stderr, mininterval=1.0)


def save_atomic(ck: dict, path: str) -> None:
    """torch.save through a temporary file: a kill mid-write never leaves a torn checkpoint."""
    import torch
    torch.save(ck, path + ".tmp")
    os.replace(path + ".tmp", path)


def train(cfg: dict) -> dict:
    """Run one training job; returns a summary dict (best_val_loss, ckpt, ...).

    One piece, like nanoGPT's training loop: the loop's state (iteration, best
    val loss, patience, stop reason, time and tokens) is what its evaluation,
    checkpointing and stopping decisions share, and they read in the order they
    happen. What needs none of it is split out above (Run, init_model,
    wrap_model, make_evaluator, provenance, progress_bar) and below (train_step).
    """
    from arianna_data import MixedBatches
    import export as E

    cfg = dict(DEFAULTS, **cfg)
    run = Run(cfg)
    data_dir, out_dir = cfg["data_dir"], cfg["out_dir"]
    with open(os.path.join(data_dir, "meta.json")) as f:
        meta = json.load(f)
    if run.master:
        os.makedirs(out_dir, exist_ok=True)

    model, st = init_model(cfg, meta)
    init = cfg["init_from"]
    iter_num, best_val, history = st["iter_num"], st["best_val"], st["history"]
    margs = model.args
    seq_len = min(cfg["seq_len"], margs.max_seq_len)
    model.to(run.device)
    n_params = model.n_params()

    optimizer = model.configure_optimizer(cfg["weight_decay"], cfg["learning_rate"],
                                          (cfg["beta1"], cfg["beta2"]), run.dev_type)
    if st["optimizer"] is not None:
        optimizer.load_state_dict(st["optimizer"])
    raw_model = model
    model, scaler = wrap_model(model, cfg, run)

    train_data = MixedBatches(data_dir, "train", seq_len, cfg["dialogue_fraction"], seed=cfg["seed"] + run.rank)
    val_data = MixedBatches(data_dir, "val", seq_len, cfg["dialogue_fraction"], seed=cfg["seed"])
    evaluate = make_evaluator(raw_model, val_data, cfg, run)

    total = cfg["max_iters"]
    tokens_per_iter = cfg["batch_size"] * seq_len * cfg["gradient_accumulation_steps"] * run.world
    prov = provenance(cfg, run, meta, st["init_info"])
    ckpt_path = os.path.join(out_dir, "ckpt.pt")
    saved = []
    t_start = time.time() - st["elapsed_before"]

    def save(it, val):
        if not (run.master and cfg["save_checkpoint"]):
            return
        saved.append(it)
        ck = {"model": raw_model.state_dict(), "optimizer": optimizer.state_dict(),
              "model_args": margs.to_dict(), "iter_num": it, "best_val_loss": val,
              "config": cfg, "history": history, "provenance": prov, "corpus": meta.get("corpus"),
              "elapsed_s": time.time() - t_start}
        save_atomic(ck, ckpt_path)

    timed = cfg["max_minutes"] > 0
    bar = progress_bar(cfg, run, st["elapsed_before"], iter_num)
    log_f = open(os.path.join(out_dir, "log.jsonl"), "a") if run.master else None

    trained_tokens, train_time = 0, 0.0
    first_eval, evals_since_best = None, 0
    stop_reason = "max_iters"
    X, Y = train_data.sample(cfg["batch_size"])
    last_loss = None
    while True:
        time_frac = (time.time() - t_start) / (60 * cfg["max_minutes"]) if cfg["max_minutes"] > 0 else 0.0
        if cfg["max_minutes"] > 0:
            time_frac = run.broadcast(time_frac)
        time_up = cfg["max_minutes"] > 0 and time_frac >= 1.0
        last = iter_num >= total or time_up
        if iter_num % cfg["eval_interval"] == 0 or last:
            # the one evaluation path: interval, last iteration and time limit alike
            ev = evaluate()
            if first_eval is None:
                first_eval = ev
            rec = {"iter": iter_num, "train_loss": last_loss, **ev, "lr": get_lr(iter_num, cfg, total, time_frac),
                   "elapsed_s": round(time.time() - t_start, 2),
                   "tok_per_s": round(trained_tokens / train_time, 1) if train_time else None}
            history.append(rec)
            # every rank sees the same val loss (same weights, same windows), so
            # every rank takes the same stopping decisions
            improved = ev["val_loss"] is not None and ev["val_loss"] < best_val
            if improved:
                best_val = ev["val_loss"]
                evals_since_best = 0
            else:
                evals_since_best += 1
            if run.master:
                log_f.write(json.dumps(rec) + "\n")
                log_f.flush()
                if bar is not None:
                    bar.write(f"iter {iter_num}: val {ev['val_loss']:.4f}")
                if improved and (iter_num > 0 or init != "scratch"):
                    save(iter_num, best_val)
                if cfg["plot"]:
                    plot_losses(history, os.path.join(out_dir, "loss.png"))
            if time_up:
                stop_reason = "max_minutes"
                break
            if cfg["target_loss"] > 0 and ev["val_loss"] is not None and ev["val_loss"] <= cfg["target_loss"]:
                stop_reason = "target_loss"
                break
            if cfg["patience"] > 0 and evals_since_best >= cfg["patience"] and not last:
                stop_reason = "early_stop"  # val loss stopped improving: the corpus is learnt
                break
        if last:
            break

        t0 = time.time()
        lr = get_lr(iter_num, cfg, total, time_frac)
        last_loss, X, Y = train_step(model, raw_model, optimizer, scaler, train_data, X, Y, lr, cfg, run)
        train_time += time.time() - t0
        trained_tokens += tokens_per_iter
        iter_num += 1
        if bar is not None:
            bar.update(min(bar.total, round(time.time() - t_start)) - bar.n if timed else 1)
            if iter_num % cfg["log_interval"] == 0:
                bar.set_postfix(it=iter_num, loss=f"{last_loss:.3f}", lr=f"{lr:.1e}",
                                tok_s=f"{trained_tokens / train_time:.0f}")
    if bar is not None:
        bar.close()
    elapsed = time.time() - t_start
    final = history[-1] if history else {}
    if run.master and not saved and cfg["save_checkpoint"]:
        save(iter_num, final.get("val_loss"))  # never improved on the initial model: keep it anyway
    prov.update(finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"), iters=iter_num,
                train_tokens=trained_tokens, train_seconds=round(train_time, 1),
                tokens_per_second=round(trained_tokens / train_time, 1) if train_time else None,
                stop_reason=stop_reason, best_val_loss=best_val if best_val < float("inf") else None,
                first_val=first_eval, final_val=final)
    if run.master and cfg["save_checkpoint"] and saved:
        # refresh the stored provenance (the weights stay those of the best eval)
        ck = E.load_checkpoint(ckpt_path)[1]
        ck["provenance"] = prov
        ck["history"] = history
        save_atomic(ck, ckpt_path)
    if log_f:
        log_f.close()
    if run.ddp:
        import torch.distributed as dist
        dist.destroy_process_group()
    return {"ckpt": ckpt_path, "best_val_loss": prov["best_val_loss"], "first_val": first_eval,
            "final_val": final, "iters": iter_num, "tokens": trained_tokens, "elapsed_s": elapsed,
            "tokens_per_second": prov["tokens_per_second"], "n_params": n_params,
            "stop_reason": stop_reason, "device": prov["device"], "history": history}


def train_step(model, raw_model, optimizer, scaler, train_data, X, Y, lr: float, cfg: dict, run: Run):
    """One optimiser step over gradient_accumulation_steps micro-batches;
    -> (its loss, the next batch, prefetched while the step runs)."""
    import torch
    for g in optimizer.param_groups:
        g["lr"] = lr
    accum = cfg["gradient_accumulation_steps"]
    for micro in range(accum):
        if run.ddp:
            model.require_backward_grad_sync = micro == accum - 1
        with run.ctx:
            _, loss = model(X.to(run.device, non_blocking=True), Y.to(run.device, non_blocking=True))
            loss = loss / accum
        X, Y = train_data.sample(cfg["batch_size"])
        if scaler is not None:
            scaler.scale(loss).backward()
        else:
            loss.backward()
    if cfg["grad_clip"] > 0:
        if scaler is not None:
            scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(raw_model.parameters(), cfg["grad_clip"])
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    if run.dev_type == "cuda":
        torch.cuda.synchronize()
    return float(loss.detach()) * accum, X, Y


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        print("config (defaults):")
        for k, v in DEFAULTS.items():
            print(f"  --{k}={v}")
        return
    cfg = parse_overrides(argv, DEFAULTS)
    res = train(cfg)
    if int(os.environ.get("RANK", 0)) == 0:
        res.pop("history", None)
        print(json.dumps(res, indent=2, default=str))


if __name__ == "__main__":
    main()
