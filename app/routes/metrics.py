"""GET /metrics: Prometheus text. Open like the health probes (scrapers carry no API key);
restrict it at the network layer if the traffic figures are sensitive."""

from fastapi import APIRouter
from fastapi.responses import Response

from app.http.deps import ServiceDep

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}},
)
async def metrics(service: ServiceDep) -> Response:
    return Response(service.metrics.render(), media_type=service.metrics.content_type)
