"""The harness shared by the fuzz tests (tests/regression/test_fuzz_*.py, issue 9).

A fuzz *family* is Python source that defines hypothesis tests and calls them.
`run_family` runs it in a child process after PRELUDE (imports, settings,
strategies for shapes up to 5-D with 0- and 1-size dims, float32/float64/int64
arrays with NaN/Inf and subnormals, non-contiguous views, a comparison helper),
so a crash (segfault, abort, sanitizer report) fails the test with the child's
output instead of killing pytest. Children inherit the environment: under
`make sanitize` they run the sanitized build too.

Examples per hypothesis test: TINYTORCH_FUZZ_EXAMPLES (150 by default; `pytest
--long` sets 1000; `make sanitize` 40), read when a family runs.
"""
import os
import subprocess
import sys
import textwrap

DEFAULT_EXAMPLES = 150

PRELUDE = textwrap.dedent("""
    import warnings
    import numpy as np
    import tinytorch as tt
    from hypothesis import given, settings, HealthCheck, strategies as st
    from hypothesis.extra import numpy as hnp
    warnings.simplefilter("ignore")
    SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                        suppress_health_check=list(HealthCheck))
    shapes = hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=3)
    floats64 = st.floats(allow_nan=True, allow_infinity=True, width=64)
    def arrays(dtype, shape):
        if np.dtype(dtype).kind == "f":
            # subnormals included: log/exp/erf at the float-range edges are checked to the ulp in
            # tests/01_tensor/test_subnormal_inputs.py
            return hnp.arrays(dtype, shape, elements=st.floats(allow_nan=True, allow_infinity=True,
                                                                allow_subnormal=True,
                                                                width=np.dtype(dtype).itemsize * 8))
        return hnp.arrays(dtype, shape, elements=st.integers(-1000, 1000))
    @st.composite
    def array_and_view(draw, dtypes=(np.float32, np.float64, np.int64)):
        # an array, and optionally a non-contiguous view of it (reversed axes or a step)
        dtype = draw(st.sampled_from(dtypes))
        a = draw(arrays(dtype, draw(shapes)))
        t = tt.Tensor(a, dtype=dtype)
        if a.ndim >= 2 and draw(st.booleans()):
            a, t = a.T, t.T
        elif a.ndim >= 1 and a.shape[0] > 1 and draw(st.booleans()):
            a, t = a[::2], t[::2]
        return a, t
    def same(got, want):
        got = np.asarray(got)
        assert got.shape == np.shape(want), (got.shape, np.shape(want))
        want = np.asarray(want, dtype=got.dtype) if got.dtype != np.bool_ else np.asarray(want)
        if got.dtype.kind == "f":
            np.testing.assert_allclose(got, want, rtol=2e-5 if got.dtype == np.float32 else 1e-12,
                                       atol=1e-6, equal_nan=True)
        else:
            np.testing.assert_array_equal(got, want)
""")


def examples(scale=1.0):
    """Examples per hypothesis test: TINYTORCH_FUZZ_EXAMPLES times scale (at least 5)."""
    return max(5, int(int(os.environ.get("TINYTORCH_FUZZ_EXAMPLES", DEFAULT_EXAMPLES)) * scale))


def run_family(family, body, prelude="", scale=1.0, timeout=900):
    """Runs PRELUDE + prelude (helpers shared by a file's families) + body in a child process and
    asserts it exited cleanly. scale: fraction of the examples, for families whose examples are expensive."""
    code = f"EXAMPLES = {examples(scale)}\n" + PRELUDE + textwrap.dedent(prelude) + textwrap.dedent(body)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{family}: child exited with {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
