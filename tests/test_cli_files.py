"""``nc compress`` / ``nc decompress`` for daily use: no silent data loss (modes, alpha,
16-bit, EXIF, multi-frame input, output formats), output-path errors, many files and folders,
summary lines, --version, --threads, and a help text on every option."""

from __future__ import annotations

import argparse
import contextlib
import io
import os

import numpy as np
import pytest
from PIL import Image

from nc_core import cli, container
from nc_core.cli import main
from nc_core.components.datasets import Samples
from nc_core.models import load_model


@pytest.fixture(scope="module")
def model(tmp_path_factory, tiny_pipeline_text):
    root = tmp_path_factory.mktemp("cli")
    pipeline = root / "tiny.yaml"
    pipeline.write_text(tiny_pipeline_text)
    assert main(["run", str(pipeline), "--out", str(root / "runs"), "--quiet"]) == 0
    (run_dir,) = (root / "runs" / "tiny").iterdir()
    return run_dir


@pytest.fixture(scope="module")
def photo():
    _, image = next(Samples(split="test").images())
    return np.ascontiguousarray(image[:64, :96])


def nc(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def round_trip(model, source, tmp_path, output="out.png", *extra):
    packed, decoded = tmp_path / "x.nc", tmp_path / output
    code, _, err = nc("compress", "--model", model, source, "-o", packed, *extra)
    assert code == 0, err
    code, _, err2 = nc("decompress", packed, "-o", decoded, "--model", model, *extra)
    assert code == 0, err2
    return packed, decoded, err + err2


# -- no silent data loss ------------------------------------------------------------------------


def test_rgb_files_are_exactly_what_the_codec_writes(model, photo, tmp_path):
    """The rate the runner reports (codec.compress) is the CLI's file size: no extra bytes."""
    Image.fromarray(photo).save(tmp_path / "p.png")
    packed, decoded, err = round_trip(model, tmp_path / "p.png", tmp_path)
    codec = load_model(model)
    assert packed.read_bytes() == codec.compress(photo) and packed.read_bytes()[4] == 1 and err == ""
    with Image.open(decoded) as im:
        assert im.mode == "RGB" and np.array_equal(np.asarray(im), codec.reconstruct(photo))


def test_grey_stays_grey(model, photo, tmp_path):
    grey = photo[..., 1]
    Image.fromarray(grey).save(tmp_path / "g.png")
    packed, decoded, err = round_trip(model, tmp_path / "g.png", tmp_path)
    assert container.parse(packed.read_bytes()).image.mode == "L" and err == ""
    rec = load_model(model).reconstruct(np.repeat(grey[..., None], 3, axis=2))
    with Image.open(decoded) as im:
        assert im.mode == "L" and im.size == (96, 64)
        assert np.array_equal(np.asarray(im), np.rint(rec.astype(np.float32).mean(axis=2)).astype(np.uint8))


def test_alpha_is_carried_losslessly_and_counted(model, photo, tmp_path):
    alpha = np.tile(np.arange(96, dtype=np.uint8) * 2, (64, 1))
    Image.fromarray(np.dstack([photo, alpha])).save(tmp_path / "a.png")
    packed, decoded, _ = round_trip(model, tmp_path / "a.png", tmp_path)
    with Image.open(decoded) as im:
        assert im.mode == "RGBA" and np.array_equal(np.asarray(im)[..., 3], alpha)
    plain = load_model(model).compress(photo)
    assert packed.stat().st_size > len(plain)  # the alpha plane is in the file, so in its bpp


def test_exif_orientation_gives_the_displayed_size_and_is_said(model, photo, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.fromarray(photo).save(tmp_path / "r.jpg", exif=exif.tobytes())
    _, decoded, err = round_trip(model, tmp_path / "r.jpg", tmp_path)
    with Image.open(decoded) as im:
        assert im.size == (64, 96)  # rotated upright: 64 wide, 96 high
    assert "EXIF orientation 8" in err and err.startswith("nc: note:")


@pytest.mark.parametrize("kind", ["16-bit", "animation"])
def test_inputs_nc_cannot_code_faithfully_are_refused_with_one_line(model, tmp_path, kind):
    source = tmp_path / ("deep.png" if kind == "16-bit" else "anim.gif")
    if kind == "16-bit":
        Image.fromarray(np.arange(64 * 96, dtype=np.uint16).reshape(64, 96) * 10).save(source)
    else:
        frames = [Image.fromarray(np.full((8, 8, 3), v, np.uint8)) for v in (0, 255)]
        frames[0].save(source, save_all=True, append_images=frames[1:])
    code, _, err = nc("compress", "--model", model, source, "-o", tmp_path / "x.nc")
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(source) in err
    assert ("8 bits" in err) if kind == "16-bit" else ("2 frames" in err and "nc-video" in err)
    assert not (tmp_path / "x.nc").exists()


@pytest.mark.parametrize("name, fmt", [("x.jpg", "JPEG"), ("x.webp", "WEBP"), ("x.tiff", "TIFF"), ("x.bmp", "BMP")])
def test_decompress_writes_the_format_the_name_says(model, photo, tmp_path, name, fmt):
    Image.fromarray(photo).save(tmp_path / "p.png")
    _, decoded, _ = round_trip(model, tmp_path / "p.png", tmp_path, name)
    with Image.open(decoded) as im:
        assert im.format == fmt and im.size == (96, 64)


def test_decompress_to_npz_writes_an_array(model, photo, tmp_path):
    Image.fromarray(photo).save(tmp_path / "p.png")
    _, decoded, _ = round_trip(model, tmp_path / "p.png", tmp_path, "out.npz")
    with np.load(decoded) as arrays:
        assert np.array_equal(arrays["data"][0], load_model(model).reconstruct(photo))


@pytest.mark.parametrize("name", ["x", "x.nc", "x.gif"])
def test_an_output_name_nc_cannot_write_is_refused_before_decoding(model, photo, tmp_path, name):
    Image.fromarray(photo).save(tmp_path / "p.png")
    assert nc("compress", "--model", model, tmp_path / "p.png", "-o", tmp_path / "p.nc")[0] == 0
    code, _, err = nc("decompress", tmp_path / "p.nc", "-o", tmp_path / name, "--model", tmp_path / "nowhere")
    assert code == 2 and "nc writes .png" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / name).exists() or name == "x.nc"


def test_alpha_into_a_format_without_alpha_is_refused(model, photo, tmp_path):
    Image.fromarray(np.dstack([photo, photo[..., 0]])).save(tmp_path / "a.png")
    assert nc("compress", "--model", model, tmp_path / "a.png", "-o", tmp_path / "a.nc")[0] == 0
    code, _, err = nc("decompress", tmp_path / "a.nc", "-o", tmp_path / "a.jpg", "--model", model)
    assert code == 2 and "alpha" in err and not (tmp_path / "a.jpg").exists()


# -- output paths -------------------------------------------------------------------------------


def test_output_path_errors_are_exit_2_with_the_users_path(model, photo, tmp_path):
    Image.fromarray(photo).save(tmp_path / "p.png")
    (tmp_path / "file").write_bytes(b"")
    for out in [tmp_path / "missing" / "x.nc", tmp_path / "file" / "x.nc"]:
        code, _, err = nc("compress", "--model", model, tmp_path / "p.png", "-o", out)
        assert code == 2 and str(out) in err and ".tmp" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "missing").exists()
    assert nc("compress", "--model", model, tmp_path / "p.png", "-o", tmp_path / "p.nc")[0] == 0
    code, _, err = nc("decompress", tmp_path / "p.nc", "-o", tmp_path / "missing" / "x.png", "--model", model)
    assert code == 2 and str(tmp_path / "missing" / "x.png") in err and not (tmp_path / "missing").exists()


