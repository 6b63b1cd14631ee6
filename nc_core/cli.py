"""The ``nc`` command line.

Exit status: 0 success, 2 user or input error (one line, no traceback), 1 internal error, 3 in
a process of a distributed run that lost the others (:mod:`nc_core.distributed`).
``NC_FULL_ERROR=1`` adds the traceback to any error.

Only the standard library is imported at module level: ``nc --version`` and ``--help`` answer
without torch, and each command imports what it needs (compress/decompress never import the
runner's plotting and metric libraries).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import traceback
from pathlib import Path

from nc_core.errors import UserError

EXIT_OK, EXIT_INTERNAL, EXIT_USER = 0, 1, 2

#: suffixes a folder given to ``nc compress`` is searched for
INPUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif", ".npz")
VIDEO_OUTPUTS = (".y4m", ".mp4", "")  # "": a folder of PNG frames


class _Version(argparse.Action):
    """``nc --version``: nc-core's version and every distribution that provides plugins,
    from installed metadata (no plugin is imported)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        import importlib.metadata

        from nc_core import __version__

        dists = {(ep.dist.name, ep.dist.version) for ep in importlib.metadata.entry_points(group="nc")
                 if ep.dist is not None and ep.dist.name != "nc-core"}
        plugins = ", ".join(f"{name} {version}" for name, version in sorted(dists))
        print(f"nc-core {__version__}" + (f" (plugins: {plugins})" if plugins else ""))
        parser.exit()


