"""app/npz.py: the `.npz` that numpy.load reads, its repeating arrays deflated."""

from __future__ import annotations

import io
import zipfile

import numpy as np

from app.npz import SAMPLE, SAMPLES, WHOLE, _deflates, npz_file, npz_parts
from app.numerics import GridPoints


def written(arrays: dict[str, np.ndarray]) -> bytes:
    return b"".join(bytes(part) for part in npz_parts(arrays))


def methods(body: bytes) -> dict[str, int]:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None  # every entry's CRC-32 checks
        return {info.filename: info.compress_type for info in archive.infolist()}


def test_a_grids_coordinates_are_deflated_and_noise_is_stored() -> None:
    axis = np.linspace(-2.0, 2.0, 500)
    coordinates = np.stack([g.ravel() for g in np.meshgrid(axis, axis)])
    noise = np.random.default_rng(7).standard_normal(250_000)
    body = written({"coordinates": coordinates, "values": noise})
    assert methods(body) == {"coordinates.npy": zipfile.ZIP_DEFLATED, "values.npy": 0}
    assert len(body) < noise.nbytes + coordinates.nbytes / 5  # 4 MB of coordinates: ~0.3 MB
    with np.load(io.BytesIO(body)) as npz:
        np.testing.assert_array_equal(npz["coordinates"], coordinates)
        np.testing.assert_array_equal(npz["values"], noise)


def test_a_grids_points_are_deflated_to_their_axes_and_little_more() -> None:
    # The axes repeated exactly: long matches, few to inflate. A coder that finds only
    # short ones (ISA-L's level 1) leaves them at 7-11% of their size.
    plane = [np.linspace(-2.0, 2.0, 700), np.linspace(0.0, 1.0, 600)]
    cube = [np.linspace(-1.0, 1.0, 100), np.linspace(2.0, 3.0, 90), np.linspace(0.0, 5.0, 80)]
    for axes, indexing in [(plane, "xy"), (plane, "ij"), (cube, "xy"), (cube, "ij")]:
        grid = GridPoints.of(axes, indexing)
        points = grid.materialize()
        body = written({"coordinates": grid})
        assert methods(body) == {"coordinates.npy": zipfile.ZIP_DEFLATED}
        assert len(body) < points.nbytes / 50
        expected = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing=indexing)])
        np.testing.assert_array_equal(np.load(io.BytesIO(body))["coordinates"], expected)


def test_an_array_flat_only_at_its_start_is_stored() -> None:
    # f = 0 over the grid's first rows, noise after: the first bytes alone would mislead.
    values = np.random.default_rng(3).standard_normal(1_000_000)
    values[:250_000] = 0.0
    body = written({"values": values})
    assert methods(body) == {"values.npy": 0}
    np.testing.assert_array_equal(np.load(io.BytesIO(body))["values"], values)


def test_small_arrays_are_stored_however_they_repeat() -> None:
    body = written({"values": np.zeros(1000), "variables": np.array(["x0", "x1"])})
    assert set(methods(body).values()) == {0}
    with np.load(io.BytesIO(body)) as npz:
        assert npz["values"].tolist() == [0.0] * 1000
        assert npz["variables"].tolist() == ["x0", "x1"]


def test_deflated_float32_and_zero_dimensional_arrays_read_back() -> None:
    ramp = np.repeat(np.arange(1000, dtype=np.float32), 1000)  # a grid's second coordinate
    body = written({"gradient": ramp, "derivative": np.asarray(2.5)})
    assert methods(body)["gradient.npy"] == zipfile.ZIP_DEFLATED
    with np.load(io.BytesIO(body)) as npz:
        assert npz["gradient"].dtype == np.float32
        np.testing.assert_array_equal(npz["gradient"], ramp)
        assert npz["derivative"].shape == ()
        assert float(npz["derivative"]) == 2.5


def test_an_array_whose_sample_misleads_is_stored_after_all() -> None:
    # Flat exactly where the four samples are taken, noise everywhere else: deflating it
    # would hold a copy of nearly its size; it is given up past a quarter, and stored.
    values = np.random.default_rng(5).standard_normal(1_000_000)
    data = values.view(np.uint8)
    slice_bytes = SAMPLE // SAMPLES
    for start in np.linspace(0, data.size - slice_bytes, SAMPLES).astype(int):
        data[start : start + slice_bytes] = 0
    assert _deflates(memoryview(data))  # the sample alone says deflate
    body = written({"values": values})
    assert methods(body) == {"values.npy": 0}
    np.testing.assert_array_equal(np.load(io.BytesIO(body))["values"], values)


def test_stored_entries_go_first_and_the_directory_keeps_the_fields_order() -> None:
    # The stored values travel while the coordinates are deflated; numpy.load's `files`
    # still lists the fields as the JSON has them.
    axis = np.linspace(-2.0, 2.0, 600)
    noise = np.random.default_rng(11).standard_normal(360_000)
    arrays = {"axes[0]": axis, "coordinates": GridPoints.of([axis, axis]), "values": noise}
    body = written(arrays)
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.namelist() == ["axes[0].npy", "coordinates.npy", "values.npy"]
        offsets = {info.filename: info.header_offset for info in archive.infolist()}
        assert archive.testzip() is None
    assert offsets["values.npy"] < offsets["coordinates.npy"]
    with np.load(io.BytesIO(body)) as npz:
        assert npz.files == ["axes[0]", "coordinates", "values"]
        np.testing.assert_array_equal(npz["values"], noise)
        x0, x1 = np.meshgrid(axis, axis)
        np.testing.assert_array_equal(npz["coordinates"], np.stack([x0.ravel(), x1.ravel()]))


def test_a_big_answer_is_written_as_it_is_taken_and_a_small_one_whole() -> None:
    small = {"derivative": np.linspace(0.0, 1.0, WHOLE // 8)}
    big = {"derivative": np.linspace(0.0, 1.0, WHOLE // 8 + 1)}
    assert isinstance(npz_file(small), list)
    pieces = npz_file(big)
    assert not isinstance(pieces, list)
    body = b"".join(bytes(piece) for piece in pieces)
    np.testing.assert_array_equal(np.load(io.BytesIO(body))["derivative"], big["derivative"])


def test_infinities_are_written_as_nan_in_place_or_in_a_copy_of_a_read_only_array() -> None:
    # JSON writes them as null; the .npz as NaN. The answer's own array is changed in
    # place (no copy of a 72 MB gradient); one that may not be written is copied.
    values = np.array([1.0, np.inf, -np.inf, np.nan, 2.0])
    frozen = np.array([np.inf, 3.0])
    frozen.flags.writeable = False
    scalar = np.array(-np.inf)
    arrays = np.load(io.BytesIO(b"".join(npz_file({"v": values, "f": frozen, "s": scalar}))))
    np.testing.assert_array_equal(arrays["v"], [1.0, np.nan, np.nan, np.nan, 2.0])
    np.testing.assert_array_equal(arrays["f"], [np.nan, 3.0])
    assert np.isnan(arrays["s"])
    assert arrays["s"].shape == ()
    assert np.isnan(values[1])  # in place
    assert np.isinf(frozen[0])  # left as it was
