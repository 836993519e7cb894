"""model.py's logits equal the C core's for the same exported weights:
within 1e-4 for v0/v1 (fp32), within quantisation error for v2 (Q8_0)."""
import numpy as np
import pytest
import torch

from model import ModelArgs, Transformer


def random_model(shared: bool, n_kv_heads: int, seed: int = 0, hidden_dim: int = 96):
    torch.manual_seed(seed)
    a = ModelArgs(dim=64, n_layers=2, n_heads=4, n_kv_heads=n_kv_heads, vocab_size=320,
                  hidden_dim=hidden_dim, max_seq_len=32, shared_classifier=shared)
    m = Transformer(a).eval()
    with torch.no_grad():  # weights big enough that every layer matters
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.08)
    return m


TOKENS = [1, 5, 77, 200, 3, 319, 42, 8, 150, 2, 64, 9]


def logits(model, tokens=TOKENS):
    """PyTorch's logits at every position of `tokens`, as numpy."""
    model.eval()
    with torch.no_grad():
        return model(torch.tensor([tokens]))[0].numpy()


def dequantised_logits(path):
    """The logits of a quantised file's weights, dequantised back to fp32 in PyTorch."""
    import export as E
    return logits(E.load_model_bin(path)[0])


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("shared,kv", [(True, 4), (False, 2), (True, 1)])
def test_fp32_logits_match_c(clib, tmp_path, version, shared, kv):
    import export as E
    m = random_model(shared, kv)
    path = str(tmp_path / f"m{version}.bin")
    E.model_to_bin(m, path, version)
    ref = logits(m)
    with clib.CModel(path, n_threads=2) as cm:
        assert cm.info["format"] == version
        assert cm.info["shared_classifier"] == int(shared)
        assert cm.info["n_kv_heads"] == kv
        got = cm.logits_each(TOKENS)
        last = cm.logits_prefill(TOKENS)
    assert np.abs(got - ref).max() < 1e-4, np.abs(got - ref).max()
    assert np.abs(last - ref[-1]).max() < 1e-4


@pytest.mark.parametrize("shared", [True, False])
def test_q8_logits_match_c_within_quantisation_error(clib, tmp_path, shared):
    import export as E
    m = random_model(shared, 2, seed=1)
    path = str(tmp_path / "m2.bin")
    info = E.model_to_bin(m, path, 2)
    assert info["group_size"] == 32  # 64 does not divide hidden_dim 96
    ref_fp32 = logits(m)
    ref_deq = dequantised_logits(path)
    with clib.CModel(path, n_threads=2) as cm:
        assert cm.info["format"] == 2 and cm.info["group_size"] == 32
        got = cm.logits_each(TOKENS)
    scale = np.abs(ref_fp32).max()
    # C also quantises activations to Q8_0: the only gap left against the
    # dequantised weights, and small against the logits' range
    err_deq = np.abs(got - ref_deq).max()
    err_fp32 = np.abs(got - ref_fp32).max()
    assert err_deq < 0.05 * scale, (err_deq, scale)
    assert err_fp32 < 0.08 * scale, (err_fp32, scale)
    # and the correlation stays essentially perfect
    assert np.corrcoef(got.ravel(), ref_fp32.ravel())[0, 1] > 0.999


@pytest.mark.parametrize("shared", [True, False])
def test_q4_logits_match_c_within_quantisation_error(clib, tmp_path, shared):
    import export as E
    m = random_model(shared, 2, seed=1)
    path = str(tmp_path / "m3.bin")
    assert E.model_to_bin(m, path, 3)["group_size"] == 32
    ref_deq = dequantised_logits(path)
    with clib.CModel(path, n_threads=2) as cm:
        assert cm.info["format"] == 3 and cm.info["group_size"] == 32
        got = cm.logits_each(TOKENS)
        # prefill equals stepping bit for bit (the Q4_0 matvec is the gemm of one token)
        assert np.array_equal(cm.logits_prefill(TOKENS), got[-1])
    # only the Q8_0 activations separate C from the dequantised weights
    assert np.abs(got - ref_deq).max() < 0.05 * np.abs(ref_deq).max()
    assert np.corrcoef(got.ravel(), ref_deq.ravel())[0, 1] > 0.999


def test_trained_model_logits_match_c(clib, tiny_ckpt, tmp_path):
    """A real trained model (not random weights), all three formats."""
    import export as E
    model, _ = E.load_checkpoint(tiny_ckpt[0])
    toks = [1] + list(range(300, 340))
    ref = logits(model, toks)
    for v in (0, 1, 2):
        p = str(tmp_path / f"t{v}.bin")
        E.model_to_bin(model, p, v)
        with clib.CModel(p, n_threads=2) as cm:
            got = cm.logits_each(toks)
        err = np.abs(got - ref).max()
        tol = 1e-4 * max(1.0, np.abs(ref).max()) if v < 2 else 0.08 * np.abs(ref).max()
        assert err < tol, (v, err, tol)


def test_rejected_group_size(tmp_path):
    import export as E
    m = random_model(True, 4)
    with pytest.raises(ValueError):
        E.model_to_bin(m, str(tmp_path / "bad.bin"), 2, group_size=64)  # 64 does not divide 96
