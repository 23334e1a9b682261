"""GenNet inference service: a FastAPI app over a micro-batched predictor (see ``app.main``)."""