def _threads(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return n


def _coding_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu",
                   help="where an image codec's transforms run (default: cpu; auto: cuda when there is "
                        "one). The entropy model and the coder run on the host, so a file is the same "
                        "whichever device wrote it, and decodes on any. The decoded pixels are the same "
                        "on every device only for a model trained with exact_synthesis. Lossless "
                        "models run on the CPU")
    p.add_argument("--threads", type=_threads, metavar="N",
                   help="torch threads for the networks (default: torch's choice). The decoder's "
                        "synthesis always uses a fixed count, so the pixels do not depend on N")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line per file")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nc", description="neural data compression pipelines")
    p.add_argument("--version", action=_Version, help="print the versions of nc-core and its plugins, and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="train, evaluate and report a pipeline")
    r.add_argument("pipeline", help="the pipeline YAML file")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a pipeline key (repeatable)")
    r.add_argument("--out", default="runs", help="output folder (default: runs)")
    r.add_argument("--resume", action="store_true", help="continue the latest run of this pipeline")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    r.add_argument("--print-config", action="store_true", help="print the resolved pipeline and exit")
    r.add_argument("--nproc", type=_threads, metavar="N",
                   help="train and evaluate in N processes on this machine (torchrun, DistributedDataParallel; "
                        "gloo on CPU, NCCL with one GPU per process); data.train.batch is the global batch")
    r.add_argument("--nnodes", type=_threads, default=1, metavar="N",
                   help="machines taking part, each running this command (default 1; needs --rdzv-endpoint)")
    r.add_argument("--rdzv-endpoint", metavar="HOST:PORT",
                   help="where the machines meet (torchrun's c10d rendezvous, hosted by the first to arrive)")
    r.add_argument("--rdzv-id", default="nc", metavar="ID", help="the job's name at the rendezvous (default: nc)")

    s = sub.add_parser("snapshot", help="copy a run to continue it elsewhere: training checkpoints as fp16 weights only",
                       description="Copy RUN_DIR (OUT/<name>/<run-id>, or OUT/<name> for its latest run) to "
                                   "DEST/<name>/<run-id>. Training checkpoints lose the optimizer and RNG state "
                                   "and keep their weights in half precision (about a sixth of the size); "
                                   "`nc run PIPELINE --resume --out DEST` continues from there with a new "
                                   "optimizer state. Every other file is copied as it is.")
    s.add_argument("run_dir", metavar="RUN_DIR", help="the run directory")
    s.add_argument("-o", "--output", required=True, metavar="DEST", help="the folder the copy goes into")

    i = sub.add_parser("import", help="convert another framework's trained checkpoint into an nc run directory",
                       description="Convert CHECKPOINT (a state dict saved by another framework) into the new "
                                   "run directory RUN_DIR: nc's codec of the same architecture, with nc's own "
                                   "exact coding tables. `nc compress --model RUN_DIR` then uses it, and "
                                   "`init: RUN_DIR` fine-tunes it. Importers come from plugins (nc plugins).")
    i.add_argument("importer", metavar="FORMAT", help="the importer, e.g. compressai")
    i.add_argument("checkpoint", metavar="CHECKPOINT", help="the checkpoint file")
    i.add_argument("--arch", required=True, help="the checkpoint's architecture, e.g. mbt2018-mean")
    i.add_argument("-o", "--output", required=True, metavar="RUN_DIR", help="the run directory to create")

    v = sub.add_parser("validate", help="validate a pipeline without running it")
    v.add_argument("pipeline", help="the pipeline YAML file")
    v.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a pipeline key (repeatable)")

    pl = sub.add_parser("plugins", help="list installed plugins and their components")
    pl.add_argument("--json", action="store_true", help="print the list as JSON")

    z = sub.add_parser("zoo", help="list the trained models installed plugins ship (nc compress --model zoo:NAME)")
    z.add_argument("--json", action="store_true", help="print the list as JSON")

    folders = ("One input and OUT not an existing folder: OUT is the output file. Several inputs, a "
               "folder input or an existing folder OUT: OUT is a folder and each input IN gets "
               "OUT/<stem of IN>{suffix}. nc creates no folder unless OUT ends with '/' (then only "
               "OUT itself). A file that fails is reported on one line, the others are still coded, "
               "and the exit status is 2.")
    c = sub.add_parser("compress", help="compress images (or, for a lossless model, .npz sets) with a trained model",
                       description="Compress images with a trained model. " + folders.format(suffix=".nc"))
    c.add_argument("--model", required=True, metavar="RUN_DIR",
                   help="run directory holding model.pt, or zoo:NAME for a model a plugin ships (nc zoo)")
    c.add_argument("inputs", nargs="+", metavar="IN",
                   help="an image or a folder of images (a folder's files ending in "
                        f"{', '.join(INPUT_SUFFIXES)}); for a lossless model also a .npz file whose "
                        "'data' array holds N x H x W (x C) uint8 items; for a video model a video file "
                        "(.mp4, .y4m, ...: one .nc file per clip, coded frame by frame)")
    c.add_argument("-o", "--output", required=True, metavar="OUT", help="the output file, or folder (see above)")
    c.add_argument("--quality", type=int, metavar="K",
                   help="encode at rung K of the model's ladder (variable-rate models, `ladder:` in their "
                        "pipeline; 0 is the lowest rate; default: the model's `quality`). The rung is in the file")
    _coding_options(c)

    d = sub.add_parser("decompress", help="decompress nc files to images (or to .npz for a set)",
                       description="Decompress nc files. The output format is the one its name's suffix "
                                   "names. " + folders.format(suffix=".FORMAT"))
    d.add_argument("inputs", nargs="+", metavar="IN", help="an nc file, or a folder of them (its files ending in .nc)")
    d.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="the output file (.png, .tif, .webp, .bmp, .ppm, .jpg (lossy), .npz), or folder; a "
                        "video decodes to .y4m, a lossless .mp4, or a folder of PNG frames (a name without a suffix)")
    d.add_argument("--format", default="png", choices=("png", "tif", "tiff", "webp", "bmp", "ppm", "jpg", "jpeg", "npz"),
                   help="the format written into an output folder (default: png)")
    d.add_argument("--model", metavar="RUN_DIR",
                   help="run directory holding model.pt, or zoo:NAME (default: search --models, then the zoo)")
    d.add_argument("--models", default=os.environ.get("NC_MODELS", "runs"), metavar="DIR",
                   help="folder searched for the model matching each file (default: $NC_MODELS or runs)")
    d.add_argument("--realism", type=float, metavar="R",
                   help="decode at realism R in [0, 1] (generative codecs: 0 is the distortion-optimised "
                        "image, 1 the most realistic; the file is the same for every R; default: the model's)")
    _coding_options(d)
    return p


