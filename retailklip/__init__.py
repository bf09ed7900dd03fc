__version__ = "0.1.0"

def __getattr__(name:str):
    "The high-level API (nbs/16_api.ipynb), imported on first use: `retailklip --help` needs no torch."
    if name in ('Recognizer', 'ImageSearch'):
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'retailklip' has no attribute {name!r}")

__all__ = ['Recognizer', 'ImageSearch']
