"""Export round trips for v0, v1, v2 and v3, group sizes, and the model directory."""
import json
import os
import struct

import numpy as np
import pytest
import torch

from model import ModelArgs, Transformer


def make(shared=True, kv=2, hidden=128, seed=0):
    torch.manual_seed(seed)
    a = ModelArgs(dim=64, n_layers=2, n_heads=4, n_kv_heads=kv, vocab_size=300, hidden_dim=hidden,
                  max_seq_len=16, shared_classifier=shared)
    return Transformer(a).eval()


def same_args(a, b):
    keys = ("dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "hidden_dim", "max_seq_len",
            "shared_classifier")
    return all(getattr(a, k) == getattr(b, k) for k in keys)


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("shared", [True, False])
def test_fp32_round_trip_is_exact(tmp_path, version, shared):
    import export as E
    m = make(shared)
    p = str(tmp_path / "m.bin")
    E.model_to_bin(m, p, version)
    args, sd, info = E.read_model_bin(p)
    assert info["format"] == version and same_args(args, m.args)
    ref = m.state_dict()
    for k, v in sd.items():
        assert torch.equal(v, ref[k].float()), k
    # and writing it again gives the same bytes
    m2, _ = E.load_model_bin(p)
    p2 = str(tmp_path / "m2.bin")
    E.model_to_bin(m2, p2, version)
    assert open(p, "rb").read() == open(p2, "rb").read()


def test_v0_header_and_size(tmp_path):
    import export as E
    m = make(shared=False)
    p = str(tmp_path / "m.bin")
    E.model_to_bin(m, p, 0)
    hdr = struct.unpack("<7i", open(p, "rb").read(28))
    assert hdr == (64, 128, 2, 4, 2, -300, 16)  # negative vocab: separate classifier
    a = m.args
    kv = a.n_kv_heads * a.head_size
    n = (a.vocab_size * a.dim * 2 + a.n_layers * (2 * a.dim + 2 * a.dim * a.dim + 2 * kv * a.dim
         + 3 * a.dim * a.hidden_dim) + a.dim + a.max_seq_len * a.head_size)
    assert os.path.getsize(p) == 28 + 4 * n


@pytest.mark.parametrize("shared", [True, False])
def test_v2_round_trip_within_half_a_step(tmp_path, shared):
    import export as E
    m = make(shared, hidden=128)
    p = str(tmp_path / "m.bin")
    info = E.model_to_bin(m, p, 2)
    gs = info["group_size"]
    assert gs == 64
    raw = open(p, "rb").read()
    assert struct.unpack_from("<I", raw, 0)[0] == E.MAGIC
    assert struct.unpack_from("<i", raw, 4)[0] == 2
    assert struct.unpack_from("<i", raw, 37)[0] == gs
    assert raw[36] == (1 if shared else 0)
    args, sd, rinfo = E.read_model_bin(p)
    assert rinfo == {"format": 2, "group_size": gs} and same_args(args, m.args)
    ref = m.state_dict()
    for k, v in sd.items():
        w = ref[k].float()
        if k.endswith("norm.weight"):
            assert torch.equal(v, w), k  # norms stay fp32
            continue
        g = w.reshape(-1, gs)
        step = g.abs().max(dim=1).values / 127.0
        err = (v.reshape(-1, gs) - g).abs().max(dim=1).values
        assert bool((err <= step / 2 + 1e-7).all()), k
    # re-quantising the dequantised weights reproduces the same int8 codes
    m2, _ = E.load_model_bin(p)
    p2 = str(tmp_path / "m2.bin")
    E.model_to_bin(m2, p2, 2)
    a, b = np.frombuffer(raw, np.uint8), np.frombuffer(open(p2, "rb").read(), np.uint8)
    assert a.size == b.size
    _, sd2, _ = E.read_model_bin(p2)
    for k in sd:
        assert torch.allclose(sd[k], sd2[k], rtol=0, atol=1e-6), k


