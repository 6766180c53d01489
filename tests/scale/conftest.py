"""Shared pieces of the scale-out tests: tests/server's client and models, and a model folder
(reactor.yaml + modules) that Ray Serve replicas load the way they load a user's model."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
SERVER_TESTS = HERE.parent / "server"
if str(SERVER_TESTS) not in sys.path:
    sys.path.insert(0, str(SERVER_TESTS))

MODEL_FILES = (
    SERVER_TESTS / "server_models.py",
    SERVER_TESTS / "pixelcode.py",
    HERE / "scale_models.py",
)


def model_folder(folder: Path, model: str, name: str) -> Path:
    """Write a model folder serving `scale_models:<model>`; returns its reactor.yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in MODEL_FILES:
        shutil.copy(source, folder / source.name)
    manifest = folder / "reactor.yaml"
    manifest.write_text(f"name: {name}\nmodel: scale_models:{model}\n", encoding="utf-8")
    return manifest


@pytest.fixture(scope="session")
def steady_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return model_folder(tmp_path_factory.mktemp("steady"), "SteadyCounter", "steady")


@pytest.fixture(scope="session")
def broken_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return model_folder(tmp_path_factory.mktemp("broken"), "BrokenCounter", "broken")
