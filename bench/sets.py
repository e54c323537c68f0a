"""The requirement sets every fcslim benchmark measures.

Each set is a typical function's dependencies, pinned in full (transitive pins
included) so that a benchmark run next month installs the same bytes.  The
pins were produced for CPython 3.10 on x86_64 manylinux_2_28 (the FC
python3.10 runtime) with::

    uv pip compile SET.in --python-version 3.10 \
        --python-platform x86_64-manylinux_2_28 --only-binary :all:

* ``small``: an HTTP/templating/YAML handler (requests, pyyaml, jinja2).
* ``data``: the scientific stack (numpy, pandas, scipy): well over FC's
  100 MB zip limit before slimming.
* ``ml``: images and classic ML (opencv-python-headless, pillow,
  scikit-learn).
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
        top_level=("requests", "pyyaml", "jinja2"),
        pins=(
            "certifi==2026.10.19.post1",
            "charset-normalizer==3.5.2",
            "idna==3.20",
            "jinja2==3.1.6",
            "markupsafe==3.0.4",
            "pyyaml==6.0.4",
            "requests==2.34.2",
            "urllib3==2.8.0",
        ),
        description="requests, pyyaml, jinja2",
    ),
    "data": RequirementSet(
        name="data",
        top_level=("numpy", "pandas", "scipy"),
        pins=(
            "numpy==2.2.6",
            "pandas==2.3.3",
            "python-dateutil==3.0.0",
            "pytz==2026.6",
            "scipy==1.15.3",
            "six==1.17.0",
            "tzdata==2026.6",
        ),
        description="numpy, pandas, scipy",
    ),
    "ml": RequirementSet(
        name="ml",
        top_level=("opencv-python-headless", "pillow", "scikit-learn"),
        pins=(
            "cloudpickle==3.1.3",
            "joblib==1.6.0",
            "numpy==2.2.6",
            "opencv-python-headless==5.0.0.93",
            "pillow==12.3.0",
            "scikit-learn==1.7.2",
            "scipy==1.15.3",
            "threadpoolctl==3.8.0",
        ),
        description="opencv-python-headless, pillow, scikit-learn",
    ),
}