@pytest.mark.parametrize("shared", [True, False])
def test_v3_round_trip_within_half_a_step(tmp_path, shared):
    import export as E
    m = make(shared, hidden=128)
    p = str(tmp_path / "m.bin")
    info = E.model_to_bin(m, p, 3)
    assert info["group_size"] == 32
    raw = open(p, "rb").read()
    assert struct.unpack_from("<i", raw, 4)[0] == 3 and struct.unpack_from("<i", raw, 37)[0] == 32
    args, sd, rinfo = E.read_model_bin(p)
    assert rinfo == {"format": 3, "group_size": 32} and same_args(args, m.args)
    ref = m.state_dict()
    for k, v in sd.items():
        w = ref[k].float()
        if k.endswith("norm.weight"):
            assert torch.equal(v, w), k
            continue
        g = w.reshape(-1, 32)
        step = g.abs().max(dim=1).values / 7.0
        err = (v.reshape(-1, 32) - g).abs().max(dim=1).values
        assert bool((err <= step / 2 + 1e-6).all()), k
    # the nibble order: byte j of a group holds value j (low) and j + 16 (high)
    q, s, _ = E.quantize_q40(np.arange(-16, 16, dtype=np.float32) / 16 * 7)
    assert np.allclose(E.dequantize_q40(q, s), np.round(np.arange(-16, 16) / 16 * 7) * s[0])
    assert q[0] == ((-7 + 8) | ((0 + 8) << 4))
    with pytest.raises(ValueError):
        E.model_to_bin(make(hidden=80), str(tmp_path / "bad.bin"), 3)


def test_group_size_divides_dim_and_hidden():
    import export as E
    assert E.pick_group_size(288, 768) == 32
    assert E.pick_group_size(256, 704) == 64
    assert E.pick_group_size(64, 96) == 32
    assert E.pick_group_size(96, 200) == 8
    for d, h in ((288, 768), (256, 704), (64, 96), (96, 200), (320, 864)):
        gs = E.pick_group_size(d, h)
        assert d % gs == 0 and h % gs == 0


def test_model_dir_manifest(tmp_path, prepared):
    import export as E
    m = make()
    m.args.vocab_size  # 300 != 512: give the directory a matching model instead
    torch.manual_seed(0)
    m = Transformer(ModelArgs(dim=64, n_layers=1, n_heads=4, vocab_size=512, hidden_dim=128,
                              max_seq_len=16))
    d = str(tmp_path / "dir")
    man = E.write_model_dir(m, d, 2, tokenizer_bin=os.path.join(prepared, "tokenizer.bin"),
                            tokenizer_model=os.path.join(prepared, "tokenizer.model"),
                            val_loss=3.21, training={"note": "test"}, model_version="v-test")
    on_disk = json.load(open(os.path.join(d, "manifest.json")))
    assert on_disk == json.loads(json.dumps(man))
    assert man["format"] == "v2-q8_0" and man["format_version"] == 2 and man["group_size"] == 64
    assert man["dims"]["vocab_size"] == 512 and man["dims"]["seq_len"] == 16
    assert man["val_loss"] == 3.21 and man["version"] == "v-test"
    assert man["origin_text"] and man["origin"] == man["origin_text"]
    tmpl = json.load(open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "chat_template.json")))
    assert man["chat_template"] == tmpl
    for fn in ("model.bin", "tokenizer.bin", "tokenizer.model"):
        assert man["files"][fn]["sha256"] == E.sha256_file(os.path.join(d, fn))
    assert man["sha256"]["model"] == man["files"]["model.bin"]["sha256"]
    E.verify_model_dir(d)
    with open(os.path.join(d, "model.bin"), "r+b") as f:  # corrupt one byte
        f.seek(300)
        b = f.read(1)
        f.seek(300)
        f.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(ValueError):
        E.verify_model_dir(d)


def test_export_cli_from_checkpoint(tmp_path, tiny_ckpt):
    import export as E
    out = str(tmp_path / "cli")
    E.main(["--ckpt", tiny_ckpt[0], "--out", out, "--version", "1"])
    man = E.verify_model_dir(out)
    assert man["format"] == "v1-fp32" and man["val_loss"] is not None
    assert man["training"]["iters"] == 60
