"""The live stream: positions clients resume from, the tail that follows the stream log,
and the tokens a browser's EventSource authenticates with."""
