__version__ = "0.1.0"

from .api import Recognizer, ImageSearch  # the high-level API (nbs/16_api.ipynb)
