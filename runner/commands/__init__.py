"""One module per `bwf` subcommand; each exposes a click command named `command`."""
