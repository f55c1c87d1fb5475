"""docs/tutorial.ipynb, executed: every cell runs without error (each checks what it
shows with an assert) and produces its figures. Needs the ``notebook`` extra
(nbclient, nbformat, ipykernel); skips without it."""
from pathlib import Path

import pytest

from helpers import MNIST_DIR

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "tutorial.ipynb"


def test_the_tutorial_notebook_runs(tmp_path, monkeypatch):
    # The kernel inherits the environment: MNIST from the shared data when it is there
    # (its cells skip, saying so, otherwise), and the installed fastmlp, imported
    # from an empty folder.
    monkeypatch.setenv("FASTMLP_DATA", str(MNIST_DIR if MNIST_DIR.is_dir() else tmp_path))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, naming the cell, if one fails
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    for expected in ("largest relative error", "parameters: 52 = 52", "batch size full",
                     "linear SVM", "MLP       : test accuracy"):
        assert expected in text
    mnist = MNIST_DIR.is_dir()
    assert ("MNIST test accuracy" in text) == mnist and ("MNIST skipped" in text) != mnist
    assert len(images) >= 5 + mnist
