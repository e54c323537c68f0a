"""The requirement sets every fcslim benchmark measures.

Each set is a typical function's dependencies, pinned in full (transitive pins
included) so that a benchmark run next month installs the same bytes.  The
pins were produced per Python version: for CPython 3.10 on x86_64
manylinux_2_28 (the FC python3.10 runtime) and for CPython 3.9 on
manylinux_2_31 (debian11-python3.9; numpy 2.2 needs Python 3.10) with::

    uv pip compile SET.in --python-version 3.10 \
        --python-platform x86_64-manylinux_2_28 --only-binary :all:

* ``small``: an HTTP/templating/YAML handler (requests, pyyaml, jinja2).
* ``data``: the scientific stack (numpy, pandas, scipy): well over FC's
  100 MB zip limit before slimming.
* ``ml``: images and classic ML (opencv-python-headless, pillow,
  scikit-learn).
* ``bigapp``: the TensorFlow + OpenCV function of the original FC guide,
  pinned for CPython 3.9 (``--python-version 3.9 --python-platform
  x86_64-manylinux_2_31``): measure it with ``--runtime
  tests/support/bigapp/fc-like.json`` (see bench/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RequirementSet:
    name: str
    top_level: tuple[str, ...]
    pins: tuple[str, ...]  # for CPython 3.10
    description: str
    pins_py39: tuple[str, ...] = ()

    def requirements_text(self, pinned: bool = True, python: str = "3.10") -> str:
        if not pinned:
            return "\n".join(self.top_level) + "\n"
        return "\n".join(self.pins_py39 if python == "3.9" and self.pins_py39 else self.pins) + "\n"


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
        pins_py39=("certifi==2026.10.19.post1", "charset-normalizer==3.5.2", "idna==3.20", "jinja2==3.1.6",
                   "markupsafe==3.0.4", "pyyaml==6.0.3", "requests==2.32.5", "urllib3==2.6.3"),
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
        pins_py39=("numpy==2.0.2", "pandas==2.3.3", "python-dateutil==3.0.0", "pytz==2026.6", "scipy==1.13.1",
                   "six==1.17.0", "tzdata==2026.6"),
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
        pins_py39=("joblib==1.5.3", "numpy==2.0.2", "opencv-python-headless==5.0.0.93", "pillow==11.3.0",
                   "scikit-learn==1.6.1", "scipy==1.13.1", "threadpoolctl==3.7.0"),
    ),
    "bigapp": RequirementSet(
        name="bigapp",
        top_level=("opencv-python", "tensorflow-cpu", "numpy"),
        pins=(
            "absl-py==2.3.1",
            "astunparse==1.6.3",
            "certifi==2026.10.19.post1",
            "charset-normalizer==3.5.2",
            "flatbuffers==25.12.19",
            "gast==0.7.0",
            "google-pasta==0.2.0",
            "grpcio==1.80.1",
            "h5py==3.14.0",
            "idna==3.20",
            "importlib-metadata==8.7.1",
            "keras==3.10.0",
            "libclang==18.1.1",
            "markdown==3.9",
            "markdown-it-py==3.0.0",
            "markupsafe==3.0.4",
            "mdurl==0.1.2",
            "ml-dtypes==0.5.4",
            "namex==0.1.0",
            "numpy==2.0.2",
            "opencv-python==5.0.0.93",
            "opt-einsum==3.4.0",
            "optree==0.20.0",
            "packaging==26.3",
            "pillow==11.3.0",
            "protobuf==6.33.6",
            "pygments==2.21.0",
            "requests==2.32.5",
            "rich==15.0.0",
            "setuptools==82.0.1",
            "six==1.17.0",
            "tensorboard==2.20.0",
            "tensorboard-data-server==0.7.2",
            "tensorflow-cpu==2.20.0",
            "termcolor==3.1.0",
            "typing-extensions==4.16.0",
            "urllib3==2.6.3",
            "werkzeug==3.1.9",
            "wheel==0.48.0",
            "wrapt==2.5.2",
            "zipp==3.23.1",
        ),
        description="opencv-python, tensorflow-cpu, numpy (pinned for CPython 3.9, manylinux_2_31: the FC-like "
                    "Debian 11 profile tests/support/bigapp/fc-like.json)",
    ),
}
