"""Reading and writing images without silent loss (nc_core.imaging) and writing output files
safely (nc_core.files): modes, alpha, 16-bit, EXIF orientation, multi-frame files, output
formats by suffix, missing or wrong output directories, the umask."""

from __future__ import annotations

import io
import os
import struct
import tempfile
import zlib

import numpy as np
import pytest
from PIL import Image

from nc_core import imaging
from nc_core.errors import UserError
from nc_core.files import atomic_write


def _photo(h=24, w=40) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _png16(path, colour: bool):
    """A 16-bit PNG written by hand (Pillow opens a 48-bit one as 8-bit RGB)."""
    h, w, channels = 4, 5, 3 if colour else 1
    rows = b"".join(b"\x00" + np.full((w, channels), 40000 + y, ">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 16, 2 if colour else 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))


# -- reading -------------------------------------------------------------------------------------


def test_rgb_is_read_as_is_with_nothing_to_say(tmp_path):
    image = _photo()
    Image.fromarray(image).save(tmp_path / "a.png")
    rgb, info = imaging.read_image(tmp_path / "a.png")
    assert np.array_equal(rgb, image) and info.mode == "RGB" and info.alpha is None and info.notes == ()


def test_grey_is_coded_as_replicated_rgb_and_stays_grey(tmp_path):
    grey = _photo()[..., 0]
    Image.fromarray(grey).save(tmp_path / "g.png")
    rgb, info = imaging.read_image(tmp_path / "g.png")
    assert info.mode == "L" and info.notes == ()  # restored on decoding: nothing to say
    assert rgb.shape == grey.shape + (3,) and all(np.array_equal(rgb[..., c], grey) for c in range(3))
    assert np.array_equal(imaging.restore_mode(rgb, info), grey)


def test_alpha_is_kept_apart_from_the_colour(tmp_path):
    rgba = np.dstack([_photo(), np.arange(24 * 40, dtype=np.uint8).reshape(24, 40)])
    Image.fromarray(rgba).save(tmp_path / "a.png")
    rgb, info = imaging.read_image(tmp_path / "a.png")
    assert info.mode == "RGBA" and np.array_equal(info.alpha, rgba[..., 3]) and np.array_equal(rgb, rgba[..., :3])
    la = np.dstack([rgba[..., 0], rgba[..., 3]])
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    rgb, info = imaging.read_image(tmp_path / "la.png")
    assert info.mode == "LA" and np.array_equal(imaging.restore_mode(rgb, info), la)


def test_alpha_plane_coding_is_lossless_and_free_when_opaque():
    alpha = np.random.default_rng(1).integers(0, 256, (17, 9), dtype=np.uint8)
    assert np.array_equal(imaging.decode_alpha(imaging.encode_alpha(alpha), 17, 9), alpha)
    assert imaging.encode_alpha(np.full((5, 5), 255, np.uint8)) == b""
    assert (imaging.decode_alpha(b"", 3, 4) == 255).all()
    from nc_core.container import ContainerError

    with pytest.raises(ContainerError, match="alpha plane"):
        imaging.decode_alpha(imaging.encode_alpha(alpha), 9, 17)  # another size
    with pytest.raises(ContainerError, match="alpha plane"):
        imaging.decode_alpha(b"\x89PNG garbage", 17, 9)


@pytest.mark.parametrize("colour", [False, True])
def test_16_bit_images_are_refused_with_one_line(tmp_path, colour):
    path = tmp_path / "deep.png"
    _png16(path, colour)
    with pytest.raises(UserError, match="more than 8 bits per sample") as err:
        imaging.read_image(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_multi_frame_images_are_refused_naming_the_video_plugin(tmp_path):
    frames = [Image.fromarray(np.full((8, 8, 3), v, np.uint8)) for v in (0, 100, 200)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(UserError, match="has 3 frames.*nc-video"):
        imaging.read_image(tmp_path / "anim.gif")
    frames[0].save(tmp_path / "still.gif")  # one frame is fine (a palette image: said)
    _, info = imaging.read_image(tmp_path / "still.gif")
    assert info.mode == "RGB" and any("palette" in note for note in info.notes)


def test_exif_orientation_is_applied_and_said(tmp_path):
    image = _photo(10, 30)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(image).save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=100)
    rgb, info = imaging.read_image(tmp_path / "r.jpg")
    assert rgb.shape == (30, 10, 3)  # upright, as viewers show it
    assert any("EXIF orientation 6" in note and "10x30" in note for note in info.notes)
    plain, plain_info = imaging.read_image(_save(tmp_path / "p.jpg", image))
    assert plain.shape == (10, 30, 3) and plain_info.notes == ()


def _save(path, image, **options):
    Image.fromarray(image).save(path, **options)
    return path


def test_unreadable_input_is_one_line_naming_the_file(tmp_path):
    (tmp_path / "x.png").write_bytes(b"not an image")
    for path, message in [(tmp_path / "x.png", "not a readable image"), (tmp_path / "missing.png", "no such file"),
                          (tmp_path, "is a directory")]:
        with pytest.raises(UserError, match=message) as err:
            imaging.read_image(path)
        assert str(path) in str(err.value)


# -- writing -------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".jpg", b"\xff\xd8"), (".jpeg", b"\xff\xd8"),
                                           (".webp", b"RIFF"), (".bmp", b"BM"), (".tif", b"II*\x00"),
                                           (".tiff", b"II*\x00"), (".ppm", b"P6"), (".npz", b"PK")])
def test_the_suffix_names_the_format_written(tmp_path, suffix, magic):
    image = _photo()
    path = tmp_path / f"out{suffix}"
    notes = imaging.write_image(path, image)
    assert path.read_bytes().startswith(magic)
    if suffix == ".npz":
        with np.load(path) as arrays:
            assert np.array_equal(arrays["data"], image[None])
    else:
        with Image.open(path) as im:
            decoded = np.asarray(im.convert("RGB"))
        if suffix in (".jpg", ".jpeg"):
            assert any("lossy" in note for note in notes)
        else:  # lossless formats hold the decoded pixels exactly
            assert np.array_equal(decoded, image) and notes == []


@pytest.mark.parametrize("name", ["out", "out.nc", "out.gif", "out.txt"])
def test_an_output_name_nc_cannot_write_is_refused(tmp_path, name):
    with pytest.raises(UserError, match="nc writes .png") as err:
        imaging.write_image(tmp_path / name, _photo())
    assert str(tmp_path / name) in str(err.value) and not (tmp_path / name).exists()


def test_modes_are_written_back(tmp_path):
    grey = _photo()[..., 0]
    rgb = np.repeat(grey[..., None], 3, axis=2)
    alpha = np.arange(24 * 40, dtype=np.uint8).reshape(24, 40)
    imaging.write_image(tmp_path / "g.png", rgb, imaging.ImageInfo("L"))
    with Image.open(tmp_path / "g.png") as im:
        assert im.mode == "L" and np.array_equal(np.asarray(im), grey)
    imaging.write_image(tmp_path / "a.tif", rgb, imaging.ImageInfo("RGBA", alpha))
    with Image.open(tmp_path / "a.tif") as im:
        assert im.mode == "RGBA" and np.array_equal(np.asarray(im)[..., 3], alpha)
    with pytest.raises(UserError, match="cannot hold this image's alpha"):
        imaging.write_image(tmp_path / "a.jpg", rgb, imaging.ImageInfo("RGBA", alpha))
    assert not (tmp_path / "a.jpg").exists()
    notes = imaging.write_image(tmp_path / "g.webp", rgb, imaging.ImageInfo("L"))
    assert any("no grey mode" in note for note in notes)


def test_grey_is_restored_as_the_rounded_channel_mean():
    decoded = np.array([[[10, 11, 13], [0, 0, 1]]], dtype=np.uint8)
    assert imaging.restore_mode(decoded, imaging.ImageInfo("L")).tolist() == [[11, 0]]


# -- atomic_write: output paths ----------------------------------------------------------------


def test_missing_directory_is_an_error_and_nothing_is_created(tmp_path):
    target = tmp_path / "no" / "such" / "out.nc"
    with pytest.raises(UserError, match="no such directory") as err:
        atomic_write(target, b"x")
    assert str(target) in str(err.value) and not (tmp_path / "no").exists()


def test_a_file_used_as_a_directory_or_a_directory_as_a_file(tmp_path):
    (tmp_path / "file.png").write_bytes(b"x")
    for target, message in [(tmp_path / "file.png" / "out.nc", "is not a directory"),
                            (tmp_path / "file.png" / "a" / "out.nc", "is not a directory"),
                            (tmp_path, "is a directory")]:
        with pytest.raises(UserError, match=message) as err:
            atomic_write(target, b"x")
        assert str(target) in str(err.value)


def test_errors_name_the_users_path_never_the_temporary_file(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".out.nc.abc.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(UserError, match="permission denied") as err:
        atomic_write(tmp_path / "out.nc", b"x")
    assert str(tmp_path / "out.nc") in str(err.value) and ".tmp" not in str(err.value)


def test_a_failed_replace_leaves_no_temporary_file(tmp_path, monkeypatch):
    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(UserError, match="no space left") as err:
        atomic_write(tmp_path / "out.nc", b"x")
    assert ".tmp" not in str(err.value) and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002, 0o077])
