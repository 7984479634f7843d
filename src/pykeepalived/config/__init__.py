"""Reading keepalived.conf: lexer/preprocessor -> logical lines -> parser -> immutable model.

Public entry point (the contract between the reader, the parser and every user of the config)::

    result = load_config("/etc/keepalived/keepalived.conf", config_id="lb1", interfaces={"eth0"})
    result.config        # pykeepalived.config.model.Config, or None if the file could not be used at all
    result.diagnostics   # pykeepalived.config.errors.Diagnostics (file:line:col located)

``interfaces=None`` means "ask this machine which interfaces exist"; tests pass an explicit set.
``config_id=None`` means keepalived's default: the short host name.
"""

from typing import Any

__all__ = ["LoadResult", "load_config", "load_config_text"]


def __getattr__(name: str) -> Any:
    # Imported lazily so the reader modules (lexer, preprocess) stay importable on their own.
    if name in __all__:
        from . import loader

        return getattr(loader, name)
    raise AttributeError(name)
