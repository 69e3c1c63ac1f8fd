"""The stale-figure check (tests/figures.py) passes identical figures and fails stale ones,
both on its own and inside a real nbval run of a small notebook whose stored figure is outdated."""

import base64
import io
import pathlib
import subprocess
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402

import figures  # noqa: E402  (tests/ is on sys.path through the root conftest.py)

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _png(slope: float, marker_at: tuple[int, int] | None = None) -> bytes:
    fig, ax = plt.subplots(figsize=(3, 2), dpi=72)
    ax.plot([0, 1], [0, slope])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    if marker_at is None:
        return buf.getvalue()
    img = matplotlib.image.imread(io.BytesIO(buf.getvalue()))
    img[marker_at] = [1.0, 0.0, 0.0, 1.0]   # one red pixel
    out = io.BytesIO()
    matplotlib.image.imsave(out, img, format="png")
    return out.getvalue()


def _display(png: bytes):
    return {"output_type": "display_data", "data": {"image/png": base64.b64encode(png).decode() + "\n",
                                                    "text/plain": "<Figure>"}, "metadata": {}}


def test_identical_figures_pass():
    png = _png(1.0)
    assert figures.difference(png, png) is None
    assert figures.compare([_display(png)], [_display(png)]) == []


def test_a_changed_figure_fails_with_the_size_of_the_difference():
    problems = figures.compare([_display(_png(2.0))], [_display(_png(1.0))])
    assert len(problems) == 1 and "stale" in problems[0] and "pixels differ" in problems[0]


def test_one_pixel_is_within_tolerance_but_a_resize_is_not():
    base = _png(1.0, marker_at=(0, 0))
    assert figures.difference(base, _png(1.0, marker_at=(5, 5))) is None
    fig, ax = plt.subplots(figsize=(4, 2), dpi=72)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    assert "size changed" in figures.difference(base, buf.getvalue())


def test_figure_count_and_embedded_pngs_are_compared():
    png = _png(1.0)
    assert "figure(s)" in figures.compare([], [_display(png)])[0]
    html = lambda p: {"output_type": "display_data", "metadata": {}, "data": {  # noqa: E731
        "text/html": f'<div><img src="data:image/png;base64,{base64.b64encode(p).decode()}"></div>'}}
    assert figures.compare([html(png)], [html(png)]) == []
    assert figures.compare([html(_png(3.0))], [html(png)])


def test_nbval_fails_on_a_stale_figure(tmp_path):
    """A real nbval run: the stored PNG is of another plot than the code draws -> the cell fails."""
    source = ("import matplotlib.pyplot as plt\n"
              "fig, ax = plt.subplots(figsize=(3, 2), dpi=72)\nax.plot([0, 1], [0, 1])\nplt.show()")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source, execution_count=1)]
    from nbclient import NotebookClient
    NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert figures.pngs(nb.cells[0].outputs), "the cell stores a figure"
    fresh = tmp_path / "fresh.ipynb"
    nbformat.write(nb, fresh)
    stale = tmp_path / "stale.ipynb"
    for out in nb.cells[0].outputs:   # paint a block of the stored figure: it no longer matches
        if "image/png" in out.get("data", {}):
            img = matplotlib.image.imread(io.BytesIO(base64.b64decode(out["data"]["image/png"])))
            img[10:30, 10:60, :3] = [1.0, 0.0, 0.0]
            buf = io.BytesIO()
            matplotlib.image.imsave(buf, img, format="png")
            out["data"]["image/png"] = base64.b64encode(buf.getvalue()).decode()
    nbformat.write(nb, stale)
    (tmp_path / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'tests')!r})\nimport portable\nportable.install()\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")

    def run(path):
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
                               "--nbval-current-env", "-p", "no:xdist", str(path)],
                              capture_output=True, text=True, cwd=tmp_path, timeout=300)
    ok, bad = run(fresh), run(stale)
    assert ok.returncode == 0, ok.stdout[-2000:]
    assert bad.returncode == 1, bad.stdout[-2000:]
    assert "figure 1 of the cell is stale" in bad.stdout and "pixels differ" in bad.stdout, bad.stdout[-3000:]
