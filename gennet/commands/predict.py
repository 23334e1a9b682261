"""``gennet predict``: the demo; label person crops and optionally draw the result on them."""

import argparse
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from gennet.checkpoint import default_checkpoint_path, load_checkpoint
from gennet.commands.common import decode_files, make_dir, os_reason, read_image_bytes, to_json
from gennet.decision import decide_with_probability
from gennet.errors import GenNetError
from gennet.inference import TorchPredictor, predict_images
from gennet.preprocess import load_rgb

MIN_ANNOTATED_HEIGHT = 384
MIN_ANNOTATED_WIDTH = 192
COLOURS = {"male": (33, 102, 172), "female": (178, 24, 43)}


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("predict", help="label person crops as male or female")
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="image files")
    parser.add_argument("--checkpoint", type=Path, help="default: GENNET_MODEL_PATH or model_store")
    parser.add_argument("--tta", action="store_true", help="average with the mirrored crop")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--annotate", type=Path, metavar="DIR", help="write labelled copies here")
    parser.set_defaults(handler=run)


def annotate(image: Image.Image, label: str, probability: float) -> Image.Image:
    """The crop, upscaled when tiny so the text stays readable, under a banner with the result."""
    scale = max(1.0, MIN_ANNOTATED_HEIGHT / image.height, MIN_ANNOTATED_WIDTH / image.width)
    size = (round(image.width * scale), round(image.height * scale))
    crop = image.resize(size, Image.Resampling.BICUBIC) if scale > 1 else image
    font = ImageFont.load_default(size=max(14, crop.width // 9))
    text = f"{label} {probability:.0%}"
    left, _, right, bottom = (round(v) for v in font.getbbox(text))
    banner = bottom + 8
    canvas = Image.new("RGB", (crop.width, crop.height + banner), COLOURS[label])
    canvas.paste(crop, (0, banner))
    ImageDraw.Draw(canvas).text(((crop.width - right - left) // 2, 4), text, "white", font=font)
    return canvas


def _write_annotated(path: Path, out_dir: Path, label: str, probability: float) -> Path:
    image = load_rgb(read_image_bytes(path), (MIN_ANNOTATED_HEIGHT, MIN_ANNOTATED_WIDTH))
    out = out_dir / f"{path.stem}.{label}.png"
    try:
        annotate(image, label, probability).save(out)
    except OSError as exc:
        raise GenNetError(f"{out}: cannot write ({os_reason(exc)})") from None
    return out


def run(args: argparse.Namespace) -> int:
    checkpoint = args.checkpoint or default_checkpoint_path()
    model, meta = load_checkpoint(checkpoint)
    spec = meta.preprocess_spec
    images = decode_files(args.images, spec)
    probs = predict_images(TorchPredictor(model, "cpu"), images, spec, tta=args.tta)
    out_dir = make_dir(args.annotate) if args.annotate is not None else None
    rows = []
    for path, prob_male in zip(args.images, probs.tolist(), strict=True):
        label, probability = decide_with_probability(prob_male, meta.threshold, meta.class_names)
        row = {
            "image": str(path),
            "label": label,
            "probability": probability,
            "prob_male": prob_male,
        }
        if out_dir is not None:
            row["annotated"] = str(_write_annotated(path, out_dir, label, probability))
        rows.append(row)
    if args.json:
        result = {"checkpoint": str(checkpoint), "threshold": meta.threshold, "tta": args.tta}
        print(to_json({**result, "predictions": rows}))
    else:
        for row in rows:
            suffix = f" -> {row['annotated']}" if "annotated" in row else ""
            print(f"{row['image']}: {row['label']} ({row['probability']:.1%}){suffix}")
    return 0