# --------------------------------------------------------------------------------- many files


def plan_outputs(inputs: list[str], output: str, accept, suffix: str) -> tuple[list[tuple[Path, Path]], Path | None]:
    """``(input, output)`` pairs for ``IN [IN ...] -o OUT``, and the folder to create first
    (``OUT`` ended with '/' and does not exist yet) or None. See the compress help for the
    rule. ``accept(path)`` picks the files of a folder input."""
    out = Path(output)
    sources: list[Path] = []
    folder_input = False
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            folder_input = True
            found = sorted(f for f in path.iterdir() if f.is_file() and not f.name.startswith(".") and accept(f))
            if not found:
                raise UserError(f"{path}: a folder with no file to code in it")
            sources += found
        else:
            sources.append(path)  # a missing file is reported when it is read, with the others coded
    asked_for_folder = output.endswith(("/", os.sep))
    if len(inputs) == 1 and not folder_input and not out.is_dir() and not asked_for_folder:
        return [(sources[0], out)], None
    create = None
    if not out.is_dir():
        if out.exists():
            raise UserError(f"{out}: not a folder (several outputs go into a folder)")
        if not asked_for_folder:
            raise UserError(f"{out}: no such folder (create it, or write {output}/ to have nc create it)")
        if not out.parent.is_dir():
            raise UserError(f"{out}: no such directory ({out.parent})")
        create = out
    pairs, seen = [], {}
    for source in sources:
        target = out / (source.stem + suffix)
        if target in seen:
            raise UserError(f"{seen[target]} and {source} would both be written to {target}")
        seen[target] = source
        pairs.append((source, target))
    return pairs, create


def _make_folder(folder: Path | None) -> None:
    if folder is not None:
        try:
            folder.mkdir(exist_ok=True)
        except OSError as exc:
            raise UserError(f"{folder}: cannot create this folder ({exc.strerror})") from None


def _setup_torch(args):
    """The torch device of ``--device`` (CUDA where there is none: a user error)."""
    import torch

    from nc_core.devices import resolve_device

    device = resolve_device(args.device, what="--device")
    if args.threads:
        torch.set_num_threads(args.threads)
    return device


def _on_device(codec, device):
    """An image or video codec on ``device``; lossless codecs stay on the CPU."""
    from nc_core.contracts import LosslessCodec

    return codec if isinstance(codec, LosslessCodec) else codec.to(device)


def _note(path: Path, notes) -> None:
    for note in notes:
        print(f"nc: note: {path}: {note}", file=sys.stderr)


def _each(pairs, work) -> int:
    """Run ``work(source, target)`` for every pair; a user error is one line and the others
    still run; exit status 2 if any failed."""
    from nc_core.container import ContainerError

    failed = 0
    for source, target in pairs:
        try:
            work(source, target)
        except (UserError, ContainerError, FileNotFoundError) as exc:
            failed += 1
            if os.environ.get("NC_FULL_ERROR", "") not in ("", "0"):
                traceback.print_exc()
            message = str(exc)  # a container error does not know the file it came from: name it
            print(f"nc: error: {message if str(source) in message else f'{source}: {message}'}", file=sys.stderr)
    return EXIT_USER if failed else EXIT_OK


def _summary(args, source: Path, target: Path, size: int, rate: str, seconds: float) -> None:
    if not args.quiet:
        print(f"{source} -> {target}: {size:,} bytes, {rate}, {seconds:.2f} s")


# --------------------------------------------------------------------------------- commands


