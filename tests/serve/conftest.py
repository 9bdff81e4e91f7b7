import os

import pytest
from serve_fakes import FakeEngine, server_in_thread

from chronotope.serve import ServeConfig

os.environ.pop("CHRONOTOPE_API_KEY", None)  # the servers here choose their own key


@pytest.fixture(scope="module")
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture(scope="module")
def server(tmp_path_factory, engine):
    """One server per test module (starting one costs ~0.1 s, but jobs take time to run)."""
    config = ServeConfig(data_dir=tmp_path_factory.mktemp("serve-data"))
    with server_in_thread(config, engine) as url:
        yield url


@pytest.fixture(scope="session")
def bundled_engine():
    """The bundled model behind the real engine, as `chronotope serve` loads it (its default
    steps and precision), loaded once: the real-model tests of every module share it."""
    from chronotope.serve import PipelineEngine

    engine = PipelineEngine.load()
    engine.calibrate()  # as `chronotope serve` does before its first request (cached per machine)
    return engine


@pytest.fixture(scope="module")
def real_server(tmp_path_factory, bundled_engine):
    """A server with the bundled model (the real engine's rules: sizes, seconds, memory)."""
    config = ServeConfig(data_dir=tmp_path_factory.mktemp("serve-real"))
    with server_in_thread(config, bundled_engine) as url:
        yield url


@pytest.fixture
def make_server(tmp_path):
    """Start a server with custom settings: `url = make_server(engine, max_queue=1)`."""
    from contextlib import ExitStack

    with ExitStack() as stack:

        def start(engine, **settings):
            config = ServeConfig(
                data_dir=tmp_path / f"data{len(stack._exit_callbacks)}", **settings
            )
            return stack.enter_context(server_in_thread(config, engine))

        yield start
