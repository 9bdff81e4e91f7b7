"""`chronotope serve`: an OpenAI-compatible Videos API (`client.videos.*`) and a web page.

from chronotope.serve import ServeConfig, create_app, run_server
run_server(ServeConfig(port=8000), PipelineEngine.load())
"""

from __future__ import annotations

from chronotope.serve.app import create_app
from chronotope.serve.config import ServeConfig
from chronotope.serve.engine import Engine, GenerationRequest, PipelineEngine


def run_server(config: ServeConfig, engine: Engine, *, log_level: str = "info") -> None:
    """Serve until interrupted (blocking)."""
    import uvicorn

    app = create_app(config, engine)
    uvicorn.run(app, host=config.host, port=config.port, log_level=log_level)


__all__ = [
    "Engine",
    "GenerationRequest",
    "PipelineEngine",
    "ServeConfig",
    "create_app",
    "run_server",
]