def cmd_run(args) -> int:
    from nc_core import distributed
    from nc_core.pipeline import load_pipeline
    from nc_core.runner.run import Runner

    pipeline = load_pipeline(args.pipeline, args.overrides)
    if args.print_config:
        sys.stdout.write(pipeline.to_yaml())
        return EXIT_OK
    if (args.nproc or args.nnodes > 1) and distributed.env_world() == 1:  # start torchrun, which runs us again
        argv = ["run", args.pipeline, *(x for kv in args.overrides for x in ("--set", kv)), "--out", args.out]
        argv += ["--resume"] * args.resume + ["--quiet"] * args.quiet
        return distributed.launch(argv, args.nproc or 1, args.nnodes, args.rdzv_endpoint, args.rdzv_id)
    group = distributed.init_from_env(pipeline.config["device"])  # under torchrun: join the others
    if group.world > 1:  # torchrun stops the others with SIGTERM when one fails: end cleanly, say why
        import signal

        def stopped(signum, frame):
            raise distributed.PeerLost(f"process {group.rank} of {group.world} was stopped by torchrun "
                                       "(another process failed)")

        signal.signal(signal.SIGTERM, stopped)
    try:
        Runner(pipeline, Path(args.out), resume=args.resume, quiet=args.quiet).run()
    except RuntimeError as exc:
        lost = distributed.peer_lost(exc)
        if lost is None:
            raise
        raise lost from None
    finally:
        distributed.shutdown()
    return EXIT_OK


def cmd_snapshot(args) -> int:
    from nc_core.runner.train import snapshot_run

    run_dir = Path(args.run_dir)
    if not (run_dir / "pipeline.yaml").is_file():  # OUT/<name>: its latest run
        runs = sorted(run_dir.glob("*/pipeline.yaml"))
        if not runs:
            raise UserError(f"{run_dir}: neither a run directory nor a folder of runs (no pipeline.yaml)")
        run_dir = runs[-1].parent
    written = snapshot_run(run_dir, Path(args.output))
    size = sum(p.stat().st_size for p in written)
    print(f"{run_dir} -> {Path(args.output) / run_dir.parent.name / run_dir.name}: "
          f"{len(written)} files, {size / 2**20:.1f} MiB")
    return EXIT_OK


def cmd_import(args) -> int:
    from nc_core.importing import import_checkpoint

    info = import_checkpoint(args.importer, args.checkpoint, args.arch, args.output)
    print(f"{args.checkpoint} -> {args.output}: {args.arch} as nc {info['codec']}, weights {info['weights']}")
    return EXIT_OK


def cmd_zoo(args) -> int:
    import json

    from nc_core.models import MODEL_INFO, ZOO_INFO, zoo_models

    rows = []
    for name, folder in sorted(zoo_models().items()):
        info = json.loads((folder / MODEL_INFO).read_text()) if (folder / MODEL_INFO).is_file() else {}
        zoo = json.loads((folder / ZOO_INFO).read_text()) if (folder / ZOO_INFO).is_file() else {}
        rows.append({"name": name, "codec": info.get("codec", "?"), "weights": info.get("weights", "?"),
                     "folder": str(folder)} | zoo)
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        print("no zoo models: no installed plugin ships any (see docs/hooks.md, nc_register_model_folders)")
    for row in rows:
        kodak = row.get("results", {}).get("kodak", {})
        if not {"bpp", "psnr"} <= kodak.keys():
            rate = "no results recorded"
        elif isinstance(kodak["bpp"], list):  # a ladder: one entry per rung
            n = len(kodak["bpp"])
            rate = (f"Kodak {min(kodak['bpp']):.3f}-{max(kodak['bpp']):.3f} bpp, {min(kodak['psnr']):.2f}-"
                    f"{max(kodak['psnr']):.2f} dB ({n} rungs, --quality 0..{n - 1})")
            jpeg = row.get("bd_rate", {}).get("kodak", {}).get("jpeg", {})
            bd = [f"{jpeg[k]:+.1f} % ({label})" for k, label in (("psnr", "PSNR"), ("ms-ssim", "MS-SSIM"))
                  if jpeg.get(k) is not None]
            rate += f", BD-rate vs JPEG {' / '.join(bd)}" if bd else ""
        else:
            rate = f"Kodak {kodak['bpp']:.3f} bpp, {kodak['psnr']:.2f} dB"
        print(f"zoo:{row['name']:<28} {row['codec']:<12} {rate}  {row.get('summary', '')}".rstrip())
    return EXIT_OK


