"""The HTTP edge: the server and its uvicorn hooks, middleware, uploads, errors as answers."""
