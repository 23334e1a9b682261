"""The comparison baseline: a plain FastAPI endpoint that runs the model once per request.

What a first version of the service would look like: no batcher, no queue; each request decodes
its crop and calls ONNX Runtime on a batch of one in FastAPI's thread pool. It reads the same
settings as the service (``GENNET_MODEL_PATH``, ``GENNET_ONNX_PATH``, ``GENNET_THREADS``) and
only accepts a raw-body ``POST /predict``, which is what the benchmarks send.
Run: ``uvicorn bench.plain_fastapi:app`` from the repository root.
"""

import os
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool

from gennet.checkpoint import default_checkpoint_path, read_meta
from gennet.inference import OnnxPredictor
from gennet.preprocess import preprocess_bytes

checkpoint = default_checkpoint_path()
meta, _ = read_meta(checkpoint)
predictor = OnnxPredictor(
    Path(os.environ.get("GENNET_ONNX_PATH") or checkpoint.with_suffix(".onnx")),
    threads=int(os.environ.get("GENNET_THREADS", "0")),
)
app = FastAPI(title="plain baseline")


def infer(data: bytes) -> float:
    return float(predictor(preprocess_bytes(data, meta.preprocess_spec)[None])[0])


@app.post("/predict")
async def predict(request: Request) -> dict:
    male = await run_in_threadpool(infer, await request.body())
    label = "male" if male >= meta.threshold else "female"
    return {"label": label, "probabilities": {"male": male, "female": 1.0 - male}}


@app.get("/health/ready")
async def ready() -> dict:
    return {"status": "ready"}