def cmd_validate(args) -> int:
    from nc_core.pipeline import load_pipeline

    pipeline = load_pipeline(args.pipeline, args.overrides)
    print(f"{args.pipeline}: ok ({len(pipeline.runs())} run(s))")
    return EXIT_OK


def cmd_plugins(args) -> int:
    import json

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


def _read_items(path: Path):
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


def _image_items(codec, path: Path, rgb, info):
    """One image as the ``1 x C x H x W`` items of a lossless model with C = 1 or 3 channels."""
    import numpy as np

    if codec.shape[0] == 1:
        if info.mode not in ("L", "LA") and not (np.array_equal(rgb[..., 0], rgb[..., 1])
                                                 and np.array_equal(rgb[..., 0], rgb[..., 2])):
            raise UserError(f"{path}: a colour image, but this model codes grey (one-channel) images")
        return rgb[None, None, :, :, 0].astype(np.int64)
    return rgb.transpose(2, 0, 1)[None].astype(np.int64)


def cmd_compress(args) -> int:
    from nc_core import container, imaging
    from nc_core.contracts import LosslessCodec
    from nc_core.files import atomic_write, check_writable
    from nc_core.frames import VIDEO_SUFFIXES
    from nc_core.models import load_model, model_dir

    pairs, create = plan_outputs(args.inputs, args.output,
                                 lambda f: f.suffix.lower() in INPUT_SUFFIXES + tuple(VIDEO_SUFFIXES), ".nc")
    if create is None:
        for _, target in pairs:
            check_writable(target)  # before the model is loaded
    device = _setup_torch(args)
    codec = _on_device(load_model(model_dir(args.model)), device)
    if args.quality is not None:
        if not hasattr(codec, "with_quality"):
            raise UserError(f"--quality: {args.model} is not an image codec (only image codecs have a ladder)")
        try:
            codec = codec.with_quality(args.quality)
        except (TypeError, ValueError) as exc:
            raise UserError(f"--quality: {exc} ({args.model})") from None
    _make_folder(create)

    def compress(source: Path, target: Path) -> None:
        start = time.perf_counter()
        if source.suffix.lower() in VIDEO_SUFFIXES:
            size, rate = _compress_video(codec, args.model, source, target)
            _summary(args, source, target, size, rate, time.perf_counter() - start)
            return
        if source.suffix.lower() == ".npz":
            if not isinstance(codec, LosslessCodec):
                raise UserError(f"{source}: .npz sets need a lossless model; {args.model} codes images")
            items = _read_items(source)
            data = _compress_set(codec, source, items)
            rate = f"{8 * len(data) / items[0].size / len(items):.4f} bits/dim, {len(items)} items"
        else:
            rgb, info = imaging.read_image(source)
            _note(source, info.notes)
            if isinstance(codec, LosslessCodec):
                data = _compress_set(codec, source, _image_items(codec, source, rgb, info))
            else:
                data = codec.compress(rgb)
            if info.mode != "RGB":
                alpha = imaging.encode_alpha(info.alpha) if info.has_alpha else b""
                data = container.with_image(data, container.ImageSection(info.mode, alpha))
            rate = f"{8 * len(data) / (rgb.shape[0] * rgb.shape[1]):.4f} bpp"
        atomic_write(target, data)
        _summary(args, source, target, len(data), rate, time.perf_counter() - start)

    return _each(pairs, compress)


def _compress_video(codec, model: str, source: Path, target: Path) -> tuple[int, str]:
    """Code a video file frame by frame into ``target`` (written under a temporary name, renamed
    when complete); ``(bytes, rate)``."""
    from nc_core.contracts import VideoCodec
    from nc_core.frames import VideoError, frame_rate, read_frames

    if not isinstance(codec, VideoCodec):
        raise UserError(f"{source}: a video, but {model} codes images (use a video model)")
    shape, count = [], [0]

    def seen(frame, reconstruction, nbytes):
        shape[:] = frame.shape[:2]
        count[0] += 1

    part = target.with_name(f".{target.name}.part")
    try:
        with open(part, "wb") as out:
            size = codec.compress_sequence(read_frames(source), out, on_frame=seen, fps=frame_rate(source))
        os.replace(part, target)
    except VideoError as exc:
        raise UserError(f"{source}: {exc}") from None
    except ValueError as exc:  # e.g. frames of different sizes
        raise UserError(f"{source}: {exc}") from None
    finally:
        part.unlink(missing_ok=True)
    height, width = shape
    return size, f"{count[0]} frames {width}x{height}, {8 * size / (width * height * count[0]):.4f} bpp"


