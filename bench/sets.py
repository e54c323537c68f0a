"""The requirement sets every fcslim benchmark measures.

Each set is a typical function's dependencies, pinned in full (transitive pins
included) so that a benchmark run next month installs the same bytes.  The
pins were produced for CPython 3.10 on x86_64 manylinux_2_28 (the FC
python3.10 runtime) with::

    uv pip compile SET.in --python-version 3.10 \
        --python-platform x86_64-manylinux_2_28 --only-binary :all:

* ``small``: an HTTP/JSON/YAML handler: a few MB, one or two native wheels.
* ``data``: the scientific stack (numpy, pandas, scipy, scikit-learn): about
  250-300 MB installed, over FC's 100 MB zip limit before slimming.
* ``ml``: gradient boosting and statistics (scikit-learn, lightgbm,
  statsmodels); lightgbm needs libgomp.so.1, a system library the runtime
  lacks.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RequirementSet:
    name: str
    top_level: tuple[str, ...]
    pins: tuple[str, ...]
    description: str

    def requirements_text(self, pinned: bool = True) -> str:
        return "\n".join(self.pins if pinned else self.top_level) + "\n"


SETS: dict[str, RequirementSet] = {
    "small": RequirementSet(
        name="small",
        top_level=("requests", "PyYAML", "orjson"),
        pins=(
            "certifi==2026.10.19.post1",
            "charset-normalizer==3.5.2",
            "idna==3.20",
            "orjson==3.13.0",
            "pyyaml==6.0.4",
            "requests==2.34.2",
            "urllib3==2.8.0",
        ),
        description="requests, PyYAML, orjson",
    ),
    "data": RequirementSet(
        name="data",
        top_level=("numpy", "pandas", "scipy", "scikit-learn"),
        pins=(
            "cloudpickle==3.1.3",
            "joblib==1.6.0",
            "numpy==2.2.6",
            "pandas==2.3.3",
            "python-dateutil==3.0.0",
            "pytz==2026.6",
            "scikit-learn==1.7.2",
            "scipy==1.15.3",
            "six==1.17.0",
            "threadpoolctl==3.8.0",
            "tzdata==2026.6",
        ),
        description="numpy, pandas, scipy, scikit-learn",
    ),
    "ml": RequirementSet(
        name="ml",
        top_level=("scikit-learn", "lightgbm", "statsmodels"),
        pins=(
            "cloudpickle==3.1.3",
            "formulaic==1.2.2",
            "interface-meta==2.0.1",
            "joblib==1.6.0",
            "lightgbm==4.7.0",
            "narwhals==2.29.0",
            "numpy==2.2.6",
            "packaging==26.3",
            "pandas==2.3.3",
            "patsy==1.0.3",
            "python-dateutil==3.0.0",
            "pytz==2026.6",
            "scikit-learn==1.7.2",
            "scipy==1.15.3",
            "six==1.17.0",
            "statsmodels==0.15.0",
            "threadpoolctl==3.8.0",
            "typing-extensions==4.16.0",
            "tzdata==2026.6",
            "wrapt==2.5.2",
        ),
        description="scikit-learn, lightgbm, statsmodels",
    ),
}
