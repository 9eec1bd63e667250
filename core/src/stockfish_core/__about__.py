"""Version of stockfish-core and of the plugin API it offers."""

__version__ = "0.1.0"

#: The plugin API version, ``MAJOR.MINOR``: it covers exactly the names of
#: :mod:`stockfish_core.plugin_api` (a new name is a new minor, a removed or changed one a
#: new major). A plugin built for ``1.x`` loads on any core whose major is 1 and whose
#: minor is at least the plugin's; anything else is refused.
API_VERSION = "1.0"
