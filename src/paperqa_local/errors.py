"""One base exception: every error a user can meet names the fix."""


class PaperQAError(Exception):
    """An error whose message tells the user what to do next."""


class ConfigError(PaperQAError):
    """A setting or an argument is wrong."""


class ModelError(PaperQAError):
    """A model file is missing, corrupt or cannot be loaded."""


class StoreError(PaperQAError):
    """The index is missing or cannot be read."""
