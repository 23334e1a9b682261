"""The browser pages: the demo (``/demo``, ``/`` redirects there) and the API docs (``/docs``).

Everything they load is served from ``app/static`` (Swagger UI included), so both work on a
network that reaches nothing but this server. The demo calls the public API like any client.
"""

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
STATIC_URL = "/static"
# The demo loads only its own files and talks only to this server.
_DEMO_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("demo")


@router.get("/demo")
async def demo() -> FileResponse:
    return FileResponse(STATIC_DIR / "demo.html", headers={"Content-Security-Policy": _DEMO_CSP})


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
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="static")
