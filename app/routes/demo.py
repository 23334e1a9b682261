"""The browser pages: the demo (``/demo``, ``/`` redirects there) and the API docs (``/docs``).

Everything they load is served from ``app/static`` (Swagger UI included), so both work on a
network that reaches nothing but this server. The demo calls the public API like any client.
The demo page is also a file of the static mount (``/static/demo.html``); every URL that serves it
sends its Content-Security-Policy.
"""

import os
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
STATIC_URL = "/static"
DEMO_PAGE = (STATIC_DIR / "demo.html").resolve()  # as the static mount resolves its files
# The demo loads only its own files and talks only to this server.
DEMO_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
}


class PageStaticFiles(StaticFiles):
    """The static mount, sending the demo page's headers with the page when it serves it."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if Path(full_path) == DEMO_PAGE:
            response.headers.update(DEMO_HEADERS)
        return response


router = APIRouter(include_in_schema=False)


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("demo")


@router.get("/demo")
async def demo() -> FileResponse:
    return FileResponse(DEMO_PAGE, headers=DEMO_HEADERS)


@router.get("/docs")
async def docs(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")
    return get_swagger_ui_html(
        openapi_url=root + (request.app.openapi_url or "/openapi.json"),
        title=f"{request.app.title} - API docs",
        swagger_js_url=f"{root}{STATIC_URL}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{STATIC_URL}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{root}{STATIC_URL}/favicon.svg",
        swagger_ui_parameters={"validatorUrl": None},  # would call an online validator
    )


def install(app: FastAPI) -> None:
    """Serve the pages and their assets; create the app with ``docs_url=None, redoc_url=None``."""
    app.include_router(router)
    app.mount(STATIC_URL, PageStaticFiles(directory=STATIC_DIR), name="static")
