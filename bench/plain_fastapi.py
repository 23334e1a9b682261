"""The comparison baseline: a plain one-file FastAPI server that runs the model once per request.

What a first version of the service would look like: no batcher, no queue, no limits; each request
decodes its crop and calls ONNX Runtime on a batch of one in FastAPI's thread pool. It reads the
same settings as the service (``GENNET_MODEL_PATH``, ``GENNET_ONNX_PATH``, ``GENNET_THREADS``) and
takes ``POST /predict`` with a multipart ``file`` or a raw image body, like the service. A form is
read whole and parsed with the blocking ``multipart.MultipartParser`` of the package the service
depends on: FastAPI's own form parsing needs python-multipart, whose wheel also installs a
``multipart`` module that would replace the service's.
Run: ``uvicorn bench.plain_fastapi:app`` from the repository root.
"""

import os
from io import BytesIO
from pathlib import Path

import onnxruntime as ort
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from multipart import MultipartParser, parse_options_header

from gennet.checkpoint import default_checkpoint_path, read_meta
from gennet.decision import decide, probabilities
from gennet.preprocess import preprocess_bytes

checkpoint = default_checkpoint_path()
meta, _ = read_meta(checkpoint)
options = ort.SessionOptions()
options.intra_op_num_threads = int(os.environ.get("GENNET_THREADS", "0"))
session = ort.InferenceSession(
    str(Path(os.environ.get("GENNET_ONNX_PATH") or checkpoint.with_suffix(".onnx"))),
    options,
    providers=["CPUExecutionProvider"],
)
input_name = session.get_inputs()[0].name
app = FastAPI(title="plain baseline")


def infer(data: bytes) -> float:
    batch = preprocess_bytes(data, meta.preprocess_spec)[None]
    return float(session.run(None, {input_name: batch})[0].reshape(-1)[0])


@app.post("/predict")
async def predict(request: Request) -> dict:
    content_type = request.headers.get("content-type", "")
    data = await request.body()
    if content_type.startswith("multipart/"):
        boundary = parse_options_header(content_type)[1]["boundary"]
        data = MultipartParser(BytesIO(data), boundary).get("file").raw
    male = await run_in_threadpool(infer, data)
    label = decide(male, meta.threshold, meta.class_names)
    return {"label": label, "probabilities": probabilities(male, meta.class_names)}


@app.get("/health/ready")
async def ready() -> dict:
    return {"status": "ready"}
