"""Version of stockfish-core and of the plugin API it offers."""

__version__ = "0.1.0"

#: The plugin API version, ``MAJOR.MINOR``. A plugin built for ``1.x`` loads on any core
#: whose major is 1 and whose minor is at least the plugin's; anything else is refused.
API_VERSION = "1.0"
