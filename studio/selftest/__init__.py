"""`studio --self-test`: open the real window offscreen, generate one image with
the default model through the real engine worker, check it, write a report.

Made for the frozen app (does the build hold everything it needs?) and just as
usable from a checkout. Exit status 0 when every check passed, 1 otherwise;
the report (JSON) says which check failed and why. Nothing of the user's is
touched: unless STUDIO_DATA_DIR is set, the window runs on a fresh temporary
data folder that is removed afterwards.

report.py holds the report, checks.py the checks of an image and of the
environment, session.py the run through the window.
"""

from .checks import image_problems, png_text_chunks
from .session import PROMPT, SEED, run_self_test

__all__ = ["PROMPT", "SEED", "image_problems", "png_text_chunks", "run_self_test"]
