"""What the tests share beside their fixtures (those live in the ``conftest.py`` files).

Imported as ``tests.support.<module>`` (pytest's ``pythonpath`` puts the repository root on the path;
nothing edits ``sys.path``); none of it imports ``bench/``.

- ``fakes``: the service on a fake predictor, and an in-process client
- ``answers``: a one-file form, and the service's one error shape
- ``asgi``: the ASGI scope of a ``POST``, for driving the app without a client
- ``transport``: an asyncio transport that records what a protocol writes
- ``waiting``: wait, on the event loop, until a condition holds
- ``prometheus``: read a sample from the Prometheus text of ``/metrics``
- ``images``: generated crops; ``payloads``: generated hostile uploads
- ``data``: generated data folders (images and ``manifest.csv``)
- ``graphs``: the test checkpoint's ONNX graph, copied, relabelled, never re-exported
- ``v2``: the Open Inference Protocol parser on a small model, and its request documents
- ``scores``: labels and scores with known metrics, and their report
- ``server``: the service as a real process on a free loopback port
- ``deploy``: what the deployment files must agree on, and readers for them
- ``cameras``: camera names the calibration format refuses
"""