def test_outputs_respect_the_umask(model, photo, tmp_path):
    Image.fromarray(photo).save(tmp_path / "p.png")
    saved = os.umask(0o002)
    try:
        round_trip(model, tmp_path / "p.png", tmp_path)
    finally:
        os.umask(saved)
    assert (tmp_path / "x.nc").stat().st_mode & 0o777 == 0o664
    assert (tmp_path / "out.png").stat().st_mode & 0o777 == 0o664


# -- many files -----------------------------------------------------------------------------------


def test_a_folder_in_a_folder_out_with_one_summary_line_each(model, photo, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        Image.fromarray(np.roll(photo, i, axis=1)).save(src / f"im{i}.png")
    (src / "notes.txt").write_text("not an image")  # not a suffix nc reads: skipped
    (tmp_path / "nc").mkdir()
    code, out, err = nc("compress", "--model", model, src, "-o", tmp_path / "nc")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "nc").iterdir()) == ["im0.nc", "im1.nc", "im2.nc"]
    lines = out.strip().splitlines()
    assert len(lines) == 3 and all("bytes" in line and "bpp" in line and line.endswith(" s") for line in lines)
    code, out, err = nc("decompress", tmp_path / "nc", "-o", f"{tmp_path / 'png'}/", "--model", model, "--quiet")
    assert code == 0 and out == "", err
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["im0.png", "im1.png", "im2.png"]


def test_several_files_need_a_folder_that_exists_unless_asked_with_a_slash(model, photo, tmp_path):
    for name in ("a.png", "b.png"):
        Image.fromarray(photo).save(tmp_path / name)
    inputs = [tmp_path / "a.png", tmp_path / "b.png"]
    code, _, err = nc("compress", "--model", model, *inputs, "-o", tmp_path / "out")
    assert code == 2 and "no such folder" in err and not (tmp_path / "out").exists()
    code, _, err = nc("compress", "--model", model, *inputs, "-o", f"{tmp_path / 'deep' / 'out'}/")
    assert code == 2 and "no such directory" in err and not (tmp_path / "deep").exists()
    code, _, err = nc("compress", "--model", model, *inputs, "-o", f"{tmp_path / 'out'}/")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.nc", "b.nc"]
    code, _, err = nc("compress", "--model", model, tmp_path / "a.png", "-o", tmp_path / "out")  # existing folder
    assert code == 0 and (tmp_path / "out" / "a.nc").exists()
    Image.fromarray(photo).save(tmp_path / "a.bmp")
    code, _, err = nc("compress", "--model", model, tmp_path / "a.png", tmp_path / "a.bmp", "-o", tmp_path / "out")
    assert code == 2 and "would both be written to" in err