def _decompress_video(source: Path, target: Path, find) -> tuple[int, str]:
    """Decode a sequence file frame by frame into ``target`` (a .y4m, a lossless .mp4 or a
    folder of PNG frames). A damaged file stops at the damaged frame: the frames before it are
    kept in a valid output, and the error says how many."""
    from nc_core.container import ContainerError
    from nc_core.contracts import VideoCodec
    from nc_core.frames import FrameWriter
    from nc_core.sequence_file import SequenceReader

    if target.suffix.lower() not in VIDEO_OUTPUTS:
        raise UserError(f"{target}: a video decodes to .y4m, .mp4 (lossless) or a folder of PNG frames (a name "
                        "without a suffix)")
    with open(source, "rb") as f:
        reader = SequenceReader(f)
        weights, header = reader.digest.hex(), reader.header
    codec = find(weights)
    if not isinstance(codec, VideoCodec):
        raise UserError(f"{source}: a video file, but its model codes images")
    fps = header[2] / 1000 if len(header) > 2 and header[2] > 0 else 25.0
    count, damage = 0, None
    with open(source, "rb") as f, FrameWriter(target, fps=fps) as writer:
        try:
            for frame in codec.decompress_sequence(f):
                writer.write(frame)
                count += 1
        except ContainerError as exc:
            damage = exc
    if damage is not None:
        kept = f"the {count} frames before it are in {target}" if count else "no frame was decoded"
        raise UserError(f"{source}: {damage}; {kept}")
    size = source.stat().st_size
    width, height = header[:2]
    return size, f"{count} frames {width}x{height}, {8 * size / (width * height * max(count, 1)):.4f} bpp"


def _compress_set(codec, source: Path, items) -> bytes:
    try:
        return codec.compress_set(items)
    except ValueError as exc:  # items that do not fit the model
        raise UserError(f"{source}: {exc}") from None


def cmd_decompress(args) -> int:
    import numpy as np

    from nc_core import container, imaging
    from nc_core.contracts import LosslessCodec
    from nc_core.files import atomic_write, check_writable
    from nc_core.models import find_model, load_model, model_dir
    from nc_core.sequence_file import is_sequence_file

    pairs, create = plan_outputs(args.inputs, args.output, lambda f: f.suffix == ".nc", f".{args.format}")
    device = _setup_torch(args)
    _make_folder(create)
    codecs, found = {}, {}  # run directory -> codec, weights hash -> run directory: each looked up once

    def find(weights: str):
        """The model of a file's weights hash (``--model``, or found in ``--models``)."""
        if weights not in found:
            found[weights] = model_dir(args.model) if args.model else find_model(Path(args.models), weights)
        run_dir = found[weights]
        if run_dir not in codecs:
            codecs[run_dir] = _on_device(load_model(run_dir), device)
            if args.realism is not None:
                try:
                    codecs[run_dir] = codecs[run_dir].with_realism(args.realism)
                except (TypeError, ValueError) as exc:
                    raise UserError(f"--realism: {exc} ({run_dir})") from None
        return codecs[run_dir]

    def decompress(source: Path, target: Path) -> None:
        start = time.perf_counter()
        try:
            with open(source, "rb") as f:
                head = f.read(4)
            if is_sequence_file(head):  # a video: decoded frame by frame, never read whole
                size, rate = _decompress_video(source, target, find)
                _summary(args, source, target, size, rate, time.perf_counter() - start)
                return
            data = source.read_bytes()
        except OSError as exc:
            raise UserError(f"{source}: {exc.strerror or exc}") from None
        contents = container.parse(data)  # the whole file is checked before any model is loaded
        image = contents.image
        notes = imaging.check_output(target, image.mode)  # and the output name before decoding
        check_writable(target)
        codec = find(contents.digest.hex())
        if isinstance(codec, LosslessCodec):
            items = codec.decompress_set(data).astype(np.uint8)
            if target.suffix.lower() == ".npz":  # the set as compress reads it
                import io

                out = io.BytesIO()
                np.savez(out, data=items[:, 0] if items.shape[1] == 1 else items.transpose(0, 2, 3, 1))
                atomic_write(target, out.getvalue())
                rate = f"{8 * len(data) / items[0].size / len(items):.4f} bits/dim, {len(items)} items"
                _summary(args, source, target, len(data), rate, time.perf_counter() - start)
                return
            if len(items) != 1:
                raise UserError(f"{source} holds {len(items)} items: decompress it to a .npz file")
            decoded = items[0].transpose(1, 2, 0)
        else:
            decoded = codec.decompress(data)
        height, width = decoded.shape[:2]
        alpha = imaging.decode_alpha(image.alpha, height, width) if image.mode.endswith("A") else None
        _note(target, notes)
        imaging.write_image(target, decoded, imaging.ImageInfo(image.mode, alpha))
        rate = f"{width}x{height} {image.mode}, {8 * len(data) / (height * width):.4f} bpp"
        _summary(args, source, target, len(data), rate, time.perf_counter() - start)

    return _each(pairs, decompress)


