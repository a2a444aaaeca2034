"""TabularTransformer: unobserved cells never matter, empty rows are finite, specs rebuild it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from biomm.encoders import build_encoder
from biomm.encoders.tabular import TabularTransformer
from biomm.errors import InputError

CARDS = [0, 3, 0, 5, 2]


def _rows(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    cards = torch.tensor(CARDS)
    codes = torch.randint(0, 1000, (n, len(CARDS)), generator=g) % cards.clamp_min(1)
    values = torch.where(cards > 0, codes.float(), torch.randn(n, len(CARDS), generator=g))
    observed = torch.rand(n, len(CARDS), generator=g) > 0.3
    return values, observed


@pytest.mark.parametrize("skip", [False, True])
def test_output_does_not_depend_on_unobserved_values(skip):
    torch.manual_seed(0)
    enc = TabularTransformer(CARDS, dim=16, depth=2, heads=2, skip=skip, out_dim=8).eval()
    if skip:  # make the skip path non-trivial (it starts at zero)
        torch.nn.init.normal_(enc.skip_number)
        torch.nn.init.normal_(enc.skip_category.weight)
    values, observed = _rows(32)
    out, tokens = enc(values, observed), enc.forward_tokens(values, observed)
    for fill in (float("nan"), float("inf"), 1e6, -3.0):
        changed = torch.where(observed, values, torch.full_like(values, fill))
        torch.testing.assert_close(enc(changed, observed), out, rtol=0, atol=0)
        torch.testing.assert_close(enc.forward_tokens(changed, observed), tokens, rtol=0, atol=0)
    # an observed value does matter
    row, col = torch.nonzero(observed[:, 0])[0].tolist()[0], 0
    moved = values.clone()
    moved[row, col] += 2.0
    assert not torch.allclose(enc(moved, observed)[row], out[row])


def test_rows_are_independent_of_the_batch():
    torch.manual_seed(1)
    enc = TabularTransformer(CARDS, dim=16, depth=1, heads=4).eval()
    values, observed = _rows(8)
    full = enc(values, observed)
    for i in (0, 5):
        torch.testing.assert_close(enc(values[i : i + 1], observed[i : i + 1]), full[i : i + 1])


def test_all_unobserved_row_is_finite_and_trains():
    torch.manual_seed(0)
    enc = TabularTransformer(CARDS, dim=16, depth=2, heads=2, skip=True)
    values, observed = _rows(6)
    observed[2] = False
    values[2] = float("nan")
    out = enc(values, observed)
    assert torch.isfinite(out).all()
    out.pow(2).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in enc.parameters() if p.grad is not None)
    enc.eval()
    empty = torch.zeros(2, len(CARDS), dtype=torch.bool)
    a = enc(torch.randn(2, len(CARDS)), empty)
    torch.testing.assert_close(a[0], a[1])  # nothing observed: one embedding for every row
    # observed=None means "the finite cells"
    torch.testing.assert_close(enc(values), enc(values, torch.isfinite(values)))


def test_bad_inputs_are_reported():
    enc = TabularTransformer(CARDS, dim=8, depth=1, heads=2, columns=list("abcde"))
    values, observed = _rows(4)
    observed[:] = True
    bad = values.clone()
    bad[0, 1] = 3.0  # column b has codes 0..2
    with pytest.raises(InputError, match=r"column b holds codes outside 0\.\.2"):
        enc(bad, observed)
    bad = values.clone()
    bad[0, 3] = 1.5
    with pytest.raises(InputError, match="column d"):
        enc(bad, observed)
    bad = values.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(InputError, match="observed tabular cell holds NaN"):
        enc(bad, observed)
    with pytest.raises(InputError, match=r"must be \[B, 5\]"):
        enc(values[:, :4], observed[:, :4])
    with pytest.raises(InputError, match="does not match"):
        enc(values, observed[:, :4])
    with pytest.raises(InputError, match="cardinalities"):
        TabularTransformer([])
    with pytest.raises(InputError, match="divisible"):
        TabularTransformer([0], dim=10, heads=4)
    with pytest.raises(InputError, match="column names"):
        TabularTransformer([0, 2], columns=["a"])


def test_json_spec_rebuilds_the_encoder_and_weights_load(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    enc = build_encoder(
        "tabular_transformer", cardinalities=CARDS, dim=16, depth=1, heads=2, skip=True
    ).eval()
    spec = json.loads(json.dumps(enc.config()))
    twin = build_encoder("tabular_transformer", **spec).eval()
    twin.load_state_dict(enc.state_dict())
    values, observed = _rows(5)
    torch.testing.assert_close(twin(values, observed), enc(values, observed))
    path = tmp_path / "tabular.safetensors"
    save_file(enc.state_dict(), str(path))
    loaded = TabularTransformer(**spec, weights=str(path)).eval()
    torch.testing.assert_close(loaded(values, observed), enc(values, observed))
    info = loaded.describe()
    assert info["modality"] == "tabular" and len(info["weights_sha256"]) == 64
    assert info["cardinalities"] == CARDS
    with pytest.raises(InputError, match="do not fit"):
        TabularTransformer([0, 3], dim=16, depth=1, heads=2, weights=str(path))


def test_model_spec_with_a_tabular_encoder_embeds_masked_rows():
    from biomm.ehr import encoder_spec
    from biomm.io.ehr import EHRPreprocessor
    from biomm.train.model import build_model

    frame = pd.DataFrame({"age": [50.0, 60.0, None, 70.0], "sex": ["F", "M", "F", None]})
    prep = EHRPreprocessor().fit(frame)
    batch = prep.transform(frame)
    spec = {
        "embed_dims": {"ehr": 1},
        "fusion": {"name": "concat", "out_dim": 4},
        "heads": {"y": {"name": "binary"}},
        "encoders": {"ehr": encoder_spec(prep, dim=8, depth=1, heads=2)},
    }
    model = build_model(json.loads(json.dumps(spec))).eval()
    values, observed = batch.tensors()
    present = torch.tensor([True, True, False, True])
    with torch.no_grad():
        emb = model.embed({"ehr": values}, {"ehr": observed}, {"ehr": present})["ehr"]
    assert emb.shape == (4, 8) and torch.all(emb[2] == 0)
    encoder = model.encoders["ehr"]
    with torch.no_grad():
        torch.testing.assert_close(emb[3], encoder(values[3:], observed[3:])[0])
    assert encoder.describe()["preprocessor_fingerprint"] == prep.fingerprint
    assert np.isfinite(emb.numpy()).all()