def test_outputs_respect_the_umask(tmp_path, umask):
    saved = os.umask(umask)
    try:
        atomic_write(tmp_path / "out.nc", b"x")
    finally:
        os.umask(saved)
    assert (tmp_path / "out.nc").stat().st_mode & 0o777 == 0o666 & ~umask


def test_restore_mode_refuses_an_alpha_plane_of_another_size():
    from nc_core.container import ContainerError

    with pytest.raises(ContainerError):
        imaging.restore_mode(_photo(), imaging.ImageInfo("RGBA", np.zeros((3, 3), np.uint8)))


def test_encode_alpha_is_a_png(tmp_path):
    data = imaging.encode_alpha(np.zeros((4, 4), np.uint8))
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG" and im.mode == "L"


@pytest.mark.parametrize("mode, transparent", [("L", 5), ("RGB", (5, 5, 5))])
def test_a_transparent_colour_becomes_alpha_and_is_said(tmp_path, mode, transparent):
    grey = np.arange(16, dtype=np.uint8).reshape(4, 4)
    pixels = grey if mode == "L" else np.dstack([grey] * 3)
    Image.fromarray(pixels).save(tmp_path / "t.png", transparency=transparent)
    rgb, info = imaging.read_image(tmp_path / "t.png")
    assert info.mode == mode + "A" and any("transparent colour" in note for note in info.notes)
    assert info.alpha.ravel().tolist() == [0 if v == 5 else 255 for v in range(16)]
    assert np.array_equal(imaging.restore_mode(rgb, info)[..., 0], grey)