COMMANDS = {"run": cmd_run, "snapshot": cmd_snapshot, "import": cmd_import, "zoo": cmd_zoo, "validate": cmd_validate, "plugins": cmd_plugins,
            "compress": cmd_compress, "decompress": cmd_decompress}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Importing torch allocates about 170,000 objects, and the garbage collector would walk
    # them again and again: during the import (0.5 s of `import torch` measured) and in every
    # full collection after it (0.1 s more of nc's own start-up: attrs and yaml build objects).
    # None of them is garbage, so collection pauses for the import and they are then frozen
    # (once per process: main() may run many times in one, as in the tests).
    first = "nc_core.container" not in sys.modules
    if first:
        gc.disable()
    # `nc run --nproc` speaks for its processes: torch's C++ warnings (a rendezvous retrying,
    # a store timing out) are read when torch loads, so quiet them here, for this process only
    cpp_log = os.environ.get("TORCH_CPP_LOG_LEVEL")
    launcher = args.command == "run" and (args.nproc or args.nnodes > 1)
    if launcher and cpp_log is None and os.environ.get("NC_FULL_ERROR", "") in ("", "0"):
        os.environ["TORCH_CPP_LOG_LEVEL"] = "FATAL"
    from nc_core.container import ContainerError  # imports torch
    if launcher and cpp_log is None:
        os.environ.pop("TORCH_CPP_LOG_LEVEL", None)
    from nc_core.distributed import EXIT_PEER, LAUNCHED_ENV, PeerLost
    from nc_core.pipeline import PipelineError
    from nc_core.plugins import PluginError, UnknownComponent

    if first:
        gc.freeze()
        gc.enable()
    full = os.environ.get("NC_FULL_ERROR", "") not in ("", "0")
    # under torchrun every process meets the same user errors: rank 0 alone says them
    said = full or os.environ.get("RANK", "0") == "0"
    try:
        return COMMANDS[args.command](args)
    except PipelineError as exc:
        if full:
            traceback.print_exc()
        for problem in exc.problems if said else ():
            print(problem, file=sys.stderr)
        return EXIT_USER
    except (UserError, ContainerError, PluginError, UnknownComponent, FileNotFoundError) as exc:
        if full:
            traceback.print_exc()
        if said:
            print(f"nc: error: {exc}", file=sys.stderr)
        return EXIT_USER
    except PeerLost as exc:
        if said and not os.environ.get(LAUNCHED_ENV):  # `nc run --nproc` names the cause itself
            print(f"nc: error: {exc}", file=sys.stderr)
        return EXIT_PEER
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
