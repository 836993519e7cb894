"""ar_session_embed equals its definition computed by model.py: the mean, over
every position but a leading BOS, of the hidden state after the final RMSNorm,
scaled to unit length (fp32 export, within 1e-5)."""
import numpy as np
import torch

from test_model_vs_c import TOKENS, random_model


def test_c_embedding_is_the_pooled_final_hidden_state(clib, tmp_path):
    import export as E
    m = random_model(True, 2, seed=3)
    path = str(tmp_path / "m1.bin")
    E.model_to_bin(m, path, 1)
    seen = {}
    m.norm.register_forward_hook(lambda _mod, _inp, out: seen.setdefault("h", out))
    with torch.no_grad():
        m(torch.tensor([TOKENS]))
    h = seen["h"][0].numpy()
    assert TOKENS[0] == 1  # BOS: run, not pooled
    ref = h[1:].mean(axis=0)
    ref /= np.linalg.norm(ref)
    with clib.CModel(path, n_threads=2) as cm:
        got = cm.embed(TOKENS)
        again = cm.embed(TOKENS)
    assert abs(np.linalg.norm(got) - 1) < 1e-5
    assert np.abs(got - ref).max() < 1e-5, np.abs(got - ref).max()
    assert np.array_equal(got, again)