def test_one_bad_file_is_reported_and_the_others_are_coded(model, photo, tmp_path):
    Image.fromarray(photo).save(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"garbage")
    (tmp_path / "out").mkdir()
    code, out, err = nc("compress", "--model", model, tmp_path / "bad.png", tmp_path / "missing.png",
                        tmp_path / "good.png", "-o", tmp_path / "out")
    assert code == 2
    assert err.count("nc: error:") == 2 and str(tmp_path / "bad.png") in err and str(tmp_path / "missing.png") in err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["good.nc"]  # no half files, no temporaries
    assert len(out.strip().splitlines()) == 1


def test_decoding_is_bit_exact_whatever_threads(model, photo, tmp_path):
    Image.fromarray(photo).save(tmp_path / "p.png")
    assert nc("compress", "--model", model, tmp_path / "p.png", "-o", tmp_path / "p.nc", "--threads", "3")[0] == 0
    import torch

    saved = torch.get_num_threads()
    try:
        for threads in ("1", "3"):
            code, _, err = nc("decompress", tmp_path / "p.nc", "-o", tmp_path / f"{threads}.png", "--model", model,
                              "--threads", threads)
            assert code == 0, err
    finally:
        torch.set_num_threads(saved)
    assert (tmp_path / "1.png").read_bytes() == (tmp_path / "3.png").read_bytes()
    if not torch.cuda.is_available():  # one line, exit 2, nothing written
        code, _, err = nc("decompress", tmp_path / "p.nc", "-o", tmp_path / "c.png", "--model", model, "--device", "cuda")
        assert code == 2 and not (tmp_path / "c.png").exists()
        assert err.strip().splitlines() == ["nc: error: --device: cuda was requested but no CUDA device is available "
                                            "(use auto or cpu)"]


# -- flags and help -------------------------------------------------------------------------------


def test_version_names_nc_core_and_its_plugins(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("nc-core ") and "nc-ans" in text


def _parsers(parser: argparse.ArgumentParser, name="nc"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, subparser in action.choices.items():
                yield from _parsers(subparser, f"{name} {sub}")


def test_every_option_of_every_command_has_a_help_text():
    missing = [f"{name}: {action.option_strings or action.dest}"
               for name, parser in _parsers(cli._parser()) for action in parser._actions
               if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction))
               and not (action.help or "").strip()]
    assert missing == []
    assert {name for name, _ in _parsers(cli._parser())} >= {"nc compress", "nc decompress", "nc run"}


def test_a_lossless_grey_model_refuses_colour_and_takes_grey(tmp_path):
    from nc_core.errors import UserError
    from nc_core.imaging import ImageInfo

    class GreyModel:
        shape = (1, 2, 3)

    colour = np.arange(18, dtype=np.uint8).reshape(2, 3, 3)
    with pytest.raises(UserError, match="colour image, but this model codes grey"):
        cli._image_items(GreyModel(), tmp_path / "c.png", colour, ImageInfo("RGB"))
    grey = np.repeat(np.arange(6, dtype=np.uint8).reshape(2, 3, 1), 3, axis=2)
    for mode in ("L", "RGB"):  # grey in RGB clothing loses nothing either
        items = cli._image_items(GreyModel(), tmp_path / "g.png", grey, ImageInfo(mode))
        assert items.shape == (1, 1, 2, 3) and items[0, 0].tolist() == [[0, 1, 2], [3, 4, 5]]


def test_an_npz_set_needs_a_lossless_model(model, tmp_path):
    np.savez(tmp_path / "set.npz", data=np.zeros((2, 8, 8), np.uint8))
    code, _, err = nc("compress", "--model", model, tmp_path / "set.npz", "-o", tmp_path / "s.nc")
    assert code == 2 and "lossless model" in err and not (tmp_path / "s.nc").exists()


def test_compress_and_decompress_import_no_plotting_or_scientific_stack(model, photo, tmp_path, monkeypatch):
    """Start-up: with the registry index in place, coding a file imports only the plugins
    the model's pipeline names, and none of the runner's libraries."""
    import subprocess
    import sys

    from nc_core.plugins import entry_point_sources, indexed_registry

    monkeypatch.setenv("NC_PLUGIN_CACHE", str(tmp_path / "cache"))
    indexed_registry(entry_point_sources())  # writes the index the child process reads
    Image.fromarray(photo).save(tmp_path / "p.png")
    script = (
        "import sys\nfrom nc_core.cli import main\n"
        f"assert main(['compress', '--model', {str(model)!r}, {str(tmp_path / 'p.png')!r}, '-o', {str(tmp_path / 'p.nc')!r}]) == 0\n"
        f"assert main(['decompress', {str(tmp_path / 'p.nc')!r}, '-o', {str(tmp_path / 'd.png')!r}, '--model', {str(model)!r}]) == 0\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'scipy', 'skimage', 'nc_arith', 'nc_hyperprior', 'nc_bitsback'}))\n"
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"
