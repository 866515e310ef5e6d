"""A surrogate member file that is not a fitted model is refused in one line (issue 18, item 3).

The manifest's sha256 is updated with each crafted file, as someone replacing a member would, so
that only the member check can refuse it; before it, loading worked and the first prediction
failed with `AttributeError: 'int' object has no attribute 'predict'`.
"""
from __future__ import annotations

import io
import json
import pickle
import zipfile

import numpy as np
import pytest

from surrogates.data import from_store
from surrogates.fitted import MANIFEST, fit_surrogate, load_surrogate
from tabular.errors import NasHarnessError
from tabular.hashing import sha256_file


@pytest.fixture(scope="module")
def small_data(nb201_cifar10):
    return from_store(nb201_cifar10.store).subset(np.arange(120))


def _replace_member(folder, payload: bytes) -> str:
    manifest = json.loads((folder / MANIFEST).read_text())
    entry = manifest["metrics"]["valid_acc"]["files"][0]
    member = folder / entry["path"]
    member.write_bytes(payload)
    entry["sha256"] = sha256_file(member)
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return str(member)


def _legacy_pth() -> bytes:
    """The start of a pre-1.6 `torch.save` file: a pickled magic number, protocol version, sys info."""
    out = io.BytesIO()
    for obj in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
        pickle.dump(obj, out, protocol=2)
    return out.getvalue()


def _zip_pth() -> bytes:
    """A current `torch.save` file: a zip archive (not a pickle at all)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"state": 1}))
    return out.getvalue()


@pytest.mark.parametrize("payload", [pickle.dumps(5), _legacy_pth(), pickle.dumps({"weights": [1.0, 2.0]}), _zip_pth()],
                         ids=["int", "legacy-pth", "dict", "zip-pth"])
def test_a_member_that_is_not_a_fitted_model_is_refused_in_one_line(tmp_path, small_data, payload):
    folder = fit_surrogate(small_data, name="knn", kind="knn", metrics=["valid_acc"]).save(tmp_path / "knn")
    member = _replace_member(folder, payload)
    with pytest.raises(NasHarnessError) as info:
        load_surrogate(folder)
    message = str(info.value)
    assert "\n" not in message and member in message
    assert "fit the surrogate again" in message or "refit" in message  # says what to do


def test_an_unfitted_estimator_of_the_right_kind_is_refused(tmp_path, small_data):
    from surrogates.models import make_model

    folder = fit_surrogate(small_data, name="knn", kind="knn", metrics=["valid_acc"]).save(tmp_path / "knn")
    member = _replace_member(folder, pickle.dumps(make_model("knn", 0)))
    with pytest.raises(NasHarnessError, match="unfitted") as info:
        load_surrogate(folder)
    assert member in str(info.value) and "\n" not in str(info.value)


def test_an_xgb_member_that_is_not_an_xgboost_model_is_refused(tmp_path, small_data):
    folder = fit_surrogate(small_data, name="x", kind="xgb", metrics=["valid_acc"],
                           params={"n_estimators": 5, "max_depth": 2}).save(tmp_path / "x")
    member = _replace_member(folder, pickle.dumps(5))
    with pytest.raises(NasHarnessError, match="not an XGBoost model file") as info:
        load_surrogate(folder)
    assert member in str(info.value) and "\n" not in str(info.value)


def test_good_members_still_load_and_predict(tmp_path, small_data):
    surrogate = fit_surrogate(small_data, name="knn", kind="knn", metrics=["valid_acc"])
    loaded = load_surrogate(surrogate.save(tmp_path / "knn"))
    archs = small_data.archs[:5]
    np.testing.assert_array_equal(loaded.predict("valid_acc", archs)[0], surrogate.predict("valid_acc", archs)[0])
