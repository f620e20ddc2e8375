"""The Python API from a plain script, as README's example reads: no `if __name__ == "__main__":`
guard. The image decoder's worker processes must not run the script again (with Python's spawn
start method they would, and the pool would break)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SLICE = Path(__file__).resolve().parents[1] / "data" / "cifar10-slice"

SCRIPT = """
import nagexp
from nagexp.data import imagefolder

imagefolder.PARALLEL_FROM, imagefolder.CHUNK = 1, 50  # decode the 250 images in a process pool
imagefolder.os.cpu_count = lambda: 2  # of two workers, even on a one-core machine
print("script body ran", flush=True)
run = nagexp.train(dataset="imagefolder:{slice}", model="mlp", epochs=1, batch_size=64, track=False,
                   results_dir="{tmp}/results", cache_dir="{tmp}/cache", echo=None)
print("test_acc", run.result.test_acc)
"""


def test_an_unguarded_script_decodes_an_image_folder_in_parallel(tmp_path: Path) -> None:
    script = tmp_path / "probe.py"
    script.write_text(textwrap.dedent(SCRIPT.format(slice=SLICE, tmp=tmp_path)))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("script body ran") == 1  # the workers did not run it again
    assert "test_acc" in done.stdout
    assert "Traceback" not in done.stderr
