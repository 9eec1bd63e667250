"""The applications behind ``stockfish run`` and ``stockfish demo``: a live terminal
dashboard, structured JSON logs for servers, and a Prometheus endpoint."""
