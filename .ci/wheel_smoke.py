"""What a notebook user does first with the installed wheel (.ci/wheel.sh runs this in a
fresh venv, from a directory outside the source tree).

Checks: the package imported is the installed one; it runs on the BLAS wheel with
portable kernels; one training step (Linear + MSE + backward + SGD) gives the values
computed here by hand with numpy; the course CLI lists the modules and writes module
01's notebook from the lessons shipped inside the wheel, then grades it (the untouched copy
must score 0, which proves the grader ran in a Jupyter kernel).
"""
import importlib.metadata
import io
import json
import os
import subprocess
import sys
import sysconfig

import numpy as np

import tinytorch as tt

site = sysconfig.get_paths()["purelib"]
assert tt.__file__.startswith(site), f"imported {tt.__file__}, not the wheel installed in {site}"
assert importlib.metadata.version("tinytorch-cpp") == tt.__version__

out = io.StringIO()
info = tt.show_config(file=out)
print(out.getvalue(), end="")
assert info["blas"] == "scipy-openblas32", info
assert info["march"] == "x86-64-v3", info
assert "OpenBLAS 0.3." in info["blas_config"], info
assert "OPENBLAS_CORETYPE" not in os.environ, "the BLAS wheel needs no core forced"

# One training step: y = x W + b (W is (in, out)), loss = mean((y - t)^2), W -= lr dW.
x = np.array([[1.0, 2.0, -1.0], [0.5, -1.5, 2.0]], dtype=np.float32)
t = np.array([[1.0, 0.0], [-1.0, 2.0]], dtype=np.float32)
layer = tt.Linear(3, 2)
w0 = np.array([[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]], dtype=np.float32)
b0 = np.array([0.05, -0.05], dtype=np.float32)
layer.weight.data[...] = w0
layer.bias.data[...] = b0
opt = tt.SGD(layer.parameters(), lr=0.1)
loss = tt.MSELoss()(layer(tt.Tensor(x)), tt.Tensor(t))
opt.zero_grad()
loss.backward()
opt.step()

y = x @ w0 + b0
dy = 2.0 * (y - t) / y.size
np.testing.assert_allclose(float(loss.item()), float(np.mean((y - t) ** 2)), rtol=1e-6)
np.testing.assert_allclose(layer.weight.data, w0 - 0.1 * (x.T @ dy), rtol=1e-6, atol=1e-7)
np.testing.assert_allclose(layer.bias.data, b0 - 0.1 * dy.sum(0), rtol=1e-6, atol=1e-7)

# The course, from the lessons inside the wheel.
cli = os.path.join(os.path.dirname(sys.executable), "tinytorch")
listing = subprocess.run([cli, "module", "list", "--dir", "course"], capture_output=True, text=True, check=True).stdout
assert "01_tensor" in listing and "20_capstone" in listing, listing
started = subprocess.run([cli, "module", "start", "01", "--dir", "course"], capture_output=True, text=True, check=True)
notebook = os.path.join("course", "01_tensor", "01_tensor.ipynb")
with open(notebook, encoding="utf-8") as f:
    cells = json.load(f)["cells"]
code = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
assert "NotImplementedError" in code and "### BEGIN SOLUTION" not in code, "the student copy must hide the solutions"
# ... and grades it: the untouched student copy runs in a Jupyter kernel and scores 0.
graded = subprocess.run([cli, "module", "test", "01", "--dir", "course"], capture_output=True, text=True)
assert graded.returncode != 0 and "score 0/" in graded.stdout, graded.stdout + graded.stderr
score = graded.stdout.strip().splitlines()[-1].strip()
print(f"smoke test passed: loss {loss.item():.6f}; {len(listing.splitlines()) - 1} modules listed; wrote {notebook}; "
      f"its untouched copy graded: {score}")
