"""The ``nc`` command line.

Exit status: 0 success, 2 user or input error (one line, no traceback), 1 internal error.
``NC_FULL_ERROR=1`` adds the traceback to any error.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import traceback
from pathlib import Path

from nc_core.errors import UserError
from nc_core.files import atomic_write

EXIT_OK, EXIT_INTERNAL, EXIT_USER = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nc", description="neural data compression pipelines")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="train, evaluate and report a pipeline")
    r.add_argument("pipeline")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a pipeline key (repeatable)")
    r.add_argument("--out", default="runs", help="output folder (default: runs)")
    r.add_argument("--resume", action="store_true", help="continue the latest run of this pipeline")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    r.add_argument("--print-config", action="store_true", help="print the resolved pipeline and exit")

    v = sub.add_parser("validate", help="validate a pipeline without running it")
    v.add_argument("pipeline")
    v.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    pl = sub.add_parser("plugins", help="list installed plugins and their components")
    pl.add_argument("--json", action="store_true")

    c = sub.add_parser("compress", help="compress an image (or, for a lossless model, a .npz set) with a trained model")
    c.add_argument("--model", required=True, help="run directory holding model.pt")
    c.add_argument("input", help="an image, or a .npz file whose 'data' array holds N x H x W (x C) uint8 items")
    c.add_argument("-o", "--output", required=True)

    d = sub.add_parser("decompress", help="decompress an nc file to PNG (or to .npz for a set)")
    d.add_argument("input")
    d.add_argument("-o", "--output", required=True, help="a .png, or a .npz for a set of items")
    d.add_argument("--model", help="run directory holding model.pt (default: search --models)")
    d.add_argument("--models", default=os.environ.get("NC_MODELS", "runs"),
                   help="folder searched for the model matching the file (default: $NC_MODELS or runs)")
    return p


# --------------------------------------------------------------------------------- commands


def cmd_run(args) -> int:
    from nc_core.pipeline import load_pipeline
    from nc_core.runner.run import Runner

    pipeline = load_pipeline(args.pipeline, args.overrides)
    if args.print_config:
        sys.stdout.write(pipeline.to_yaml())
        return EXIT_OK
    Runner(pipeline, Path(args.out), resume=args.resume, quiet=args.quiet).run()
    return EXIT_OK


def cmd_validate(args) -> int:
    from nc_core.pipeline import load_pipeline

    pipeline = load_pipeline(args.pipeline, args.overrides)
    print(f"{args.pipeline}: ok ({len(pipeline.runs())} run(s))")
    return EXIT_OK


def cmd_plugins(args) -> int:
    from nc_core.plugins import get_registry

    registry = get_registry()
    if args.json:
        print(json.dumps([p.as_dict() for p in registry.plugins], indent=2))
        return EXIT_OK
    for p in registry.plugins:
        print(f"{p.name}  ({p.distribution} {p.version})" + ("  BROKEN" if p.broken else ""))
        if p.broken:
            print(f"    error: {p.error}")
            continue
        print(f"    hooks: {', '.join(p.hooks) or '-'}")
        for kind, names in p.components.items():
            print(f"    {kind}: {', '.join(sorted(names))}")
    return EXIT_OK


def _read_image(path: str, mode: str = "RGB"):
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(Path(path)) as im:
            return np.asarray(im.convert(mode), dtype=np.uint8).copy()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"{path}: not a readable image ({exc})") from None


def _read_items(path: str):
    """A .npz file's ``data`` array as ``N x C x H x W`` items."""
    import numpy as np

    try:
        with np.load(path) as arrays:
            if "data" not in arrays:
                raise UserError(f"{path}: no 'data' array (has {', '.join(arrays) or 'none'})")
            a = arrays["data"]
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable .npz file ({exc})") from None
    if a.dtype != np.uint8 or a.ndim not in (3, 4):
        raise UserError(f"{path}: 'data' must be uint8 N x H x W (x C), got {a.dtype} {a.shape}")
    return (a[:, None] if a.ndim == 3 else a.transpose(0, 3, 1, 2)).astype(np.int64)


def cmd_compress(args) -> int:
    from nc_core.contracts import LosslessCodec
    from nc_core.models import load_model

    codec = load_model(Path(args.model))
    if isinstance(codec, LosslessCodec):
        if args.input.endswith(".npz"):
            items = _read_items(args.input)
        else:  # one image, grey for a one-channel model
            image = _read_image(args.input, "L" if codec.shape[0] == 1 else "RGB")
            items = (image[None, None] if image.ndim == 2 else image.transpose(2, 0, 1)[None]).astype("int64")
        try:
            data = codec.compress_set(items)
        except ValueError as exc:  # items that do not fit the model
            raise UserError(f"{args.input}: {exc}") from None
    else:
        data = codec.compress(_read_image(args.input))
    atomic_write(args.output, data)
    return EXIT_OK


def cmd_decompress(args) -> int:
    import numpy as np
    from PIL import Image

    from nc_core import container
    from nc_core.contracts import LosslessCodec
    from nc_core.models import find_model, load_model

    try:
        data = Path(args.input).read_bytes()
    except OSError as exc:
        raise UserError(f"{args.input}: {exc.strerror or exc}") from None
    _, weights = container.peek_weights(data)  # validates the file before any model is loaded
    run_dir = Path(args.model) if args.model else find_model(Path(args.models), weights)
    codec = load_model(run_dir)
    if isinstance(codec, LosslessCodec):
        items = codec.decompress_set(data).astype(np.uint8)
        if args.output.endswith(".npz"):
            out = io.BytesIO()
            np.savez(out, data=items[:, 0] if items.shape[1] == 1 else items.transpose(0, 2, 3, 1))
            atomic_write(args.output, out.getvalue())
            return EXIT_OK
        if len(items) != 1:
            raise UserError(f"{args.input} holds {len(items)} items: decompress to a .npz file")
        image = items[0].transpose(1, 2, 0)
        image = image[..., 0] if image.shape[-1] == 1 else image
    else:
        image = codec.decompress(data)
    png = io.BytesIO()
    # zlib level 1: several times faster than Pillow's default 6, and on photos barely larger
    Image.fromarray(image).save(png, format="PNG", compress_level=1)
    atomic_write(args.output, png.getvalue())
    return EXIT_OK


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "plugins": cmd_plugins,
            "compress": cmd_compress, "decompress": cmd_decompress}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from nc_core.container import ContainerError
    from nc_core.pipeline import PipelineError
    from nc_core.plugins import PluginError, UnknownComponent

    full = os.environ.get("NC_FULL_ERROR", "") not in ("", "0")
    try:
        return COMMANDS[args.command](args)
    except PipelineError as exc:
        if full:
            traceback.print_exc()
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_USER
    except (UserError, ContainerError, PluginError, UnknownComponent, FileNotFoundError) as exc:
        if full:
            traceback.print_exc()
        print(f"nc: error: {exc}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("nc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `nc plugins --json | head`: the reader has gone
        sys.stdout = None
        return EXIT_OK
    except Exception as exc:  # a bug in nc or a plugin: say so, keep the trace opt-in
        if full:
            traceback.print_exc()
        print(f"nc: internal error: {type(exc).__name__}: {exc} (NC_FULL_ERROR=1 for a traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
